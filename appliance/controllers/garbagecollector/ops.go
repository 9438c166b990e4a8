package garbagecollector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
)

// attemptDelete looks at one object: if it is being deleted in the foreground,
// whether its blocking dependents are all gone; otherwise whether its owners
// still exist, deleting it or trimming its references accordingly.
func (c *Controller) attemptDelete(ctx context.Context, uid types.UID) error {
	n, hasDependents, ok := c.graph.get(uid)
	if !ok {
		return nil
	}
	// Being deleted is a one-way trip: wait for the deletion event, which
	// queues the object's dependents.
	if n.deleting && !n.deletingDependents() {
		return nil
	}
	if n.deletingDependents() {
		return c.finishForeground(ctx, n)
	}
	if len(n.owners) == 0 {
		return nil
	}
	states := make([]ownerState, len(n.owners))
	for i, ref := range n.owners {
		s, err := c.ownerState(ctx, n, ref)
		if err != nil {
			return err
		}
		states[i] = s
	}
	v := decide(n, states, hasDependents)
	switch {
	case len(v.removeOwners) > 0:
		c.log.Debug("removing references to deleted owners", "object", n.key(), "owners", v.removeOwners)
		return c.removeOwnerRefs(ctx, n, v.removeOwners)
	case v.delete:
		c.log.Debug("deleting object whose owners are gone", "object", n.key(), "propagation", v.policy)
		return c.deleteObject(ctx, n, v.policy)
	}
	return nil
}

// ownerState resolves one owner reference of dependent d, from the graph when
// the owner has been observed and from the API server otherwise.
func (c *Controller) ownerState(ctx context.Context, d *node, ref metav1.OwnerReference) (ownerState, error) {
	if owner, _, ok := c.graph.get(ref.UID); ok {
		switch {
		case owner.res.namespaced && d.namespace == "":
			c.warnUnresolvable(d, ref)
			return unresolvable, nil
		case owner.res.namespaced && owner.namespace != d.namespace:
			// Owners are looked for in the dependent's namespace only;
			// Kubernetes treats a cross-namespace reference as absent.
			return dangling, nil
		case owner.deletingDependents():
			return waiting, nil
		default:
			return solid, nil
		}
	}
	res, err := c.monitors.resourceFor(ctx, ref.APIVersion, ref.Kind)
	if err != nil {
		return solid, err
	}
	ns := ""
	if res.namespaced {
		if d.namespace == "" {
			c.warnUnresolvable(d, ref)
			return unresolvable, nil
		}
		ns = d.namespace
	}
	key := absentKey{ref.UID, ns}
	if c.graph.isAbsent(key) {
		return dangling, nil
	}
	owner, err := c.meta.Resource(res.gvr).Namespace(ns).Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		c.graph.markAbsent(key)
		return dangling, nil
	case err != nil:
		return solid, fmt.Errorf("look up owner %s %s: %w", ref.Kind, ref.Name, err)
	case owner.UID != ref.UID:
		// Same name, another object: the owner was deleted and replaced.
		c.graph.markAbsent(key)
		return dangling, nil
	case owner.DeletionTimestamp != nil && slices.Contains(owner.Finalizers, metav1.FinalizerDeleteDependents):
		return waiting, nil
	default:
		return solid, nil
	}
}

func (c *Controller) warnUnresolvable(d *node, ref metav1.OwnerReference) {
	c.warnedMu.Lock()
	defer c.warnedMu.Unlock()
	if c.warned[d.uid] {
		return
	}
	if len(c.warned) > maxAbsent {
		clear(c.warned)
	}
	c.warned[d.uid] = true
	c.log.Warn("cluster-scoped object names a namespaced owner; it will not be garbage collected",
		"object", d.key(), "owner-kind", ref.Kind, "owner", ref.Name)
}

// finishForeground removes the foregroundDeletion finalizer of owner n once no
// dependent blocks it, and otherwise makes sure each blocking dependent is on
// its way out.
func (c *Controller) finishForeground(ctx context.Context, n *node) error {
	blocking := c.graph.blockingDependents(n.uid)
	if len(blocking) == 0 {
		c.log.Info("foreground deletion done, removing finalizer", "object", n.key())
		return c.removeFinalizer(ctx, n, metav1.FinalizerDeleteDependents)
	}
	for _, dep := range blocking {
		if !dep.deletingDependents() {
			c.attemptToDelete.Add(dep.uid)
		}
	}
	return nil
}

// orphanDependents removes the reference to owner uid from all its dependents,
// then the owner's orphan finalizer.
func (c *Controller) orphanDependents(ctx context.Context, uid types.UID) error {
	owner, _, ok := c.graph.get(uid)
	if !ok || !owner.orphaning() {
		return nil
	}
	var errs []error
	for _, dep := range c.graph.dependentsOf(uid) {
		if err := c.removeOwnerRefs(ctx, dep, []types.UID{uid}); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.log.Info("dependents orphaned, removing finalizer", "object", owner.key())
	return c.removeFinalizer(ctx, owner, metav1.FinalizerOrphanDependents)
}

// jsonPatchOp is one RFC 6902 operation.
type jsonPatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
}

// removeOwnerRefs removes the references to owners from n. The JSON patch
// tests the object's UID and each removed entry's UID first, so it applies to
// exactly what the graph saw, without a resourceVersion precondition that
// unrelated updates (a pod's status) would keep failing. A failed test means
// our view is stale: the error retries once the informer has caught up.
func (c *Controller) removeOwnerRefs(ctx context.Context, n *node, owners []types.UID) error {
	ops := []jsonPatchOp{{Op: "test", Path: "/metadata/uid", Value: n.uid}}
	for i := len(n.owners) - 1; i >= 0; i-- {
		if !slices.Contains(owners, n.owners[i].UID) {
			continue
		}
		p := fmt.Sprintf("/metadata/ownerReferences/%d", i)
		ops = append(ops, jsonPatchOp{Op: "test", Path: p + "/uid", Value: n.owners[i].UID}, jsonPatchOp{Op: "remove", Path: p})
	}
	if len(ops) == 1 {
		return nil
	}
	return c.patch(ctx, n, ops)
}

// removeFinalizer removes finalizer f from n the same way. An object being
// deleted whose last finalizer goes is then deleted by the API server.
func (c *Controller) removeFinalizer(ctx context.Context, n *node, f string) error {
	i := slices.Index(n.finalizers, f)
	if i < 0 {
		return nil
	}
	p := fmt.Sprintf("/metadata/finalizers/%d", i)
	return c.patch(ctx, n, []jsonPatchOp{
		{Op: "test", Path: "/metadata/uid", Value: n.uid},
		{Op: "test", Path: p, Value: f},
		{Op: "remove", Path: p},
	})
}

func (c *Controller) patch(ctx context.Context, n *node, ops []jsonPatchOp) error {
	body, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	_, err = c.client(n).Patch(ctx, n.name, types.JSONPatchType, body, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("patch %s: %w", n.key(), err)
	}
	return nil
}

// deleteObject deletes n if it is still the object the decision was made on:
// same UID, and same resourceVersion or, when only something unrelated
// changed, the same owners (as Kubernetes does, so frequent status updates do
// not starve the collector).
func (c *Controller) deleteObject(ctx context.Context, n *node, policy metav1.DeletionPropagation) error {
	uid, rv := n.uid, n.resourceVersion
	opts := metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &uid, ResourceVersion: &rv},
		PropagationPolicy: &policy,
	}
	err := c.client(n).Delete(ctx, n.name, opts)
	if apierrors.IsConflict(err) {
		live, getErr := c.client(n).Get(ctx, n.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(getErr):
			return nil
		case getErr != nil:
			return getErr
		case live.UID != uid:
			return nil
		case !apiequality.Semantic.DeepEqual(live.OwnerReferences, n.owners):
			return fmt.Errorf("delete %s: owners changed meanwhile", n.key())
		}
		opts.Preconditions.ResourceVersion = nil
		err = c.client(n).Delete(ctx, n.name, opts)
	}
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", n.key(), err)
	}
	return nil
}

func (c *Controller) client(n *node) metadata.ResourceInterface {
	r := c.meta.Resource(n.res.gvr)
	if n.res.namespaced {
		return r.Namespace(n.namespace)
	}
	return r
}
