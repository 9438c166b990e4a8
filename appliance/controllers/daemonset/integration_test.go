package daemonset_test

import (
	"context"
	"fmt"
	"github.com/appliance/appliance/appliance/controllers/daemonset"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/testcluster"
)

// TestDaemonSetIntegration runs the controller against a real appliance (etcd
// and our API server in-process). No scheduler or kubelet runs: each subtest
// starts a sim in its namespace that binds daemon pods to the node their
// affinity names and reports them Running and Ready. Nodes are cluster-wide,
// so each subtest labels its own (suite=<namespace>) and its DaemonSets select
// them with a nodeSelector; subtests then run in parallel without seeing each
// other's nodes.
func TestDaemonSetIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := testcluster.Start(t, testcluster.APIOnly)
	factory := informers.NewSharedInformerFactory(c.Client, 0)
	ctl := daemonset.New(c.Client, factory, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ctl.Run(ctx, 4) }()
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })

	for _, tc := range []struct {
		name string
		run  func(t *testing.T, c *testcluster.Cluster, ns string)
	}{
		{"eligible nodes", testEligibleNodes},
		{"follows nodes", testFollowsNodes},
		{"rolling update", testRollingUpdate},
		{"rolling update with surge", testRollingUpdateSurge},
		{"on delete", testOnDelete},
		{"kubectl rollout", testKubectlRollout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := "ds-" + strings.ReplaceAll(tc.name, " ", "-")
			if _, err := c.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			tc.run(t, c, ns)
		})
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newDaemonSet(ns, name string, mutate ...func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"suite": ns},
					Containers:   []corev1.Container{{Name: name, Image: "agent:1"}},
				},
			},
		},
	}
	for _, m := range mutate {
		m(ds)
	}
	return ds
}

func createDaemonSet(t *testing.T, c *testcluster.Cluster, ds *appsv1.DaemonSet) *appsv1.DaemonSet {
	t.Helper()
	got, err := c.Client.AppsV1().DaemonSets(ds.Namespace).Create(context.Background(), ds, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create daemon set: %v", err)
	}
	return got
}

// updateDaemonSet changes the DaemonSet with a read-modify-write, retried on
// conflicts (the controller writes its status meanwhile), and returns the new
// generation.
func updateDaemonSet(t *testing.T, c *testcluster.Cluster, ns, name string, mutate func(*appsv1.DaemonSet)) int64 {
	t.Helper()
	var gen int64
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ds, err := c.Client.AppsV1().DaemonSets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		mutate(ds)
		ds, err = c.Client.AppsV1().DaemonSets(ns).Update(context.Background(), ds, metav1.UpdateOptions{})
		if err == nil {
			gen = ds.Generation
		}
		return err
	})
	if err != nil {
		t.Fatalf("update daemon set: %v", err)
	}
	return gen
}

// livePods maps node -> the DaemonSet's pods there that are not being deleted.
func livePods(t *testing.T, c *testcluster.Cluster, ns, app string) map[string][]corev1.Pod {
	t.Helper()
	list, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	out := map[string][]corev1.Pod{}
	for _, p := range list.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		node, err := daemonset.TargetNode(&p)
		if err != nil {
			t.Errorf("pod %s has no target node: %v", p.Name, err)
			continue
		}
		out[node] = append(out[node], p)
	}
	return out
}

// wantStatus waits until the status reports the generation observed and
// desired = current = ready = available = updated = n: the controller has
// looked at the latest spec and every node it wants has an up-to-date ready
// pod. From then on nothing changes until something else does.
func wantStatus(t *testing.T, c *testcluster.Cluster, ns, name string, n int32) *appsv1.DaemonSet {
	t.Helper()
	var ds *appsv1.DaemonSet
	eventually(t, 30*time.Second, fmt.Sprintf("daemon set %s with %d pods", name, n), func() (bool, string) {
		var err error
		ds, err = c.Client.AppsV1().DaemonSets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		s := ds.Status
		ok := s.ObservedGeneration >= ds.Generation && s.DesiredNumberScheduled == n && s.CurrentNumberScheduled == n &&
			s.NumberReady == n && s.NumberAvailable == n && s.UpdatedNumberScheduled == n && s.NumberMisscheduled == 0 && s.NumberUnavailable == 0
		return ok, fmt.Sprintf("generation %d, status %+v", ds.Generation, s)
	})
	return ds
}

func podNodes(pods map[string][]corev1.Pod) []string {
	var out []string
	for n := range pods {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func testEligibleNodes(t *testing.T, c *testcluster.Cluster, ns string) {
	suite := map[string]string{"suite": ns}
	a, b, tainted := ns+"-a", ns+"-b", ns+"-tainted"
	createNode(t, c.Client, a, suite)
	createNode(t, c.Client, b, suite)
	createNode(t, c.Client, tainted, suite, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule})
	createNode(t, c.Client, ns+"-other", map[string]string{"suite": "elsewhere"})
	startSim(t, c.Client, ns)
	createDaemonSet(t, c, newDaemonSet(ns, "agent"))

	wantStatus(t, c, ns, "agent", 2)
	pods := livePods(t, c, ns, "agent")
	if got := podNodes(pods); !slices.Equal(got, []string{a, b}) {
		t.Fatalf("pods on %v, want on %v (not on the tainted node nor the unselected one)", got, []string{a, b})
	}
	revs, err := c.Client.AppsV1().ControllerRevisions(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(revs.Items) != 1 {
		t.Fatalf("controller revisions: %v, %v", revs, err)
	}
	rev := revs.Items[0]
	hash := rev.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	if rev.Name != "agent-"+hash || rev.Revision != 1 || !strings.Contains(string(rev.Data.Raw), `"$patch":"replace"`) {
		t.Errorf("revision %s (revision %d, labels %v): %s", rev.Name, rev.Revision, rev.Labels, rev.Data.Raw)
	}
	for node, ps := range pods {
		if len(ps) != 1 {
			t.Errorf("node %s has %d pods", node, len(ps))
			continue
		}
		p := ps[0]
		if ref := metav1.GetControllerOf(&p); ref == nil || ref.Kind != "DaemonSet" || ref.Name != "agent" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			t.Errorf("pod %s controller = %+v", p.Name, ref)
		}
		if !strings.HasPrefix(p.Name, "agent-") || p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != hash {
			t.Errorf("pod %s labels %v, want hash %s", p.Name, p.Labels, hash)
		}
		terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) != 1 || len(terms[0].MatchFields) != 1 || terms[0].MatchFields[0].Values[0] != node {
			t.Errorf("pod %s affinity %+v, want metadata.name in [%s]", p.Name, terms, node)
		}
		if p.Spec.NodeName != node {
			t.Errorf("pod %s bound to %q, want %q", p.Name, p.Spec.NodeName, node)
		}
		for _, key := range []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable} {
			if !daemonset.HasToleration(p.Spec.Tolerations, key, corev1.TaintEffectNoExecute) {
				t.Errorf("pod %s lacks the %s toleration without tolerationSeconds: %+v", p.Name, key, p.Spec.Tolerations)
			}
		}
		if !daemonset.HasToleration(p.Spec.Tolerations, corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule) {
			t.Errorf("pod %s lacks the unschedulable toleration", p.Name)
		}
	}
	eventually(t, 10*time.Second, "SuccessfulCreate events", func() (bool, string) {
		evs, err := c.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=agent,reason=SuccessfulCreate"})
		if err != nil {
			return false, err.Error()
		}
		var msgs []string
		for _, e := range evs.Items {
			if e.Source.Component == daemonset.Component {
				msgs = append(msgs, e.Message)
			}
		}
		for _, ps := range pods {
			if !slices.Contains(msgs, "Created pod: "+ps[0].Name) {
				return false, fmt.Sprintf("events %q", msgs)
			}
		}
		return true, ""
	})

	// Tolerating the taint makes the third node eligible.
	updateDaemonSet(t, c, ns, "agent", func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db", Effect: corev1.TaintEffectNoSchedule}}
	})
	wantStatus(t, c, ns, "agent", 3)
	if got := podNodes(livePods(t, c, ns, "agent")); !slices.Equal(got, []string{a, b, tainted}) {
		t.Fatalf("pods on %v after tolerating the taint", got)
	}
}

func testFollowsNodes(t *testing.T, c *testcluster.Cluster, ns string) {
	suite := map[string]string{"suite": ns}
	a, b, added := ns+"-a", ns+"-b", ns+"-added"
	createNode(t, c.Client, a, suite)
	createNode(t, c.Client, b, suite)
	startSim(t, c.Client, ns)
	createDaemonSet(t, c, newDaemonSet(ns, "agent"))
	wantStatus(t, c, ns, "agent", 2)

	createNode(t, c.Client, added, suite)
	wantStatus(t, c, ns, "agent", 3)
	if got := podNodes(livePods(t, c, ns, "agent")); !slices.Equal(got, []string{a, added, b}) {
		t.Fatalf("pods on %v after a node joined", got)
	}

	// A node that leaves takes its pod along (no kubelet is left to confirm
	// a graceful deletion, so the pod must be gone from the API, not only
	// marked).
	if err := c.Client.CoreV1().Nodes().Delete(context.Background(), b, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c, ns, "agent", 2)
	eventually(t, 30*time.Second, "pod of the removed node gone", func() (bool, string) {
		list, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "spec.nodeName=" + b})
		if err != nil {
			return false, err.Error()
		}
		return len(list.Items) == 0, fmt.Sprintf("%d pods left on %s", len(list.Items), b)
	})

	// An untolerated NoExecute taint makes a node ineligible: its pod goes.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := c.Client.CoreV1().Nodes().Get(context.Background(), a, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: "maintenance", Effect: corev1.TaintEffectNoExecute})
		_, err = c.Client.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c, ns, "agent", 1)
	eventually(t, 30*time.Second, "pod of the tainted node gone", func() (bool, string) {
		got := podNodes(livePods(t, c, ns, "agent"))
		return slices.Equal(got, []string{added}), fmt.Sprintf("pods on %v", got)
	})
}

// availabilityWatch records, over the rollout, the most nodes ever without a
// ready pod and the most nodes ever running two live pods.
type availabilityWatch struct {
	mu          sync.Mutex
	nodes       []string
	unavailable int
	doubled     int
	oldImage    string
	sawNewPod   bool
}

func (w *availabilityWatch) observe(pods map[string]*corev1.Pod) {
	w.mu.Lock()
	defer w.mu.Unlock()
	ready, live := map[string]int{}, map[string]int{}
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		node, err := daemonset.TargetNode(p)
		if err != nil {
			continue
		}
		live[node]++
		if podReady(p) {
			ready[node]++
		}
		if p.Spec.Containers[0].Image != w.oldImage {
			w.sawNewPod = true
		}
	}
	unavailable, doubled := 0, 0
	for _, n := range w.nodes {
		if ready[n] == 0 {
			unavailable++
		}
		if live[n] > 1 {
			doubled++
		}
	}
	w.unavailable = max(w.unavailable, unavailable)
	w.doubled = max(w.doubled, doubled)
}

// rollImage changes the image with the watch running and waits for the end
// of the rollout: every node runs exactly one ready pod of the new image.
func rollImage(t *testing.T, c *testcluster.Cluster, ns string, nodes []string, w *availabilityWatch) {
	t.Helper()
	w.nodes, w.oldImage = nodes, "agent:1"
	pw := watchPods(t, c.Client, ns, "app=agent", w.observe)
	updateDaemonSet(t, c, ns, "agent", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "agent:2" })
	wantStatus(t, c, ns, "agent", int32(len(nodes)))
	eventually(t, 30*time.Second, "all pods at agent:2", func() (bool, string) {
		pods := livePods(t, c, ns, "agent")
		for _, n := range nodes {
			if len(pods[n]) != 1 || pods[n][0].Spec.Containers[0].Image != "agent:2" || !podReady(&pods[n][0]) {
				return false, fmt.Sprintf("node %s: %d pods", n, len(pods[n]))
			}
		}
		return true, ""
	})
	if broken := pw.Stop(); broken != "" {
		t.Fatalf("pod watch: %s", broken)
	}
	t.Logf("during the rollout: at most %d nodes without a ready pod, at most %d nodes with two pods", w.unavailable, w.doubled)
	if !w.sawNewPod {
		t.Fatalf("the watch never saw a new pod")
	}
	revs, err := c.Client.AppsV1().ControllerRevisions(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var numbers []int64
	for _, r := range revs.Items {
		numbers = append(numbers, r.Revision)
	}
	slices.Sort(numbers)
	if !slices.Equal(numbers, []int64{1, 2}) {
		t.Errorf("revisions %v, want [1 2]", numbers)
	}
}

func testRollingUpdate(t *testing.T, c *testcluster.Cluster, ns string) {
	suite := map[string]string{"suite": ns}
	var nodes []string
	for i := range 5 {
		n := fmt.Sprintf("%s-%d", ns, i)
		createNode(t, c.Client, n, suite)
		nodes = append(nodes, n)
	}
	startSim(t, c.Client, ns)
	createDaemonSet(t, c, newDaemonSet(ns, "agent", func(ds *appsv1.DaemonSet) {
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(2))}}
	}))
	wantStatus(t, c, ns, "agent", 5)
	var w availabilityWatch
	rollImage(t, c, ns, nodes, &w)
	if w.unavailable > 2 {
		t.Errorf("%d nodes were without a ready pod at once, maxUnavailable is 2", w.unavailable)
	}
	if w.doubled > 0 {
		t.Errorf("%d nodes ran two pods at once without maxSurge", w.doubled)
	}
}

func testRollingUpdateSurge(t *testing.T, c *testcluster.Cluster, ns string) {
	suite := map[string]string{"suite": ns}
	var nodes []string
	for i := range 3 {
		n := fmt.Sprintf("%s-%d", ns, i)
		createNode(t, c.Client, n, suite)
		nodes = append(nodes, n)
	}
	startSim(t, c.Client, ns)
	createDaemonSet(t, c, newDaemonSet(ns, "agent", func(ds *appsv1.DaemonSet) {
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromInt32(1))}}
	}))
	wantStatus(t, c, ns, "agent", 3)
	var w availabilityWatch
	rollImage(t, c, ns, nodes, &w)
	if w.unavailable > 0 {
		t.Errorf("%d nodes were without a ready pod at once, surging allows none", w.unavailable)
	}
	if w.doubled != 1 {
		t.Errorf("at most %d nodes ran two pods at once, want exactly maxSurge (1)", w.doubled)
	}
}

func testOnDelete(t *testing.T, c *testcluster.Cluster, ns string) {
	suite := map[string]string{"suite": ns}
	a, b := ns+"-a", ns+"-b"
	createNode(t, c.Client, a, suite)
	createNode(t, c.Client, b, suite)
	startSim(t, c.Client, ns)
	createDaemonSet(t, c, newDaemonSet(ns, "agent", func(ds *appsv1.DaemonSet) {
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	}))
	wantStatus(t, c, ns, "agent", 2)
	before := livePods(t, c, ns, "agent")

	gen := updateDaemonSet(t, c, ns, "agent", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "agent:2" })
	eventually(t, 30*time.Second, "new generation observed, nothing updated", func() (bool, string) {
		ds, err := c.Client.AppsV1().DaemonSets(ns).Get(context.Background(), "agent", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		s := ds.Status
		return s.ObservedGeneration >= gen && s.UpdatedNumberScheduled == 0 && s.NumberAvailable == 2, fmt.Sprintf("%+v", s)
	})
	after := livePods(t, c, ns, "agent")
	for _, n := range []string{a, b} {
		if len(after[n]) != 1 || after[n][0].UID != before[n][0].UID {
			t.Fatalf("OnDelete replaced the pod of %s", n)
		}
	}

	if err := c.Client.CoreV1().Pods(ns).Delete(context.Background(), after[a][0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "deleted pod replaced at agent:2", func() (bool, string) {
		ds, err := c.Client.AppsV1().DaemonSets(ns).Get(context.Background(), "agent", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pods := livePods(t, c, ns, "agent")
		ok := len(pods[a]) == 1 && pods[a][0].Spec.Containers[0].Image == "agent:2" && podReady(&pods[a][0]) &&
			ds.Status.UpdatedNumberScheduled == 1 && ds.Status.NumberAvailable == 2
		return ok, fmt.Sprintf("pods on a: %d, status %+v", len(pods[a]), ds.Status)
	})
	if pods := livePods(t, c, ns, "agent"); len(pods[b]) != 1 || pods[b][0].UID != before[b][0].UID {
		t.Errorf("the pod of %s was replaced too", b)
	}
}

// testKubectlRollout drives a rollout with the real kubectl: status, history
// and undo read and apply our status fields and ControllerRevisions.
func testKubectlRollout(t *testing.T, c *testcluster.Cluster, ns string) {
	suite := map[string]string{"suite": ns}
	createNode(t, c.Client, ns+"-a", suite)
	createNode(t, c.Client, ns+"-b", suite)
	startSim(t, c.Client, ns)
	createDaemonSet(t, c, newDaemonSet(ns, "agent"))
	c.Kubectl(t, "rollout", "status", "daemonset/agent", "-n", ns, "--timeout=60s")
	wantStatus(t, c, ns, "agent", 2)

	c.Kubectl(t, "set", "image", "daemonset/agent", "agent=agent:2", "-n", ns)
	out := c.Kubectl(t, "rollout", "status", "daemonset/agent", "-n", ns, "--timeout=60s")
	if !strings.Contains(out, `daemon set "agent" successfully rolled out`) {
		t.Errorf("rollout status said %q", out)
	}
	hist := c.Kubectl(t, "rollout", "history", "daemonset/agent", "-n", ns)
	if !strings.Contains(hist, "REVISION") || !strings.Contains(hist, "\n1 ") || !strings.Contains(hist, "\n2 ") {
		t.Errorf("rollout history:\n%s", hist)
	}
	if detail := c.Kubectl(t, "rollout", "history", "daemonset/agent", "-n", ns, "--revision=1"); !strings.Contains(detail, "agent:1") {
		t.Errorf("revision 1 detail:\n%s", detail)
	}

	c.Kubectl(t, "rollout", "undo", "daemonset/agent", "-n", ns, "--to-revision=1")
	c.Kubectl(t, "rollout", "status", "daemonset/agent", "-n", ns, "--timeout=60s")
	ds := wantStatus(t, c, ns, "agent", 2)
	if img := ds.Spec.Template.Spec.Containers[0].Image; img != "agent:1" {
		t.Errorf("after undo the template has %s", img)
	}
	for node, ps := range livePods(t, c, ns, "agent") {
		if len(ps) != 1 || ps[0].Spec.Containers[0].Image != "agent:1" {
			t.Errorf("node %s after undo: %d pods", node, len(ps))
		}
	}
	revs, err := c.Client.AppsV1().ControllerRevisions(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var numbers []int64
	for _, r := range revs.Items {
		numbers = append(numbers, r.Revision)
	}
	slices.Sort(numbers)
	// The first template came back: its revision is renumbered, not copied.
	if !slices.Equal(numbers, []int64{2, 3}) {
		t.Errorf("revisions %v after undo, want [2 3]", numbers)
	}
	// NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE-SELECTOR AGE
	got := c.Kubectl(t, "get", "daemonset", "agent", "-n", ns, "--no-headers")
	if f := strings.Fields(got); len(f) < 6 || strings.Join(f[:6], " ") != "agent 2 2 2 2 2" {
		t.Errorf("kubectl get: %q", got)
	}
}
