package scheduler_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/appliance/appliance/appliance/scheduler"
	"github.com/appliance/appliance/appliance/testcluster"
)

// testScheduler is the schedulerName the integration tests use, so that they
// keep working once the daemon runs its own default-scheduler.
const testScheduler = "test-scheduler"

// TestIntegration drives a real scheduler against a real appliance (etcd and
// the API server in-process) with Node objects created through client-go.
func TestIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := testcluster.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	if nodes, err := c.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil || len(nodes.Items) > 0 {
		t.Fatalf("the test counts nodes and expects none at start: %v, %d nodes", err, len(nodes.Items))
	}
	createNode(t, c.Client, "node-a", "4", nil)
	createNode(t, c.Client, "node-b", "4", []corev1.Taint{{Key: "role", Value: "db", Effect: corev1.TaintEffectNoSchedule}})
	createNode(t, c.Client, "node-c", "4", []corev1.Taint{{Key: "role", Value: "db", Effect: corev1.TaintEffectNoSchedule}})

	s, err := scheduler.New(scheduler.Config{
		REST:           c.REST,
		Log:            slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
		SchedulerName:  testScheduler,
		InitialBackoff: 100 * time.Millisecond,
		MaxBackoff:     time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	ns := "sched"
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("placement and the Scheduled event", func(t *testing.T) {
		createPod(t, c.Client, ns, "web-1", "1", "")
		pod := waitBound(t, c.Client, ns, "web-1")
		if pod.Spec.NodeName != "node-a" {
			t.Fatalf("web-1 on %q, want node-a (the others are tainted)", pod.Spec.NodeName)
		}
		ev := waitEvent(t, c.Client, ns, "web-1", "Scheduled")
		if want := "Successfully assigned sched/web-1 to node-a"; ev.Message != want {
			t.Errorf("Scheduled event %q, want %q", ev.Message, want)
		}
		if ev.Type != corev1.EventTypeNormal || ev.ReportingController != testScheduler {
			t.Errorf("event type %q from %q", ev.Type, ev.ReportingController)
		}
	})

	t.Run("FailedScheduling in Kubernetes' words, then placed when a node comes", func(t *testing.T) {
		createPod(t, c.Client, ns, "big", "6", "")
		ev := waitEvent(t, c.Client, ns, "big", "FailedScheduling")
		want := "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {role: db}. " +
			"preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling."
		if ev.Message != want {
			t.Errorf("FailedScheduling:\n got %q\nwant %q", ev.Message, want)
		}
		if ev.Type != corev1.EventTypeWarning {
			t.Errorf("event type %q", ev.Type)
		}
		pod := waitPod(t, c.Client, ns, "big", func(p *corev1.Pod) bool {
			cond := podCondition(p, corev1.PodScheduled)
			return cond != nil && cond.Status == corev1.ConditionFalse
		})
		cond := podCondition(pod, corev1.PodScheduled)
		if cond.Reason != corev1.PodReasonUnschedulable || cond.Message != want {
			t.Errorf("PodScheduled condition: reason %q message %q", cond.Reason, cond.Message)
		}
		// Out of the unschedulable pool by the node's arrival, not a timer:
		// the pool's own flush is five minutes away.
		createNode(t, c.Client, "node-d", "8", nil)
		if got := waitBound(t, c.Client, ns, "big").Spec.NodeName; got != "node-d" {
			t.Errorf("big on %q, want node-d", got)
		}
	})

	t.Run("a pod deleted makes room", func(t *testing.T) {
		// node-a has 3 cpu left, node-d 2.
		createPod(t, c.Client, ns, "filler", "3", "")
		waitBound(t, c.Client, ns, "filler")
		createPod(t, c.Client, ns, "waiter", "3", "")
		waitEvent(t, c.Client, ns, "waiter", "FailedScheduling")
		forceDelete(t, c.Client, ns, "filler")
		if got := waitBound(t, c.Client, ns, "waiter").Spec.NodeName; got != "node-a" {
			t.Errorf("waiter on %q, want node-a", got)
		}
	})

	t.Run("a finished pod frees its room", func(t *testing.T) {
		// node-a is full (web-1 and waiter). A pod that finishes holds nothing:
		// the scheduler watches only pods that are not Succeeded or Failed.
		createPod(t, c.Client, ns, "next", "1", "", onNode("node-a"))
		waitEvent(t, c.Client, ns, "next", "FailedScheduling")
		web := waitBound(t, c.Client, ns, "web-1")
		web.Status.Phase = corev1.PodSucceeded
		if _, err := c.Client.CoreV1().Pods(ns).UpdateStatus(ctx, web, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := waitBound(t, c.Client, ns, "next").Spec.NodeName; got != "node-a" {
			t.Errorf("next on %q, want node-a", got)
		}
	})

	t.Run("a high-priority pod preempts", func(t *testing.T) {
		for _, pc := range []schedulingv1.PriorityClass{
			{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000},
			{ObjectMeta: metav1.ObjectMeta{Name: "low"}, Value: 10},
		} {
			if _, err := c.Client.SchedulingV1().PriorityClasses().Create(ctx, &pc, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		forceDelete(t, c.Client, ns, "big")
		// node-d (8 cpu) is filled by two low-priority pods; everything here is
		// pinned to node-d so the choice is the victims, not the node.
		createPod(t, c.Client, ns, "low-1", "4", "low", onNode("node-d"))
		waitBound(t, c.Client, ns, "low-1")
		createPod(t, c.Client, ns, "low-2", "4", "low", onNode("node-d"))
		waitBound(t, c.Client, ns, "low-2")
		// The priority comes from the class: admission copies it into
		// spec.priority, or the scheduler reads the class when nothing did.
		createPod(t, c.Client, ns, "vip", "4", "high", onNode("node-d"))
		victim := waitPod(t, c.Client, ns, "low-2", func(p *corev1.Pod) bool { return p.DeletionTimestamp != nil })
		if cond := podCondition(victim, corev1.DisruptionTarget); cond == nil || cond.Reason != corev1.PodReasonPreemptionByScheduler {
			t.Errorf("victim's DisruptionTarget condition: %+v", cond)
		}
		vip := waitPod(t, c.Client, ns, "vip", func(p *corev1.Pod) bool { return p.Status.NominatedNodeName != "" })
		if vip.Status.NominatedNodeName != "node-d" {
			t.Errorf("nominated %q, want node-d", vip.Status.NominatedNodeName)
		}
		ev := waitEvent(t, c.Client, ns, "vip", "FailedScheduling")
		want := "0/4 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector, 2 node(s) had untolerated taint {role: db}."
		if ev.Message != want {
			t.Errorf("FailedScheduling:\n got %q\nwant %q", ev.Message, want)
		}
		// No kubelet here: confirm the victim's deletion as a kubelet would.
		forceDelete(t, c.Client, ns, "low-2")
		if got := waitBound(t, c.Client, ns, "vip").Spec.NodeName; got != "node-d" {
			t.Errorf("vip on %q, want node-d", got)
		}
		if p, err := c.Client.CoreV1().Pods(ns).Get(ctx, "low-1", metav1.GetOptions{}); err != nil || p.DeletionTimestamp != nil {
			t.Errorf("low-1 should have been spared: %v", err)
		}
		ev = waitEvent(t, c.Client, ns, "low-2", "Preempted")
		if !strings.HasPrefix(ev.Message, "Preempted by pod ") || !strings.HasSuffix(ev.Message, " on node node-d") {
			t.Errorf("Preempted event %q", ev.Message)
		}
	})

	t.Run("a gated pod waits for its gates", func(t *testing.T) {
		// Best effort: every untainted node is full of cpu requests by now.
		createPod(t, c.Client, ns, "gated", "", "", func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/quota"}}
		})
		pod := waitPod(t, c.Client, ns, "gated", func(p *corev1.Pod) bool {
			cond := podCondition(p, corev1.PodScheduled)
			return cond != nil && cond.Reason == corev1.PodReasonSchedulingGated
		})
		if pod.Spec.NodeName != "" {
			t.Fatalf("gated pod bound to %q", pod.Spec.NodeName)
		}
		pod.Spec.SchedulingGates = nil
		if _, err := c.Client.CoreV1().Pods(ns).Update(ctx, pod, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("remove the gate: %v", err)
		}
		waitBound(t, c.Client, ns, "gated")
	})
}

// TestLeaderElection: with LeaderElect the scheduler takes its Lease first, then
// schedules; cancelling releases it.
func TestLeaderElection(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := testcluster.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	createNode(t, c.Client, "node-a", "4", nil)
	s, err := scheduler.New(scheduler.Config{
		REST: c.REST, Log: slog.New(slog.NewTextHandler(testWriter{t}, nil)),
		SchedulerName: testScheduler, LeaderElect: true, Identity: "server-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	createPod(t, c.Client, "default", "elected", "100m", "")
	if got := waitBound(t, c.Client, "default", "elected").Spec.NodeName; got != "node-a" {
		t.Errorf("pod on %q", got)
	}
	lease, err := c.Client.CoordinationV1().Leases("kube-system").Get(ctx, testScheduler, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != "server-1" {
		t.Errorf("lease holder %v", lease.Spec.HolderIdentity)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel: %v", err)
	}
}

func createNode(t *testing.T, client kubernetes.Interface, name, cpu string, taints []corev1.Taint) {
	t.Helper()
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{
			Capacity: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110"),
			},
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110"),
			},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
		},
	}
	created, err := client.CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	if len(created.Status.Conditions) == 0 {
		// An API server that drops status on create: post it as a kubelet does.
		created.Status = n.Status
		if _, err := client.CoreV1().Nodes().UpdateStatus(context.Background(), created, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("node %s status: %v", name, err)
		}
	}
	// A fresh Lease too, so a node lifecycle controller sees a live node for
	// the test's few seconds.
	dur, now := int32(40), metav1.NewMicroTime(time.Now())
	if _, err := client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(context.Background(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &name, LeaseDurationSeconds: &dur, RenewTime: &now},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("lease %s: %v", name, err)
	}
}

func onNode(name string) func(*corev1.Pod) {
	return func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{corev1.LabelHostname: name} }
}

func createPod(t *testing.T, client kubernetes.Interface, ns, name, cpu, priorityClass string, opts ...func(*corev1.Pod)) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{
			SchedulerName:     testScheduler,
			PriorityClassName: priorityClass,
			Containers:        []corev1.Container{{Name: "app", Image: "busybox"}},
		},
	}
	if cpu != "" {
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
	for _, o := range opts {
		o(p)
	}
	if _, err := client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
}

func forceDelete(t *testing.T, client kubernetes.Interface, ns, name string) {
	t.Helper()
	zero := int64(0)
	if err := client.CoreV1().Pods(ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatalf("delete %s: %v", name, err)
	}
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
	last := ""
	for {
		ok, state := f()
		if ok {
			return
		}
		last = state
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last: %s", what, last)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not synchronisation
	}
}

func waitPod(t *testing.T, client kubernetes.Interface, ns, name string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	poll(t, "pod "+name, func() (bool, string) {
		p, err := client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pod = p
		return cond(p), fmt.Sprintf("node %q phase %s conditions %+v", p.Spec.NodeName, p.Status.Phase, p.Status.Conditions)
	})
	return pod
}

func waitBound(t *testing.T, client kubernetes.Interface, ns, name string) *corev1.Pod {
	t.Helper()
	return waitPod(t, client, ns, name, func(p *corev1.Pod) bool { return p.Spec.NodeName != "" })
}

func waitEvent(t *testing.T, client kubernetes.Interface, ns, name, reason string) *corev1.Event {
	t.Helper()
	var ev *corev1.Event
	poll(t, reason+" event for "+name, func() (bool, string) {
		list, err := client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{
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

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
