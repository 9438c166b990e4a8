// Package e2e drives a real appliance (embedded etcd and API server, in-process on
// loopback ports) with the clients users have: the embedded kubectl and client-go.
// Each test function starts one cluster and its subtests share it, each in its own
// namespace or with its own objects.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/appliance/appliance/appliance/testcluster"
)

// ---------------------------------------------------------------------------
// kubectl apply: client-side three-way merge and server-side apply.

// manifestObject is one object of testdata/app.yaml.
type manifestObject struct {
	gvr  schema.GroupVersionResource
	name string
	// clusterScoped objects have no namespace (the Namespace itself).
	clusterScoped bool
}

func (o manifestObject) String() string { return o.gvr.Resource + "/" + o.name }

// appObjects lists every object testdata/app.yaml creates.
var appObjects = []manifestObject{
	{gvr: schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}, name: "", clusterScoped: true}, // name: the namespace
	{gvr: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, name: "web-config"},
	{gvr: schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, name: "web-secret"},
	{gvr: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, name: "web"},
	{gvr: schema.GroupVersionResource{Version: "v1", Resource: "services"}, name: "web"},
	{gvr: schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}, name: "migrate"},
	{gvr: schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"}, name: "nightly-backup"},
	{gvr: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}, name: "db"},
	{gvr: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}, name: "log-agent"},
	{gvr: schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}, name: "web"},
	{gvr: schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}, name: "shared"},
	{gvr: schema.GroupVersionResource{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"}, name: "web"},
	{gvr: schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}, name: "config-reader"},
	{gvr: schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}, name: "config-reader"},
}

// snapshotApp reads every object of the manifest applied in namespace ns, by
// "resource/name"; a missing object fails the test.
func snapshotApp(t *testing.T, dyn dynamic.Interface, ns string) map[string]*unstructured.Unstructured {
	t.Helper()
	objs := map[string]*unstructured.Unstructured{}
	for _, o := range appObjects {
		var (
			name = o.name
			ri   dynamic.ResourceInterface
		)
		if o.clusterScoped {
			name = ns
			ri = dyn.Resource(o.gvr)
		} else {
			ri = dyn.Resource(o.gvr).Namespace(ns)
		}
		got, err := ri.Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get %s: %v", o, err)
		}
		if got.GetResourceVersion() == "" {
			t.Fatalf("%s has no resourceVersion", o)
		}
		objs[o.String()] = got
	}
	return objs
}

// ssaNoOpExceptions are the objects of testdata/app.yaml that Kubernetes itself
// rewrites on a server-side apply that changes nothing: the applied fields differ
// from the stored ones, so the managedFields time (and with it the
// resourceVersion) moves whenever the second has changed, though nothing else
// does.
var ssaNoOpExceptions = map[string]string{
	// volumeClaimTemplates is an atomic list, and the server defaults fields in it.
	"statefulsets/db": "kubernetes/kubernetes#119304",
	// stringData is write-only: it is merged into data and never stored.
	"secrets/web-secret": "kubernetes/kubernetes#96841",
}

// checkUnchanged fails the test for every object of before whose resourceVersion
// differs in after, but for those in changed, which must have a new one. With
// server-side apply, ssaNoOpExceptions may change in managedFields times only;
// and a controller may have written an object's status in between.
func checkUnchanged(t *testing.T, before, after map[string]*unstructured.Unstructured, serverSide bool, changed ...string) {
	t.Helper()
	for k, b := range before {
		a := after[k]
		moved := a.GetResourceVersion() != b.GetResourceVersion()
		switch {
		case slices.Contains(changed, k):
			if !moved {
				t.Errorf("%s: resourceVersion unchanged, but the manifest changed it", k)
			}
		case moved && sameButStatus(b, a) && !apiequality.Semantic.DeepEqual(withoutRV(b).Object, withoutRV(a).Object):
			t.Logf("%s: resourceVersion %s -> %s for a status update (a controller's)", k, b.GetResourceVersion(), a.GetResourceVersion())
		case moved && serverSide && ssaNoOpExceptions[k] != "" && sameButManagedFieldsTimes(b, a):
			t.Logf("%s: resourceVersion %s -> %s with only managedFields times changed, as in Kubernetes (%s)",
				k, b.GetResourceVersion(), a.GetResourceVersion(), ssaNoOpExceptions[k])
		case moved && apiequality.Semantic.DeepEqual(withoutRV(b).Object, withoutRV(a).Object):
			t.Errorf("%s: resourceVersion %s -> %s, but the object reads the same: rewritten though nothing changed", k, b.GetResourceVersion(), a.GetResourceVersion())
		case moved:
			t.Errorf("%s: resourceVersion %s -> %s, but the manifest did not change it", k, b.GetResourceVersion(), a.GetResourceVersion())
		}
	}
}

func withoutRV(u *unstructured.Unstructured) *unstructured.Unstructured {
	u = u.DeepCopy()
	u.SetResourceVersion("")
	return u
}

// sameButStatus reports whether a and b differ only in status and in the
// managedFields of the status subresource.
func sameButStatus(a, b *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) *unstructured.Unstructured {
		u = u.DeepCopy()
		u.SetResourceVersion("")
		unstructured.RemoveNestedField(u.Object, "status")
		var mf []metav1.ManagedFieldsEntry
		for _, e := range u.GetManagedFields() {
			if e.Subresource != "status" {
				mf = append(mf, e)
			}
		}
		u.SetManagedFields(mf)
		return u
	}
	return apiequality.Semantic.DeepEqual(strip(a).Object, strip(b).Object)
}

func sameButManagedFieldsTimes(a, b *unstructured.Unstructured) bool {
	strip := func(u *unstructured.Unstructured) *unstructured.Unstructured {
		u = u.DeepCopy()
		u.SetResourceVersion("")
		mf := u.GetManagedFields()
		for i := range mf {
			mf[i].Time = nil
		}
		u.SetManagedFields(mf)
		return u
	}
	return apiequality.Semantic.DeepEqual(strip(a).Object, strip(b).Object)
}

// renderApp writes testdata/app.yaml for namespace ns, after the edits (old, new
// pairs, each old string occurring exactly once), and returns its path.
func renderApp(t *testing.T, ns, file string, edits ...string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "app.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(raw), "__NAMESPACE__", ns)
	for i := 0; i+1 < len(edits); i += 2 {
		if n := strings.Count(s, edits[i]); n != 1 {
			t.Fatalf("edit %q: found %d times in the manifest, want once", edits[i], n)
		}
		s = strings.Replace(s, edits[i], edits[i+1], 1)
	}
	path := filepath.Join(t.TempDir(), file)
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// appEdits turn the manifest into the next version of the application: more
// replicas, a new image, a label replaced by another, a ConfigMap value changed.
var appEdits = []string{
	"  replicas: 2\n", "  replicas: 3\n",
	"image: nginx:1.27", "image: nginx:1.28",
	"    stage: beta\n", "    tier: frontend\n",
	"greeting: hello", "greeting: hi",
}

func TestKubectlApply(t *testing.T) {
	c := testcluster.Start(t, testcluster.APIOnly)
	dyn := dynamic.NewForConfigOrDie(c.REST)
	for _, tc := range []struct {
		name      string
		ns        string
		applyArgs []string
	}{
		{name: "client-side", ns: "apply-csa", applyArgs: []string{"apply"}},
		{name: "server-side", ns: "apply-ssa", applyArgs: []string{"apply", "--server-side"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testApplyFlow(t, c, dyn, tc.ns, tc.applyArgs)
		})
	}
}

func testApplyFlow(t *testing.T, c *testcluster.Cluster, dyn dynamic.Interface, ns string, applyArgs []string) {
	ctx := t.Context()
	apply := func(t *testing.T, path string, extra ...string) string {
		t.Helper()
		return c.Kubectl(t, append(append(slices.Clone(applyArgs), "-f", path), extra...)...)
	}
	v1 := renderApp(t, ns, "app.yaml")

	serverSide := slices.Contains(applyArgs, "--server-side")
	var created map[string]*unstructured.Unstructured
	if !t.Run("creates every object", func(t *testing.T) {
		apply(t, v1)
		created = snapshotApp(t, dyn, ns)
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := ptr.Deref(d.Spec.Replicas, -1); got != 2 {
			t.Errorf("deployment replicas = %d, want 2", got)
		}
		if got := d.Spec.Template.Spec.Containers[0].Image; got != "nginx:1.27" {
			t.Errorf("deployment image = %q, want nginx:1.27", got)
		}
		sts, err := c.Client.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(sts.Spec.VolumeClaimTemplates) != 1 || sts.Spec.VolumeClaimTemplates[0].Name != "data" {
			t.Errorf("statefulset volumeClaimTemplates = %+v, want one named data", sts.Spec.VolumeClaimTemplates)
		}
		hpa, err := c.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Resource == nil ||
			ptr.Deref(hpa.Spec.Metrics[0].Resource.Target.AverageUtilization, 0) != 80 {
			t.Errorf("hpa metrics = %+v, want cpu utilization 80", hpa.Spec.Metrics)
		}
	}) {
		return
	}

	t.Run("secret stringData is stored as data", func(t *testing.T) {
		s, err := c.Client.CoreV1().Secrets(ns).Get(ctx, "web-secret", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(s.Data["password"]); got != "s3cret" {
			t.Errorf("secret data[password] = %q, want %q (stringData is write-only and merged into data)", got, "s3cret")
		}
		if len(s.StringData) != 0 {
			t.Errorf("secret stringData = %v, want it empty when read back", s.StringData)
		}
	})

	if !t.Run("applying again changes nothing", func(t *testing.T) {
		apply(t, v1)
		checkUnchanged(t, created, snapshotApp(t, dyn, ns), serverSide)
	}) {
		return
	}

	// Someone else changes the live objects in between: a label and an annotation
	// with kubectl, a spec field and a ConfigMap key with client-go. None of it is
	// in the manifest, so applying the next version must keep it.
	c.Kubectl(t, "label", "deployment", "web", "-n", ns, "owner=ops")
	c.Kubectl(t, "annotate", "deployment", "web", "-n", ns, "team=blue")
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.RevisionHistoryLimit = ptr.To[int32](3)
		_, err = c.Client.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "web-config", metav1.GetOptions{})
		if err != nil {
			return err
		}
		cm.Data["extra"] = "kept"
		_, err = c.Client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}

	if !t.Run("applying an edited manifest changes only the edited fields", func(t *testing.T) {
		before, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		objsBefore := snapshotApp(t, dyn, ns)
		apply(t, renderApp(t, ns, "app-v2.yaml", appEdits...))
		checkUnchanged(t, objsBefore, snapshotApp(t, dyn, ns), serverSide, "deployments/web", "configmaps/web-config")

		after, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantLabels := map[string]string{"app": "web", "tier": "frontend", "owner": "ops"}
		if !maps.Equal(after.Labels, wantLabels) {
			t.Errorf("deployment labels = %v, want %v (stage removed by the manifest, owner kept from kubectl label)", after.Labels, wantLabels)
		}
		if after.Annotations["team"] != "blue" {
			t.Errorf("deployment annotations = %v, want team=blue kept from kubectl annotate", after.Annotations)
		}
		wantSpec := before.Spec.DeepCopy()
		wantSpec.Replicas = ptr.To[int32](3)
		wantSpec.Template.Spec.Containers[0].Image = "nginx:1.28"
		if !apiequality.Semantic.DeepEqual(&after.Spec, wantSpec) {
			t.Errorf("deployment spec after apply:\n%s\nwant (replicas 3, image nginx:1.28, revisionHistoryLimit 3 kept):\n%s", toJSON(after.Spec), toJSON(wantSpec))
		}
		if after.Generation != before.Generation+1 {
			t.Errorf("deployment generation %d -> %d, want one bump for the spec change", before.Generation, after.Generation)
		}

		cm, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "web-config", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		wantData := map[string]string{"greeting": "hi", "LOG_LEVEL": "info", "extra": "kept"}
		if !maps.Equal(cm.Data, wantData) {
			t.Errorf("configmap data = %v, want %v", cm.Data, wantData)
		}
	}) {
		return
	}

	if !serverSide {
		return
	}

	// Server-side apply tracks field owners: a second manager that applies a
	// different value for a field kubectl owns gets a conflict, unless it forces.
	other := filepath.Join(t.TempDir(), "other.yaml")
	if err := os.WriteFile(other, fmt.Appendf(nil, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: %s
spec:
  replicas: 7
`, ns), 0o644); err != nil {
		t.Fatal(err)
	}
	if !t.Run("a second field manager conflicts", func(t *testing.T) {
		out, errOut, err := c.TryKubectl(t, nil, "apply", "--server-side", "--field-manager=other", "-f", other)
		if err == nil {
			t.Fatalf("apply by another field manager succeeded, want a conflict:\n%s", out)
		}
		if !strings.Contains(strings.ToLower(errOut), "conflict") || !strings.Contains(errOut, ".spec.replicas") {
			t.Errorf("kubectl stderr does not name the conflict on .spec.replicas:\n%s", errOut)
		}
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := ptr.Deref(d.Spec.Replicas, -1); got != 3 {
			t.Errorf("replicas = %d after a refused apply, want 3", got)
		}
	}) {
		return
	}
	t.Run("--force-conflicts takes the field over", func(t *testing.T) {
		c.Kubectl(t, "apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", other)
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := ptr.Deref(d.Spec.Replicas, -1); got != 7 {
			t.Errorf("replicas = %d, want 7", got)
		}
		owners := map[string]bool{}
		for _, mf := range d.ManagedFields {
			if mf.Operation != metav1.ManagedFieldsOperationApply || mf.FieldsV1 == nil {
				continue
			}
			owners[mf.Manager] = strings.Contains(string(mf.FieldsV1.Raw), `"f:replicas"`)
		}
		if !owners["other"] {
			t.Errorf("manager other does not own spec.replicas; managedFields:\n%s", toJSON(d.ManagedFields))
		}
		if owners["kubectl"] {
			t.Errorf("manager kubectl still owns spec.replicas after a forced apply; managedFields:\n%s", toJSON(d.ManagedFields))
		}
		if got := d.Spec.Template.Spec.Containers[0].Image; got != "nginx:1.28" {
			t.Errorf("image = %q, want nginx:1.28 (still kubectl's)", got)
		}
	})
}

// ---------------------------------------------------------------------------
// kubectl get, describe, explain, api-resources: what users read.

func TestKubectlRead(t *testing.T) {
	c := testcluster.Start(t, testcluster.APIOnly)
	ctx := t.Context()
	const ns, otherNS = "kread", "kread-other"
	createNamespace(t, c, ns)
	createNamespace(t, c, otherNS)
	for _, n := range []string{ns, otherNS} {
		if _, err := c.Client.AppsV1().Deployments(n).Create(ctx, newDeployment("web"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80}},
		},
	}
	svc, err := c.Client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		t.Errorf("service web got cluster IP %q, want one allocated", svc.Spec.ClusterIP)
	}
	for _, p := range []*corev1.Pod{newPod("web-1", "web"), newPod("db-1", "db")} {
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// db-1 runs: its kubelet would report so through the status subresource.
	db, err := c.Client.CoreV1().Pods(ns).Get(ctx, "db-1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	db.Status.Phase = corev1.PodRunning
	if _, err := c.Client.CoreV1().Pods(ns).UpdateStatus(ctx, db, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("get shows the standard columns", func(t *testing.T) {
		for _, tc := range []struct {
			name       string
			resource   string
			header     string
			wantNames  []string
			wantInRows []string
		}{
			{name: "pods", resource: "pods", header: "NAME READY STATUS RESTARTS AGE", wantNames: []string{"db-1", "web-1"}, wantInRows: []string{"web-1 0/1 Pending 0", "db-1 0/1 Running 0"}},
			{name: "deployments", resource: "deployments", header: "NAME READY UP-TO-DATE AVAILABLE AGE", wantNames: []string{"web"}, wantInRows: []string{"web 0/2"}},
			{name: "services", resource: "services", header: "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE", wantNames: []string{"web"}, wantInRows: []string{"web ClusterIP " + svc.Spec.ClusterIP + " <none> 80/TCP"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				out := c.Kubectl(t, "get", tc.resource, "-n", ns)
				checkTable(t, out, tc.header, 0, tc.wantNames, tc.wantInRows)
			})
		}
	})

	t.Run("get -o wide adds columns", func(t *testing.T) {
		for _, tc := range []struct {
			name       string
			resource   string
			header     string
			wantInRows []string
		}{
			{name: "pods", resource: "pods", header: "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES", wantInRows: []string{"web-1 0/1 Pending 0"}},
			{name: "deployments", resource: "deployments", header: "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR", wantInRows: []string{"web,sidecar nginx:1.27,busybox:1.36 app=web"}},
			{name: "services", resource: "services", header: "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR", wantInRows: []string{"app=web"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				out := c.Kubectl(t, "get", tc.resource, "-n", ns, "-o", "wide")
				checkTable(t, out, tc.header, 0, nil, tc.wantInRows)
			})
		}
	})

	t.Run("get -o yaml round-trips", func(t *testing.T) {
		live, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := c.Kubectl(t, "get", "deployment", "web", "-n", ns, "-o", "yaml")
		var got appsv1.Deployment
		if err := yaml.UnmarshalStrict([]byte(out), &got); err != nil {
			t.Fatalf("kubectl -o yaml is not a Deployment: %v\n%s", err, out)
		}
		if got.Kind != "Deployment" || got.APIVersion != "apps/v1" {
			t.Errorf("kind/apiVersion = %s/%s, want Deployment/apps/v1", got.Kind, got.APIVersion)
		}
		if got.UID != live.UID || got.ResourceVersion != live.ResourceVersion || got.Generation != live.Generation {
			t.Errorf("uid/resourceVersion/generation = %s/%s/%d, want %s/%s/%d",
				got.UID, got.ResourceVersion, got.Generation, live.UID, live.ResourceVersion, live.Generation)
		}
		if !apiequality.Semantic.DeepEqual(got.Spec, live.Spec) {
			t.Errorf("spec differs from client-go's:\n%s\nwant\n%s", toJSON(got.Spec), toJSON(live.Spec))
		}

		// The YAML goes back in: replace with its resourceVersion is a
		// conditional update, and the same (now stale) YAML again is a conflict.
		edited := strings.Replace(out, "  labels:\n", "  labels:\n    roundtrip: \"yes\"\n", 1)
		if edited == out {
			t.Fatalf("no labels block in:\n%s", out)
		}
		c.Kubectl(t, "replace", "-f", writeTemp(t, "web.yaml", edited))
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Labels["roundtrip"] != "yes" {
			t.Errorf("labels after replace = %v, want roundtrip=yes", d.Labels)
		}
		_, errOut, err := c.TryKubectl(t, nil, "replace", "-f", writeTemp(t, "stale.yaml", edited))
		if err == nil || !strings.Contains(errOut, "the object has been modified") {
			t.Errorf("replace with a stale resourceVersion: err=%v stderr=%q, want a conflict", err, errOut)
		}
	})

	t.Run("selectors", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
			want []string
		}{
			{name: "label", args: []string{"-l", "app=web"}, want: []string{"pod/web-1"}},
			{name: "label set", args: []string{"-l", "app in (web,db)"}, want: []string{"pod/db-1", "pod/web-1"}},
			{name: "label not equal", args: []string{"-l", "app!=web"}, want: []string{"pod/db-1"}},
			{name: "field name", args: []string{"--field-selector", "metadata.name=db-1"}, want: []string{"pod/db-1"}},
			{name: "field phase pending", args: []string{"--field-selector", "status.phase=Pending"}, want: []string{"pod/web-1"}},
			{name: "field phase running", args: []string{"--field-selector", "status.phase=Running"}, want: []string{"pod/db-1"}},
			{name: "field phase failed", args: []string{"--field-selector", "status.phase=Failed"}, want: nil},
			{name: "label and field", args: []string{"-l", "app", "--field-selector", "status.phase!=Running"}, want: []string{"pod/web-1"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				out := c.Kubectl(t, append([]string{"get", "pods", "-n", ns, "-o", "name"}, tc.args...)...)
				got := strings.Fields(out)
				slices.Sort(got)
				if !slices.Equal(got, tc.want) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			})
		}
		t.Run("unknown field is refused", func(t *testing.T) {
			_, errOut, err := c.TryKubectl(t, nil, "get", "pods", "-n", ns, "--field-selector", "spec.nosuchfield=x")
			if err == nil || !strings.Contains(errOut, "field label not supported") {
				t.Errorf("err=%v stderr=%q, want a BadRequest naming the unsupported field label", err, errOut)
			}
		})
	})

	t.Run("get -A lists every namespace", func(t *testing.T) {
		out := c.Kubectl(t, "get", "deployments", "-A")
		checkTable(t, out, "NAMESPACE NAME READY UP-TO-DATE AVAILABLE AGE", 0, nil,
			[]string{ns + " web 0/2", otherNS + " web 0/2"})
	})

	t.Run("get all", func(t *testing.T) {
		out := c.Kubectl(t, "get", "all", "-n", ns)
		for _, want := range []string{"pod/web-1", "pod/db-1", "service/web", "deployment.apps/web"} {
			if !containsField(out, want) {
				t.Errorf("kubectl get all does not list %s:\n%s", want, out)
			}
		}
	})

	t.Run("describe deployment", func(t *testing.T) {
		out := c.Kubectl(t, "describe", "deployment", "web", "-n", ns)
		for _, want := range [][]string{
			{"Name:", "web"},
			{"Namespace:", ns},
			{"Labels:", "app=web"},
			{"Selector:", "app=web"},
			{"Replicas:", "2", "desired"},
			{"StrategyType:", "RollingUpdate"},
			{"Image:", "nginx:1.27"},
			{"Port:", "80/TCP"},
		} {
			if !hasLineWithPrefixFields(out, want) {
				t.Errorf("describe has no line starting %q:\n%s", strings.Join(want, " "), out)
			}
		}
	})

	t.Run("explain", func(t *testing.T) {
		out := c.Kubectl(t, "explain", "deployment.spec.replicas")
		for _, want := range []string{"KIND:", "Deployment", "FIELD: replicas <integer>", "Number of desired pods"} {
			if !strings.Contains(out, want) {
				t.Errorf("explain output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("version", func(t *testing.T) {
		out, errOut, err := c.TryKubectl(t, nil, "version")
		if err != nil {
			t.Errorf("kubectl version: %v\n%s%s", err, out, errOut)
		}
		if !strings.Contains(out, "Server Version: v1.37.2") {
			t.Errorf("kubectl version does not show the server's v1.37.2:\n%s", out)
		}
		if strings.Contains(errOut, "version difference") {
			t.Errorf("kubectl version warns of a version skew:\n%s", errOut)
		}
	})

	t.Run("-v logs requests", func(t *testing.T) {
		// kubectl's klog verbosity flag, the first tool of anyone debugging.
		out, errOut, err := c.TryKubectl(t, nil, "-v=6", "get", "namespaces")
		if err != nil {
			t.Fatalf("kubectl -v=6 get namespaces: %v\n%s%s", err, out, errOut)
		}
		if !strings.Contains(errOut, "/api/v1/namespaces") {
			t.Errorf("kubectl -v=6 logged no request for /api/v1/namespaces:\n%s", errOut)
		}
	})

	t.Run("api-resources", func(t *testing.T) {
		out := c.Kubectl(t, "api-resources")
		for _, want := range []string{
			"deployments deploy apps/v1 true Deployment",
			"pods po v1 true Pod",
			"namespaces ns v1 false Namespace",
			"horizontalpodautoscalers hpa autoscaling/v2 true HorizontalPodAutoscaler",
			"ingresses ing networking.k8s.io/v1 true Ingress",
			"cronjobs cj batch/v1 true CronJob",
		} {
			if !hasRow(out, want) {
				t.Errorf("api-resources has no row %q:\n%s", want, out)
			}
		}
	})
}

// ---------------------------------------------------------------------------
// kubectl commands that change things, wait and watch.

func TestKubectlChange(t *testing.T) {
	c := testcluster.Start(t, testcluster.APIOnly)
	ctx := t.Context()
	const ns = "kchange"
	createNamespace(t, c, ns)
	getDeployment := func(t *testing.T, name string) *appsv1.Deployment {
		t.Helper()
		d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	mkDeployment := func(t *testing.T, name string) {
		t.Helper()
		d := newDeployment(name)
		d.Labels["stage"] = "beta"
		if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("scale", func(t *testing.T) {
		mkDeployment(t, "scaled")
		out := c.Kubectl(t, "scale", "deployment", "scaled", "-n", ns, "--replicas=5")
		if !strings.Contains(out, "deployment.apps/scaled scaled") {
			t.Errorf("kubectl scale said %q", out)
		}
		if got := ptr.Deref(getDeployment(t, "scaled").Spec.Replicas, -1); got != 5 {
			t.Errorf("spec.replicas = %d, want 5", got)
		}
		s, err := c.Client.AppsV1().Deployments(ns).GetScale(ctx, "scaled", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Spec.Replicas != 5 || s.Status.Selector != "app=scaled" {
			t.Errorf("scale = spec.replicas %d, status.selector %q; want 5, app=scaled", s.Spec.Replicas, s.Status.Selector)
		}
		// --current-replicas is a precondition kubectl checks against /scale.
		_, errOut, err := c.TryKubectl(t, nil, "scale", "deployment", "scaled", "-n", ns, "--current-replicas=2", "--replicas=1")
		if err == nil {
			t.Errorf("scale with a wrong --current-replicas succeeded")
		} else if !strings.Contains(strings.ToLower(errOut), "expected replicas to be 2") {
			t.Errorf("scale with a wrong --current-replicas: %s", errOut)
		}
		if got := ptr.Deref(getDeployment(t, "scaled").Spec.Replicas, -1); got != 5 {
			t.Errorf("spec.replicas = %d after a refused scale, want 5", got)
		}
	})

	t.Run("patch", func(t *testing.T) {
		for _, tc := range []struct {
			name, patchType, patch string
			check                  func(t *testing.T, d *appsv1.Deployment)
		}{
			{
				name: "json", patchType: "json",
				patch: `[{"op":"replace","path":"/spec/replicas","value":4},{"op":"add","path":"/metadata/labels/patched","value":"json"}]`,
				check: func(t *testing.T, d *appsv1.Deployment) {
					if ptr.Deref(d.Spec.Replicas, -1) != 4 || d.Labels["patched"] != "json" {
						t.Errorf("replicas %d labels %v, want 4 and patched=json", ptr.Deref(d.Spec.Replicas, -1), d.Labels)
					}
				},
			},
			{
				// A JSON merge patch sets and deletes map keys and replaces lists whole.
				name: "merge", patchType: "merge",
				patch: `{"metadata":{"labels":{"patched":"merge","stage":null}},"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.29"}]}}}}`,
				check: func(t *testing.T, d *appsv1.Deployment) {
					if d.Labels["patched"] != "merge" || d.Labels["stage"] != "" {
						t.Errorf("labels %v, want patched=merge and no stage", d.Labels)
					}
					cs := d.Spec.Template.Spec.Containers
					if len(cs) != 1 || cs[0].Name != "web" || cs[0].Image != "nginx:1.29" || len(cs[0].Ports) != 0 {
						t.Errorf("containers %s, want the list replaced by one web container with image nginx:1.29 and no ports", toJSON(cs))
					}
				},
			},
			{
				// A strategic merge patch merges containers by name.
				name: "strategic", patchType: "strategic",
				patch: `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.30"}]}}}}`,
				check: func(t *testing.T, d *appsv1.Deployment) {
					cs := d.Spec.Template.Spec.Containers
					if len(cs) != 2 || cs[0].Name != "web" || cs[0].Image != "nginx:1.30" || len(cs[0].Ports) != 1 ||
						cs[1].Name != "sidecar" || cs[1].Image != "busybox:1.36" {
						t.Errorf("containers %s, want web with nginx:1.30 and its port, sidecar unchanged", toJSON(cs))
					}
				},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				name := "patch-" + tc.name
				mkDeployment(t, name)
				before := getDeployment(t, name)
				out := c.Kubectl(t, "patch", "deployment", name, "-n", ns, "--type", tc.patchType, "-p", tc.patch)
				if !strings.Contains(out, "deployment.apps/"+name+" patched") {
					t.Errorf("kubectl patch said %q", out)
				}
				after := getDeployment(t, name)
				tc.check(t, after)
				if after.Generation != before.Generation+1 {
					t.Errorf("generation %d -> %d, want +1", before.Generation, after.Generation)
				}
			})
		}
	})

	t.Run("label", func(t *testing.T) {
		mkDeployment(t, "labelled")
		c.Kubectl(t, "label", "deployment", "labelled", "-n", ns, "color=blue")
		if got := getDeployment(t, "labelled").Labels["color"]; got != "blue" {
			t.Errorf("color = %q, want blue", got)
		}
		if _, errOut, err := c.TryKubectl(t, nil, "label", "deployment", "labelled", "-n", ns, "color=green"); err == nil || !strings.Contains(errOut, "already has a value") {
			t.Errorf("relabel without --overwrite: err=%v stderr=%q, want refused", err, errOut)
		}
		c.Kubectl(t, "label", "deployment", "labelled", "-n", ns, "color=green", "--overwrite")
		if got := getDeployment(t, "labelled").Labels["color"]; got != "green" {
			t.Errorf("color = %q, want green", got)
		}
		c.Kubectl(t, "label", "deployment", "labelled", "-n", ns, "color-")
		d := getDeployment(t, "labelled")
		if _, ok := d.Labels["color"]; ok || d.Labels["app"] != "labelled" {
			t.Errorf("labels = %v, want color removed and app kept", d.Labels)
		}
		if d.Generation != 1 {
			t.Errorf("generation = %d after label changes only, want 1", d.Generation)
		}
	})

	t.Run("annotate", func(t *testing.T) {
		mkDeployment(t, "annotated")
		c.Kubectl(t, "annotate", "deployment", "annotated", "-n", ns, "note=hello world")
		if got := getDeployment(t, "annotated").Annotations["note"]; got != "hello world" {
			t.Errorf("note = %q, want %q", got, "hello world")
		}
		c.Kubectl(t, "annotate", "deployment", "annotated", "-n", ns, "note-")
		if _, ok := getDeployment(t, "annotated").Annotations["note"]; ok {
			t.Errorf("annotation note still there after note-")
		}
	})

	t.Run("delete", func(t *testing.T) {
		for _, name := range []string{"doomed", "tmp-1", "tmp-2", "keeper"} {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}
			if strings.HasPrefix(name, "tmp-") {
				cm.Labels = map[string]string{"tmp": "yes"}
			}
			if _, err := c.Client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		out := c.Kubectl(t, "delete", "configmap", "doomed", "-n", ns)
		if !strings.Contains(out, `configmap "doomed" deleted`) {
			t.Errorf("kubectl delete said %q", out)
		}
		c.Kubectl(t, "delete", "configmaps", "-n", ns, "-l", "tmp=yes")
		for name, wantGone := range map[string]bool{"doomed": true, "tmp-1": true, "tmp-2": true, "keeper": false} {
			_, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
			if gone := apierrors.IsNotFound(err); gone != wantGone {
				t.Errorf("configmap %s: get error %v, want gone=%v", name, err, wantGone)
			}
		}
		if _, errOut, err := c.TryKubectl(t, nil, "delete", "configmap", "doomed", "-n", ns); err == nil || !strings.Contains(errOut, "NotFound") {
			t.Errorf("deleting a missing configmap: err=%v stderr=%q, want NotFound", err, errOut)
		}
	})

	t.Run("wait --for=delete", func(t *testing.T) {
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, newPod("waited", "waited"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		cmd := c.KubectlCmd(t, "wait", "--for=delete", "pod/waited", "-n", ns, "--timeout=30s")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-done
		})

		// While the pod exists, a wait for its deletion does not end: a short one
		// times out.
		if _, errOut, err := c.TryKubectl(t, nil, "wait", "--for=delete", "pod/waited", "-n", ns, "--timeout=2s"); err == nil || !strings.Contains(errOut, "timed out") {
			t.Errorf("wait --for=delete on an existing pod: err=%v stderr=%q, want a timeout", err, errOut)
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("kubectl wait ended before the pod was deleted: %v\n%s%s", err, stdout.String(), stderr.String())
		default:
		}

		c.Kubectl(t, "delete", "pod", "waited", "-n", ns, "--wait=false")
		select {
		case err := <-done:
			done <- err
			if err != nil {
				t.Fatalf("kubectl wait: %v\n%s%s", err, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), "pod/waited condition met") {
				t.Errorf("kubectl wait said %q", stdout.String())
			}
		case <-time.After(40 * time.Second):
			t.Fatalf("kubectl wait did not end after the pod was deleted")
		}
	})

	t.Run("get --watch", func(t *testing.T) {
		const wns = "kwatch"
		createNamespace(t, c, wns)
		cmd := c.KubectlCmd(t, "get", "pods", "-n", wns, "--watch", "--output-watch-events")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr lockedBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 100)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			for range lines {
			}
			_ = cmd.Wait()
		})

		// expect reads kubectl's lines for the pod until one shows event; lines of
		// the event types in skip may come first (a deleted pod is first MODIFIED
		// to Terminating, then DELETED, as in Kubernetes), any other fails.
		var seen []string
		expect := func(event string, skip ...string) {
			t.Helper()
			deadline := time.After(30 * time.Second)
			for {
				select {
				case line, ok := <-lines:
					if !ok {
						t.Fatalf("kubectl get --watch ended; seen %v; stderr:\n%s", seen, stderr.String())
					}
					f := strings.Fields(line)
					if len(f) < 2 || f[1] != "watched" {
						continue // the header, or another pod
					}
					seen = append(seen, f[0])
					if f[0] == event {
						return
					}
					if !slices.Contains(skip, f[0]) {
						t.Fatalf("events %v, want %s next (line %q)", seen, event, line)
					}
				case <-deadline:
					t.Fatalf("no %s event within 30s; seen %v; stderr:\n%s", event, seen, stderr.String())
				}
			}
		}

		if _, err := c.Client.CoreV1().Pods(wns).Create(ctx, newPod("watched", "watched"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		expect("ADDED")
		c.Kubectl(t, "label", "pod", "watched", "-n", wns, "seen=yes")
		expect("MODIFIED")
		if err := c.Client.CoreV1().Pods(wns).Delete(ctx, "watched", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		expect("DELETED", "MODIFIED")
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
	})
}

// ---------------------------------------------------------------------------
// Helpers shared by the tests of this package.

func newDeployment(name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: maps.Clone(labels)},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: maps.Clone(labels)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(labels)},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "web", Image: "nginx:1.27", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}}},
					{Name: "sidecar", Image: "busybox:1.36", Command: []string{"sleep", "infinity"}},
				}},
			},
		},
	}
}

// newPod is a pod no scheduler places (its schedulerName is nobody's), so it
// stays Pending on no node and is deleted at once, whatever controllers run.
func newPod(name, app string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{
			SchedulerName: "e2e-unscheduled",
			Containers: []corev1.Container{
				{Name: "main", Image: "busybox:1.36", Command: []string{"sleep", "infinity"}},
			},
		},
	}
}

func createNamespace(t *testing.T, c *testcluster.Cluster, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.Client.CoreV1().Namespaces().Create(t.Context(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

// eventually polls cond until it is true, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, timeout, true, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func toJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// checkTable checks kubectl's table output: the header's words, the names in
// column nameCol (when wantNames is not nil), and that some row starts with each
// of wantInRows' words (or contains them, for rows that do not start with a name).
func checkTable(t *testing.T, out, header string, nameCol int, wantNames, wantInRows []string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if got := strings.Join(strings.Fields(lines[0]), " "); got != header {
		t.Errorf("header = %q, want %q\n%s", got, header, out)
	}
	if wantNames != nil {
		var names []string
		for _, l := range lines[1:] {
			if f := strings.Fields(l); len(f) > nameCol {
				names = append(names, f[nameCol])
			}
		}
		slices.Sort(names)
		want := slices.Sorted(slices.Values(wantNames))
		if !slices.Equal(names, want) {
			t.Errorf("rows = %v, want %v\n%s", names, want, out)
		}
	}
	for _, w := range wantInRows {
		found := false
		for _, l := range lines[1:] {
			if strings.Contains(" "+strings.Join(strings.Fields(l), " ")+" ", " "+w+" ") {
				found = true
			}
		}
		if !found {
			t.Errorf("no row contains %q\n%s", w, out)
		}
	}
}

// hasRow reports whether a line of out has exactly the words of row.
func hasRow(out, row string) bool {
	want := strings.Fields(row)
	for _, l := range strings.Split(out, "\n") {
		if slices.Equal(strings.Fields(l), want) {
			return true
		}
	}
	return false
}

// hasLineWithPrefixFields reports whether a line of out starts with the words want.
func hasLineWithPrefixFields(out string, want []string) bool {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= len(want) && slices.Equal(f[:len(want)], want) {
			return true
		}
	}
	return false
}

func containsField(out, word string) bool {
	return slices.Contains(strings.Fields(out), word)
}

// lockedBuffer is a bytes.Buffer safe for a writing process and a reading test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
