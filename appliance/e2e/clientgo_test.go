package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/testcluster"
)

// TestClientGo exercises the API semantics client-go programs (controllers,
// operators) rely on. Subtests run in parallel, each in its own namespace.
func TestClientGo(t *testing.T) {
	c := testcluster.Start(t, testcluster.APIOnly)
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, c *testcluster.Cluster, ns string)
	}{
		{"typed CRUD", testTypedCRUD},
		{"informer", testInformer},
		{"paging", testPaging},
		{"watch from resourceVersion", testWatchFromResourceVersion},
		{"watch bookmarks", testWatchBookmarks},
		{"selectors", testSelectors},
		{"generateName", testGenerateName},
		{"dryRun", testDryRun},
		{"status subresource", testStatusSubresource},
		{"generation", testGeneration},
		{"finalizers", testFinalizers},
		{"namespace deletion", testNamespaceDeletion},
		{"missing namespace", testMissingNamespace},
		{"pod binding", testPodBinding},
		{"protobuf", testProtobuf},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := "cg-" + strings.ReplaceAll(strings.ToLower(tc.name), " ", "-")
			createNamespace(t, c, ns)
			tc.run(t, c, ns)
		})
	}
}

// typedClient is what every typed client of the clientset offers.
type typedClient[T, L runtime.Object] interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
	Get(context.Context, string, metav1.GetOptions) (T, error)
	Update(context.Context, T, metav1.UpdateOptions) (T, error)
	Delete(context.Context, string, metav1.DeleteOptions) error
	List(context.Context, metav1.ListOptions) (L, error)
}

// crud creates obj, reads it, updates it with mutate (check verifies the result),
// refuses a stale update, lists it and deletes it.
func crud[T interface {
	runtime.Object
	metav1.Object
}, L runtime.Object](t *testing.T, cl typedClient[T, L], obj T, mutate func(T), check func(*testing.T, T)) {
	ctx := t.Context()
	name := obj.GetName()
	created, err := cl.Create(ctx, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if ts := created.GetCreationTimestamp(); created.GetUID() == "" || created.GetResourceVersion() == "" || ts.IsZero() {
		t.Errorf("created object lacks uid/resourceVersion/creationTimestamp: %q %q %v",
			created.GetUID(), created.GetResourceVersion(), created.GetCreationTimestamp())
	}
	if _, err := cl.Create(ctx, obj, metav1.CreateOptions{}); !apierrors.IsAlreadyExists(err) {
		t.Errorf("second create: %v, want AlreadyExists", err)
	}
	got, err := cl.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.GetUID() != created.GetUID() || got.GetResourceVersion() != created.GetResourceVersion() {
		t.Errorf("get: uid/rv %s/%s, want %s/%s", got.GetUID(), got.GetResourceVersion(), created.GetUID(), created.GetResourceVersion())
	}
	mutate(got)
	updated, err := cl.Update(ctx, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if updated.GetResourceVersion() == created.GetResourceVersion() || updated.GetUID() != created.GetUID() {
		t.Errorf("update: rv %s -> %s, uid %s -> %s; want a new rv and the same uid",
			created.GetResourceVersion(), updated.GetResourceVersion(), created.GetUID(), updated.GetUID())
	}
	check(t, updated)
	reread, err := cl.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get after update: %v", err)
	}
	check(t, reread)

	stale := created.DeepCopyObject().(T)
	mutate(stale)
	if _, err := cl.Update(ctx, stale, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
		t.Errorf("update with a stale resourceVersion: %v, want Conflict", err)
	}

	list, err := cl.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if names := itemNames(t, list); !slices.Contains(names, name) {
		t.Errorf("list: %v, want it to contain %s", names, name)
	}

	if err := cl.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := cl.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get after delete: %v, want NotFound", err)
	}
	if err := cl.Delete(ctx, name, metav1.DeleteOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("second delete: %v, want NotFound", err)
	}
}

// rootCAConfigMap is the ConfigMap Kubernetes' root-CA publisher puts in every
// namespace; the tests ignore it so that they hold with or without one.
const rootCAConfigMap = "kube-root-ca.crt"

// itemNames returns the sorted names of a list's items, but for rootCAConfigMap.
func itemNames(t *testing.T, list runtime.Object) []string {
	t.Helper()
	items, err := meta.ExtractList(list)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, it := range items {
		m, err := meta.Accessor(it)
		if err != nil {
			t.Fatal(err)
		}
		if m.GetName() != rootCAConfigMap {
			names = append(names, m.GetName())
		}
	}
	slices.Sort(names)
	return names
}

func testTypedCRUD(t *testing.T, c *testcluster.Cluster, ns string) {
	cs := c.Client
	t.Run("configmap", func(t *testing.T) {
		crud(t, cs.CoreV1().ConfigMaps(ns),
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}, Data: map[string]string{"a": "1"}},
			func(o *corev1.ConfigMap) { o.Data["b"] = "2" },
			func(t *testing.T, o *corev1.ConfigMap) {
				if want := map[string]string{"a": "1", "b": "2"}; !maps.Equal(o.Data, want) {
					t.Errorf("data = %v, want %v", o.Data, want)
				}
			})
	})
	t.Run("secret", func(t *testing.T) {
		crud(t, cs.CoreV1().Secrets(ns),
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "secret"}, Data: map[string][]byte{"token": []byte("one")}},
			func(o *corev1.Secret) { o.Data["token"] = []byte("two") },
			func(t *testing.T, o *corev1.Secret) {
				if string(o.Data["token"]) != "two" || o.Type != corev1.SecretTypeOpaque {
					t.Errorf("data = %q, type %q; want two, Opaque", o.Data["token"], o.Type)
				}
			})
	})
	t.Run("service", func(t *testing.T) {
		crud(t, cs.CoreV1().Services(ns),
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "svc"}, Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "x"},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
			}},
			func(o *corev1.Service) {
				o.Spec.Ports = append(o.Spec.Ports, corev1.ServicePort{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443)})
			},
			func(t *testing.T, o *corev1.Service) {
				if len(o.Spec.Ports) != 2 || o.Spec.Ports[1].Port != 443 || o.Spec.Ports[1].Protocol != corev1.ProtocolTCP {
					t.Errorf("ports = %s, want http and https (TCP)", toJSON(o.Spec.Ports))
				}
			})
	})
	t.Run("deployment", func(t *testing.T) {
		crud(t, cs.AppsV1().Deployments(ns), newDeployment("deploy"),
			func(o *appsv1.Deployment) { o.Spec.Replicas = ptr.To[int32](4) },
			func(t *testing.T, o *appsv1.Deployment) {
				if ptr.Deref(o.Spec.Replicas, -1) != 4 {
					t.Errorf("replicas = %d, want 4", ptr.Deref(o.Spec.Replicas, -1))
				}
			})
	})
	t.Run("cronjob", func(t *testing.T) {
		cj := &batchv1.CronJob{
			ObjectMeta: metav1.ObjectMeta{Name: "cron"},
			Spec: batchv1.CronJobSpec{
				Schedule: "*/5 * * * *",
				JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{
					Spec: corev1.PodSpec{
						RestartPolicy: corev1.RestartPolicyOnFailure,
						Containers:    []corev1.Container{{Name: "c", Image: "busybox:1.36"}},
					},
				}}},
			},
		}
		crud(t, cs.BatchV1().CronJobs(ns), cj,
			func(o *batchv1.CronJob) { o.Spec.Schedule = "0 * * * *"; o.Spec.Suspend = ptr.To(true) },
			func(t *testing.T, o *batchv1.CronJob) {
				if o.Spec.Schedule != "0 * * * *" || !ptr.Deref(o.Spec.Suspend, false) {
					t.Errorf("schedule %q suspend %v, want \"0 * * * *\" true", o.Spec.Schedule, o.Spec.Suspend)
				}
			})
	})
	t.Run("role", func(t *testing.T) {
		role := &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "role"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}}},
		}
		crud(t, cs.RbacV1().Roles(ns), role,
			func(o *rbacv1.Role) { o.Rules[0].Verbs = append(o.Rules[0].Verbs, "list") },
			func(t *testing.T, o *rbacv1.Role) {
				if len(o.Rules) != 1 || !slices.Equal(o.Rules[0].Verbs, []string{"get", "list"}) {
					t.Errorf("rules = %s, want verbs get, list", toJSON(o.Rules))
				}
			})
	})
}

func createConfigMap(t *testing.T, c *testcluster.Cluster, ns, name string, labels map[string]string, finalizers ...string) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Finalizers: finalizers},
		Data:       map[string]string{"v": "1"},
	}
	got, err := c.Client.CoreV1().ConfigMaps(ns).Create(t.Context(), cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create configmap %s: %v", name, err)
	}
	return got
}

func setConfigMapValue(t *testing.T, c *testcluster.Cluster, ns, name, v string) *corev1.ConfigMap {
	t.Helper()
	var out *corev1.ConfigMap
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := c.Client.CoreV1().ConfigMaps(ns).Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data["v"] = v
		out, err = c.Client.CoreV1().ConfigMaps(ns).Update(t.Context(), cm, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatalf("update configmap %s: %v", name, err)
	}
	return out
}

func testInformer(t *testing.T, c *testcluster.Cluster, ns string) {
	createConfigMap(t, c, ns, "before", nil)

	ctx, cancel := context.WithCancel(t.Context())
	factory := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(ns))
	t.Cleanup(func() { cancel(); factory.Shutdown() })
	cms := factory.Core().V1().ConfigMaps()
	var (
		mu     sync.Mutex
		events []string
	)
	record := func(format, name string, args ...any) {
		if name == rootCAConfigMap {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		events = append(events, fmt.Sprintf(format, append([]any{name}, args...)...))
	}
	if _, err := cms.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { record("add %s", obj.(*corev1.ConfigMap).Name) },
		UpdateFunc: func(old, obj any) {
			o, n := old.(*corev1.ConfigMap), obj.(*corev1.ConfigMap)
			record("update %s %s->%s", n.Name, o.Data["v"], n.Data["v"])
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			record("delete %s", obj.(*corev1.ConfigMap).Name)
		},
	}); err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	for typ, ok := range factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			t.Fatalf("informer for %v did not sync", typ)
		}
	}
	if _, err := cms.Lister().ConfigMaps(ns).Get("before"); err != nil {
		t.Errorf("lister after sync: %v, want the configmap listed at start", err)
	}

	createConfigMap(t, c, ns, "live", nil)
	setConfigMapValue(t, c, ns, "live", "2")
	if err := c.Client.CoreV1().ConfigMaps(ns).Delete(t.Context(), "live", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"add before", "add live", "update live 1->2", "delete live"}
	snapshot := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(events)
	}
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return len(snapshot()) >= len(want), nil
	})
	if got := snapshot(); err != nil || !slices.Equal(got, want) {
		t.Fatalf("informer events = %q, want %q", got, want)
	}
	if _, err := cms.Lister().ConfigMaps(ns).Get("live"); !apierrors.IsNotFound(err) {
		t.Errorf("lister after delete: %v, want NotFound", err)
	}
}

func testPaging(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := t.Context()
	paged := map[string]string{"paging": "yes"}
	for i := range 25 {
		createConfigMap(t, c, ns, fmt.Sprintf("page-%02d", i), paged)
	}
	seen := map[string]int{}
	var sizes []int
	var rvs []string
	opts := metav1.ListOptions{Limit: 10, LabelSelector: "paging=yes"}
	for {
		list, err := c.Client.CoreV1().ConfigMaps(ns).List(ctx, opts)
		if err != nil {
			t.Fatalf("list page %d: %v", len(sizes)+1, err)
		}
		sizes = append(sizes, len(list.Items))
		rvs = append(rvs, list.ResourceVersion)
		for _, it := range list.Items {
			seen[it.Name]++
		}
		if list.Continue == "" {
			break
		}
		if len(sizes) == 1 {
			// Created after the first page: continued pages are a consistent
			// snapshot of the list as it was, so it is not listed.
			createConfigMap(t, c, ns, "page-zz-late", paged)
		}
		if len(sizes) > 5 {
			t.Fatalf("more than 5 pages of 10 for 25 items: %v", sizes)
		}
		opts.Continue = list.Continue
	}
	if !slices.Equal(sizes, []int{10, 10, 5}) {
		t.Errorf("page sizes = %v, want [10 10 5]", sizes)
	}
	for i := range 25 {
		if n := seen[fmt.Sprintf("page-%02d", i)]; n != 1 {
			t.Errorf("page-%02d listed %d times, want once", i, n)
		}
	}
	if len(seen) != 25 {
		t.Errorf("listed %d distinct names, want 25: %v", len(seen), slices.Sorted(maps.Keys(seen)))
	}
	if rvs[1] != rvs[0] || rvs[2] != rvs[0] {
		t.Errorf("resourceVersions of the pages = %v, want the first page's for all", rvs)
	}
	all, err := c.Client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: "paging=yes"})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Items) != 26 || all.Continue != "" {
		t.Errorf("unpaged list: %d items, continue %q; want 26 and none", len(all.Items), all.Continue)
	}
}

// nextEvent returns the next watch event, failing after timeout.
func nextEvent(t *testing.T, w watch.Interface, timeout time.Duration) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatalf("watch closed")
		}
		return ev
	case <-time.After(timeout):
		t.Fatalf("no watch event within %v", timeout)
	}
	panic("unreachable")
}

func isRootCA(ev watch.Event) bool {
	m, err := meta.Accessor(ev.Object)
	return err == nil && m.GetName() == rootCAConfigMap
}

func describeEvent(ev watch.Event) string {
	if st, ok := ev.Object.(*metav1.Status); ok {
		return fmt.Sprintf("%s %d %s: %s", ev.Type, st.Code, st.Reason, st.Message)
	}
	if m, err := meta.Accessor(ev.Object); err == nil {
		return fmt.Sprintf("%s %s", ev.Type, m.GetName())
	}
	return fmt.Sprintf("%s %T", ev.Type, ev.Object)
}

func testWatchFromResourceVersion(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := t.Context()
	cms := c.Client.CoreV1().ConfigMaps(ns)
	createConfigMap(t, c, ns, "a", nil)
	list, err := cms.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	createConfigMap(t, c, ns, "b", nil)
	setConfigMapValue(t, c, ns, "a", "2")
	if err := cms.Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	w, err := cms.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var got []string
	for len(got) < 3 {
		if ev := nextEvent(t, w, 15*time.Second); !isRootCA(ev) {
			got = append(got, describeEvent(ev))
		}
	}
	if want := []string{"ADDED b", "MODIFIED a", "DELETED b"}; !slices.Equal(got, want) {
		t.Fatalf("events after resourceVersion %s = %q, want %q", list.ResourceVersion, got, want)
	}
	// and then the live ones
	createConfigMap(t, c, ns, "c", nil)
	ev := nextEvent(t, w, 15*time.Second)
	for isRootCA(ev) {
		ev = nextEvent(t, w, 15*time.Second)
	}
	if got := describeEvent(ev); got != "ADDED c" {
		t.Errorf("live event = %q, want ADDED c", got)
	}
}

func testWatchBookmarks(t *testing.T, c *testcluster.Cluster, ns string) {
	cms := c.Client.CoreV1().ConfigMaps(ns)
	createConfigMap(t, c, ns, "one", nil)
	createConfigMap(t, c, ns, "two", nil)

	t.Run("periodic", func(t *testing.T) {
		// The server sends a bookmark before a watch times out (and about every
		// minute), so that the client can resume from a recent resourceVersion.
		// A bookmark carries news only when the store moved on past the
		// watch's resourceVersion: here a ConfigMap of another namespace,
		// which this watch never sees as an event.
		list, err := cms.List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w, err := cms.Watch(t.Context(), metav1.ListOptions{
			ResourceVersion: list.ResourceVersion, AllowWatchBookmarks: true, TimeoutSeconds: ptr.To[int64](5),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		createConfigMap(t, c, metav1.NamespaceDefault, "bookmark-elsewhere-"+ns, nil)
		deadline := time.After(20 * time.Second)
		for {
			select {
			case ev, ok := <-w.ResultChan():
				if !ok {
					t.Fatalf("watch ended after its timeout without a bookmark")
				}
				if ev.Type != watch.Bookmark {
					t.Fatalf("unexpected event %s", describeEvent(ev))
				}
				m, err := meta.Accessor(ev.Object)
				if err != nil {
					t.Fatal(err)
				}
				if m.GetResourceVersion() == "" {
					t.Errorf("bookmark without a resourceVersion: %+v", ev.Object)
				}
				if _, ok := ev.Object.(*corev1.ConfigMap); !ok {
					t.Errorf("bookmark object is %T, want *v1.ConfigMap", ev.Object)
				}
				return
			case <-deadline:
				t.Fatalf("no bookmark within 20s of a watch with timeoutSeconds=5")
			}
		}
	})

	t.Run("initial events end", func(t *testing.T) {
		// A streaming list (sendInitialEvents) sends the current objects as ADDED,
		// then a bookmark annotated k8s.io/initial-events-end.
		w, err := cms.Watch(t.Context(), metav1.ListOptions{
			SendInitialEvents:    ptr.To(true),
			ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
			AllowWatchBookmarks:  true,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		var added []string
		for {
			ev := nextEvent(t, w, 15*time.Second)
			switch ev.Type {
			case watch.Added:
				if !isRootCA(ev) {
					added = append(added, ev.Object.(*corev1.ConfigMap).Name)
				}
				continue
			case watch.Bookmark:
				m, err := meta.Accessor(ev.Object)
				if err != nil {
					t.Fatal(err)
				}
				if m.GetAnnotations()[metav1.InitialEventsAnnotationKey] != "true" {
					t.Errorf("bookmark annotations = %v, want %s=true", m.GetAnnotations(), metav1.InitialEventsAnnotationKey)
				}
			default:
				t.Fatalf("unexpected event %s", describeEvent(ev))
			}
			break
		}
		slices.Sort(added)
		if !slices.Equal(added, []string{"one", "two"}) {
			t.Errorf("initial events = %v, want ADDED one and two", added)
		}
	})
}

func testSelectors(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := t.Context()
	createConfigMap(t, c, ns, "a", map[string]string{"env": "prod", "tier": "web"})
	createConfigMap(t, c, ns, "b", map[string]string{"env": "prod", "tier": "db"})
	createConfigMap(t, c, ns, "c", map[string]string{"env": "dev"})
	createConfigMap(t, c, ns, "d", nil)
	for _, tc := range []struct {
		name, label, field string
		want               []string
	}{
		{name: "equality", label: "env=prod", want: []string{"a", "b"}},
		{name: "inequality", label: "env!=prod", want: []string{"c", "d"}},
		{name: "set", label: "env in (dev,prod),tier!=db", want: []string{"a", "c"}},
		{name: "exists", label: "tier", want: []string{"a", "b"}},
		{name: "not exists", label: "!env", want: []string{"d"}},
		{name: "field name", field: "metadata.name=c", want: []string{"c"}},
		{name: "field not name", field: "metadata.name!=a", want: []string{"b", "c", "d"}},
		{name: "field namespace", field: "metadata.namespace=" + ns, want: []string{"a", "b", "c", "d"}},
		{name: "label and field", label: "env=prod", field: "metadata.name!=a", want: []string{"b"}},
		{name: "nothing matches", label: "env=staging", want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list, err := c.Client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: tc.label, FieldSelector: tc.field})
			if err != nil {
				t.Fatal(err)
			}
			if got := itemNames(t, list); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("secret type field", func(t *testing.T) {
		for name, typ := range map[string]corev1.SecretType{"opaque": corev1.SecretTypeOpaque, "custom": "e2e.test/custom"} {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Type: typ, Data: map[string][]byte{"k": []byte("v")}}
			if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		list, err := c.Client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{FieldSelector: "type=e2e.test/custom"})
		if err != nil {
			t.Fatal(err)
		}
		if got := itemNames(t, list); !slices.Equal(got, []string{"custom"}) {
			t.Errorf("got %v, want [custom]", got)
		}
	})
	t.Run("unsupported field is a bad request", func(t *testing.T) {
		_, err := c.Client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{FieldSelector: "data.v=1"})
		if !apierrors.IsBadRequest(err) {
			t.Errorf("list with field selector data.v: %v, want BadRequest", err)
		}
	})
	t.Run("invalid label selector is a bad request", func(t *testing.T) {
		_, err := c.Client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: "env in (prod"})
		if !apierrors.IsBadRequest(err) {
			t.Errorf("list with label selector %q: %v, want BadRequest", "env in (prod", err)
		}
	})
}

func testGenerateName(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := t.Context()
	names := map[string]bool{}
	for range 3 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{GenerateName: "gen-"}}
		got, err := c.Client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got.Name, "gen-") || len(got.Name) != len("gen-")+5 || got.GenerateName != "gen-" {
			t.Errorf("name %q generateName %q, want gen- and 5 random characters", got.Name, got.GenerateName)
		}
		if names[got.Name] {
			t.Errorf("name %q generated twice", got.Name)
		}
		names[got.Name] = true
		if _, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, got.Name, metav1.GetOptions{}); err != nil {
			t.Errorf("get %s: %v", got.Name, err)
		}
	}
}

func testDryRun(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := t.Context()
	cms := c.Client.CoreV1().ConfigMaps(ns)
	dry := []string{metav1.DryRunAll}

	got, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dry"}, Data: map[string]string{"v": "1"}}, metav1.CreateOptions{DryRun: dry})
	if err != nil {
		t.Fatalf("dry-run create: %v", err)
	}
	if got.Name != "dry" || got.Data["v"] != "1" {
		t.Errorf("dry-run create returned %s, want the object as it would be created", toJSON(got))
	}
	if _, err := cms.Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get after dry-run create: %v, want NotFound", err)
	}
	if list, err := cms.List(ctx, metav1.ListOptions{}); err != nil || slices.Contains(itemNames(t, list), "dry") {
		t.Errorf("list after dry-run create: %v, %v; want it without dry", err, list)
	}

	live := createConfigMap(t, c, ns, "real", nil)
	upd := live.DeepCopy()
	upd.Data["v"] = "2"
	got, err = cms.Update(ctx, upd, metav1.UpdateOptions{DryRun: dry})
	if err != nil {
		t.Fatalf("dry-run update: %v", err)
	}
	if got.Data["v"] != "2" {
		t.Errorf("dry-run update returned v=%q, want 2", got.Data["v"])
	}
	if err := cms.Delete(ctx, "real", metav1.DeleteOptions{DryRun: dry}); err != nil {
		t.Fatalf("dry-run delete: %v", err)
	}
	after, err := cms.Get(ctx, "real", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get after dry-run update and delete: %v", err)
	}
	if after.Data["v"] != "1" || after.ResourceVersion != live.ResourceVersion {
		t.Errorf("after dry runs: v=%q rv=%s, want v=1 rv=%s (unchanged)", after.Data["v"], after.ResourceVersion, live.ResourceVersion)
	}
}

func testStatusSubresource(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := t.Context()
	deps := c.Client.AppsV1().Deployments(ns)
	d, err := deps.Create(ctx, newDeployment("web"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}

	// A status update changes status only: the spec and labels it carries are
	// ignored.
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 1, AvailableReplicas: 1, UnavailableReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{{
			Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: "MinimumReplicasUnavailable",
			Message: "Deployment does not have minimum availability.", LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		}},
	}
	d.Spec.Replicas = ptr.To[int32](9)
	d.Labels["sneaky"] = "yes"
	st, err := deps.UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update status: %v", err)
	}
	for _, got := range []*appsv1.Deployment{st, getDeploymentOrFail(t, c, ns, "web")} {
		if got.Status.ReadyReplicas != 1 || got.Status.Replicas != 2 || len(got.Status.Conditions) != 1 {
			t.Errorf("status = %s, want the status sent", toJSON(got.Status))
		}
		if ptr.Deref(got.Spec.Replicas, -1) != 2 {
			t.Errorf("spec.replicas = %d after a status update, want 2 (unchanged)", ptr.Deref(got.Spec.Replicas, -1))
		}
		if _, ok := got.Labels["sneaky"]; ok {
			t.Errorf("labels = %v after a status update, want unchanged", got.Labels)
		}
		if got.Generation != 1 {
			t.Errorf("generation = %d after a status update, want 1", got.Generation)
		}
	}

	// An update of the main resource cannot change status.
	st.Status.ReadyReplicas = 2
	st.Status.Conditions = nil
	st.Spec.Replicas = ptr.To[int32](3)
	up, err := deps.Update(ctx, st, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	for _, got := range []*appsv1.Deployment{up, getDeploymentOrFail(t, c, ns, "web")} {
		if got.Status.ReadyReplicas != 1 || len(got.Status.Conditions) != 1 {
			t.Errorf("status = %s after a main-resource update, want unchanged", toJSON(got.Status))
		}
		if ptr.Deref(got.Spec.Replicas, -1) != 3 {
			t.Errorf("spec.replicas = %d, want 3", ptr.Deref(got.Spec.Replicas, -1))
		}
	}

	// Status is not set on create either.
	d2 := newDeployment("born-with-status")
	d2.Status.ReadyReplicas = 5
	created, err := deps.Create(ctx, d2, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if created.Status.ReadyReplicas != 0 {
		t.Errorf("status.readyReplicas = %d on create, want 0 (status is reset)", created.Status.ReadyReplicas)
	}
}

func getDeploymentOrFail(t *testing.T, c *testcluster.Cluster, ns, name string) *appsv1.Deployment {
	t.Helper()
	d, err := c.Client.AppsV1().Deployments(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testGeneration(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := t.Context()
	deps := c.Client.AppsV1().Deployments(ns)
	d, err := deps.Create(ctx, newDeployment("gen"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Generation != 1 {
		t.Fatalf("generation on create = %d, want 1", d.Generation)
	}
	for _, step := range []struct {
		name    string
		change  func(*appsv1.Deployment)
		status  bool
		wantGen int64
	}{
		{name: "label", change: func(d *appsv1.Deployment) { d.Labels["x"] = "y" }, wantGen: 1},
		{name: "annotation", change: func(d *appsv1.Deployment) { d.Annotations = map[string]string{"a": "b"} }, wantGen: 1},
		{name: "image", change: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "nginx:1.28" }, wantGen: 2},
		{name: "status", status: true, change: func(d *appsv1.Deployment) { d.Status.ObservedGeneration = 2; d.Status.Replicas = 2 }, wantGen: 2},
		{name: "replicas", change: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) }, wantGen: 3},
		{name: "template label", change: func(d *appsv1.Deployment) { d.Spec.Template.Labels["rev"] = "2" }, wantGen: 4},
	} {
		d = getDeploymentOrFail(t, c, ns, "gen")
		step.change(d)
		var err error
		if step.status {
			d, err = deps.UpdateStatus(ctx, d, metav1.UpdateOptions{})
		} else {
			d, err = deps.Update(ctx, d, metav1.UpdateOptions{})
		}
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if d.Generation != step.wantGen {
			t.Errorf("after a %s change: generation %d, want %d", step.name, d.Generation, step.wantGen)
		}
	}

	// An update that changes nothing writes nothing.
	before := getDeploymentOrFail(t, c, ns, "gen")
	after, err := deps.Update(ctx, before.DeepCopy(), metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != before.ResourceVersion || after.Generation != before.Generation {
		t.Errorf("no-op update: rv %s -> %s, generation %d -> %d; want both unchanged",
			before.ResourceVersion, after.ResourceVersion, before.Generation, after.Generation)
	}

	// An EndpointSlice has no spec, but Kubernetes gives it a generation that
	// its endpoints, ports and labels move, and controllers rely on it.
	epss := c.Client.DiscoveryV1().EndpointSlices(ns)
	eps, err := epss.Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "gen", Labels: map[string]string{"a": "1"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.42.0.5"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if eps.Generation != 1 {
		t.Errorf("EndpointSlice generation on create = %d, want 1", eps.Generation)
	}
	for _, step := range []struct {
		name    string
		change  func(*discoveryv1.EndpointSlice)
		wantGen int64
	}{
		{"annotation", func(e *discoveryv1.EndpointSlice) { e.Annotations = map[string]string{"x": "y"} }, 1},
		{"endpoint", func(e *discoveryv1.EndpointSlice) { e.Endpoints[0].Addresses = []string{"10.42.0.6"} }, 2},
		{"port", func(e *discoveryv1.EndpointSlice) {
			e.Ports = []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](80)}}
		}, 3},
		{"label", func(e *discoveryv1.EndpointSlice) { e.Labels["a"] = "2" }, 4},
	} {
		step.change(eps)
		if eps, err = epss.Update(ctx, eps, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("EndpointSlice %s change: %v", step.name, err)
		}
		if eps.Generation != step.wantGen {
			t.Errorf("EndpointSlice after a %s change: generation %d, want %d", step.name, eps.Generation, step.wantGen)
		}
	}
}

func testFinalizers(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := t.Context()
	cms := c.Client.CoreV1().ConfigMaps(ns)
	const finalizer = "e2e.test/hold"
	createConfigMap(t, c, ns, "held", nil, finalizer)
	if err := cms.Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := cms.Get(ctx, "held", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get after delete: %v, want the object kept while it has a finalizer", err)
	}
	if got.DeletionTimestamp == nil || !slices.Equal(got.Finalizers, []string{finalizer}) {
		t.Fatalf("deletionTimestamp %v finalizers %v, want set and [%s]", got.DeletionTimestamp, got.Finalizers, finalizer)
	}
	// A second delete changes nothing; the object is still listed.
	if err := cms.Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Errorf("second delete: %v", err)
	}
	if list, err := cms.List(ctx, metav1.ListOptions{}); err != nil || !slices.Contains(itemNames(t, list), "held") {
		t.Errorf("list while terminating: %v, want held listed", err)
	}

	// Removing the finalizer completes the deletion.
	got.Finalizers = nil
	if _, err := cms.Update(ctx, got, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("remove finalizer: %v", err)
	}
	eventually(t, 30*time.Second, "configmap deleted once its finalizer is removed", func(ctx context.Context) (bool, error) {
		_, err := cms.Get(ctx, "held", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

func testNamespaceDeletion(t *testing.T, c *testcluster.Cluster, _ string) {
	ctx := t.Context()
	const ns = "cg-doomed"
	const finalizer = "e2e.test/hold"
	createNamespace(t, c, ns)
	createConfigMap(t, c, ns, "a", nil)
	createConfigMap(t, c, ns, "b", nil)
	createConfigMap(t, c, ns, "held", nil, finalizer)
	web := newDeployment("web")
	web.Spec.Replicas = ptr.To[int32](0) // no pods to wait for, whatever controllers run
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, web, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, newPod("pod", "pod"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	if err := c.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get namespace right after delete: %v, want it Terminating", err)
	}
	if got.DeletionTimestamp == nil || got.Status.Phase != corev1.NamespaceTerminating {
		t.Errorf("namespace deletionTimestamp %v phase %q, want set and Terminating", got.DeletionTimestamp, got.Status.Phase)
	}
	_, err = c.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "being terminated") {
		t.Errorf("create in a terminating namespace: %v, want Forbidden (being terminated)", err)
	}

	// The namespace controller empties it; the finalizer holds one object, and
	// with it the namespace.
	eventually(t, 60*time.Second, "namespace emptied but for the held configmap", func(ctx context.Context) (bool, error) {
		cms, err := c.Client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		deps, err := c.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		secrets, err := c.Client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		return len(cms.Items) == 1 && cms.Items[0].DeletionTimestamp != nil &&
			len(deps.Items) == 0 && len(pods.Items) == 0 && len(secrets.Items) == 0, nil
	})
	if _, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		t.Fatalf("namespace gone while it still holds a configmap: %v", err)
	}

	held, err := c.Client.CoreV1().ConfigMaps(ns).Get(ctx, "held", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	held.Finalizers = nil
	if _, err := c.Client.CoreV1().ConfigMaps(ns).Update(ctx, held, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "namespace deleted", func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
	cms, err := c.Client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(cms.Items) != 0 {
		t.Errorf("configmaps of the deleted namespace: %v, %d items; want none", err, len(cms.Items))
	}
}

func testMissingNamespace(t *testing.T, c *testcluster.Cluster, _ string) {
	const ns = "cg-no-such-namespace"
	_, err := c.Client.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), `namespaces "`+ns+`" not found`) {
		t.Errorf("create in a missing namespace: %v, want NotFound for the namespace", err)
	}
	_, err = c.Client.AppsV1().Deployments(ns).Create(t.Context(), newDeployment("x"), metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("create deployment in a missing namespace: %v, want NotFound", err)
	}
}

func testPodBinding(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := t.Context()
	pods := c.Client.CoreV1().Pods(ns)
	if _, err := pods.Create(ctx, newPod("p", "p"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bind := func(node string) error {
		return pods.Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: "p"},
			Target:     corev1.ObjectReference{Kind: "Node", Name: node},
		}, metav1.CreateOptions{})
	}
	if err := bind("test-node"); err != nil {
		t.Fatalf("bind: %v", err)
	}
	p, err := pods.Get(ctx, "p", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.NodeName != "test-node" {
		t.Errorf("spec.nodeName = %q, want test-node", p.Spec.NodeName)
	}
	scheduled := false
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodScheduled && cond.Status == corev1.ConditionTrue {
			scheduled = true
		}
	}
	if !scheduled {
		t.Errorf("conditions = %s, want PodScheduled=True", toJSON(p.Status.Conditions))
	}
	if err := bind("other-node"); !apierrors.IsConflict(err) {
		t.Errorf("second bind: %v, want Conflict (409)", err)
	}
	if p, err := pods.Get(ctx, "p", metav1.GetOptions{}); err != nil || p.Spec.NodeName != "test-node" {
		t.Errorf("after a refused bind: nodeName %q (%v), want test-node", p.Spec.NodeName, err)
	}
	list, err := pods.List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=test-node"})
	if err != nil || !slices.Equal(itemNames(t, list), []string{"p"}) {
		t.Errorf("pods on test-node: %v, %v; want [p]", err, list)
	}
}

func testProtobuf(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := t.Context()
	cfg := rest.CopyConfig(c.REST)
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf
	pb := kubernetes.NewForConfigOrDie(cfg)

	cm, err := pb.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "pb"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("protobuf create configmap: %v", err)
	}
	if cm.Data["k"] != "v" || cm.UID == "" {
		t.Errorf("created %s", toJSON(cm))
	}
	d, err := pb.AppsV1().Deployments(ns).Create(ctx, newDeployment("pb"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("protobuf create deployment: %v", err)
	}
	if ptr.Deref(d.Spec.Replicas, -1) != 2 || d.Spec.Template.Spec.Containers[0].Image != "nginx:1.27" {
		t.Errorf("created %s", toJSON(d.Spec))
	}
	cms, err := pb.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("protobuf list configmaps: %v", err)
	}
	if got := itemNames(t, cms); !slices.Equal(got, []string{"pb"}) {
		t.Errorf("configmaps = %v, want [pb]", got)
	}
	deps, err := pb.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("protobuf list deployments: %v", err)
	}
	if got := itemNames(t, deps); !slices.Equal(got, []string{"pb"}) {
		t.Errorf("deployments = %v, want [pb]", got)
	}
	// What was written as protobuf reads back the same as JSON.
	viaJSON, err := c.Client.AppsV1().Deployments(ns).Get(ctx, "pb", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if viaJSON.ResourceVersion != deps.Items[0].ResourceVersion || viaJSON.Spec.Template.Spec.Containers[1].Name != "sidecar" {
		t.Errorf("JSON read of a protobuf-written deployment differs: %s", toJSON(viaJSON))
	}
}
