package pods

import (
	"context"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/appliance/appliance/appliance/testcluster"
)

// TestNodeReadyFollowsRuntime: while containerd does not answer, the node
// says so (Ready=False, "container runtime is down"; kubectl shows NotReady)
// and is tainted not-ready, so nothing new is scheduled to it; once containerd
// answers again the node is Ready, untainted, and its pods never stopped.
func TestNodeReadyFollowsRuntime(t *testing.T) {
	c, _ := testcluster.StartWithAgent(t)
	ctx := context.Background()
	agent := c.App.Agent()
	node := c.Config.NodeName
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, busyboxPod("steady", "sleep", "3600"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	before := waitPod(t, c, "default", "steady", "Running", running)
	waitNode(t, c, node, "Ready", 60*time.Second, func(n *corev1.Node) bool {
		r := readyCondition(n)
		return r != nil && r.Status == corev1.ConditionTrue && n.Status.NodeInfo.ContainerRuntimeVersion != ""
	})

	// SIGSTOP keeps the process (the supervisor sees nothing to restart) but
	// every call to it hangs: a runtime that is there and does not answer.
	pid := agent.Runtime().PID()
	if pid <= 0 {
		t.Fatalf("no containerd child (pid %d)", pid)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT containerd %d: %v", pid, err)
			}
		}
	}
	t.Cleanup(resume)

	down := waitNode(t, c, node, "NotReady because the runtime is down", 60*time.Second, func(n *corev1.Node) bool {
		r := readyCondition(n)
		return r != nil && r.Status == corev1.ConditionFalse
	})
	if r := readyCondition(down); r.Reason != "KubeletNotReady" || r.Message != "container runtime is down" {
		t.Errorf("Ready condition = %s %q, want KubeletNotReady \"container runtime is down\"", r.Reason, r.Message)
	}
	if down.Status.NodeInfo.ContainerRuntimeVersion == "" {
		t.Error("the runtime version was blanked while the runtime is down; it should keep the last one reported")
	}
	if out := c.Kubectl(t, "get", "node", node, "--no-headers"); !strings.Contains(out, "NotReady") {
		t.Errorf("kubectl get node: %q, want NotReady", out)
	}
	waitNode(t, c, node, "tainted not-ready", 30*time.Second, func(n *corev1.Node) bool {
		return hasTaintKey(n, corev1.TaintNodeNotReady)
	})

	resume()
	waitNode(t, c, node, "Ready again and untainted", 60*time.Second, func(n *corev1.Node) bool {
		r := readyCondition(n)
		return r != nil && r.Status == corev1.ConditionTrue && !hasTaintKey(n, corev1.TaintNodeNotReady)
	})
	after := waitPod(t, c, "default", "steady", "Running", running)
	if got, want := after.Status.ContainerStatuses[0].RestartCount, before.Status.ContainerStatuses[0].RestartCount; got != want {
		t.Errorf("restartCount %d -> %d: the pod's container restarted while the runtime was paused", want, got)
	}
}

func readyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func hasTaintKey(n *corev1.Node, key string) bool {
	return slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == key })
}

// waitNode polls the node until cond holds, failing the test after timeout.
func waitNode(t *testing.T, c *testcluster.Cluster, name, what string, timeout time.Duration, cond func(*corev1.Node) bool) *corev1.Node {
	t.Helper()
	var last *corev1.Node
	pollUntil(t, timeout, "node "+what, func() (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = n
		return cond(n), nil
	})
	return last
}
