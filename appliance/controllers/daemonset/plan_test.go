package daemonset

import (
	"reflect"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var now = time.Unix(100000, 0)

// podState is a daemon pod as a test writes it.
type podState struct {
	name    string
	node    string
	hash    string // "new" or "old"
	ready   bool
	since   time.Duration // ready for this long
	phase   corev1.PodPhase
	deleted bool
	age     time.Duration
	bound   bool
}

func mkPod(s podState) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: "ns",
			Labels:            map[string]string{"app": "agent", appsv1.DefaultDaemonSetUniqueLabelKey: s.hash},
			CreationTimestamp: metav1.NewTime(now.Add(-s.age))},
		Spec:   corev1.PodSpec{Affinity: nodeAffinityTo(nil, s.node)},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
	if s.bound {
		p.Spec.NodeName = s.node
	}
	if s.phase != "" {
		p.Status.Phase = s.phase
	}
	if s.ready {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-s.since))}}
	}
	if s.deleted {
		p.DeletionTimestamp = &metav1.Time{Time: now}
	}
	return p
}

func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

func withSurge(n int) func(*appsv1.DaemonSet) {
	return func(ds *appsv1.DaemonSet) {
		ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{
			MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromInt(n))}
	}
}

func withUnavailable(v intstr.IntOrString) func(*appsv1.DaemonSet) {
	return func(ds *appsv1.DaemonSet) {
		ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &v, MaxSurge: ptr.To(intstr.FromInt32(0))}
	}
}

func TestPodsShouldBeOnNode(t *testing.T) {
	tests := []struct {
		name          string
		ds            *appsv1.DaemonSet
		node          *corev1.Node
		pods          []podState
		wantCreate    bool
		wantRemove    []string
		wantFailed    []string
		wantSucceeded []string
	}{
		{name: "eligible node without pod", ds: testDS(), node: testNode("a"), wantCreate: true},
		{name: "eligible node with its pod", ds: testDS(), node: testNode("a"),
			pods: []podState{{name: "p1", node: "a", hash: "new", ready: true}}},
		{name: "ineligible node: its pods go", ds: testDS(), node: testNode("a", withTaint("x", "", corev1.TaintEffectNoExecute)),
			pods: []podState{{name: "p1", node: "a", hash: "new"}, {name: "p2", node: "a", hash: "new", deleted: true}}, wantRemove: []string{"p1"}},
		{name: "NoSchedule taint added later: pod stays", ds: testDS(), node: testNode("a", withTaint("x", "", corev1.TaintEffectNoSchedule)),
			pods: []podState{{name: "p1", node: "a", hash: "new"}}},
		{name: "NoSchedule taint and no pod: nothing", ds: testDS(), node: testNode("a", withTaint("x", "", corev1.TaintEffectNoSchedule))},
		{name: "two pods without surge: the oldest stays", ds: testDS(), node: testNode("a"),
			pods:       []podState{{name: "young", node: "a", hash: "new", age: time.Minute}, {name: "old", node: "a", hash: "new", age: time.Hour}},
			wantRemove: []string{"young"}},
		{name: "bound pod wins over an older unbound one", ds: testDS(), node: testNode("a"),
			pods:       []podState{{name: "unbound", node: "a", hash: "new", age: time.Hour}, {name: "bound", node: "a", hash: "new", bound: true}},
			wantRemove: []string{"unbound"}},
		{name: "failed pod", ds: testDS(), node: testNode("a"),
			pods: []podState{{name: "p1", node: "a", hash: "new", phase: corev1.PodFailed}}, wantFailed: []string{"p1"}},
		{name: "succeeded pod", ds: testDS(), node: testNode("a"),
			pods: []podState{{name: "p1", node: "a", hash: "new", phase: corev1.PodSucceeded}}, wantSucceeded: []string{"p1"}},
		{name: "terminating pod only: wait for it", ds: testDS(), node: testNode("a"),
			pods: []podState{{name: "p1", node: "a", hash: "new", deleted: true}}},
		{name: "surge: failed pod replaced at once", ds: testDS(withSurge(1)), node: testNode("a"),
			pods: []podState{{name: "p1", node: "a", hash: "old", phase: corev1.PodFailed}}, wantCreate: true, wantFailed: []string{"p1"}},
		{name: "surge: new pod not available, old ready: both stay", ds: testDS(withSurge(1)), node: testNode("a"),
			pods: []podState{{name: "old", node: "a", hash: "old", ready: true, age: time.Hour}, {name: "new", node: "a", hash: "new"}}},
		{name: "surge: new pod available: old goes", ds: testDS(withSurge(1)), node: testNode("a"),
			pods:       []podState{{name: "old", node: "a", hash: "old", ready: true, age: time.Hour}, {name: "new", node: "a", hash: "new", ready: true}},
			wantRemove: []string{"old"}},
		{name: "surge: old pod not ready: old goes", ds: testDS(withSurge(1)), node: testNode("a"),
			pods:       []podState{{name: "old", node: "a", hash: "old", age: time.Hour}, {name: "new", node: "a", hash: "new"}},
			wantRemove: []string{"old"}},
		{name: "surge: extra pods of a revision go", ds: testDS(withSurge(1)), node: testNode("a"),
			pods:       []podState{{name: "new1", node: "a", hash: "new", age: time.Hour}, {name: "new2", node: "a", hash: "new"}},
			wantRemove: []string{"new2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pods []*corev1.Pod
			for _, s := range tt.pods {
				pods = append(pods, mkPod(s))
			}
			plan := podsShouldBeOnNode(tt.node, pods, tt.ds, "new", now)
			if plan.create != tt.wantCreate {
				t.Errorf("create = %v, want %v", plan.create, tt.wantCreate)
			}
			if got := names(plan.remove); !slices.Equal(got, tt.wantRemove) {
				t.Errorf("remove = %v, want %v", got, tt.wantRemove)
			}
			if got := names(plan.failed); !slices.Equal(got, tt.wantFailed) {
				t.Errorf("failed = %v, want %v", got, tt.wantFailed)
			}
			if got := names(plan.succeeded); !slices.Equal(got, tt.wantSucceeded) {
				t.Errorf("succeeded = %v, want %v", got, tt.wantSucceeded)
			}
		})
	}
}

func TestPlanRollingUpdate(t *testing.T) {
	nodes := []*corev1.Node{testNode("a"), testNode("b"), testNode("c"), testNode("d")}
	tests := []struct {
		name       string
		ds         *appsv1.DaemonSet
		nodes      []*corev1.Node
		pods       []podState
		wantRemove []string
		wantCreate []string
	}{
		{name: "maxUnavailable 1: one old pod at a time", ds: testDS(withUnavailable(intstr.FromInt32(1))),
			pods: []podState{
				{name: "pa", node: "a", hash: "old", ready: true}, {name: "pb", node: "b", hash: "old", ready: true},
				{name: "pc", node: "c", hash: "old", ready: true}, {name: "pd", node: "d", hash: "old", ready: true},
			}, wantRemove: []string{"pa"}},
		{name: "maxUnavailable 2", ds: testDS(withUnavailable(intstr.FromInt32(2))),
			pods: []podState{
				{name: "pa", node: "a", hash: "old", ready: true}, {name: "pb", node: "b", hash: "old", ready: true},
				{name: "pc", node: "c", hash: "old", ready: true}, {name: "pd", node: "d", hash: "old", ready: true},
			}, wantRemove: []string{"pa", "pb"}},
		{name: "maxUnavailable 50% of 4", ds: testDS(withUnavailable(intstr.FromString("50%"))),
			pods: []podState{
				{name: "pa", node: "a", hash: "old", ready: true}, {name: "pb", node: "b", hash: "old", ready: true},
				{name: "pc", node: "c", hash: "old", ready: true}, {name: "pd", node: "d", hash: "old", ready: true},
			}, wantRemove: []string{"pa", "pb"}},
		{name: "a new pod not yet ready uses the budget", ds: testDS(withUnavailable(intstr.FromInt32(1))),
			pods: []podState{
				{name: "pa", node: "a", hash: "new"}, {name: "pb", node: "b", hash: "old", ready: true},
				{name: "pc", node: "c", hash: "old", ready: true}, {name: "pd", node: "d", hash: "old", ready: true},
			}},
		{name: "a node being replaced (no pod) uses the budget", ds: testDS(withUnavailable(intstr.FromInt32(1))),
			pods: []podState{
				{name: "pb", node: "b", hash: "old", ready: true},
				{name: "pc", node: "c", hash: "old", ready: true}, {name: "pd", node: "d", hash: "old", ready: true},
			}},
		{name: "a terminating old pod uses the budget", ds: testDS(withUnavailable(intstr.FromInt32(1))),
			pods: []podState{
				{name: "pa", node: "a", hash: "old", ready: true, deleted: true}, {name: "pb", node: "b", hash: "old", ready: true},
				{name: "pc", node: "c", hash: "old", ready: true}, {name: "pd", node: "d", hash: "old", ready: true},
			}},
		{name: "unavailable old pods are replaced regardless", ds: testDS(withUnavailable(intstr.FromInt32(1))),
			pods: []podState{
				{name: "pa", node: "a", hash: "old"}, {name: "pb", node: "b", hash: "old"},
				{name: "pc", node: "c", hash: "old", ready: true}, {name: "pd", node: "d", hash: "old", ready: true},
			}, wantRemove: []string{"pa", "pb"}},
		{name: "new pod available: next old one", ds: testDS(withUnavailable(intstr.FromInt32(1))),
			pods: []podState{
				{name: "pa", node: "a", hash: "new", ready: true}, {name: "pb", node: "b", hash: "old", ready: true},
				{name: "pc", node: "c", hash: "old", ready: true}, {name: "pd", node: "d", hash: "old", ready: true},
			}, wantRemove: []string{"pb"}},
		{name: "minReadySeconds not yet passed", ds: testDS(withUnavailable(intstr.FromInt32(1)), func(ds *appsv1.DaemonSet) { ds.Spec.MinReadySeconds = 30 }),
			pods: []podState{
				{name: "pa", node: "a", hash: "new", ready: true, since: 10 * time.Second}, {name: "pb", node: "b", hash: "old", ready: true, since: time.Hour},
				{name: "pc", node: "c", hash: "old", ready: true, since: time.Hour}, {name: "pd", node: "d", hash: "old", ready: true, since: time.Hour},
			}},
		{name: "all updated: nothing", ds: testDS(withUnavailable(intstr.FromInt32(1))),
			pods: []podState{
				{name: "pa", node: "a", hash: "new", ready: true}, {name: "pb", node: "b", hash: "new", ready: true},
				{name: "pc", node: "c", hash: "new", ready: true}, {name: "pd", node: "d", hash: "new", ready: true},
			}},
		{name: "surge 1: a new pod next to an old one", ds: testDS(withSurge(1)),
			pods: []podState{
				{name: "pa", node: "a", hash: "old", ready: true}, {name: "pb", node: "b", hash: "old", ready: true},
				{name: "pc", node: "c", hash: "old", ready: true}, {name: "pd", node: "d", hash: "old", ready: true},
			}, wantCreate: []string{"a"}},
		{name: "surge 1: waiting for the surge pod", ds: testDS(withSurge(1)),
			pods: []podState{
				{name: "pa", node: "a", hash: "old", ready: true}, {name: "pa2", node: "a", hash: "new"}, {name: "pb", node: "b", hash: "old", ready: true},
				{name: "pc", node: "c", hash: "old", ready: true}, {name: "pd", node: "d", hash: "old", ready: true},
			}},
		{name: "surge 1: surge pod available, old goes, next surge", ds: testDS(withSurge(1)),
			pods: []podState{
				{name: "pa", node: "a", hash: "old", ready: true}, {name: "pa2", node: "a", hash: "new", ready: true}, {name: "pb", node: "b", hash: "old", ready: true},
				{name: "pc", node: "c", hash: "old", ready: true}, {name: "pd", node: "d", hash: "old", ready: true},
			}, wantRemove: []string{"pa"}, wantCreate: []string{"b"}},
		{name: "surge: unavailable old pod replaced without using the surge", ds: testDS(withSurge(1)),
			pods: []podState{
				{name: "pa", node: "a", hash: "old", ready: true}, {name: "pb", node: "b", hash: "old"},
				{name: "pc", node: "c", hash: "old", ready: true}, {name: "pd", node: "d", hash: "old", ready: true},
			}, wantCreate: []string{"b", "a"}},
		{name: "OnDelete-like zero budget falls back to one", ds: testDS(withUnavailable(intstr.FromInt32(0))),
			pods: []podState{
				{name: "pa", node: "a", hash: "old", ready: true}, {name: "pb", node: "b", hash: "old", ready: true},
				{name: "pc", node: "c", hash: "old", ready: true}, {name: "pd", node: "d", hash: "old", ready: true},
			}, wantRemove: []string{"pa"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodeToPods := map[string][]*corev1.Pod{}
			for _, s := range tt.pods {
				nodeToPods[s.node] = append(nodeToPods[s.node], mkPod(s))
			}
			ns := nodes
			if tt.nodes != nil {
				ns = tt.nodes
			}
			plan, err := planRollingUpdate(tt.ds, ns, nodeToPods, "new", now)
			if err != nil {
				t.Fatal(err)
			}
			if got := names(plan.remove); !slices.Equal(got, tt.wantRemove) {
				t.Errorf("remove = %v, want %v", got, tt.wantRemove)
			}
			if !slices.Equal(plan.create, tt.wantCreate) {
				t.Errorf("create = %v, want %v", plan.create, tt.wantCreate)
			}
		})
	}
}

func TestComputeStatus(t *testing.T) {
	ds := testDS(func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.NodeSelector = map[string]string{"role": "worker"}
		ds.Spec.MinReadySeconds = 10
	})
	worker := withLabel("role", "worker")
	nodes := []*corev1.Node{testNode("a", worker), testNode("b", worker), testNode("c", worker), testNode("d", worker), testNode("e")}
	nodeToPods := map[string][]*corev1.Pod{
		"a": {mkPod(podState{name: "pa", node: "a", hash: "new", ready: true, since: time.Minute})},
		"b": {mkPod(podState{name: "pb", node: "b", hash: "old", ready: true, since: time.Second})},
		"c": {mkPod(podState{name: "pc", node: "c", hash: "new"})},
		// d has none; e should not run one but does
		"e": {mkPod(podState{name: "pe", node: "e", hash: "new", ready: true})},
		// a pod for a node that is gone is not counted
		"gone": {mkPod(podState{name: "px", node: "gone", hash: "new", ready: true})},
	}
	got := computeStatus(ds, nodes, nodeToPods, "new", now)
	want := appsv1.DaemonSetStatus{
		DesiredNumberScheduled: 4, CurrentNumberScheduled: 3, NumberMisscheduled: 1,
		NumberReady: 2, NumberAvailable: 1, UpdatedNumberScheduled: 2, NumberUnavailable: 3,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("status = %+v\nwant     %+v", got, want)
	}
}
