package nodelifecycle_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/controllers/nodelifecycle"
	"github.com/appliance/appliance/appliance/testcluster"
)

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func start(t *testing.T, client kubernetes.Interface, cfg nodelifecycle.Config) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(logWriter{t}, nil)).With("part", "node-lifecycle")
	factory := informers.NewSharedInformerFactory(client, 0)
	ctrl, err := nodelifecycle.New(client, factory, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctrl.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		factory.Shutdown()
	})
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, timeout, true, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// readyNode registers a node the way a kubelet does: Ready, with a Lease.
func readyNode(t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	now := metav1.Now()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			Message: "kubelet is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now,
		}}},
	}
	if _, err := client.CoreV1().Nodes().Create(t.Context(), node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: ptr.To(metav1.NowMicro()),
		},
	}
	if _, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(t.Context(), lease, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func renewLease(ctx context.Context, client kubernetes.Interface, name string) error {
	lease, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	lease.Spec.RenewTime = ptr.To(metav1.NowMicro())
	_, err = client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

// keepRenewing renews the node's Lease every 200 ms until the test ends, as a
// live kubelet does (every 10 s, against a 40 s grace).
func keepRenewing(t *testing.T, client kubernetes.Interface, name string) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				_ = renewLease(ctx, client, name)
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// runningPod creates a pod bound to node and reports it Running and Ready.
func runningPod(t *testing.T, client kubernetes.Interface, name, node string, tolerations ...corev1.Toleration) *corev1.Pod {
	t.Helper()
	ctx := t.Context()
	pod, err := client.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeName:    node,
			Containers:  []corev1.Container{{Name: "app", Image: "busybox"}},
			Tolerations: tolerations,
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
	pod, err = client.CoreV1().Pods("default").UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return pod
}

func unreachableFor(secs int64) corev1.Toleration {
	return corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
		Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs}
}

// evicted reports whether the pod is being deleted or gone.
func evicted(ctx context.Context, client kubernetes.Interface, name string) (bool, error) {
	pod, err := client.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return pod.DeletionTimestamp != nil, nil
}

func hasTaint(node *corev1.Node, key string, effect corev1.TaintEffect) bool {
	return slices.ContainsFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.Key == key && t.Effect == effect })
}

func TestNodeLifecycle(t *testing.T) {
	// Only the test's own controller runs, so what it checks is that one's work.
	c := testcluster.Start(t, testcluster.Without("node-lifecycle"))
	client := c.Client
	ctx := t.Context()

	// A second, healthy node: with every node down the controller would
	// assume a control-plane partition and evict nothing, as Kubernetes does.
	readyNode(t, client, "healthy")
	keepRenewing(t, client, "healthy")
	readyNode(t, client, "stale")

	runningPod(t, client, "no-toleration", "stale", unreachableFor(0))
	runningPod(t, client, "tolerates-3s", "stale", unreachableFor(3))
	def := runningPod(t, client, "default-tolerations", "stale")
	if !slices.ContainsFunc(def.Spec.Tolerations, func(tol corev1.Toleration) bool {
		return tol.Key == corev1.TaintNodeUnreachable && ptr.Deref(tol.TolerationSeconds, 0) == 300
	}) {
		t.Fatalf("admission gave the pod tolerations %+v, want unreachable for 300 s", def.Spec.Tolerations)
	}
	runningPod(t, client, "healthy-pod", "healthy")

	start(t, client, nodelifecycle.Config{GracePeriod: time.Second, MonitorPeriod: 100 * time.Millisecond})

	var tainted time.Time
	t.Run("stale lease: node goes Unknown and is tainted", func(t *testing.T) {
		eventually(t, 20*time.Second, "stale node tainted unreachable:NoExecute", func(ctx context.Context) (bool, error) {
			node, err := client.CoreV1().Nodes().Get(ctx, "stale", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if hasTaint(node, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) {
				tainted = time.Now()
				return true, nil
			}
			return false, nil
		})
		eventually(t, 10*time.Second, "stale node tainted unreachable:NoSchedule", func(ctx context.Context) (bool, error) {
			node, err := client.CoreV1().Nodes().Get(ctx, "stale", metav1.GetOptions{})
			return err == nil && hasTaint(node, corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule), err
		})
		node, err := client.CoreV1().Nodes().Get(ctx, "stale", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady &&
				(cond.Status != corev1.ConditionUnknown || cond.Reason != "NodeStatusUnknown" || cond.Message != "Kubelet stopped posting node status.") {
				t.Errorf("Ready condition = %+v, want Unknown/NodeStatusUnknown", cond)
			}
		}
		healthy, err := client.CoreV1().Nodes().Get(ctx, "healthy", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(healthy.Spec.Taints) != 0 {
			t.Errorf("healthy node has taints %+v", healthy.Spec.Taints)
		}
		events, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=stale"})
		if err == nil && !slices.ContainsFunc(events.Items, func(e corev1.Event) bool { return e.Reason == "NodeNotReady" }) {
			t.Logf("no NodeNotReady event among %d events (events are recorded asynchronously)", len(events.Items))
		}
	})

	t.Run("pods marked not ready", func(t *testing.T) {
		eventually(t, 10*time.Second, "default-tolerations pod Ready=False", func(ctx context.Context) (bool, error) {
			pod, err := client.CoreV1().Pods("default").Get(ctx, "default-tolerations", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, cond := range pod.Status.Conditions {
				if cond.Type == corev1.PodReady {
					return cond.Status == corev1.ConditionFalse, nil
				}
			}
			return false, nil
		})
	})

	t.Run("evictions follow tolerationSeconds", func(t *testing.T) {
		eventually(t, 5*time.Second, "pod without a usable toleration evicted", func(ctx context.Context) (bool, error) {
			return evicted(ctx, client, "no-toleration")
		})
		if d := time.Since(tainted); d > 2*time.Second {
			t.Errorf("untolerated pod evicted %s after the taint, want at once", d)
		}
		if gone, _ := evicted(ctx, client, "tolerates-3s"); gone && time.Since(tainted) < 2*time.Second {
			t.Fatalf("pod tolerating 3 s evicted after %s", time.Since(tainted))
		}
		eventually(t, 10*time.Second, "pod tolerating 3 s evicted", func(ctx context.Context) (bool, error) {
			return evicted(ctx, client, "tolerates-3s")
		})
		d := time.Since(tainted)
		if d < 2*time.Second || d > 6*time.Second {
			t.Errorf("pod tolerating 3 s evicted %s after the taint", d)
		}
		t.Logf("pod tolerating 3 s evicted %s after the taint", d.Round(10*time.Millisecond))
		pod, err := client.CoreV1().Pods("default").Get(ctx, "tolerates-3s", metav1.GetOptions{})
		if err == nil && !slices.ContainsFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool {
			return c.Type == corev1.DisruptionTarget && c.Reason == "DeletionByTaintManager"
		}) {
			t.Errorf("evicted pod conditions %+v, want DisruptionTarget", pod.Status.Conditions)
		}
		for _, name := range []string{"default-tolerations", "healthy-pod"} {
			if gone, err := evicted(ctx, client, name); err != nil || gone {
				t.Errorf("pod %s evicted (%v)", name, err)
			}
		}
	})

	t.Run("a user's NoExecute taint evicts pods that do not tolerate it", func(t *testing.T) {
		runningPod(t, client, "maintenance-ok", "healthy", corev1.Toleration{
			Key: "example.com/maintenance", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})
		c.Kubectl(t, "taint", "nodes", "healthy", "example.com/maintenance=yes:NoExecute")
		eventually(t, 10*time.Second, "healthy-pod evicted", func(ctx context.Context) (bool, error) {
			return evicted(ctx, client, "healthy-pod")
		})
		if gone, err := evicted(ctx, client, "maintenance-ok"); err != nil || gone {
			t.Errorf("pod tolerating the taint evicted (%v)", err)
		}
		c.Kubectl(t, "taint", "nodes", "healthy", "example.com/maintenance-")
	})

	t.Run("taints lifted when the node is back", func(t *testing.T) {
		node, err := client.CoreV1().Nodes().Get(ctx, "stale", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		now := metav1.Now()
		for i := range node.Status.Conditions {
			if node.Status.Conditions[i].Type == corev1.NodeReady {
				node.Status.Conditions[i] = corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue,
					Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}
			}
		}
		if _, err := client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		keepRenewing(t, client, "stale")
		eventually(t, 10*time.Second, "taints removed", func(ctx context.Context) (bool, error) {
			node, err := client.CoreV1().Nodes().Get(ctx, "stale", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return len(node.Spec.Taints) == 0, nil
		})
		if gone, err := evicted(ctx, client, "default-tolerations"); err != nil || gone {
			t.Errorf("pod with 300 s tolerations evicted (%v)", err)
		}
	})
}
