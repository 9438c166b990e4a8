package replicaset

import (
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

type podOpt func(*corev1.Pod)

func mkPod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name),
			Labels: map[string]string{"app": "web"}, CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
		Spec:   corev1.PodSpec{NodeName: "node-a"},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func unscheduled(p *corev1.Pod) { p.Spec.NodeName = "" }
func phase(ph corev1.PodPhase) podOpt {
	return func(p *corev1.Pod) { p.Status.Phase = ph }
}
func readyFor(d time.Duration) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(now.Add(-d))}}
	}
}
func node(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func cost(c string) podOpt {
	return func(p *corev1.Pod) { p.Annotations = map[string]string{DeletionCostAnnotation: c} }
}
func restarts(n int32) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", RestartCount: n}}
	}
}
func age(d time.Duration) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(now.Add(-d)) }
}

// TestRankPairs: for each pair, first must be deleted before second, whatever
// the order they come in.
func TestRankPairs(t *testing.T) {
	tests := []struct {
		name            string
		first, second   *corev1.Pod
		minReadySeconds int32
	}{
		{name: "unscheduled before scheduled", first: mkPod("a", unscheduled, readyFor(time.Hour)), second: mkPod("b", phase(corev1.PodPending))},
		{name: "pending before running", first: mkPod("a", phase(corev1.PodPending)), second: mkPod("b")},
		{name: "unknown before running", first: mkPod("a", phase(corev1.PodUnknown)), second: mkPod("b")},
		{name: "pending before unknown", first: mkPod("a", phase(corev1.PodPending)), second: mkPod("b", phase(corev1.PodUnknown))},
		{name: "not ready before ready", first: mkPod("a", restarts(0)), second: mkPod("b", readyFor(time.Second), restarts(9))},
		{name: "not available before available", minReadySeconds: 30,
			first: mkPod("a", readyFor(10*time.Second), cost("100")), second: mkPod("b", readyFor(time.Hour))},
		{name: "lower deletion cost first", first: mkPod("a", readyFor(time.Hour), cost("-5")), second: mkPod("b", readyFor(time.Second))},
		{name: "invalid deletion cost is zero", first: mkPod("a", readyFor(time.Hour), cost("nope")), second: mkPod("b", readyFor(time.Second), cost("1"))},
		{name: "crowded node first", first: mkPod("a", readyFor(time.Hour), node("busy")), second: mkPod("b", readyFor(time.Second), node("quiet"))},
		{name: "ready for less time first", first: mkPod("a", readyFor(time.Second)), second: mkPod("b", readyFor(time.Hour))},
		{name: "more restarts first", first: mkPod("a", restarts(3), age(time.Hour*100)), second: mkPod("b", restarts(1), age(time.Second))},
		{name: "newer first", first: mkPod("a", age(time.Second)), second: mkPod("b", age(time.Hour))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// "busy" has a second related pod.
			related := []*corev1.Pod{tt.first, tt.second, mkPod("x", node("busy"))}
			for _, order := range [][]*corev1.Pod{{tt.first, tt.second}, {tt.second, tt.first}} {
				got := podsToDelete(order, related, 1, tt.minReadySeconds, now)
				if got[0].Name != tt.first.Name {
					t.Errorf("deleted %s first, want %s", got[0].Name, tt.first.Name)
				}
			}
		})
	}
}

// Pods of similar age (same log2 bucket) are ordered by UID, so successive
// scale-downs do not always take the very newest pods.
func TestRankLogarithmicBuckets(t *testing.T) {
	a := mkPod("a", age(70*time.Second)) // 2^36 ns bucket, with b
	b := mkPod("b", age(100*time.Second))
	a.UID, b.UID = "zzz", "aaa"
	got := podsToDelete([]*corev1.Pod{a, b}, nil, 1, 0, now)
	if got[0].Name != "b" {
		t.Errorf("deleted %s first, want b (same bucket, lower UID)", got[0].Name)
	}
	c := mkPod("c", age(time.Hour))
	c.UID = "000"
	got = podsToDelete([]*corev1.Pod{c, a}, nil, 1, 0, now)
	if got[0].Name != "a" {
		t.Errorf("deleted %s first, want a (younger bucket)", got[0].Name)
	}
}

func TestPodsToDeleteOrder(t *testing.T) {
	pods := []*corev1.Pod{
		mkPod("ready-old", readyFor(time.Hour)),
		mkPod("running-not-ready"),
		mkPod("ready-new", readyFor(2*time.Second)),
		mkPod("pending", phase(corev1.PodPending)),
		mkPod("unscheduled", unscheduled, phase(corev1.PodPending)),
	}
	got := podsToDelete(pods, pods, 4, 0, now)
	want := []string{"unscheduled", "pending", "running-not-ready", "ready-new"}
	for i := range want {
		if got[i].Name != want[i] {
			t.Fatalf("order %v, want %v", names(got), want)
		}
	}
	if all := podsToDelete(pods, pods, 9, 0, now); len(all) != len(pods) {
		t.Errorf("asked for more than there are: got %d", len(all))
	}
}

func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func TestCalculateStatus(t *testing.T) {
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "rs", Generation: 3},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To[int32](3), MinReadySeconds: 10,
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "fe"}}}},
	}
	full := func(p *corev1.Pod) { p.Labels = map[string]string{"app": "web", "tier": "fe"} }
	pods := []*corev1.Pod{
		mkPod("a", full, readyFor(time.Minute)),
		mkPod("b", full, readyFor(time.Second)),
		mkPod("c"),
	}
	tests := []struct {
		name      string
		pods      []*corev1.Pod
		err       error
		want      appsv1.ReplicaSetStatus
		wantCause string
	}{
		{name: "counts", pods: pods, want: appsv1.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 1}},
		{name: "create failure", pods: pods[:1], err: errors.New("quota"),
			want: appsv1.ReplicaSetStatus{Replicas: 1, FullyLabeledReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}, wantCause: "FailedCreate"},
		{name: "delete failure", pods: append(pods, mkPod("d")), err: errors.New("nope"),
			want: appsv1.ReplicaSetStatus{Replicas: 4, FullyLabeledReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 1}, wantCause: "FailedDelete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := calculateStatus(rs, tt.pods, 2, tt.err, now)
			if got.Replicas != tt.want.Replicas || got.FullyLabeledReplicas != tt.want.FullyLabeledReplicas ||
				got.ReadyReplicas != tt.want.ReadyReplicas || got.AvailableReplicas != tt.want.AvailableReplicas {
				t.Errorf("status %+v, want %+v", got, tt.want)
			}
			if got.TerminatingReplicas == nil || *got.TerminatingReplicas != 2 {
				t.Errorf("terminatingReplicas = %v, want 2", got.TerminatingReplicas)
			}
			cond := condition(got.Conditions, appsv1.ReplicaSetReplicaFailure)
			switch {
			case tt.wantCause == "" && cond != nil:
				t.Errorf("unexpected condition %+v", cond)
			case tt.wantCause != "" && (cond == nil || cond.Reason != tt.wantCause):
				t.Errorf("condition %+v, want reason %s", cond, tt.wantCause)
			}
			// A later success clears the failure.
			rs2 := rs.DeepCopy()
			rs2.Status = got
			if c := condition(calculateStatus(rs2, tt.pods, 0, nil, now).Conditions, appsv1.ReplicaSetReplicaFailure); c != nil {
				t.Errorf("failure condition kept after success: %+v", c)
			}
		})
	}
}
