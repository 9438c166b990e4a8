package controllerutil

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// Claimer decides which objects (pods of a ReplicaSet, ReplicaSets of a
// Deployment) belong to one controller object, adopting and releasing through
// ControllerRef as Kubernetes' ControllerRefManager does:
//   - controlled by someone else: not ours, never touched;
//   - controlled by Owner: ours while the selector matches, released (the
//     ownerReference removed) once it stops matching, unless Owner is being
//     deleted (then the garbage collector decides);
//   - orphan: adopted if the selector matches and neither side is being deleted.
//
// ControllerRef is the source of truth and the selector only proposes: two
// controllers with overlapping selectors never fight over an object.
type Claimer[T metav1.Object] struct {
	Owner    metav1.Object
	OwnerGVK schema.GroupVersionKind
	Selector labels.Selector
	// CanAdopt is asked once, before the first adoption of a Claim: adoption
	// must not happen if Owner was deleted after the cache was read, or the
	// adopted objects would outlive it (Kubernetes rechecks with a quorum read).
	CanAdopt func(ctx context.Context) error
	// Patch applies a strategic merge patch to obj.
	Patch func(ctx context.Context, obj T, patch []byte) error
}

// Claim returns the objects among objs that belong to the owner, adopting and
// releasing on the way. Objects that could not be adopted are left out; errors
// are joined and returned with the claimed list.
func (c *Claimer[T]) Claim(ctx context.Context, objs []T) ([]T, error) {
	var claimed []T
	var errs []error
	var once sync.Once
	var adoptErr error
	canAdopt := func() error {
		once.Do(func() {
			if c.CanAdopt != nil {
				adoptErr = c.CanAdopt(ctx)
			}
		})
		return adoptErr
	}
	owning := c.Owner.GetDeletionTimestamp() != nil
	for _, obj := range objs {
		match := c.Selector.Matches(labels.Set(obj.GetLabels()))
		if ref := metav1.GetControllerOfNoCopy(obj); ref != nil {
			if ref.UID != c.Owner.GetUID() {
				continue
			}
			if match {
				claimed = append(claimed, obj)
				continue
			}
			if owning {
				continue
			}
			if err := c.Patch(ctx, obj, ReleasePatch(c.Owner.GetUID(), obj.GetUID())); err != nil && !gone(err) {
				errs = append(errs, fmt.Errorf("release %s: %w", obj.GetName(), err))
			}
			continue
		}
		if owning || !match || obj.GetDeletionTimestamp() != nil || obj.GetNamespace() != c.Owner.GetNamespace() {
			continue
		}
		if err := canAdopt(); err != nil {
			errs = append(errs, fmt.Errorf("adopt %s: %w", obj.GetName(), err))
			continue
		}
		err := c.Patch(ctx, obj, AdoptPatch(c.Owner, c.OwnerGVK, obj.GetUID()))
		switch {
		case err == nil:
			claimed = append(claimed, obj)
		case gone(err):
		default:
			errs = append(errs, fmt.Errorf("adopt %s: %w", obj.GetName(), err))
		}
	}
	return claimed, errors.Join(errs...)
}

// gone: the object was deleted, or replaced by one with another UID (the UID
// in the patch then fails validation).
func gone(err error) bool { return apierrors.IsNotFound(err) || apierrors.IsInvalid(err) }

// RecheckDeletion builds a CanAdopt that reads owner afresh (not from the
// cache) and refuses adoption when it is gone, replaced or being deleted.
func RecheckDeletion(uid types.UID, get func(ctx context.Context) (metav1.Object, error)) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		fresh, err := get(ctx)
		if err != nil {
			return err
		}
		if fresh.GetUID() != uid {
			return fmt.Errorf("%s/%s is gone: uid is now %s, wanted %s", fresh.GetNamespace(), fresh.GetName(), fresh.GetUID(), uid)
		}
		if fresh.GetDeletionTimestamp() != nil {
			return fmt.Errorf("%s/%s is being deleted", fresh.GetNamespace(), fresh.GetName())
		}
		return nil
	}
}

type patchMeta struct {
	Metadata struct {
		OwnerReferences []any     `json:"ownerReferences"`
		UID             types.UID `json:"uid"`
	} `json:"metadata"`
}

// AdoptPatch is the strategic merge patch that adds owner as controller of the
// object with uid. ownerReferences merge by uid, so other owners stay; the
// object's own uid makes the patch fail if the object was replaced meanwhile.
func AdoptPatch(owner metav1.Object, gvk schema.GroupVersionKind, uid types.UID) []byte {
	var p patchMeta
	p.Metadata.OwnerReferences = []any{metav1.NewControllerRef(owner, gvk)}
	p.Metadata.UID = uid
	b, _ := json.Marshal(p)
	return b
}

// ReleasePatch is the strategic merge patch that removes the ownerReference
// with ownerUID from the object with uid.
func ReleasePatch(ownerUID, uid types.UID) []byte {
	var p patchMeta
	p.Metadata.OwnerReferences = []any{map[string]any{"$patch": "delete", "uid": ownerUID}}
	p.Metadata.UID = uid
	b, _ := json.Marshal(p)
	return b
}
