package daemonset

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"reflect"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/dump"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/appliance/appliance/appliance/controllers/controllerutil"
)

// A DaemonSet's history is a ControllerRevision per pod template it has had,
// named <daemonset>-<hash> and labelled controller-revision-hash=<hash>, which
// is also the label of the pods made from it. Data is the strategic merge patch
// that restores the template: `kubectl rollout history` reads it, and
// `kubectl rollout undo` applies it, so its shape is Kubernetes'.

// computeHash is the template hash Kubernetes computes (controller.ComputeHash):
// FNV-32a over a stable dump of the template, plus collisionCount once a name
// collision forced it, in the alphabet of generated names.
func computeHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%v", dump.ForHash(*template))
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// revisionData is the patch stored in a revision: {"spec":{"template":{...,
// "$patch":"replace"}}}, the template replacing whatever the DaemonSet has.
func revisionData(ds *appsv1.DaemonSet) ([]byte, error) {
	raw, err := json.Marshal(ds)
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

// revisionMatches: history holds ds's current template. The bytes are what
// Kubernetes compares; a semantic comparison covers a revision written by a
// serializer that orders or spaces differently.
func revisionMatches(ds *appsv1.DaemonSet, history *appsv1.ControllerRevision) (bool, error) {
	want, err := revisionData(ds)
	if err != nil {
		return false, err
	}
	if bytes.Equal(want, history.Data.Raw) {
		return true, nil
	}
	if len(history.Data.Raw) == 0 {
		return false, nil
	}
	var a, b any
	if json.Unmarshal(want, &a) != nil || json.Unmarshal(history.Data.Raw, &b) != nil {
		return false, nil
	}
	return reflect.DeepEqual(a, b), nil
}

func maxRevision(histories []*appsv1.ControllerRevision) int64 {
	var m int64
	for _, h := range histories {
		m = max(m, h.Revision)
	}
	return m
}

// controlledHistories claims the DaemonSet's ControllerRevisions: its own, and
// orphans matching its selector (adopted), as Kubernetes does.
func (c *Controller) controlledHistories(ctx context.Context, ds *appsv1.DaemonSet) ([]*appsv1.ControllerRevision, error) {
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, err
	}
	all, err := c.historyLister.ControllerRevisions(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	cl := controllerutil.Claimer[*appsv1.ControllerRevision]{
		Owner: ds, OwnerGVK: controllerKind, Selector: selector,
		CanAdopt: c.recheckDeletion(ds),
		Patch: func(ctx context.Context, h *appsv1.ControllerRevision, patch []byte) error {
			_, err := c.client.AppsV1().ControllerRevisions(h.Namespace).Patch(ctx, h.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}
	return cl.Claim(ctx, all)
}

// constructHistory returns the revision of ds's current template (made if it
// does not exist yet, and renumbered to be the newest if it is an old one come
// back, as after `kubectl rollout undo`) and the older revisions.
func (c *Controller) constructHistory(ctx context.Context, ds *appsv1.DaemonSet) (cur *appsv1.ControllerRevision, old []*appsv1.ControllerRevision, err error) {
	histories, err := c.controlledHistories(ctx, ds)
	if err != nil {
		return nil, nil, err
	}
	var current []*appsv1.ControllerRevision
	for _, h := range histories {
		if _, ok := h.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; !ok {
			// Revisions from before the hash label: label them with their
			// name, which is unique, instead of recomputing a hash.
			upd := h.DeepCopy()
			if upd.Labels == nil {
				upd.Labels = map[string]string{}
			}
			upd.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = upd.Name
			if h, err = c.client.AppsV1().ControllerRevisions(ds.Namespace).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
				return nil, nil, err
			}
		}
		match, err := revisionMatches(ds, h)
		if err != nil {
			return nil, nil, err
		}
		if match {
			current = append(current, h)
		} else {
			old = append(old, h)
		}
	}
	next := maxRevision(old) + 1
	if len(current) == 0 {
		cur, err = c.snapshot(ctx, ds, next)
		return cur, old, err
	}
	if cur, err = c.dedupCurrent(ctx, ds, current); err != nil {
		return nil, nil, err
	}
	if cur.Revision < next {
		upd := cur.DeepCopy()
		upd.Revision = next
		if cur, err = c.client.AppsV1().ControllerRevisions(ds.Namespace).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return nil, nil, err
		}
	}
	return cur, old, nil
}

// dedupCurrent keeps the newest of several revisions holding the current
// template, moves the pods of the others to its hash, and deletes them.
func (c *Controller) dedupCurrent(ctx context.Context, ds *appsv1.DaemonSet, current []*appsv1.ControllerRevision) (*appsv1.ControllerRevision, error) {
	keep := current[0]
	for _, h := range current[1:] {
		if h.Revision >= keep.Revision {
			keep = h
		}
	}
	if len(current) == 1 {
		return keep, nil
	}
	hash := keep.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]
	pods, err := c.claimPods(ctx, ds)
	if err != nil {
		return nil, err
	}
	for _, pod := range pods {
		if pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
			continue
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: hash}}})
		if _, err := c.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	for _, h := range current {
		if h.Name == keep.Name {
			continue
		}
		if err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, h.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return nil, err
		}
	}
	return keep, nil
}

// snapshot creates the revision of ds's current template. A revision of that
// name holding another template is a hash collision: collisionCount is bumped
// in the status (so the next hash differs) and the sync retried.
func (c *Controller) snapshot(ctx context.Context, ds *appsv1.DaemonSet, revision int64) (*appsv1.ControllerRevision, error) {
	data, err := revisionData(ds)
	if err != nil {
		return nil, err
	}
	hash := computeHash(&ds.Spec.Template, ds.Status.CollisionCount)
	lbls := maps.Clone(ds.Spec.Template.Labels)
	if lbls == nil {
		lbls = map[string]string{}
	}
	lbls[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	h := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ds.Name + "-" + hash,
			Namespace:       ds.Namespace,
			Labels:          lbls,
			Annotations:     maps.Clone(ds.Annotations),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
		},
		Data:     runtime.RawExtension{Raw: data},
		Revision: revision,
	}
	created, err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Create(ctx, h, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return created, err
	}
	existing, getErr := c.client.AppsV1().ControllerRevisions(ds.Namespace).Get(ctx, h.Name, metav1.GetOptions{})
	if getErr != nil {
		return nil, getErr
	}
	if match, _ := revisionMatches(ds, existing); match && metav1.IsControlledBy(existing, ds) {
		return existing, nil
	}
	fresh, getErr := c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	if getErr != nil {
		return nil, getErr
	}
	if !reflect.DeepEqual(fresh.Status.CollisionCount, ds.Status.CollisionCount) {
		return nil, fmt.Errorf("stale collisionCount of DaemonSet %s/%s, retrying", ds.Namespace, ds.Name)
	}
	n := int32(0)
	if fresh.Status.CollisionCount != nil {
		n = *fresh.Status.CollisionCount
	}
	n++
	fresh.Status.CollisionCount = &n
	if _, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{}); err != nil {
		return nil, err
	}
	c.log.Info("hash collision, bumping collisionCount", "daemon-set", keyOf(ds), "collision-count", n)
	return nil, fmt.Errorf("revision %s exists with another template: %w", h.Name, err)
}

// cleanupHistory deletes the oldest revisions beyond revisionHistoryLimit,
// never one that still has pods.
func (c *Controller) cleanupHistory(ctx context.Context, ds *appsv1.DaemonSet, old []*appsv1.ControllerRevision, nodeToPods map[string][]*corev1.Pod) error {
	limit := 10
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	toKill := len(old) - limit
	if toKill <= 0 {
		return nil
	}
	live := map[string]bool{}
	for _, pods := range nodeToPods {
		for _, pod := range pods {
			if h := pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; h != "" {
				live[h] = true
			}
		}
	}
	sorted := append([]*appsv1.ControllerRevision(nil), old...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Revision < sorted[j].Revision })
	for _, h := range sorted {
		if toKill <= 0 {
			break
		}
		if live[h.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] {
			continue
		}
		if err := c.client.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, h.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		toKill--
	}
	return nil
}
