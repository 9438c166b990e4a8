package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/appliance/appliance/appliance"
	"github.com/appliance/appliance/appliance/testcluster"
)

// TestWorkloadsOnSimulatedNodes drives the whole control plane as a user would:
// the server runs its scheduler, controllers and three simulated nodes, and
// kubectl creates, rolls, undoes and deletes a Deployment.
func TestWorkloadsOnSimulatedNodes(t *testing.T) {
	c := testcluster.Start(t, func(cfg *appliance.Config) { cfg.SimulateNodes = 3 })
	ctx := context.Background()
	poll := func(what string, cond func() (bool, error)) {
		t.Helper()
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 60*time.Second, true,
			func(context.Context) (bool, error) { return cond() }); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	poll("3 Ready nodes", func() (bool, error) {
		nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		ready := 0
		for _, n := range nodes.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue && n.Spec.PodCIDR != "" {
					ready++
				}
			}
		}
		return ready == 3, err
	})

	c.Kubectl(t, "create", "deployment", "web", "--image=busybox:1.36", "--replicas=10")
	c.Kubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")
	d, err := c.Client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil || d.Status.AvailableReplicas != 10 {
		t.Fatalf("after rollout: %+v %v", d.Status, err)
	}
	pods, _ := c.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	perNode := map[string]int{}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" || p.Status.PodIP == "" {
			t.Fatalf("pod %s not placed: node %q ip %q", p.Name, p.Spec.NodeName, p.Status.PodIP)
		}
		perNode[p.Spec.NodeName]++
	}
	if len(perNode) != 3 {
		t.Fatalf("10 replicas on %d nodes, want spread over 3: %v", len(perNode), perNode)
	}

	// An image change rolls through with at most 25% (2 of 10, rounded down)
	// unavailable at any moment we look.
	c.Kubectl(t, "set", "image", "deployment/web", "busybox=busybox:1.37")
	done := make(chan struct{})
	minAvailable := int32(10)
	go func() {
		defer close(done)
		_ = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
			d, err := c.Client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			if d.Status.AvailableReplicas < minAvailable {
				minAvailable = d.Status.AvailableReplicas
			}
			return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == 10 &&
				d.Status.AvailableReplicas == 10 && d.Status.Replicas == 10, nil
		})
	}()
	c.Kubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")
	<-done
	if minAvailable < 8 {
		t.Fatalf("available fell to %d during the rollout, below 10 - maxUnavailable(2)", minAvailable)
	}

	c.Kubectl(t, "rollout", "undo", "deployment/web")
	c.Kubectl(t, "rollout", "status", "deployment/web", "--timeout=60s")
	d, _ = c.Client.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "busybox:1.36" {
		t.Fatalf("after undo the image is %s, want busybox:1.36", img)
	}
	if h := c.Kubectl(t, "rollout", "history", "deployment/web"); !strings.Contains(h, "2 ") || !strings.Contains(h, "3 ") {
		t.Fatalf("rollout history:\n%s", h)
	}

	// A pod that fits nowhere says why, in the scheduler's words.
	c.Kubectl(t, "run", "huge", "--image=busybox", "--overrides", `{"spec":{"containers":[{"name":"huge","image":"busybox","resources":{"requests":{"cpu":"64"}}}]}}`)
	poll("FailedScheduling event", func() (bool, error) {
		evs, err := c.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=huge,reason=FailedScheduling"})
		return err == nil && len(evs.Items) > 0 && strings.Contains(evs.Items[0].Message, "0/3 nodes are available: 3 Insufficient cpu."), err
	})

	// Deleting the Deployment takes its ReplicaSets and pods with it.
	c.Kubectl(t, "delete", "deployment", "web")
	poll("garbage collection of ReplicaSets and pods", func() (bool, error) {
		rs, err1 := c.Client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{})
		ps, err2 := c.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		return err1 == nil && err2 == nil && len(rs.Items) == 0 && len(ps.Items) == 0, nil
	})
}
