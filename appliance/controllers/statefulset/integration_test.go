package statefulset_test

import (
	"context"
	"fmt"
	"github.com/appliance/appliance/appliance/controllers/statefulset"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/testcluster"
)

// TestStatefulSetIntegration runs the controller against a real appliance
// (etcd and our API server in-process). No scheduler or kubelet runs: each
// subtest starts a sim in its namespace that binds pods to its node and makes
// the pods it is told to Running and Ready, so a test decides when web-0
// becomes ready and can check that web-1 waited for it.
func TestStatefulSetIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := testcluster.Start(t, testcluster.APIOnly)
	factory := informers.NewSharedInformerFactory(c.Client, 0)
	ctl := statefulset.New(c.Client, factory, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ctl.Run(ctx, 4) }()
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })

	for _, tc := range []struct {
		name string
		run  func(t *testing.T, c *testcluster.Cluster, ns string)
	}{
		{"ordered creation", testOrderedCreation},
		{"scale down keeps claims", testScaleDown},
		{"rolling update with partition", testRollingUpdate},
		{"parallel", testParallel},
		{"on delete", testOnDelete},
		{"kubectl rollout", testKubectlRollout},
		{"claim retention delete", testRetentionDelete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := "sts-" + strings.ReplaceAll(tc.name, " ", "-")
			if _, err := c.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			createNode(t, c.Client, ns+"-node", nil)
			tc.run(t, c, ns)
		})
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newStatefulSet(ns string, replicas int32, mutate ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(replicas),
			ServiceName: "web",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1",
					VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
				},
			}},
		},
	}
	for _, m := range mutate {
		m(set)
	}
	return set
}

func createStatefulSet(t *testing.T, c *testcluster.Cluster, set *appsv1.StatefulSet) *appsv1.StatefulSet {
	t.Helper()
	got, err := c.Client.AppsV1().StatefulSets(set.Namespace).Create(context.Background(), set, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create stateful set: %v", err)
	}
	return got
}

// updateStatefulSet changes the set with a read-modify-write, retried on
// conflicts (the controller writes its status meanwhile), and returns the new
// generation.
func updateStatefulSet(t *testing.T, c *testcluster.Cluster, ns string, mutate func(*appsv1.StatefulSet)) int64 {
	t.Helper()
	var gen int64
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		set, err := c.Client.AppsV1().StatefulSets(ns).Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		mutate(set)
		set, err = c.Client.AppsV1().StatefulSets(ns).Update(context.Background(), set, metav1.UpdateOptions{})
		if err == nil {
			gen = set.Generation
		}
		return err
	})
	if err != nil {
		t.Fatalf("update stateful set: %v", err)
	}
	return gen
}

// waitStatus waits until the status has observed the latest generation and
// satisfies ok.
func waitStatus(t *testing.T, c *testcluster.Cluster, ns, what string, ok func(s appsv1.StatefulSetStatus) bool) *appsv1.StatefulSet {
	t.Helper()
	var set *appsv1.StatefulSet
	eventually(t, 30*time.Second, what, func() (bool, string) {
		var err error
		set, err = c.Client.AppsV1().StatefulSets(ns).Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return set.Status.ObservedGeneration >= set.Generation && ok(set.Status), fmt.Sprintf("generation %d, status %+v", set.Generation, set.Status)
	})
	return set
}

// rolledOut: n replicas, all ready, at one revision.
func rolledOut(n int32) func(s appsv1.StatefulSetStatus) bool {
	return func(s appsv1.StatefulSetStatus) bool {
		return s.Replicas == n && s.ReadyReplicas == n && s.AvailableReplicas == n && s.UpdatedReplicas == n &&
			s.CurrentReplicas == n && s.CurrentRevision != "" && s.CurrentRevision == s.UpdateRevision
	}
}

func podNames(t *testing.T, c *testcluster.Cluster, ns string) []string {
	t.Helper()
	list, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range list.Items {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

func claims(t *testing.T, c *testcluster.Cluster, ns string) map[string]corev1.PersistentVolumeClaim {
	t.Helper()
	list, err := c.Client.CoreV1().PersistentVolumeClaims(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]corev1.PersistentVolumeClaim{}
	for _, p := range list.Items {
		out[p.Name] = p
	}
	return out
}

// history records, from one watch, the order in which pods appeared and
// started terminating, and checks at every event that OrderedReady held: a pod
// appears only once its predecessor is Running and Ready, and a pod starts
// terminating only while no other one is terminating or not ready (one pod down
// at a time, as maxUnavailable 1 and scale-down one at a time demand).
type history struct {
	mu         sync.Mutex
	created    []string
	terminated []string
	seen       map[string]bool
	dying      map[string]bool
	violations []string
}

func (h *history) observe(pods map[string]*corev1.Pod) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		h.seen, h.dying = map[string]bool{}, map[string]bool{}
		for name, p := range pods { // what was there before the watch began
			h.seen[name] = true
			h.dying[name] = p.DeletionTimestamp != nil
		}
		return
	}
	for name, p := range pods {
		if !h.seen[name] {
			h.seen[name] = true
			h.created = append(h.created, name)
			if ord := statefulset.OrdinalOf(p); ord > 0 {
				prev := pods[fmt.Sprintf("web-%d", ord-1)]
				if prev == nil || prev.DeletionTimestamp != nil || !statefulset.IsRunningAndReady(prev) {
					h.violations = append(h.violations, fmt.Sprintf("%s created while web-%d was not ready", name, ord-1))
				}
			}
		}
		if p.DeletionTimestamp != nil && !h.dying[name] {
			h.dying[name] = true
			h.terminated = append(h.terminated, name)
			for other, q := range pods {
				if other != name && (q.DeletionTimestamp != nil || !statefulset.IsRunningAndReady(q)) {
					h.violations = append(h.violations, fmt.Sprintf("%s deleted while %s was down", name, other))
				}
			}
		}
	}
	for name := range h.seen {
		if _, ok := pods[name]; !ok {
			delete(h.seen, name) // gone: a later pod of that name is a new one
			delete(h.dying, name)
		}
	}
}

func (h *history) result() (created, terminated, violations []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.created), slices.Clone(h.terminated), slices.Clone(h.violations)
}

// allow makes the sim start the named pods.
func allow(names ...string) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool { return slices.Contains(names, p.Name) }
}

func all(*corev1.Pod) bool { return true }

func testOrderedCreation(t *testing.T, c *testcluster.Cluster, ns string) {
	s := startSim(t, c.Client, ns, ns+"-node", nil)
	var h history
	pw := watchPods(t, c.Client, ns, "app=web", h.observe)
	createStatefulSet(t, c, newStatefulSet(ns, 3))

	// The controller has seen web-0 (its status counts it) and, web-0 not
	// being ready, stopped there: only then is "no web-1" a fact, not a race.
	waitStatus(t, c, ns, "web-0 created and counted", func(s appsv1.StatefulSetStatus) bool { return s.Replicas == 1 && s.ReadyReplicas == 0 })
	if got := podNames(t, c, ns); !slices.Equal(got, []string{"web-0"}) {
		t.Fatalf("pods %v while web-0 is not ready, want [web-0]", got)
	}
	if _, ok := claims(t, c, ns)["data-web-0"]; !ok {
		t.Fatalf("no claim data-web-0")
	}

	s.SetReady(allow("web-0"))
	waitStatus(t, c, ns, "web-1 created after web-0 ready", func(s appsv1.StatefulSetStatus) bool { return s.Replicas == 2 && s.ReadyReplicas == 1 })
	if got := podNames(t, c, ns); !slices.Equal(got, []string{"web-0", "web-1"}) {
		t.Fatalf("pods %v while web-1 is not ready, want [web-0 web-1]", got)
	}

	s.SetReady(all)
	set := waitStatus(t, c, ns, "three ready pods", rolledOut(3))
	created, _, violations := h.result()
	if broken := pw.Stop(); broken != "" {
		t.Fatalf("pod watch: %s", broken)
	}
	if !slices.Equal(created, []string{"web-0", "web-1", "web-2"}) || len(violations) > 0 {
		t.Fatalf("creation order %v, violations %v", created, violations)
	}

	list, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pvcs := claims(t, c, ns)
	for _, p := range list.Items {
		ord := statefulset.OrdinalOf(&p)
		if p.Spec.Hostname != p.Name || p.Spec.Subdomain != "web" {
			t.Errorf("%s: hostname %q subdomain %q", p.Name, p.Spec.Hostname, p.Spec.Subdomain)
		}
		if p.Labels[appsv1.StatefulSetPodNameLabel] != p.Name || p.Labels[appsv1.PodIndexLabel] != fmt.Sprint(ord) ||
			p.Labels[appsv1.ControllerRevisionHashLabelKey] != set.Status.CurrentRevision {
			t.Errorf("%s: labels %v (current revision %s)", p.Name, p.Labels, set.Status.CurrentRevision)
		}
		if ref := metav1.GetControllerOf(&p); ref == nil || ref.UID != set.UID {
			t.Errorf("%s: controller %+v", p.Name, ref)
		}
		claim := "data-" + p.Name
		var mounted bool
		for _, v := range p.Spec.Volumes {
			mounted = mounted || (v.Name == "data" && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claim)
		}
		pvc, ok := pvcs[claim]
		if !mounted || !ok || pvc.Labels["app"] != "web" || len(pvc.OwnerReferences) != 0 {
			t.Errorf("%s: claim %s mounted %v, exists %v, labels %v, owners %v", p.Name, claim, mounted, ok, pvc.Labels, pvc.OwnerReferences)
		}
	}
	revs, err := c.Client.AppsV1().ControllerRevisions(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(revs.Items) != 1 || revs.Items[0].Name != set.Status.CurrentRevision || revs.Items[0].Revision != 1 {
		t.Errorf("revisions %+v, %v", revs, err)
	}
	eventually(t, 10*time.Second, "events", func() (bool, string) {
		evs, err := c.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=web,reason=SuccessfulCreate"})
		if err != nil {
			return false, err.Error()
		}
		var msgs []string
		for _, e := range evs.Items {
			if e.Source.Component == statefulset.Component && e.InvolvedObject.Kind == "StatefulSet" {
				msgs = append(msgs, e.Message)
			}
		}
		for _, want := range []string{
			"create Pod web-0 in StatefulSet web successful",
			"create Pod web-2 in StatefulSet web successful",
			"create Claim data-web-1 Pod web-1 in StatefulSet web success",
		} {
			if !slices.Contains(msgs, want) {
				return false, fmt.Sprintf("no %q in %q", want, msgs)
			}
		}
		return true, ""
	})
}

func testScaleDown(t *testing.T, c *testcluster.Cluster, ns string) {
	startSim(t, c.Client, ns, ns+"-node", all)
	createStatefulSet(t, c, newStatefulSet(ns, 3))
	waitStatus(t, c, ns, "three ready pods", rolledOut(3))
	before := claims(t, c, ns)

	var h history
	pw := watchPods(t, c.Client, ns, "app=web", h.observe)
	// Through the scale subresource, as `kubectl scale` does.
	scale, err := c.Client.AppsV1().StatefulSets(ns).GetScale(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = 1
	if _, err := c.Client.AppsV1().StatefulSets(ns).UpdateScale(context.Background(), "web", scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, ns, "scaled to one", rolledOut(1))
	eventually(t, 30*time.Second, "only web-0 left", func() (bool, string) {
		got := podNames(t, c, ns)
		return slices.Equal(got, []string{"web-0"}), fmt.Sprintf("pods %v", got)
	})
	_, terminated, violations := h.result()
	if broken := pw.Stop(); broken != "" {
		t.Fatalf("pod watch: %s", broken)
	}
	if !slices.Equal(terminated, []string{"web-2", "web-1"}) || len(violations) > 0 {
		t.Fatalf("deletion order %v, violations %v; want [web-2 web-1], one at a time", terminated, violations)
	}
	after := claims(t, c, ns)
	for _, name := range []string{"data-web-0", "data-web-1", "data-web-2"} {
		if _, ok := after[name]; !ok {
			t.Errorf("claim %s gone after scale-down (retention Retain keeps it)", name)
		}
	}

	// Scaling up again gives the pods their old claims back.
	updateStatefulSet(t, c, ns, func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To[int32](3) })
	waitStatus(t, c, ns, "three ready pods again", rolledOut(3))
	again := claims(t, c, ns)
	for _, name := range []string{"data-web-1", "data-web-2"} {
		if again[name].UID != before[name].UID {
			t.Errorf("claim %s was recreated, not reused", name)
		}
	}
}

func testRollingUpdate(t *testing.T, c *testcluster.Cluster, ns string) {
	startSim(t, c.Client, ns, ns+"-node", all)
	createStatefulSet(t, c, newStatefulSet(ns, 3))
	first := waitStatus(t, c, ns, "three ready pods", rolledOut(3)).Status.CurrentRevision

	var h history
	pw := watchPods(t, c.Client, ns, "app=web", h.observe)
	updateStatefulSet(t, c, ns, func(s *appsv1.StatefulSet) {
		s.Spec.Template.Spec.Containers[0].Image = "web:2"
		s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](1)}
	})
	set := waitStatus(t, c, ns, "ordinals 1 and 2 updated", func(s appsv1.StatefulSetStatus) bool {
		return s.UpdatedReplicas == 2 && s.ReadyReplicas == 3 && s.CurrentReplicas == 1 && s.CurrentRevision == first && s.UpdateRevision != first
	})
	images := func() map[string]string {
		list, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil {
				out[p.Name] = p.Spec.Containers[0].Image + "@" + p.Labels[appsv1.ControllerRevisionHashLabelKey]
			}
		}
		return out
	}
	want := map[string]string{"web-0": "web:1@" + first, "web-1": "web:2@" + set.Status.UpdateRevision, "web-2": "web:2@" + set.Status.UpdateRevision}
	if got := images(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("with partition 1: %v, want %v", got, want)
	}
	_, terminated, _ := h.result()
	if !slices.Equal(terminated, []string{"web-2", "web-1"}) {
		t.Fatalf("update order %v, want [web-2 web-1]", terminated)
	}

	updateStatefulSet(t, c, ns, func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To[int32](0) })
	set = waitStatus(t, c, ns, "all updated", rolledOut(3))
	_, terminated, violations := h.result()
	if broken := pw.Stop(); broken != "" {
		t.Fatalf("pod watch: %s", broken)
	}
	if !slices.Equal(terminated, []string{"web-2", "web-1", "web-0"}) || len(violations) > 0 {
		t.Fatalf("update order %v, violations %v", terminated, violations)
	}
	if set.Status.CurrentRevision == first {
		t.Errorf("current revision still %s", first)
	}
	for name, img := range images() {
		if !strings.HasPrefix(img, "web:2@") {
			t.Errorf("%s at %s", name, img)
		}
	}
	revs, err := c.Client.AppsV1().ControllerRevisions(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(revs.Items) != 2 {
		t.Errorf("revisions %v, %v", revs, err)
	}
}

func testParallel(t *testing.T, c *testcluster.Cluster, ns string) {
	s := startSim(t, c.Client, ns, ns+"-node", nil)
	createStatefulSet(t, c, newStatefulSet(ns, 3, func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }))
	// All three exist while none is ready.
	waitStatus(t, c, ns, "three pods, none ready", func(s appsv1.StatefulSetStatus) bool { return s.Replicas == 3 && s.ReadyReplicas == 0 })
	s.SetReady(all)
	waitStatus(t, c, ns, "three ready pods", rolledOut(3))
	updateStatefulSet(t, c, ns, func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To[int32](1) })
	waitStatus(t, c, ns, "one pod", rolledOut(1))
}

func testOnDelete(t *testing.T, c *testcluster.Cluster, ns string) {
	startSim(t, c.Client, ns, ns+"-node", all)
	createStatefulSet(t, c, newStatefulSet(ns, 2, func(s *appsv1.StatefulSet) {
		s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
	}))
	first := waitStatus(t, c, ns, "two ready pods", func(s appsv1.StatefulSetStatus) bool {
		return s.ReadyReplicas == 2 && s.UpdatedReplicas == 2
	}).Status.UpdateRevision
	pods, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	uids := map[string]string{}
	for _, p := range pods.Items {
		uids[p.Name] = string(p.UID)
	}
	updateStatefulSet(t, c, ns, func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.Containers[0].Image = "web:2" })
	set := waitStatus(t, c, ns, "new revision, nothing updated", func(s appsv1.StatefulSetStatus) bool {
		return s.UpdateRevision != first && s.UpdatedReplicas == 0 && s.ReadyReplicas == 2
	})
	if err := c.Client.CoreV1().Pods(ns).Delete(context.Background(), "web-1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, c, ns, "web-1 recreated at the new revision", func(s appsv1.StatefulSetStatus) bool {
		return s.UpdatedReplicas == 1 && s.ReadyReplicas == 2
	})
	web0, err := c.Client.CoreV1().Pods(ns).Get(context.Background(), "web-0", metav1.GetOptions{})
	if err != nil || string(web0.UID) != uids["web-0"] || web0.Spec.Containers[0].Image != "web:1" {
		t.Errorf("web-0 was touched: %v", err)
	}
	web1, err := c.Client.CoreV1().Pods(ns).Get(context.Background(), "web-1", metav1.GetOptions{})
	if err != nil || web1.Spec.Containers[0].Image != "web:2" || web1.Labels[appsv1.ControllerRevisionHashLabelKey] != set.Status.UpdateRevision {
		t.Errorf("web-1 not at the new revision: %v", err)
	}
}

// testKubectlRollout drives a rollout with the real kubectl: status, history
// and undo read and apply our status fields and ControllerRevisions.
func testKubectlRollout(t *testing.T, c *testcluster.Cluster, ns string) {
	startSim(t, c.Client, ns, ns+"-node", all)
	createStatefulSet(t, c, newStatefulSet(ns, 2))
	c.Kubectl(t, "rollout", "status", "statefulset/web", "-n", ns, "--timeout=60s")
	first := waitStatus(t, c, ns, "two ready pods", rolledOut(2)).Status.CurrentRevision

	c.Kubectl(t, "set", "image", "statefulset/web", "web=web:2", "-n", ns)
	out := c.Kubectl(t, "rollout", "status", "statefulset/web", "-n", ns, "--timeout=60s")
	if !strings.Contains(out, "roll out complete: 2 new pods have been updated") {
		t.Errorf("rollout status said %q", out)
	}
	second := waitStatus(t, c, ns, "updated", rolledOut(2)).Status.CurrentRevision
	if second == first {
		t.Fatalf("revision did not change")
	}
	hist := c.Kubectl(t, "rollout", "history", "statefulset/web", "-n", ns)
	if !strings.Contains(hist, "REVISION") || !strings.Contains(hist, "\n1 ") || !strings.Contains(hist, "\n2 ") {
		t.Errorf("rollout history:\n%s", hist)
	}
	if detail := c.Kubectl(t, "rollout", "history", "statefulset/web", "-n", ns, "--revision=1"); !strings.Contains(detail, "web:1") {
		t.Errorf("revision 1 detail:\n%s", detail)
	}

	c.Kubectl(t, "rollout", "undo", "statefulset/web", "-n", ns)
	c.Kubectl(t, "rollout", "status", "statefulset/web", "-n", ns, "--timeout=60s")
	set := waitStatus(t, c, ns, "rolled back", rolledOut(2))
	if set.Status.CurrentRevision != first || set.Spec.Template.Spec.Containers[0].Image != "web:1" {
		t.Errorf("after undo: revision %s (want %s), image %s", set.Status.CurrentRevision, first, set.Spec.Template.Spec.Containers[0].Image)
	}
	rev, err := c.Client.AppsV1().ControllerRevisions(ns).Get(context.Background(), first, metav1.GetOptions{})
	if err != nil || rev.Revision != 3 {
		t.Errorf("rolled-back revision %s: %v, revision number %d (want 3)", first, err, rev.Revision)
	}
	if got := c.Kubectl(t, "get", "statefulset", "web", "-n", ns, "--no-headers"); !strings.Contains(got, "2/2") {
		t.Errorf("kubectl get: %q", got)
	}
}

// testRetentionDelete: with persistentVolumeClaimRetentionPolicy Delete the
// controller hands claims to the garbage collector (the appliance's own, running
// in the cluster under test) through ownerReferences: a scaled-down pod owns its
// claims, the set owns the others.
func testRetentionDelete(t *testing.T, c *testcluster.Cluster, ns string) {
	startSim(t, c.Client, ns, ns+"-node", all)
	created := createStatefulSet(t, c, newStatefulSet(ns, 3, func(s *appsv1.StatefulSet) {
		s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
			WhenScaled:  appsv1.DeletePersistentVolumeClaimRetentionPolicyType,
		}
	}))
	waitStatus(t, c, ns, "three ready pods", rolledOut(3))
	for name, pvc := range claims(t, c, ns) {
		if len(pvc.OwnerReferences) != 1 || pvc.OwnerReferences[0].UID != created.UID {
			t.Errorf("claim %s owners %+v, want the set", name, pvc.OwnerReferences)
		}
	}

	updateStatefulSet(t, c, ns, func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr.To[int32](1) })
	waitStatus(t, c, ns, "scaled to one", rolledOut(1))
	eventually(t, 30*time.Second, "claims of scaled-down pods deleted", func() (bool, string) {
		var names []string
		for name := range claims(t, c, ns) {
			names = append(names, name)
		}
		slices.Sort(names)
		return slices.Equal(names, []string{"data-web-0"}), fmt.Sprintf("claims %v", names)
	})

	background := metav1.DeletePropagationBackground
	if err := c.Client.AppsV1().StatefulSets(ns).Delete(context.Background(), "web", metav1.DeleteOptions{PropagationPolicy: &background}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "pods and claims deleted with the set", func() (bool, string) {
		pods, pvcs := podNames(t, c, ns), claims(t, c, ns)
		return len(pods) == 0 && len(pvcs) == 0, fmt.Sprintf("pods %v, %d claims", pods, len(pvcs))
	})
}
