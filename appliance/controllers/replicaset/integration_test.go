package replicaset_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/controllers/controllerutil/fakekubelet"
	"github.com/appliance/appliance/appliance/controllers/controllerutil/simtest"
	"github.com/appliance/appliance/appliance/controllers/replicaset"
	"github.com/appliance/appliance/appliance/testcluster"
)

// TestReplicaSetIntegration runs the controller against a real appliance (etcd
// and our API server in-process). No kubelet runs: each subtest starts a fake
// one in its namespace that reports pods Running and Ready.
func TestReplicaSetIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := testcluster.Start(t, testcluster.Without("replicaset", "deployment"))
	factory := informers.NewSharedInformerFactory(c.Client, 0)
	ctl := replicaset.New(c.Client, factory, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ctl.Run(ctx, 4) }()
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })

	for _, tc := range []struct {
		name string
		run  func(t *testing.T, c *testcluster.Cluster, ns string)
	}{
		{"keeps replicas", testKeepsReplicas},
		{"adopts orphans", testAdoptsOrphan},
		{"releases pods", testReleases},
		{"leaves others pods", testLeavesOthers},
		{"scale down ranks", testScaleDownRanks},
		{"kubectl scale", testKubectlScale},
		{"min ready seconds", testMinReadySeconds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := "rs-" + strings.ReplaceAll(tc.name, " ", "-")
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

// kubelet starts a fake kubelet in ns; pods become ready while ready() says so.
func kubelet(t *testing.T, c *testcluster.Cluster, ns string, ready func(*corev1.Pod) bool) *fakekubelet.Kubelet {
	k := fakekubelet.Start(context.Background(), c.Client, fakekubelet.Config{Namespace: ns, Ready: ready})
	t.Cleanup(k.Stop)
	return k
}

func replicaSet(ns, name string, replicas int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1"}}},
			},
		},
	}
}

func createRS(t *testing.T, c *testcluster.Cluster, rs *appsv1.ReplicaSet) *appsv1.ReplicaSet {
	t.Helper()
	got, err := c.Client.AppsV1().ReplicaSets(rs.Namespace).Create(context.Background(), rs, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create replica set: %v", err)
	}
	return got
}

// eventually polls cond until it holds, failing the test after timeout with
// cond's last explanation.

func activePods(t *testing.T, c *testcluster.Cluster, ns, app string) []corev1.Pod {
	t.Helper()
	list, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: labels.Set{"app": app}.String()})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// waitSettled waits until rs has exactly n pods, all owned, and a status that
// says so for its current generation.
func waitSettled(t *testing.T, c *testcluster.Cluster, ns, name string, n int32) *appsv1.ReplicaSet {
	t.Helper()
	var rs *appsv1.ReplicaSet
	simtest.Eventually(t, 30*time.Second, fmt.Sprintf("%s/%s settles at %d", ns, name, n), func() (bool, string) {
		var err error
		rs, err = c.Client.AppsV1().ReplicaSets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pods := activePods(t, c, ns, name)
		s := rs.Status
		why := fmt.Sprintf("%d pods, status %+v, generation %d", len(pods), s, rs.Generation)
		if int32(len(pods)) != n || s.Replicas != n || s.ReadyReplicas != n || s.AvailableReplicas != n ||
			s.FullyLabeledReplicas != n || s.ObservedGeneration != rs.Generation {
			return false, why
		}
		for _, p := range pods {
			if ref := metav1.GetControllerOf(&p); ref == nil || ref.UID != rs.UID {
				return false, "pod " + p.Name + " not owned"
			}
		}
		return true, why
	})
	return rs
}

func testKeepsReplicas(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := context.Background()
	kubelet(t, c, ns, nil)
	rs := createRS(t, c, replicaSet(ns, "web", 3))
	waitSettled(t, c, ns, "web", 3)
	pods := activePods(t, c, ns, "web")
	for _, p := range pods {
		ref := metav1.GetControllerOf(&p)
		if ref.Kind != "ReplicaSet" || ref.Name != "web" || ref.APIVersion != "apps/v1" ||
			ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			t.Errorf("pod %s ownerReference %+v", p.Name, ref)
		}
		if !strings.HasPrefix(p.Name, "web-") {
			t.Errorf("pod name %q, want web-<suffix>", p.Name)
		}
	}

	// A deleted pod is replaced.
	victim := pods[0]
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	simtest.Eventually(t, 30*time.Second, "replacement pod", func() (bool, string) {
		pods := activePods(t, c, ns, "web")
		for _, p := range pods {
			if p.UID == victim.UID {
				return false, "victim still there"
			}
		}
		return len(pods) == 3, fmt.Sprintf("%d pods", len(pods))
	})
	waitSettled(t, c, ns, "web", 3)

	// Events as kubectl describe shows them.
	simtest.Eventually(t, 10*time.Second, "SuccessfulCreate events", func() (bool, string) {
		evs, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(rs.UID)})
		if err != nil {
			return false, err.Error()
		}
		created := 0
		for _, e := range evs.Items {
			if e.Reason == "SuccessfulCreate" && strings.HasPrefix(e.Message, "Created pod: web-") && e.Source.Component == replicaset.Component {
				created += int(max(e.Count, 1))
			}
		}
		return created == 4, fmt.Sprintf("%d SuccessfulCreate events in %d", created, len(evs.Items))
	})
}

func testAdoptsOrphan(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := context.Background()
	kubelet(t, c, ns, nil)
	orphan := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: ns, Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1"}}},
	}
	orphan, err := c.Client.CoreV1().Pods(ns).Create(ctx, orphan, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rs := createRS(t, c, replicaSet(ns, "web", 2))
	waitSettled(t, c, ns, "web", 2)
	got, err := c.Client.CoreV1().Pods(ns).Get(ctx, "orphan", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the orphan is gone: %v", err)
	}
	if ref := metav1.GetControllerOf(got); ref == nil || ref.UID != rs.UID {
		t.Errorf("orphan not adopted: %+v", got.OwnerReferences)
	}
	if got.UID != orphan.UID {
		t.Error("orphan was replaced rather than adopted")
	}
}

func testReleases(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := context.Background()
	kubelet(t, c, ns, nil)
	createRS(t, c, replicaSet(ns, "web", 2))
	waitSettled(t, c, ns, "web", 2)
	pod := activePods(t, c, ns, "web")[0]
	patch := []byte(`{"metadata":{"labels":{"app":"debug"}}}`)
	if _, err := c.Client.CoreV1().Pods(ns).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	simtest.Eventually(t, 30*time.Second, "pod released", func() (bool, string) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return metav1.GetControllerOf(p) == nil, fmt.Sprintf("owners %+v", p.OwnerReferences)
	})
	waitSettled(t, c, ns, "web", 2) // and replaced
}

// testLeavesOthers: a pod that matches web's selector but is controlled by
// another ReplicaSet (whose selector also matches it) is never adopted.
func testLeavesOthers(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := context.Background()
	kubelet(t, c, ns, nil)
	o := replicaSet(ns, "other", 1)
	both := map[string]string{"app": "web", "owner": "other"}
	o.Spec.Selector.MatchLabels, o.Spec.Template.Labels = both, both
	other := createRS(t, c, o)
	simtest.Eventually(t, 30*time.Second, "other's pod", func() (bool, string) {
		n := len(activePods(t, c, ns, "web"))
		return n == 1, fmt.Sprintf("%d pods", n)
	})
	createRS(t, c, replicaSet(ns, "web", 2))
	simtest.Eventually(t, 30*time.Second, "web has its own two pods", func() (bool, string) {
		r, err := c.Client.AppsV1().ReplicaSets(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return r.Status.Replicas == 2 && r.Status.AvailableReplicas == 2, fmt.Sprintf("status %+v", r.Status)
	})
	pods := activePods(t, c, ns, "web")
	if len(pods) != 3 {
		t.Errorf("%d pods labelled app=web, want web's 2 and other's 1", len(pods))
	}
	owned := 0
	for _, p := range pods {
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.UID == other.UID {
			owned++
		}
	}
	if owned != 1 {
		t.Errorf("other controls %d pods, want 1", owned)
	}
}

func testScaleDownRanks(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := context.Background()
	var readyOn atomic.Bool
	readyOn.Store(true)
	kubelet(t, c, ns, func(*corev1.Pod) bool { return readyOn.Load() })
	createRS(t, c, replicaSet(ns, "web", 3))
	waitSettled(t, c, ns, "web", 3)
	keep := map[types.UID]bool{}
	for _, p := range activePods(t, c, ns, "web") {
		keep[p.UID] = true
	}
	// Two more that never become ready.
	readyOn.Store(false)
	scale(t, c, ns, "web", 5)
	simtest.Eventually(t, 30*time.Second, "5 pods, 3 ready", func() (bool, string) {
		rs, err := c.Client.AppsV1().ReplicaSets(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return rs.Status.Replicas == 5 && rs.Status.ReadyReplicas == 3, fmt.Sprintf("status %+v", rs.Status)
	})
	// Scaling down must take the two that are not ready.
	scale(t, c, ns, "web", 3)
	waitSettled(t, c, ns, "web", 3)
	for _, p := range activePods(t, c, ns, "web") {
		if !keep[p.UID] {
			t.Errorf("kept not-ready pod %s, deleted a ready one", p.Name)
		}
	}
}

func scale(t *testing.T, c *testcluster.Cluster, ns, name string, n int32) {
	t.Helper()
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n)
	if _, err := c.Client.AppsV1().ReplicaSets(ns).Patch(context.Background(), name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("scale: %v", err)
	}
}

func testKubectlScale(t *testing.T, c *testcluster.Cluster, ns string) {
	kubelet(t, c, ns, nil)
	createRS(t, c, replicaSet(ns, "web", 1))
	waitSettled(t, c, ns, "web", 1)
	c.Kubectl(t, "-n", ns, "scale", "rs/web", "--replicas=4")
	waitSettled(t, c, ns, "web", 4)
	c.Kubectl(t, "-n", ns, "scale", "rs/web", "--replicas=2")
	waitSettled(t, c, ns, "web", 2)
	out := c.Kubectl(t, "-n", ns, "get", "rs", "web", "--no-headers")
	if f := strings.Fields(out); len(f) < 4 || f[1] != "2" || f[2] != "2" || f[3] != "2" {
		t.Errorf("kubectl get rs: %q, want DESIRED CURRENT READY 2 2 2", out)
	}
	desc := c.Kubectl(t, "-n", ns, "describe", "rs", "web")
	for _, want := range []string{"SuccessfulCreate", "SuccessfulDelete", "Pods Status:  2 Running"} {
		if !strings.Contains(desc, want) {
			t.Errorf("kubectl describe rs lacks %q:\n%s", want, desc)
		}
	}
}

func testMinReadySeconds(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := context.Background()
	kubelet(t, c, ns, nil)
	r := replicaSet(ns, "web", 2)
	r.Spec.MinReadySeconds = 2
	createRS(t, c, r)
	simtest.Eventually(t, 30*time.Second, "ready before available", func() (bool, string) {
		rs, err := c.Client.AppsV1().ReplicaSets(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		if rs.Status.AvailableReplicas > 0 && rs.Status.ReadyReplicas < 2 {
			return false, "available before ready"
		}
		return rs.Status.ReadyReplicas == 2, fmt.Sprintf("status %+v", rs.Status)
	})
	start := time.Now()
	// No pod event comes after readiness: the controller must come back by
	// itself once minReadySeconds have passed.
	waitSettled(t, c, ns, "web", 2)
	t.Logf("available %s after ready", time.Since(start).Round(time.Millisecond))
}
