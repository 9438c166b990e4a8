package garbagecollector

import (
	"slices"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// resourceInfo says where an object lives: its resource, kind and scope.
type resourceInfo struct {
	gvr        schema.GroupVersionResource
	kind       string
	namespaced bool
}

// node is what the graph keeps of one object: enough to find it, its owners,
// and the deletion state that drives foreground and orphan deletion.
type node struct {
	res             *resourceInfo
	namespace, name string
	uid             types.UID
	resourceVersion string
	owners          []metav1.OwnerReference
	finalizers      []string
	deleting        bool // deletionTimestamp set
}

func (n *node) hasFinalizer(f string) bool { return slices.Contains(n.finalizers, f) }

// deletingDependents: deleted in the foreground, waiting for its blocking
// dependents to go.
func (n *node) deletingDependents() bool {
	return n.deleting && n.hasFinalizer(metav1.FinalizerDeleteDependents)
}

// orphaning: deleted with the orphan policy, waiting for its dependents to
// lose their reference to it.
func (n *node) orphaning() bool {
	return n.deleting && n.hasFinalizer(metav1.FinalizerOrphanDependents)
}

func (n *node) key() string {
	if n.namespace == "" {
		return n.res.gvr.Resource + "/" + n.name
	}
	return n.res.gvr.Resource + "/" + n.namespace + "/" + n.name
}

// work is what an event asks of the workers: objects whose owners must be
// checked (and which may have to be deleted, or whose foreground deletion may
// be finished), and owners whose dependents must be orphaned.
type work struct {
	attemptToDelete []types.UID
	attemptToOrphan []types.UID
}

// absentKey names an owner looked up and not found: by UID, in the namespace
// it was looked up in, since a namespaced dependent only sees owners of its own
// namespace.
type absentKey struct {
	uid       types.UID
	namespace string
}

// maxAbsent bounds the cache of known-absent owners. UIDs are never reused, so
// entries never go stale; dropping them all only costs lookups.
const maxAbsent = 10000

// graph indexes every observed object by UID and its dependents by owner UID,
// so an owner's deletion finds its dependents without a scan. Owners that are
// referenced but not (yet) observed simply have an entry in dependents and none
// in nodes.
type graph struct {
	mu         sync.Mutex
	nodes      map[types.UID]*node
	dependents map[types.UID]map[types.UID]struct{}
	absent     map[absentKey]struct{}
}

func newGraph() *graph {
	return &graph{
		nodes:      map[types.UID]*node{},
		dependents: map[types.UID]map[types.UID]struct{}{},
		absent:     map[absentKey]struct{}{},
	}
}

// upsert records an added or updated object and says what to look at.
func (g *graph) upsert(n *node) work {
	g.mu.Lock()
	defer g.mu.Unlock()
	var w work
	old := g.nodes[n.uid]
	g.nodes[n.uid] = n

	var oldOwners []metav1.OwnerReference
	if old != nil {
		oldOwners = old.owners
	}
	added, removed, unblocked := ownerDiff(oldOwners, n.owners)
	for _, o := range removed {
		g.unlink(o.UID, n.uid)
	}
	for _, o := range added {
		g.link(o.UID, n.uid)
	}
	// Owners waiting for this dependent may now be free to go.
	for _, o := range append(removed, unblocked...) {
		if owner := g.nodes[o.UID]; owner != nil && owner.deletingDependents() {
			w.attemptToDelete = append(w.attemptToDelete, o.UID)
		}
	}
	// A new reference to an owner we have not seen, or to one being deleted in
	// the foreground, needs a look: the owner may be gone or about to be.
	if old == nil || len(added) > 0 {
		for _, o := range n.owners {
			owner := g.nodes[o.UID]
			if owner == nil || owner.deletingDependents() {
				w.attemptToDelete = append(w.attemptToDelete, n.uid)
				break
			}
		}
	}
	if n.orphaning() && (old == nil || !old.orphaning()) {
		w.attemptToOrphan = append(w.attemptToOrphan, n.uid)
	}
	if n.deletingDependents() && (old == nil || !old.deletingDependents()) {
		w.attemptToDelete = append(w.attemptToDelete, n.uid)
		for dep := range g.dependents[n.uid] {
			w.attemptToDelete = append(w.attemptToDelete, dep)
		}
	}
	return w
}

// remove records a deleted object. Its dependents now have an absent owner;
// its owners, if deleted in the foreground, may be done waiting. markAbsent is
// false when the object only dropped out of sight (its resource is no longer
// served) rather than was deleted.
func (g *graph) remove(uid types.UID, markAbsent bool) work {
	g.mu.Lock()
	defer g.mu.Unlock()
	var w work
	n := g.nodes[uid]
	if n == nil {
		return w
	}
	delete(g.nodes, uid)
	for _, o := range n.owners {
		g.unlink(o.UID, uid)
		if owner := g.nodes[o.UID]; owner != nil && owner.deletingDependents() {
			w.attemptToDelete = append(w.attemptToDelete, o.UID)
		}
	}
	deps := g.dependents[uid]
	if len(deps) > 0 && markAbsent {
		g.addAbsent(absentKey{uid, n.namespace})
	}
	for dep := range deps {
		w.attemptToDelete = append(w.attemptToDelete, dep)
	}
	return w
}

func (g *graph) link(owner, dep types.UID) {
	deps := g.dependents[owner]
	if deps == nil {
		deps = map[types.UID]struct{}{}
		g.dependents[owner] = deps
	}
	deps[dep] = struct{}{}
}

func (g *graph) unlink(owner, dep types.UID) {
	if deps := g.dependents[owner]; deps != nil {
		delete(deps, dep)
		if len(deps) == 0 {
			delete(g.dependents, owner)
		}
	}
}

func (g *graph) addAbsent(k absentKey) {
	if len(g.absent) >= maxAbsent {
		clear(g.absent)
	}
	g.absent[k] = struct{}{}
}

func (g *graph) markAbsent(k absentKey) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.addAbsent(k)
}

func (g *graph) isAbsent(k absentKey) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	_, ok := g.absent[k]
	return ok
}

// get returns the object's node (never modified once stored: updates replace
// it), whether it has dependents, and whether it is in the graph.
func (g *graph) get(uid types.UID) (*node, bool, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, ok := g.nodes[uid]
	return n, len(g.dependents[uid]) > 0, ok
}

// dependentsOf returns the observed dependents of owner.
func (g *graph) dependentsOf(owner types.UID) []*node {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*node
	for uid := range g.dependents[owner] {
		if n := g.nodes[uid]; n != nil {
			out = append(out, n)
		}
	}
	return out
}

// blockingDependents are the observed dependents whose reference to owner has
// blockOwnerDeletion: a foreground deletion waits for them.
func (g *graph) blockingDependents(owner types.UID) []*node {
	var out []*node
	for _, n := range g.dependentsOf(owner) {
		for _, o := range n.owners {
			if o.UID == owner && o.BlockOwnerDeletion != nil && *o.BlockOwnerDeletion {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

// ownerDiff compares two ownerReferences lists by UID: references added,
// removed, and kept but no longer blocking the owner's deletion.
func ownerDiff(old, cur []metav1.OwnerReference) (added, removed, unblocked []metav1.OwnerReference) {
	find := func(list []metav1.OwnerReference, uid types.UID) *metav1.OwnerReference {
		for i := range list {
			if list[i].UID == uid {
				return &list[i]
			}
		}
		return nil
	}
	blocks := func(r *metav1.OwnerReference) bool { return r.BlockOwnerDeletion != nil && *r.BlockOwnerDeletion }
	for i := range cur {
		o := find(old, cur[i].UID)
		switch {
		case o == nil:
			added = append(added, cur[i])
		case blocks(o) && !blocks(&cur[i]):
			unblocked = append(unblocked, cur[i])
		}
	}
	for i := range old {
		if find(cur, old[i].UID) == nil {
			removed = append(removed, old[i])
		}
	}
	return added, removed, unblocked
}
