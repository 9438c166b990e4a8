package simulate_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/appliance/appliance/appliance/simulate"
	"github.com/appliance/appliance/appliance/testcluster"
)

// TestSimulatedNodes runs three hollow nodes against a real appliance: they
// register and go Ready, renew their Leases, run a pod bound by hand, finish a
// Job-like pod, confirm deletions, fall silent when frozen, and are removed by
// Close.
func TestSimulatedNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := testcluster.Start(t)
	ctx := context.Background()
	sim, err := simulate.Start(ctx, simulate.Config{
		REST:          c.REST,
		Nodes:         3,
		Labels:        map[string]string{"pool": "sim"},
		StartDelay:    200 * time.Millisecond,
		RunDuration:   300 * time.Millisecond,
		LeaseInterval: 100 * time.Millisecond,
		Log:           testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()

	t.Run("nodes register Ready", func(t *testing.T) {
		nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: simulate.SimulatedLabel + "=true"})
		if err != nil {
			t.Fatal(err)
		}
		if len(nodes.Items) != 3 {
			t.Fatalf("%d simulated nodes, want 3", len(nodes.Items))
		}
		for _, n := range nodes.Items {
			if !strings.HasPrefix(n.Name, "sim-node-") || n.Labels["pool"] != "sim" || n.Labels[corev1.LabelHostname] != n.Name {
				t.Errorf("node %s labels %v", n.Name, n.Labels)
			}
			if ready := nodeCondition(&n, corev1.NodeReady); ready == nil || ready.Status != corev1.ConditionTrue || ready.Reason != "KubeletReady" {
				t.Errorf("node %s Ready condition %+v", n.Name, ready)
			}
			if cpu := n.Status.Allocatable[corev1.ResourceCPU]; cpu.Cmp(resource.MustParse("4")) != 0 {
				t.Errorf("node %s allocatable cpu %s", n.Name, cpu.String())
			}
			if pods := n.Status.Allocatable[corev1.ResourcePods]; pods.Value() != 110 {
				t.Errorf("node %s allocatable pods %s", n.Name, pods.String())
			}
			if n.Status.NodeInfo.KubeletVersion != "v1.37.2" {
				t.Errorf("node %s kubelet version %q", n.Name, n.Status.NodeInfo.KubeletVersion)
			}
		}
		// kubectl reads them as any user would.
		out := c.Kubectl(t, "get", "nodes", "-l", "appliance.dev/simulated=true")
		if strings.Count(out, " Ready ") != 3 {
			t.Errorf("kubectl get nodes:\n%s", out)
		}
	})

	t.Run("leases are renewed", func(t *testing.T) {
		first := leaseRenewTime(t, c.Client, "sim-node-0")
		poll(t, "lease renewal", func() (bool, string) {
			now := leaseRenewTime(t, c.Client, "sim-node-0")
			return now.After(first), now.String()
		})
		l, err := c.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "sim-node-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != "sim-node-1" || *l.Spec.LeaseDurationSeconds != 40 {
			t.Errorf("lease spec %+v", l.Spec)
		}
		if len(l.OwnerReferences) != 1 || l.OwnerReferences[0].Kind != "Node" {
			t.Errorf("lease owner %+v", l.OwnerReferences)
		}
	})

	t.Run("a pod bound by hand goes Running and Ready", func(t *testing.T) {
		createPod(t, c.Client, "web", "")
		bind(t, c.Client, "web", "sim-node-1")
		pod := waitPod(t, c.Client, "web", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		if !strings.HasPrefix(pod.Status.PodIP, "10.42.") || pod.Status.HostIP == "" {
			t.Errorf("pod IP %q host IP %q", pod.Status.PodIP, pod.Status.HostIP)
		}
		for _, typ := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
			if cond := podCondition(pod, typ); cond == nil || cond.Status != corev1.ConditionTrue {
				t.Errorf("condition %s: %+v", typ, cond)
			}
		}
		if len(pod.Status.ContainerStatuses) != 1 || pod.Status.ContainerStatuses[0].State.Running == nil || !pod.Status.ContainerStatuses[0].Ready {
			t.Errorf("container statuses %+v", pod.Status.ContainerStatuses)
		}
		// A second pod on the node gets another address.
		createPod(t, c.Client, "web-2", "")
		bind(t, c.Client, "web-2", "sim-node-1")
		pod2 := waitPod(t, c.Client, "web-2", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		if pod2.Status.PodIP == pod.Status.PodIP {
			t.Errorf("both pods have %s", pod.Status.PodIP)
		}
		out := c.Kubectl(t, "get", "pod", "web", "-o", "wide")
		if !strings.Contains(out, "1/1") || !strings.Contains(out, "Running") || !strings.Contains(out, "sim-node-1") {
			t.Errorf("kubectl get pod:\n%s", out)
		}
	})

	t.Run("readiness follows the sim-ready annotation", func(t *testing.T) {
		patch := []byte(`{"metadata":{"annotations":{"` + simulate.AnnotationReady + `":"false"}}}`)
		if _, err := c.Client.CoreV1().Pods("default").Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		pod := waitPod(t, c.Client, "web", func(p *corev1.Pod) bool {
			cond := podCondition(p, corev1.PodReady)
			return cond != nil && cond.Status == corev1.ConditionFalse
		})
		if pod.Status.Phase != corev1.PodRunning || pod.Status.ContainerStatuses[0].Ready {
			t.Errorf("phase %s, container ready %v", pod.Status.Phase, pod.Status.ContainerStatuses[0].Ready)
		}
	})

	t.Run("a Job-like pod completes", func(t *testing.T) {
		createPod(t, c.Client, "job-1", corev1.RestartPolicyNever)
		bind(t, c.Client, "job-1", "sim-node-2")
		pod := waitPod(t, c.Client, "job-1", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		term := pod.Status.ContainerStatuses[0].State.Terminated
		if term == nil || term.ExitCode != 0 || term.Reason != "Completed" {
			t.Errorf("terminated state %+v", term)
		}
		if cond := podCondition(pod, corev1.PodReady); cond == nil || cond.Status != corev1.ConditionFalse || cond.Reason != "PodCompleted" {
			t.Errorf("Ready condition %+v", cond)
		}
	})

	t.Run("a pod with a failing exit code fails", func(t *testing.T) {
		createPod(t, c.Client, "job-2", corev1.RestartPolicyNever, func(p *corev1.Pod) {
			p.Annotations = map[string]string{simulate.AnnotationExitCode: "2"}
		})
		bind(t, c.Client, "job-2", "sim-node-2")
		pod := waitPod(t, c.Client, "job-2", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		if term := pod.Status.ContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 2 || term.Reason != "Error" {
			t.Errorf("terminated state %+v", term)
		}
	})

	t.Run("a deleted pod is confirmed gone", func(t *testing.T) {
		if err := c.Client.CoreV1().Pods("default").Delete(ctx, "web-2", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, "web-2 gone", func() (bool, string) {
			_, err := c.Client.CoreV1().Pods("default").Get(ctx, "web-2", metav1.GetOptions{})
			return apierrors.IsNotFound(err), fmt.Sprint(err)
		})
	})

	t.Run("a frozen node stops renewing its lease", func(t *testing.T) {
		sim.Freeze("sim-node-2")
		// Wait for a renewal of a live node after the freeze took hold, twice,
		// then the frozen one must not have moved.
		frozenAt := leaseRenewTime(t, c.Client, "sim-node-2")
		for range 2 {
			before := leaseRenewTime(t, c.Client, "sim-node-0")
			poll(t, "live lease renewal", func() (bool, string) {
				return leaseRenewTime(t, c.Client, "sim-node-0").After(before), ""
			})
		}
		if got := leaseRenewTime(t, c.Client, "sim-node-2"); got.After(frozenAt) {
			// One renewal may have been in flight when Freeze was called.
			frozenAt = got
			before := leaseRenewTime(t, c.Client, "sim-node-0")
			poll(t, "live lease renewal", func() (bool, string) {
				return leaseRenewTime(t, c.Client, "sim-node-0").After(before), ""
			})
			if got := leaseRenewTime(t, c.Client, "sim-node-2"); got.After(frozenAt) {
				t.Errorf("frozen node renewed its lease: %s -> %s", frozenAt, got)
			}
		}
		sim.Thaw("sim-node-2")
		poll(t, "renewal after thaw", func() (bool, string) {
			return leaseRenewTime(t, c.Client, "sim-node-2").After(frozenAt), ""
		})
	})

	t.Run("Close removes nodes and leases", func(t *testing.T) {
		sim.Close()
		nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: simulate.SimulatedLabel + "=true"})
		if err != nil || len(nodes.Items) != 0 {
			t.Errorf("nodes left: %v %v", err, nodes)
		}
		leases, err := c.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range leases.Items {
			if strings.HasPrefix(l.Name, "sim-node-") {
				t.Errorf("lease %s left", l.Name)
			}
		}
		sim.Close() // twice is fine
	})
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func createPod(t *testing.T, client kubernetes.Interface, name string, restart corev1.RestartPolicy, opts ...func(*corev1.Pod)) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.PodSpec{
			// No scheduler serves this name: the test binds by hand.
			SchedulerName: "nobody",
			RestartPolicy: restart,
			Containers:    []corev1.Container{{Name: "app", Image: "busybox"}},
		},
	}
	for _, o := range opts {
		o(p)
	}
	if _, err := client.CoreV1().Pods("default").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
}

func bind(t *testing.T, client kubernetes.Interface, pod, node string) {
	t.Helper()
	err := client.CoreV1().Pods("default").Bind(context.Background(), &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: "default"},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("bind %s to %s: %v", pod, node, err)
	}
}

func leaseRenewTime(t *testing.T, client kubernetes.Interface, node string) time.Time {
	t.Helper()
	l, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), node, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("lease %s: %v", node, err)
	}
	if l.Spec.RenewTime == nil {
		return time.Time{}
	}
	return l.Spec.RenewTime.Time
}

func nodeCondition(n *corev1.Node, typ corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == typ {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func podCondition(p *corev1.Pod, typ corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == typ {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// poll calls f every 20 ms until it returns true or 30 s pass.
func poll(t *testing.T, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, state := f()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last: %s", what, state)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not synchronisation
	}
}

func waitPod(t *testing.T, client kubernetes.Interface, name string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	poll(t, "pod "+name, func() (bool, string) {
		p, err := client.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pod = p
		return cond(p), fmt.Sprintf("node %q phase %s conditions %+v", p.Spec.NodeName, p.Status.Phase, p.Status.Conditions)
	})
	return pod
}
