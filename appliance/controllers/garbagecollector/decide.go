package garbagecollector

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ownerState is what an owner reference resolves to.
type ownerState int

const (
	// solid: the owner exists and is not being deleted in the foreground.
	solid ownerState = iota
	// dangling: no object with that UID where the dependent can see it.
	dangling
	// waiting: the owner is being deleted in the foreground, waiting for its
	// dependents.
	waiting
	// unresolvable: the reference cannot be checked (a cluster-scoped
	// dependent naming a namespaced kind); Kubernetes then leaves the
	// dependent alone, and so do we.
	unresolvable
)

// verdict is what to do with a dependent.
type verdict struct {
	// removeOwners are references to patch away (the dependent stays).
	removeOwners []types.UID
	// delete the dependent, with this propagation policy.
	delete bool
	policy metav1.DeletionPropagation
}

// decide follows Kubernetes' garbage collector (attemptToDeleteItem):
//   - a dependent with at least one solid owner stays; references to dangling
//     owners and to owners deleted in the foreground are removed, so neither
//     waits on it nor keeps pointing nowhere;
//   - otherwise, if an owner waits for its dependents and this dependent has
//     dependents of its own, it is deleted in the foreground too, so the wait
//     spans the whole tree;
//   - otherwise it is deleted, honouring an orphan or foreground finalizer it
//     already carries, in the background by default.
//
// states holds the state of each of d.owners, in order.
func decide(d *node, states []ownerState, hasDependents bool) verdict {
	var stays bool
	var gone, waitingOwners []types.UID
	for i, s := range states {
		switch s {
		case solid, unresolvable:
			stays = true
		case dangling:
			gone = append(gone, d.owners[i].UID)
		case waiting:
			waitingOwners = append(waitingOwners, d.owners[i].UID)
		}
	}
	switch {
	case stays:
		return verdict{removeOwners: append(gone, waitingOwners...)}
	case len(gone) == 0 && len(waitingOwners) == 0:
		return verdict{}
	case len(waitingOwners) > 0 && hasDependents:
		return verdict{delete: true, policy: metav1.DeletePropagationForeground}
	case d.hasFinalizer(metav1.FinalizerOrphanDependents):
		return verdict{delete: true, policy: metav1.DeletePropagationOrphan}
	case d.hasFinalizer(metav1.FinalizerDeleteDependents):
		return verdict{delete: true, policy: metav1.DeletePropagationForeground}
	default:
		return verdict{delete: true, policy: metav1.DeletePropagationBackground}
	}
}
