package simulate_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/appliance/appliance/appliance/scheduler"
	"github.com/appliance/appliance/appliance/simulate"
	"github.com/appliance/appliance/appliance/testcluster"
)

// testScheduler keeps these pods away from any scheduler the daemon may run.
const testScheduler = "sim-test-scheduler"

// TestSchedulerOnSimulatedNodes: the scheduler and hollow nodes together, the
// way the acceptance tests and benchmarks use them. The nodes carry a taint the
// workload tolerates, so one pod without the toleration fits nowhere.
func TestSchedulerOnSimulatedNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := testcluster.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil || len(nodes.Items) > 0 {
		t.Fatalf("the test counts nodes and expects none at start: %v", err)
	}
	sim, err := simulate.Start(ctx, simulate.Config{
		REST:   c.REST,
		Nodes:  3,
		Taints: []corev1.Taint{{Key: "dedicated", Value: "sim", Effect: corev1.TaintEffectNoSchedule}},
		Log:    testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	s, err := scheduler.New(scheduler.Config{REST: c.REST, Log: testLogger(t), SchedulerName: testScheduler, InitialBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("scheduler: %v", err)
		}
	}()

	t.Run("ten pods spread over three nodes within their resources", func(t *testing.T) {
		for i := range 10 {
			createScheduledPod(t, c.Client, fmt.Sprintf("web-%d", i), "1", true)
		}
		perNode := map[string]int{}
		for i := range 10 {
			p := waitPod(t, c.Client, fmt.Sprintf("web-%d", i), func(p *corev1.Pod) bool {
				return p.Status.Phase == corev1.PodRunning && podCondition(p, corev1.PodReady).Status == corev1.ConditionTrue
			})
			perNode[p.Spec.NodeName]++
		}
		if len(perNode) != 3 {
			t.Fatalf("pods per node %v, want all three nodes used", perNode)
		}
		for node, n := range perNode {
			// 4 cpu per node, 1 cpu per pod; least-allocated scoring spreads 4/3/3.
			if n < 3 || n > 4 {
				t.Errorf("%s has %d pods (%v)", node, n, perNode)
			}
		}
		// Two more fit (12 cpu in all), the thirteenth does not.
		createScheduledPod(t, c.Client, "web-10", "1", true)
		createScheduledPod(t, c.Client, "web-11", "1", true)
		waitPod(t, c.Client, "web-10", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		waitPod(t, c.Client, "web-11", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		createScheduledPod(t, c.Client, "web-12", "1", true)
		ev := waitEvent(t, c.Client, "web-12", "FailedScheduling")
		want := "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
		if ev.Message != want {
			t.Errorf("FailedScheduling:\n got %q\nwant %q", ev.Message, want)
		}
		// Deleting one pod frees a slot; the hollow kubelet confirms the
		// deletion and the waiting pod moves in.
		if err := c.Client.CoreV1().Pods("default").Delete(ctx, "web-0", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitPod(t, c.Client, "web-12", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	})

	t.Run("an untolerated taint on every node", func(t *testing.T) {
		createScheduledPod(t, c.Client, "intruder", "", false)
		ev := waitEvent(t, c.Client, "intruder", "FailedScheduling")
		want := "0/3 nodes are available: 3 node(s) had untolerated taint {dedicated: sim}. " +
			"preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
		if ev.Message != want {
			t.Errorf("FailedScheduling:\n got %q\nwant %q", ev.Message, want)
		}
		pod := waitPod(t, c.Client, "intruder", func(p *corev1.Pod) bool {
			cond := podCondition(p, corev1.PodScheduled)
			return cond != nil && cond.Reason == corev1.PodReasonUnschedulable
		})
		if pod.Status.Phase != corev1.PodPending || pod.Spec.NodeName != "" {
			t.Errorf("intruder phase %s on %q", pod.Status.Phase, pod.Spec.NodeName)
		}
		// What `kubectl describe pod` shows.
		out := c.Kubectl(t, "describe", "pod", "intruder")
		if !strings.Contains(out, "FailedScheduling") || !strings.Contains(out, "untolerated taint {dedicated: sim}") {
			t.Errorf("kubectl describe pod:\n%s", out)
		}
	})
}

func createScheduledPod(t *testing.T, client kubernetes.Interface, name, cpu string, tolerate bool) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			SchedulerName: testScheduler,
			Containers:    []corev1.Container{{Name: "app", Image: "nginx"}},
		},
	}
	if cpu != "" {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
	if tolerate {
		p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "sim", Effect: corev1.TaintEffectNoSchedule}}
	}
	if _, err := client.CoreV1().Pods("default").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
}

func waitEvent(t *testing.T, client kubernetes.Interface, name, reason string) *corev1.Event {
	t.Helper()
	var ev *corev1.Event
	poll(t, reason+" event for "+name, func() (bool, string) {
		list, err := client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("involvedObject.name", name).String(),
		})
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for i := range list.Items {
			seen = append(seen, list.Items[i].Reason+": "+list.Items[i].Message)
			if list.Items[i].Reason == reason {
				ev = &list.Items[i]
				return true, ""
			}
		}
		return false, strings.Join(seen, "; ")
	})
	return ev
}
