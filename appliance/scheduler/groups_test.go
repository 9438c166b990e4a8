package scheduler

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestGroupsFollowTheCache: the pod groups that inter-pod affinity and spread
// count with are kept up to date as the cache assumes, confirms and forgets
// pods, so each cycle sees the pods placed by the ones before it.
func TestGroupsFollowTheCache(t *testing.T) {
	c := newCache(func(*corev1.Pod) int32 { return 0 })
	for _, n := range []string{"a", "b", "c"} {
		c.setNode(mkNode(n, "4", "8Gi", withLabels("zone", "z-"+n)))
	}
	s, st := &Snapshot{}, &snapshotState{}
	anti := func(name string) *corev1.Pod {
		return mkPod(name, "100m", "", podLabels("app", "db"), affinity(&corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term(corev1.LabelHostname, "app", "db")},
		}}))
	}
	used := map[string]*corev1.Pod{}
	for i := range 3 {
		c.updateSnapshot(s, st)
		pod := anti(fmt.Sprintf("db-%d", i))
		d := s.Schedule(pod)
		if d.Node == "" || used[d.Node] != nil {
			t.Fatalf("db-%d: node %q (%s)", i, d.Node, d.Message)
		}
		used[d.Node] = pod
		c.assume(pod, d.Node, d.info)
		checkGroups(t, s)
	}
	c.updateSnapshot(s, st)
	checkGroups(t, s)
	d := s.Schedule(anti("db-3"))
	if want := "0/3 nodes are available: 3 node(s) didn't satisfy existing pods anti-affinity rules."; !strings.HasPrefix(d.Message, want) {
		t.Fatalf("fourth pod: node %q, message %q, want %q", d.Node, d.Message, want)
	}

	// The informer confirms one, a binding fails for another: its node is free.
	bound := used["a"].DeepCopy()
	bound.Spec.NodeName = "a"
	c.addPod(bound)
	c.forget(used["b"].UID)
	c.updateSnapshot(s, st)
	checkGroups(t, s)
	if d := s.Schedule(anti("db-4")); d.Node != "b" {
		t.Fatalf("after forget: node %q (%s), want b", d.Node, d.Message)
	}
}

// checkGroups compares the snapshot's incrementally kept groups with groups
// built from scratch.
func checkGroups(t *testing.T, s *Snapshot) {
	t.Helper()
	got := s.groups
	if got == nil {
		return
	}
	want := newPodGroups()
	for _, ni := range s.Nodes {
		want.addNode(ni)
	}
	for name, pair := range map[string][2]map[string]*podGroup{"labels": {got.byLabels, want.byLabels}, "affinity": {got.byAffinity, want.byAffinity}} {
		if len(pair[0]) != len(pair[1]) {
			t.Errorf("%s groups: %d, want %d", name, len(pair[0]), len(pair[1]))
		}
		for k, w := range pair[1] {
			if g := pair[0][k]; g == nil || !maps.Equal(g.byNode, w.byNode) {
				t.Errorf("%s group %q: got %v, want %v", name, k, g, w.byNode)
			}
		}
	}
}
