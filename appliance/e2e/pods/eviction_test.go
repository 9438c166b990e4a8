package pods

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/appliance/appliance/appliance/testcluster"
	"github.com/appliance/appliance/runtime/kubelet"
)

// TestEvictionUnderMemoryPressure: when memory.available falls below the hard
// threshold (raised here past what the machine has), the node reports
// MemoryPressure and the kubelet evicts the BestEffort pod before the
// Guaranteed one, marking it Failed/Evicted as Kubernetes does.
func TestEvictionUnderMemoryPressure(t *testing.T) {
	c, _ := testcluster.StartWithAgent(t)
	ctx := context.Background()
	ns := "default"
	be := busyboxPod("besteffort", "sleep", "3600")
	g := busyboxPod("guaranteed", "sleep", "3600")
	g.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
	}
	for _, p := range []*corev1.Pod{be, g} {
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitPod(t, c, ns, "besteffort", "Running", running)
	waitPod(t, c, ns, "guaranteed", "Running", running)

	agent := c.App.Agent()
	agent.SetEvictionThresholds(kubelet.Thresholds{MemoryAvailable: 1 << 50, NodefsAvailablePercent: 1})
	evicted := waitPod(t, c, ns, "besteffort", "evicted", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	gp, err := c.Client.CoreV1().Pods(ns).Get(ctx, "guaranteed", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The node says why: MemoryPressure True while under the threshold.
	var cond corev1.NodeCondition
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, c.Config.NodeName, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, nc := range n.Status.Conditions {
			if nc.Type == corev1.NodeMemoryPressure {
				cond = nc
			}
		}
		return cond.Status == corev1.ConditionTrue, nil
	})
	if err != nil {
		t.Fatalf("node condition MemoryPressure under pressure: %+v", cond)
	}
	// The BestEffort pod goes first; stop the pressure before the next round.
	agent.SetEvictionThresholds(kubelet.Thresholds{MemoryAvailable: 1, NodefsAvailablePercent: 1})
	if gp.Status.Phase != corev1.PodRunning {
		t.Fatalf("guaranteed pod is %s when the BestEffort one was evicted", gp.Status.Phase)
	}
	if evicted.Status.Reason != "Evicted" || !strings.Contains(evicted.Status.Message, "low on resource: memory") {
		t.Fatalf("evicted pod status: reason %q message %q", evicted.Status.Reason, evicted.Status.Message)
	}
	disruption := false
	for _, cond := range evicted.Status.Conditions {
		if cond.Type == corev1.DisruptionTarget && cond.Status == corev1.ConditionTrue {
			disruption = true
		}
	}
	if !disruption {
		t.Fatalf("no DisruptionTarget condition: %+v", evicted.Status.Conditions)
	}
	// Its containers are stopped.
	waitPod(t, c, ns, "besteffort", "containers terminated", func(p *corev1.Pod) bool {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.State.Running != nil {
				return false
			}
		}
		return len(p.Status.ContainerStatuses) > 0
	})
	evs, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=besteffort,reason=Evicted"})
	if err != nil || len(evs.Items) == 0 {
		t.Fatalf("no Evicted event: %v", err)
	}
}
