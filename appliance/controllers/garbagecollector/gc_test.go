package garbagecollector

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

var (
	configMaps = &resourceInfo{gvr: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, kind: "ConfigMap", namespaced: true}
	tru        = true
)

func ref(uid string, block bool) metav1.OwnerReference {
	r := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "owner-" + uid, UID: types.UID(uid)}
	if block {
		r.BlockOwnerDeletion = &tru
	}
	return r
}

func obj(uid string, owners ...metav1.OwnerReference) *node {
	return &node{res: configMaps, namespace: "ns", name: "cm-" + uid, uid: types.UID(uid), owners: owners}
}

func foreground(n *node) *node {
	n.deleting, n.finalizers = true, []string{metav1.FinalizerDeleteDependents}
	return n
}

func TestDecide(t *testing.T) {
	for _, tc := range []struct {
		name          string
		node          *node
		states        []ownerState
		hasDependents bool
		want          verdict
	}{
		{name: "solid owner keeps it", node: obj("d", ref("a", false)), states: []ownerState{solid}, want: verdict{}},
		{name: "dangling owner deletes in background", node: obj("d", ref("a", false)), states: []ownerState{dangling},
			want: verdict{delete: true, policy: metav1.DeletePropagationBackground}},
		{name: "one owner left drops the dangling reference", node: obj("d", ref("a", false), ref("b", false)),
			states: []ownerState{dangling, solid}, want: verdict{removeOwners: []types.UID{"a"}}},
		{name: "solid owner drops the waiting owner's reference", node: obj("d", ref("a", true), ref("b", false)),
			states: []ownerState{waiting, solid}, want: verdict{removeOwners: []types.UID{"a"}}},
		{name: "waiting owner, no dependents: background", node: obj("d", ref("a", true)), states: []ownerState{waiting},
			want: verdict{delete: true, policy: metav1.DeletePropagationBackground}},
		{name: "waiting owner, own dependents: foreground", node: obj("d", ref("a", true)), states: []ownerState{waiting},
			hasDependents: true, want: verdict{delete: true, policy: metav1.DeletePropagationForeground}},
		{name: "orphan finalizer honoured", node: func() *node {
			n := obj("d", ref("a", false))
			n.finalizers = []string{metav1.FinalizerOrphanDependents}
			return n
		}(), states: []ownerState{dangling}, want: verdict{delete: true, policy: metav1.DeletePropagationOrphan}},
		{name: "unresolvable reference keeps it", node: obj("d", ref("a", false)), states: []ownerState{unresolvable}, want: verdict{}},
		{name: "no owners", node: obj("d"), states: nil, want: verdict{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decide(tc.node, tc.states, tc.hasDependents)
			if got.delete != tc.want.delete || got.policy != tc.want.policy || !slices.Equal(got.removeOwners, tc.want.removeOwners) {
				t.Errorf("decide = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func uids(list []types.UID) []string {
	out := make([]string, len(list))
	for i, u := range list {
		out[i] = string(u)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestGraph(t *testing.T) {
	type step struct {
		upsert *node
		remove string
		// wanted work
		deletes, orphans []string
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{name: "dependent of an unseen owner is checked", steps: []step{
			{upsert: obj("d", ref("a", false)), deletes: []string{"d"}},
		}},
		{name: "dependent of a seen owner waits", steps: []step{
			{upsert: obj("a")},
			{upsert: obj("d", ref("a", false))},
			{upsert: obj("d", ref("a", false))},
		}},
		{name: "owner deleted: dependents checked", steps: []step{
			{upsert: obj("a")},
			{upsert: obj("d1", ref("a", false))},
			{upsert: obj("d2", ref("a", true))},
			{upsert: obj("x")},
			{remove: "a", deletes: []string{"d1", "d2"}},
			{remove: "a"},
		}},
		{name: "foreground deletion starts: owner and dependents checked", steps: []step{
			{upsert: obj("a")},
			{upsert: obj("d1", ref("a", true))},
			{upsert: obj("d2", ref("a", false))},
			{upsert: foreground(obj("a")), deletes: []string{"a", "d1", "d2"}},
			{upsert: foreground(obj("a"))},
			{remove: "d1", deletes: []string{"a"}},
		}},
		{name: "dependent added to a foreground-deleting owner is checked", steps: []step{
			{upsert: foreground(obj("a")), deletes: []string{"a"}},
			{upsert: obj("d", ref("a", true)), deletes: []string{"d"}},
		}},
		{name: "reference unblocked or removed frees the owner", steps: []step{
			{upsert: foreground(obj("a")), deletes: []string{"a"}},
			{upsert: obj("b")},
			{upsert: obj("d", ref("a", true), ref("b", false)), deletes: []string{"d"}},
			{upsert: obj("d", ref("a", false), ref("b", false)), deletes: []string{"a"}},
			{upsert: obj("d", ref("b", false)), deletes: []string{"a"}},
		}},
		{name: "orphan deletion starts once", steps: []step{
			{upsert: obj("a")},
			{upsert: func() *node {
				n := obj("a")
				n.deleting, n.finalizers = true, []string{metav1.FinalizerOrphanDependents}
				return n
			}(), orphans: []string{"a"}},
			{upsert: func() *node {
				n := obj("a")
				n.deleting, n.finalizers = true, []string{metav1.FinalizerOrphanDependents}
				return n
			}()},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGraph()
			for i, s := range tc.steps {
				var w work
				if s.upsert != nil {
					w = g.upsert(s.upsert)
				} else {
					w = g.remove(types.UID(s.remove), true)
				}
				if got := uids(w.attemptToDelete); !slices.Equal(got, s.deletes) && !(len(got) == 0 && len(s.deletes) == 0) {
					t.Errorf("step %d: attemptToDelete = %v, want %v", i, got, s.deletes)
				}
				if got := uids(w.attemptToOrphan); !slices.Equal(got, s.orphans) && !(len(got) == 0 && len(s.orphans) == 0) {
					t.Errorf("step %d: attemptToOrphan = %v, want %v", i, got, s.orphans)
				}
			}
		})
	}
}

func TestGraphIndexes(t *testing.T) {
	g := newGraph()
	g.upsert(obj("a"))
	g.upsert(obj("d1", ref("a", true)))
	g.upsert(obj("d2", ref("a", false)))
	if got := len(g.dependentsOf("a")); got != 2 {
		t.Errorf("dependents of a = %d, want 2", got)
	}
	if got := g.blockingDependents("a"); len(got) != 1 || got[0].uid != "d1" {
		t.Errorf("blocking dependents of a = %v, want d1", got)
	}
	g.upsert(obj("d1")) // reference dropped
	g.remove("d2", true)
	if got := len(g.dependentsOf("a")); got != 0 {
		t.Errorf("dependents of a after updates = %d, want 0", got)
	}
	if len(g.dependents) != 0 {
		t.Errorf("dependents index keeps %d empty entries", len(g.dependents))
	}
	g.upsert(obj("d3", ref("a", false)))
	g.remove("a", true)
	if !g.isAbsent(absentKey{"a", "ns"}) {
		t.Error("deleted owner with dependents not remembered as absent")
	}
}

func TestOwnerDiff(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		old, cur                  []metav1.OwnerReference
		added, removed, unblocked []string
	}{
		{name: "same", old: []metav1.OwnerReference{ref("a", true)}, cur: []metav1.OwnerReference{ref("a", true)}},
		{name: "added", cur: []metav1.OwnerReference{ref("a", false)}, added: []string{"a"}},
		{name: "removed", old: []metav1.OwnerReference{ref("a", false), ref("b", false)}, cur: []metav1.OwnerReference{ref("b", false)}, removed: []string{"a"}},
		{name: "unblocked", old: []metav1.OwnerReference{ref("a", true)}, cur: []metav1.OwnerReference{ref("a", false)}, unblocked: []string{"a"}},
		{name: "blocked is no change for owners", old: []metav1.OwnerReference{ref("a", false)}, cur: []metav1.OwnerReference{ref("a", true)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, r, u := ownerDiff(tc.old, tc.cur)
			names := func(refs []metav1.OwnerReference) []string {
				var out []string
				for _, x := range refs {
					out = append(out, string(x.UID))
				}
				return out
			}
			if !slices.Equal(names(a), tc.added) || !slices.Equal(names(r), tc.removed) || !slices.Equal(names(u), tc.unblocked) {
				t.Errorf("ownerDiff = %v %v %v, want %v %v %v", names(a), names(r), names(u), tc.added, tc.removed, tc.unblocked)
			}
		})
	}
}

func TestDeletable(t *testing.T) {
	all := []string{"get", "list", "watch", "delete", "create", "patch"}
	lists := []*metav1.APIResourceList{
		{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "configmaps", Kind: "ConfigMap", Namespaced: true, Verbs: all},
			{Name: "pods/status", Kind: "Pod", Namespaced: true, Verbs: []string{"get", "patch"}},
			{Name: "events", Kind: "Event", Namespaced: true, Verbs: all},
			{Name: "nodes", Kind: "Node", Verbs: all},
			{Name: "bindings", Kind: "Binding", Namespaced: true, Verbs: []string{"create"}},
		}},
		{GroupVersion: "events.k8s.io/v1", APIResources: []metav1.APIResource{{Name: "events", Kind: "Event", Namespaced: true, Verbs: all}}},
		{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{{Name: "deployments", Kind: "Deployment", Namespaced: true, Verbs: all}}},
	}
	watch, kinds := deletable(lists)
	var got []string
	for _, r := range watch {
		got = append(got, r.gvr.String())
	}
	want := []string{"/v1, Resource=configmaps", "/v1, Resource=nodes", "apps/v1, Resource=deployments"}
	if !slices.Equal(got, want) {
		t.Errorf("watched = %v, want %v", got, want)
	}
	if r := kinds[schema.GroupKind{Group: "apps", Kind: "Deployment"}]; r == nil || !r.namespaced || r.gvr.Resource != "deployments" {
		t.Errorf("kind Deployment maps to %+v", r)
	}
	if r := kinds[schema.GroupKind{Kind: "Node"}]; r == nil || r.namespaced {
		t.Errorf("kind Node maps to %+v", r)
	}
	if _, ok := kinds[schema.GroupKind{Kind: "Binding"}]; ok {
		t.Error("kind Binding (create only) is mapped")
	}
}
