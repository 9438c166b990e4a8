package deployment

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/appliance/appliance/appliance/controllers/controllerutil"
)

// sync reconciles one Deployment.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	cached, err := c.dLister.Deployments(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.forgetWritten(key)
		return nil
	}
	if err != nil {
		return err
	}
	d := cached.DeepCopy()
	if sel := d.Spec.Selector; sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		// Validation forbids it; a Deployment that selects every pod would
		// fight every other controller, so it is left alone, loudly.
		c.recorder.Eventf(d, corev1.EventTypeWarning, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.")
		if d.Status.ObservedGeneration < d.Generation {
			d.Status.ObservedGeneration = d.Generation
			return c.updateStatus(ctx, d)
		}
		return nil
	}
	rsList, err := c.claimReplicaSets(ctx, d)
	if err != nil {
		return err
	}
	if c.cacheBehind(key, rsList) {
		// The informer will bring the write (and an event that requeues us);
		// the delayed add is a safety net only.
		c.queue.AddAfter(key, time.Second)
		return nil
	}
	if d.DeletionTimestamp != nil {
		return c.syncStatusOnly(ctx, d, rsList)
	}
	if err := c.checkPausedConditions(ctx, d); err != nil {
		return err
	}
	if d.Spec.Paused {
		return c.syncScale(ctx, d, rsList)
	}
	scaling, err := c.isScalingEvent(ctx, d, rsList)
	if err != nil {
		return err
	}
	if scaling {
		return c.syncScale(ctx, d, rsList)
	}
	switch d.Spec.Strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		return c.rolloutRecreate(ctx, d, rsList)
	case appsv1.RollingUpdateDeploymentStrategyType:
		return c.rolloutRolling(ctx, d, rsList)
	}
	return fmt.Errorf("unexpected deployment strategy type %q", d.Spec.Strategy.Type)
}

// claimReplicaSets returns deep copies of the ReplicaSets d owns, after
// adopting and releasing. Copies, because a sync updates them in place as it
// writes them.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	selector, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector: %w", err)
	}
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	claimer := controllerutil.Claimer[*appsv1.ReplicaSet]{
		Owner:    d,
		OwnerGVK: controllerKind,
		Selector: selector,
		CanAdopt: controllerutil.RecheckDeletion(d.UID, func(ctx context.Context) (metav1.Object, error) {
			return c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		}),
		Patch: func(ctx context.Context, rs *appsv1.ReplicaSet, patch []byte) error {
			_, err := c.client.AppsV1().ReplicaSets(rs.Namespace).Patch(ctx, rs.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}
	claimed, err := claimer.Claim(ctx, all)
	out := make([]*appsv1.ReplicaSet, len(claimed))
	for i, rs := range claimed {
		out[i] = rs.DeepCopy()
	}
	return out, err
}

// findNewReplicaSet is the oldest ReplicaSet whose template is d's (oldest: a
// cache that once produced a duplicate must still pick one deterministically).
func findNewReplicaSet(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	sorted := append([]*appsv1.ReplicaSet(nil), rsList...)
	sortByCreation(sorted)
	for _, rs := range sorted {
		if EqualIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

// allReplicaSets splits rsList into the new ReplicaSet (created when create is
// set and none exists) and the old ones, and brings revisions up to date: the
// new ReplicaSet gets max(old revisions)+1 if it has less, and the Deployment
// carries the new ReplicaSet's revision.
func (c *Controller) allReplicaSets(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, []*appsv1.ReplicaSet, error) {
	existing := findNewReplicaSet(d, rsList)
	var old []*appsv1.ReplicaSet
	for _, rs := range rsList {
		if existing == nil || rs.UID != existing.UID {
			old = append(old, rs)
		}
	}
	newRS, err := c.newReplicaSet(ctx, d, existing, old, create)
	return newRS, old, err
}

func (c *Controller) newReplicaSet(ctx context.Context, d *appsv1.Deployment, existing *appsv1.ReplicaSet, old []*appsv1.ReplicaSet, create bool) (*appsv1.ReplicaSet, error) {
	newRevision := maxRevision(old) + 1
	now := c.now()
	if existing != nil {
		rsCopy := existing.DeepCopy()
		annotationsChanged := setNewRSAnnotations(d, rsCopy, newRevision, true)
		if annotationsChanged || rsCopy.Spec.MinReadySeconds != d.Spec.MinReadySeconds {
			rsCopy.Spec.MinReadySeconds = d.Spec.MinReadySeconds
			updated, err := c.client.AppsV1().ReplicaSets(rsCopy.Namespace).Update(ctx, rsCopy, metav1.UpdateOptions{})
			if err != nil {
				return nil, err
			}
			c.noteWritten(keyOf(d), updated)
			*existing = *updated
			rsCopy = existing.DeepCopy()
		}
		if err := c.setDeploymentRevision(ctx, d, rsCopy.Annotations[RevisionAnnotation]); err != nil {
			return nil, err
		}
		// A Deployment that never had a Progressing condition (its deadline was
		// just set) starts counting from now.
		if hasProgressDeadline(d) && getCondition(d.Status, conditionProgressing) == nil {
			setCondition(&d.Status, newCondition(conditionProgressing, corev1.ConditionTrue, ReasonFoundNewRS,
				fmt.Sprintf("Found new replica set %q", existing.Name), now))
			if err := c.updateStatus(ctx, d); err != nil {
				return nil, err
			}
		}
		return existing, nil
	}
	if !create {
		return nil, nil
	}

	hash := ComputeHash(&d.Spec.Template, d.Status.CollisionCount)
	template := d.Spec.Template.DeepCopy()
	template.Labels = withLabel(d.Spec.Template.Labels, PodTemplateHashLabel, hash)
	selector := d.Spec.Selector.DeepCopy()
	selector.MatchLabels = withLabel(selector.MatchLabels, PodTemplateHashLabel, hash)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Name:            d.Name + "-" + hash,
			Namespace:       d.Namespace,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(d, controllerKind)},
			Labels:          template.Labels,
		},
		Spec: appsv1.ReplicaSetSpec{
			Replicas:        new(int32),
			MinReadySeconds: d.Spec.MinReadySeconds,
			Selector:        selector,
			Template:        *template,
		},
	}
	size, err := newRSReplicas(d, append(append([]*appsv1.ReplicaSet(nil), old...), rs), rs)
	if err != nil {
		return nil, err
	}
	*rs.Spec.Replicas = size
	setNewRSAnnotations(d, rs, newRevision, false)

	created, err := c.client.AppsV1().ReplicaSets(d.Namespace).Create(ctx, rs, metav1.CreateOptions{})
	alreadyExisted := false
	switch {
	case apierrors.IsAlreadyExists(err):
		// A slow cache, or a hash collision. Read it from the API server: if it is
		// ours with our template, it is the new ReplicaSet; otherwise bump
		// collisionCount so the next sync computes another name.
		got, getErr := c.client.AppsV1().ReplicaSets(d.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
		if getErr != nil {
			return nil, getErr
		}
		if ref := metav1.GetControllerOfNoCopy(got); ref != nil && ref.UID == d.UID && EqualIgnoreHash(&d.Spec.Template, &got.Spec.Template) {
			created, err, alreadyExisted = got, nil, true
			break
		}
		if d.Status.CollisionCount == nil {
			d.Status.CollisionCount = new(int32)
		}
		*d.Status.CollisionCount++
		if uerr := c.updateStatus(ctx, d); uerr == nil {
			c.log.Info("pod-template-hash collision", "deployment", keyOf(d), "replica-set", rs.Name,
				"collision-count", *d.Status.CollisionCount)
		}
		return nil, err
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return nil, err
	case err != nil:
		msg := fmt.Sprintf("Failed to create new replica set %q: %v", rs.Name, err)
		if hasProgressDeadline(d) {
			setCondition(&d.Status, newCondition(conditionProgressing, corev1.ConditionFalse, ReasonFailedRSCreate, msg, now))
			_ = c.updateStatus(ctx, d) // the create error is the one to report
		}
		c.recorder.Event(d, corev1.EventTypeWarning, ReasonFailedRSCreate, msg)
		return nil, err
	}
	c.noteWritten(keyOf(d), created)
	if !alreadyExisted && size > 0 {
		c.recorder.Eventf(d, corev1.EventTypeNormal, scalingReplicaSetEventName, "Scaled up replica set %s from 0 to %d", created.Name, size)
	}
	if err := c.setDeploymentRevision(ctx, d, strconv.FormatInt(newRevision, 10)); err != nil {
		return nil, err
	}
	if !alreadyExisted && hasProgressDeadline(d) {
		setCondition(&d.Status, newCondition(conditionProgressing, corev1.ConditionTrue, ReasonNewRSCreated,
			fmt.Sprintf("Created new replica set %q", created.Name), now))
		if err := c.updateStatus(ctx, d); err != nil {
			return nil, err
		}
	}
	return created, nil
}

func withLabel(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

// setDeploymentRevision records rev in the Deployment's revision annotation.
// Kubernetes writes it with the /status update; our /status (like the
// ReplicaSet's) keeps metadata as stored, so it is a merge patch of the one
// annotation, which cannot clobber a concurrent change.
func (c *Controller) setDeploymentRevision(ctx context.Context, d *appsv1.Deployment, rev string) error {
	if rev == "" || d.Annotations[RevisionAnnotation] == rev {
		return nil
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{RevisionAnnotation: rev}}})
	updated, err := c.client.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return err
	}
	if updated.UID != d.UID {
		return fmt.Errorf("deployment %s was replaced", keyOf(d))
	}
	// Only the annotations and resourceVersion: the stored spec may already be
	// newer than the one this sync acts on, and observedGeneration must not
	// claim a generation whose template was never looked at.
	d.Annotations = updated.Annotations
	d.ResourceVersion = updated.ResourceVersion
	return nil
}

// updateStatus writes d.Status through /status and carries the stored object
// (new resourceVersion) on in d.
func (c *Controller) updateStatus(ctx context.Context, d *appsv1.Deployment) error {
	updated, err := c.client.AppsV1().Deployments(d.Namespace).UpdateStatus(ctx, d, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	*d = *updated
	return nil
}

// scaleReplicaSet sets rs's size to n (and its replica annotations to d's
// current ones), recording a ScalingReplicaSet event when the size changed. rs
// is updated in place with the stored object.
func (c *Controller) scaleReplicaSet(ctx context.Context, d *appsv1.Deployment, rs *appsv1.ReplicaSet, n int32, op string) (bool, error) {
	want := replicasOf(d.Spec.Replicas)
	sizeChanged := replicasOf(rs.Spec.Replicas) != n
	rsCopy := rs.DeepCopy()
	annotationsChanged := setReplicasAnnotations(rsCopy, want, want+maxSurgeOf(d))
	if !sizeChanged && !annotationsChanged {
		return false, nil
	}
	from := replicasOf(rs.Spec.Replicas)
	rsCopy.Spec.Replicas = &n
	updated, err := c.client.AppsV1().ReplicaSets(rsCopy.Namespace).Update(ctx, rsCopy, metav1.UpdateOptions{})
	if err != nil {
		return false, err
	}
	c.noteWritten(keyOf(d), updated)
	*rs = *updated
	if sizeChanged {
		if op == "" {
			op = "up"
			if n < from {
				op = "down"
			}
		}
		c.recorder.Eventf(d, corev1.EventTypeNormal, scalingReplicaSetEventName, "Scaled %s replica set %s from %d to %d", op, rs.Name, from, n)
	}
	return sizeChanged, nil
}

// isScalingEvent: some active ReplicaSet was sized for another spec.replicas
// than the Deployment's now, i.e. the user scaled (kubectl scale, HPA).
func (c *Controller) isScalingEvent(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (bool, error) {
	newRS, old, err := c.allReplicaSets(ctx, d, rsList, false)
	if err != nil {
		return false, err
	}
	for _, rs := range activeSets(append(old, newRS)) {
		desired, ok := replicasAnnotation(rs, DesiredReplicasAnnotation)
		if ok && desired != replicasOf(d.Spec.Replicas) {
			return true, nil
		}
	}
	return false, nil
}

// syncScale handles scaling events and paused Deployments: sizes change, the
// template rollout does not move.
func (c *Controller) syncScale(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := c.allReplicaSets(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	if err := c.scale(ctx, d, newRS, old); err != nil {
		return err
	}
	if d.Spec.Paused {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncStatus(ctx, d, append(old, newRS), newRS)
}

// scale resizes the ReplicaSets for a new spec.replicas: the only active one
// (or the newest) takes it all; a saturated new one means the old ones go to 0;
// otherwise, during a rolling update, every active ReplicaSet grows or shrinks
// in proportion to its size (Kubernetes' proportional scaling), so a scale in the
// middle of a rollout neither speeds it up nor loses its progress.
func (c *Controller) scale(ctx context.Context, d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) error {
	want := replicasOf(d.Spec.Replicas)
	if rs := activeOrLatest(newRS, old); rs != nil {
		// Also when only its replica annotations are behind: otherwise every
		// sync would see the same scaling event and the rollout never resume.
		_, err := c.scaleReplicaSet(ctx, d, rs, want, "")
		return err
	}
	if isSaturated(d, newRS) {
		for _, rs := range activeSets(old) {
			if _, err := c.scaleReplicaSet(ctx, d, rs, 0, ""); err != nil {
				return err
			}
		}
		return nil
	}
	if !isRollingUpdate(d) {
		return nil
	}
	active := activeSets(append(append([]*appsv1.ReplicaSet(nil), old...), newRS))
	sizes, op := proportionalSizes(d, active)
	for _, rs := range active {
		if _, err := c.scaleReplicaSet(ctx, d, rs, sizes[rs.Name], op); err != nil {
			return err
		}
	}
	return nil
}

// cleanup deletes the oldest ReplicaSets beyond revisionHistoryLimit, only
// those with no pods left and whose status is current.
func (c *Controller) cleanup(ctx context.Context, d *appsv1.Deployment, old []*appsv1.ReplicaSet) error {
	if !hasRevisionHistoryLimit(d) {
		return nil
	}
	var alive []*appsv1.ReplicaSet
	for _, rs := range old {
		if rs != nil && rs.DeletionTimestamp == nil {
			alive = append(alive, rs)
		}
	}
	diff := len(alive) - int(*d.Spec.RevisionHistoryLimit)
	if diff <= 0 {
		return nil
	}
	sortByRevision(alive)
	for _, rs := range alive[:diff] {
		if rs.Status.Replicas != 0 || replicasOf(rs.Spec.Replicas) != 0 || rs.Generation > rs.Status.ObservedGeneration {
			continue
		}
		c.log.Debug("deleting old replica set", "deployment", keyOf(d), "replica-set", rs.Name, "revision", revision(rs))
		if err := c.client.AppsV1().ReplicaSets(rs.Namespace).Delete(ctx, rs.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// syncStatusOnly: a Deployment being deleted gets its status, nothing else.
func (c *Controller) syncStatusOnly(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := c.allReplicaSets(ctx, d, rsList, false)
	if err != nil {
		return err
	}
	return c.syncStatus(ctx, d, append(old, newRS), newRS)
}

// checkPausedConditions sets Progressing to Unknown with DeploymentPaused or
// DeploymentResumed, so that the time spent paused never counts towards the
// progress deadline. A timed-out condition is left as it is.
func (c *Controller) checkPausedConditions(ctx context.Context, d *appsv1.Deployment) error {
	if !hasProgressDeadline(d) {
		return nil
	}
	cond := getCondition(d.Status, conditionProgressing)
	if cond != nil && cond.Reason == ReasonTimedOut {
		return nil
	}
	pausedCond := cond != nil && cond.Reason == ReasonPaused
	switch {
	case d.Spec.Paused && !pausedCond:
		setCondition(&d.Status, newCondition(conditionProgressing, corev1.ConditionUnknown, ReasonPaused, "Deployment is paused", c.now()))
	case !d.Spec.Paused && pausedCond:
		setCondition(&d.Status, newCondition(conditionProgressing, corev1.ConditionUnknown, ReasonResumed, "Deployment is resumed", c.now()))
	default:
		return nil
	}
	return c.updateStatus(ctx, d)
}
