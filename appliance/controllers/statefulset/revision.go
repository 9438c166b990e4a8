package statefulset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"reflect"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/util/retry"
)

// A StatefulSet's history is a ControllerRevision per pod template, named
// <set>-<hash>; the name is the pods' controller-revision-hash label and what
// status.currentRevision and status.updateRevision hold. Data is the strategic
// merge patch that puts the template back ({"spec":{"template":{...,
// "$patch":"replace"}}}): the controller applies it to build the set at a
// revision, and `kubectl rollout history/undo sts` read and apply the same.

// revisionData is the patch stored in a revision of set.
func revisionData(set *appsv1.StatefulSet) ([]byte, error) {
	raw, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, err
	}
	spec, _ := obj["spec"].(map[string]any)
	template, _ := spec["template"].(map[string]any)
	if template == nil {
		template = map[string]any{}
	}
	template["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": template}})
}

// hashRevision is Kubernetes' HashControllerRevision: FNV-32 over the data,
// then the collision count, in the alphabet of generated names.
func hashRevision(data []byte, collisionCount *int32) string {
	h := fnv.New32()
	h.Write(data)
	if collisionCount != nil {
		h.Write([]byte(strconv.FormatInt(int64(*collisionCount), 10)))
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// newRevision builds (does not create) the revision of set's current template
// with number revision: labelled with the template's labels (so the set's
// selector finds it) and the hash, controlled by set.
func newRevision(set *appsv1.StatefulSet, revision int64, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	data, err := revisionData(set)
	if err != nil {
		return nil, err
	}
	lbls := maps.Clone(set.Spec.Template.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	hash := hashRevision(data, collisionCount)
	lbls[appsv1.ControllerRevisionHashLabelKey] = hash
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            revisionName(set.Name, hash),
			Namespace:       set.Namespace,
			Labels:          lbls,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: revision,
	}, nil
}

// revisionName keeps <prefix>-<hash> within a name's 253 characters, as
// Kubernetes' ControllerRevisionName does.
func revisionName(prefix, hash string) string {
	if len(prefix) > 223 {
		prefix = prefix[:223]
	}
	return prefix + "-" + hash
}

// equalRevision: same hash label and same data (byte for byte, or the same
// JSON once parsed).
func equalRevision(a, b *appsv1.ControllerRevision) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Labels[appsv1.ControllerRevisionHashLabelKey] != b.Labels[appsv1.ControllerRevisionHashLabelKey] {
		return false
	}
	return sameJSON(a.Data.Raw, b.Data.Raw)
}

func sameJSON(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// sortRevisions orders by revision number, then creation, then name, as
// Kubernetes' SortControllerRevisions.
func sortRevisions(revs []*appsv1.ControllerRevision) {
	sort.SliceStable(revs, func(i, j int) bool {
		a, b := revs[i], revs[j]
		if a.Revision != b.Revision {
			return a.Revision < b.Revision
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return a.Name < b.Name
	})
}

func nextRevision(sorted []*appsv1.ControllerRevision) int64 {
	if len(sorted) == 0 {
		return 1
	}
	return sorted[len(sorted)-1].Revision + 1
}

// applyRevision returns set with the template of revision.
func applyRevision(set *appsv1.StatefulSet, revision *appsv1.ControllerRevision) (*appsv1.StatefulSet, error) {
	raw, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	patched, err := strategicpatch.StrategicMergePatch(raw, revision.Data.Raw, &appsv1.StatefulSet{})
	if err != nil {
		return nil, fmt.Errorf("apply revision %s: %w", revision.Name, err)
	}
	out := &appsv1.StatefulSet{}
	if err := json.Unmarshal(patched, out); err != nil {
		return nil, err
	}
	return out, nil
}

// revisionStore is what getRevisions needs from the API: tests fake it.
type revisionStore interface {
	createRevision(ctx context.Context, set *appsv1.StatefulSet, rev *appsv1.ControllerRevision, collisionCount *int32) (*appsv1.ControllerRevision, error)
	renumberRevision(ctx context.Context, rev *appsv1.ControllerRevision, revision int64) (*appsv1.ControllerRevision, error)
	deleteRevision(ctx context.Context, rev *appsv1.ControllerRevision) error
}

// getRevisions returns the current and update revisions of set (sorted holds
// the set's revisions, oldest first) and the collision count to record, as
// Kubernetes' getStatefulSetRevisions:
//   - the update revision is the set's template: the newest revision if it
//     holds it, an older one renumbered to be the newest if it does (a
//     rollback), else a new revision;
//   - the current revision is status.currentRevision, or the update revision
//     for a set that has none yet.
func getRevisions(ctx context.Context, store revisionStore, set *appsv1.StatefulSet, sorted []*appsv1.ControllerRevision) (current, update *appsv1.ControllerRevision, collisionCount int32, err error) {
	if set.Status.CollisionCount != nil {
		collisionCount = *set.Status.CollisionCount
	}
	update, err = newRevision(set, nextRevision(sorted), &collisionCount)
	if err != nil {
		return nil, nil, collisionCount, err
	}
	var equal []*appsv1.ControllerRevision
	for _, r := range sorted {
		if sameJSON(r.Data.Raw, update.Data.Raw) {
			equal = append(equal, r)
		}
	}
	switch {
	case len(equal) > 0 && equal[len(equal)-1] == sorted[len(sorted)-1]:
		update = sorted[len(sorted)-1]
	case len(equal) > 0:
		update, err = store.renumberRevision(ctx, equal[len(equal)-1], update.Revision)
	default:
		update, err = store.createRevision(ctx, set, update, &collisionCount)
	}
	if err != nil {
		return nil, nil, collisionCount, err
	}
	for _, r := range sorted {
		if r.Name == set.Status.CurrentRevision {
			current = r
			break
		}
	}
	if current == nil {
		current = update
	}
	return current, update, collisionCount, nil
}

// truncateHistory deletes the oldest revisions that no pod uses and that are
// neither current nor update, beyond revisionHistoryLimit.
func truncateHistory(ctx context.Context, store revisionStore, set *appsv1.StatefulSet, pods []*corev1.Pod, sorted []*appsv1.ControllerRevision, current, update *appsv1.ControllerRevision) error {
	live := map[string]bool{}
	if current != nil {
		live[current.Name] = true
	}
	if update != nil {
		live[update.Name] = true
	}
	for _, p := range pods {
		live[revisionOf(p)] = true
	}
	var history []*appsv1.ControllerRevision
	for _, r := range sorted {
		if !live[r.Name] {
			history = append(history, r)
		}
	}
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	if limit < 0 || len(history) <= limit {
		return nil
	}
	for _, r := range history[:len(history)-limit] {
		if err := store.deleteRevision(ctx, r); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// apiRevisions is the revisionStore of the controller.
type apiRevisions struct{ c *Controller }

// createRevision creates rev; on a name collision with another template it
// bumps collisionCount and tries the next name, as Kubernetes'
// CreateControllerRevision.
func (s apiRevisions) createRevision(ctx context.Context, set *appsv1.StatefulSet, rev *appsv1.ControllerRevision, collisionCount *int32) (*appsv1.ControllerRevision, error) {
	client := s.c.client.AppsV1().ControllerRevisions(set.Namespace)
	for {
		hash := hashRevision(rev.Data.Raw, collisionCount)
		clone := rev.DeepCopy()
		clone.Name = revisionName(set.Name, hash)
		clone.Labels[appsv1.ControllerRevisionHashLabelKey] = hash
		created, err := client.Create(ctx, clone, metav1.CreateOptions{})
		if !apierrors.IsAlreadyExists(err) {
			return created, err
		}
		existing, getErr := client.Get(ctx, clone.Name, metav1.GetOptions{})
		if getErr != nil {
			return nil, getErr
		}
		if equalRevision(existing, clone) && metav1.IsControlledBy(existing, set) {
			return existing, nil
		}
		*collisionCount++
	}
}

func (s apiRevisions) renumberRevision(ctx context.Context, rev *appsv1.ControllerRevision, revision int64) (*appsv1.ControllerRevision, error) {
	client := s.c.client.AppsV1().ControllerRevisions(rev.Namespace)
	upd := rev.DeepCopy()
	var out *appsv1.ControllerRevision
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if upd.Revision == revision {
			out = upd
			return nil
		}
		upd.Revision = revision
		var err error
		out, err = client.Update(ctx, upd, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			if fresh, getErr := client.Get(ctx, rev.Name, metav1.GetOptions{}); getErr == nil {
				upd = fresh
			}
		}
		return err
	})
	return out, err
}

func (s apiRevisions) deleteRevision(ctx context.Context, rev *appsv1.ControllerRevision) error {
	return s.c.client.AppsV1().ControllerRevisions(rev.Namespace).Delete(ctx, rev.Name, metav1.DeleteOptions{})
}
