package job

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/controllers/controllerutil"
)

// syncCtx is what one sync of a Job works with.
type syncCtx struct {
	job    *batchv1.Job
	pods   []*corev1.Pod // claimed: controlled by the Job
	active []*corev1.Pod
	// succeeded and failed include the pods finished since the last count.
	succeeded, failed int32
	ready             int32
	terminating       int32
	uncounted         uncountedSets
	expectedRemovals  sets.Set[string]
	// finished is the condition the Job is heading for, nil while it runs.
	finished             *batchv1.JobCondition
	prevSucceededIndexes intervals
	succeededIndexes     intervals
	backoff              backoffRecord
}

// sync brings one Job closer to what its spec asks.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	shared, err := c.jobLister.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.Delete(key)
		c.finalizers.forget(key)
		c.backoff.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if managedElsewhere(shared) {
		// spec.managedBy hands the Job to another controller (Kueue, ...).
		return nil
	}
	if isFinished(shared) {
		c.backoff.forget(key)
		return c.syncFinished(ctx, shared)
	}
	job := shared.DeepCopy()
	if m := job.Spec.CompletionMode; m != nil && *m != batchv1.NonIndexedCompletion && *m != batchv1.IndexedCompletion {
		c.recorder.Event(job, corev1.EventTypeWarning, "UnknownCompletionMode", "Skipped Job sync because completion mode is unknown")
		return nil
	}
	if job.Status.UncountedTerminatedPods == nil {
		job.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	orig := job.Status.DeepCopy()

	// Expectations first: a pod created after this check only delays the
	// decision to the next sync, never doubles it.
	satisfied := c.expectations.Satisfied(key)
	pods, err := c.claimPods(ctx, job)
	if err != nil {
		return err
	}
	sc := &syncCtx{
		job:              job,
		pods:             pods,
		uncounted:        newUncountedSets(job.Status.UncountedTerminatedPods),
		expectedRemovals: c.finalizers.get(key),
	}
	for _, p := range pods {
		switch {
		case controllerutil.IsPodActive(p):
			sc.active = append(sc.active, p)
			if controllerutil.IsPodReady(p) {
				sc.ready++
			}
		case p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed:
			sc.terminating++
		}
	}
	active := int32(len(sc.active))
	newSucceeded, newFailed := newlyFinished(sc)
	sc.succeeded = job.Status.Succeeded + int32(len(newSucceeded)) + int32(sc.uncounted.succeeded.Len())
	sc.failed = job.Status.Failed + int32(len(newFailed)) + int32(sc.uncounted.failed.Len())
	sc.backoff = c.backoff.get(key).next(newSucceeded, newFailed)

	now := c.clock.Now()
	if job.Status.StartTime == nil && !suspended(job) {
		t := metav1.NewTime(now)
		job.Status.StartTime = &t
	}

	// Is the Job done? Success already decided stays decided; then a
	// failure decided earlier; then the limits.
	if cond := findCondition(job.Status.Conditions, batchv1.JobSuccessCriteriaMet); cond != nil && cond.Status == corev1.ConditionTrue {
		sc.finished = cond.DeepCopy()
	} else if cond := findCondition(job.Status.Conditions, batchv1.JobFailureTarget); cond != nil && cond.Status == corev1.ConditionTrue {
		sc.finished = newCondition(batchv1.JobFailed, cond.Reason, cond.Message, now)
	} else if sc.failed > ptr.Deref(job.Spec.BackoffLimit, 6) || pastBackoffLimitOnFailure(job, pods) {
		sc.finished = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit", now)
	} else if left, ok := deadlineLeft(job, now); ok && left <= 0 {
		sc.finished = newCondition(batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline", now)
	} else if ok {
		c.queue.AddAfter(key, left)
	}

	if isIndexed(job) {
		sc.prevSucceededIndexes, sc.succeededIndexes = succeededIndexes(job, pods)
		sc.succeeded = int32(sc.succeededIndexes.total())
	}

	var manageErr error
	if sc.finished != nil {
		// Failing or succeeded: whatever still runs is stopped. The pods
		// keep their finalizer until trackStatus has counted them.
		deletedReady, deleted, err := c.deleteActive(ctx, job, sc.active)
		if deleted != active || !satisfied {
			// Some pod may still run, or the cache lacks one: decide later.
			sc.finished = nil
		}
		active -= deleted
		sc.terminating += deleted
		sc.ready -= deletedReady
		manageErr = err
	} else {
		managed := false
		if satisfied && job.DeletionTimestamp == nil {
			active, manageErr = c.manage(ctx, sc)
			managed = true
		}
		var complete bool
		if job.Spec.Completions == nil {
			// A work-queue Job: done once any pod succeeded and the others
			// have finished.
			complete = sc.succeeded > 0 && active == 0
		} else {
			complete = sc.succeeded >= *job.Spec.Completions && active == 0
		}
		switch {
		case complete:
			sc.finished = newCondition(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods", now)
		case managed && suspended(job):
			var changed bool
			job.Status.Conditions, changed = ensureCondition(job.Status.Conditions, batchv1.JobSuspended, corev1.ConditionTrue, "JobSuspended", "Job suspended", now)
			if changed {
				c.recorder.Event(job, corev1.EventTypeNormal, "Suspended", "Job suspended")
			}
		case managed:
			var changed bool
			job.Status.Conditions, changed = ensureCondition(job.Status.Conditions, batchv1.JobSuspended, corev1.ConditionFalse, "JobResumed", "Job resumed", now)
			if changed {
				c.recorder.Event(job, corev1.EventTypeNormal, "Resumed", "Job resumed")
				// activeDeadlineSeconds counts the time the Job has been
				// running continuously: a resumed Job starts afresh.
				t := metav1.NewTime(now)
				job.Status.StartTime = &t
			}
		}
	}

	job.Status.Active = active
	job.Status.Ready = ptr.To(max(sc.ready, 0))
	job.Status.Terminating = ptr.To(sc.terminating)
	needsFlush := job.Status.Active != orig.Active || !ptr.Equal(job.Status.Ready, orig.Ready) ||
		!ptr.Equal(job.Status.Terminating, orig.Terminating) || !ptr.Equal(job.Status.StartTime, orig.StartTime) ||
		!conditionsEqual(job.Status.Conditions, orig.Conditions)
	if err := c.trackStatus(ctx, sc, needsFlush); err != nil {
		return fmt.Errorf("track status: %w", err)
	}
	return manageErr
}

// newlyFinished returns the pods finished since the last count: still with
// their finalizer, not yet in the uncounted lists (for Indexed Jobs, only
// those with a valid index count).
func newlyFinished(sc *syncCtx) (succeeded, failed []*corev1.Pod) {
	completions := int(derefCompletions(sc.job))
	for _, p := range sc.pods {
		uid := string(p.UID)
		if !hasTrackingFinalizer(p) || sc.expectedRemovals.Has(uid) {
			continue
		}
		if isIndexed(sc.job) && !validIndex(p, completions) {
			continue
		}
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !sc.uncounted.succeeded.Has(uid):
			succeeded = append(succeeded, p)
		case isPodFailed(p, sc.job) && !sc.uncounted.failed.Has(uid):
			failed = append(failed, p)
		}
	}
	return succeeded, failed
}

// succeededIndexes returns the indexes counted before (status) and those
// counted now (adding the succeeded pods still holding their finalizer).
func succeededIndexes(job *batchv1.Job, pods []*corev1.Pod) (prev, now intervals) {
	completions := int(derefCompletions(job))
	prev = parseIntervals(job.Status.CompletedIndexes, completions)
	var fresh []int
	for _, p := range pods {
		if p.Status.Phase == corev1.PodSucceeded && hasTrackingFinalizer(p) && validIndex(p, completions) {
			fresh = append(fresh, completionIndex(p))
		}
	}
	return prev, prev.with(fresh)
}

// manage creates or deletes pods so that the right number is active, and
// returns the number active afterwards.
func (c *Controller) manage(ctx context.Context, sc *syncCtx) (int32, error) {
	job := sc.job
	key := keyOf(job)
	active := int32(len(sc.active))
	parallelism := ptr.Deref(job.Spec.Parallelism, 1)

	if suspended(job) {
		rm := removalCandidates(job, sc.active, len(sc.active))
		deletedReady, deleted, err := c.deletePods(ctx, job, rm)
		sc.terminating += deleted
		sc.ready -= deletedReady
		return active - deleted, err
	}

	var want int32
	if job.Spec.Completions == nil {
		// Work-queue Job: parallelism pods until one succeeds, then let the
		// others finish on their own.
		want = parallelism
		if sc.succeeded > 0 {
			want = active
		}
	} else {
		want = min(max(*job.Spec.Completions-sc.succeeded, 0), parallelism)
	}

	rm := removalCandidates(job, sc.active, int(max(active-want, 0)))
	if len(rm) > maxPodChangesPerSync {
		rm = rm[:maxPodChangesPerSync]
	}
	if len(rm) > 0 {
		// Deletions first; creations (for an Indexed Job that also lacks
		// indexes) wait for the next sync.
		deletedReady, deleted, err := c.deletePods(ctx, job, rm)
		sc.terminating += deleted
		sc.ready -= deletedReady
		return active - deleted, err
	}

	var waiting int32
	if onlyReplaceFailed(job) {
		waiting = sc.terminating
	}
	diff := want - waiting - active
	if diff <= 0 {
		return active, nil
	}
	if left := sc.backoff.remaining(c.clock.Now(), c.podBackoff, c.maxPodBackoff); left > 0 {
		c.queue.AddAfter(key, max(left, c.batchPeriod))
		return active, nil
	}
	diff = min(diff, maxPodChangesPerSync)
	var indexes []int
	if isIndexed(job) {
		busy := sc.active
		if onlyReplaceFailed(job) {
			for _, p := range sc.pods {
				if p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
					busy = append(busy, p)
				}
			}
		}
		indexes = pendingIndexes(sc.succeededIndexes, busy, int(diff), int(*job.Spec.Completions))
		diff = int32(len(indexes))
		if diff == 0 {
			return active, nil
		}
	}

	template := job.Spec.Template.DeepCopy()
	if isIndexed(job) {
		addIndexEnv(&template.Spec)
	}
	if !slices.Contains(template.Finalizers, batchv1.JobTrackingFinalizer) {
		template.Finalizers = append(template.Finalizers, batchv1.JobTrackingFinalizer)
	}
	c.expectations.ExpectCreations(key, int(diff))
	var next, attempted atomic.Int32
	created, err := controllerutil.SlowStartBatch(int(diff), 1, func() error {
		attempted.Add(1)
		index := noIndex
		if indexes != nil {
			index = indexes[next.Add(1)-1]
		}
		err := c.createPod(ctx, job, template, index)
		if err != nil {
			c.expectations.CreationObserved(key)
		}
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil // the namespace is going away; nothing to retry
		}
		return err
	})
	for range int(diff) - int(attempted.Load()) {
		// Never attempted after a failed batch: not expected either.
		c.expectations.CreationObserved(key)
	}
	return active + int32(created), err
}

// createPod creates one pod from the template, with the completion index
// when index is not noIndex.
func (c *Controller) createPod(ctx context.Context, job *batchv1.Job, template *corev1.PodTemplateSpec, index int) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    job.Name + "-",
			Namespace:       job.Namespace,
			Labels:          maps.Clone(template.Labels),
			Annotations:     maps.Clone(template.Annotations),
			Finalizers:      slices.Clone(template.Finalizers),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, controllerKind)},
		},
	}
	template.Spec.DeepCopyInto(&pod.Spec)
	if index != noIndex {
		ix := fmt.Sprint(index)
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		if pod.Labels == nil {
			pod.Labels = map[string]string{}
		}
		pod.Annotations[batchv1.JobCompletionIndexAnnotation] = ix
		pod.Labels[batchv1.JobCompletionIndexAnnotation] = ix
		pod.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, index)
		pod.GenerateName = indexedGenerateName(job.Name, index)
	}
	created, err := c.client.CoreV1().Pods(job.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.recorder.Eventf(job, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		}
		return fmt.Errorf("create pod for %s: %w", keyOf(job), err)
	}
	c.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", created.Name)
	c.log.Debug("created pod", "job", keyOf(job), "pod", created.Name, "completion-index", index)
	return nil
}

// deletePods deletes pods the Job no longer wants (scale down, suspend):
// their finalizer is removed first, so they do not count as failures.
func (c *Controller) deletePods(ctx context.Context, job *batchv1.Job, pods []*corev1.Pod) (deletedReady, deleted int32, err error) {
	if len(pods) == 0 {
		return 0, 0, nil
	}
	key := keyOf(job)
	podKeys := make([]string, len(pods))
	for i, p := range pods {
		podKeys[i] = controllerutil.PodKey(p)
	}
	c.expectations.ExpectDeletions(key, podKeys)
	return c.deleteEach(pods, func(p *corev1.Pod) error {
		if hasTrackingFinalizer(p) {
			if err := c.removeFinalizer(ctx, p); err != nil {
				c.expectations.DeletionObserved(key, controllerutil.PodKey(p))
				if apierrors.IsNotFound(err) {
					return nil
				}
				return err
			}
		}
		err := c.deletePodOf(ctx, job, p)
		if err != nil {
			c.expectations.DeletionObserved(key, controllerutil.PodKey(p))
		}
		return err
	})
}

// deleteActive deletes the still active pods of a finishing Job, keeping
// their finalizers: trackStatus counts them as failed, then lets them go.
func (c *Controller) deleteActive(ctx context.Context, job *batchv1.Job, pods []*corev1.Pod) (deletedReady, deleted int32, err error) {
	return c.deleteEach(pods, func(p *corev1.Pod) error { return c.deletePodOf(ctx, job, p) })
}

func (c *Controller) deletePodOf(ctx context.Context, job *batchv1.Job, p *corev1.Pod) error {
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
	switch {
	case err == nil:
		c.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", p.Name)
		return nil
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		return nil // gone, or replaced by another pod of the same name
	default:
		c.recorder.Eventf(job, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
		return fmt.Errorf("delete pod %s: %w", p.Name, err)
	}
}

// deleteEach runs del on every pod concurrently and counts the successes.
func (c *Controller) deleteEach(pods []*corev1.Pod, del func(*corev1.Pod) error) (deletedReady, deleted int32, err error) {
	var nReady, n atomic.Int32
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for _, p := range pods {
		wg.Go(func() {
			if err := del(p); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				return
			}
			n.Add(1)
			if controllerutil.IsPodReady(p) {
				nReady.Add(1)
			}
		})
	}
	wg.Wait()
	return nReady.Load(), n.Load(), first
}

// removalCandidates picks at least n active pods to delete: for Indexed Jobs
// first those with a missing, out of range or duplicated index; then the
// least advanced (unscheduled, pending, not ready, youngest).
func removalCandidates(job *batchv1.Job, active []*corev1.Pod, n int) []*corev1.Pod {
	var rm, left []*corev1.Pod
	if isIndexed(job) {
		rm, left = duplicateIndexPods(active, int(derefCompletions(job)))
	} else {
		left = slices.Clone(active)
	}
	if len(rm) < n {
		slices.SortStableFunc(left, removalOrder)
		rm = append(rm, left[:min(n-len(rm), len(left))]...)
	}
	return rm
}

// removalOrder sorts the pod to delete first first, as Kubernetes'
// controller.ActivePods does.
func removalOrder(a, b *corev1.Pod) int {
	rank := func(p *corev1.Pod) []int {
		scheduled, phase, ready := 0, 0, 0
		if p.Spec.NodeName != "" {
			scheduled = 1
		}
		switch p.Status.Phase {
		case corev1.PodPending:
			phase = 0
		case corev1.PodUnknown:
			phase = 1
		case corev1.PodRunning:
			phase = 2
		}
		if controllerutil.IsPodReady(p) {
			ready = 1
		}
		return []int{scheduled, phase, ready}
	}
	if c := slices.Compare(rank(a), rank(b)); c != 0 {
		return c
	}
	// Younger pods have done less work.
	return b.CreationTimestamp.Compare(a.CreationTimestamp.Time)
}

// claimPods returns the pods the Job controls, adopting orphans that match
// its selector (adding the tracking finalizer, so they are counted) and
// releasing pods that stopped matching.
func (c *Controller) claimPods(ctx context.Context, job *batchv1.Job) ([]*corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector of %s: %w", keyOf(job), err)
	}
	all, err := c.podLister.Pods(job.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	claimer := controllerutil.Claimer[*corev1.Pod]{
		Owner:    job,
		OwnerGVK: controllerKind,
		Selector: selector,
		CanAdopt: controllerutil.RecheckDeletion(job.UID, func(ctx context.Context) (metav1.Object, error) {
			return c.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		}),
		Patch: func(ctx context.Context, p *corev1.Pod, patch []byte) error {
			if metav1.GetControllerOfNoCopy(p) == nil {
				// Adoption: the pod is counted from now on.
				patch = withTrackingFinalizer(patch)
			}
			_, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}
	pods, err := claimer.Claim(ctx, all)
	for i, p := range pods {
		if !metav1.IsControlledBy(p, job) && !hasTrackingFinalizer(p) {
			// Just adopted: the cache does not show the finalizer yet.
			cp := p.DeepCopy()
			cp.Finalizers = append(cp.Finalizers, batchv1.JobTrackingFinalizer)
			pods[i] = cp
		}
	}
	return pods, err
}

// withTrackingFinalizer adds the tracking finalizer to a strategic merge
// patch of metadata (finalizers merge as a set).
func withTrackingFinalizer(patch []byte) []byte {
	var m map[string]any
	if err := json.Unmarshal(patch, &m); err != nil {
		return patch
	}
	meta, _ := m["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		m["metadata"] = meta
	}
	meta["finalizers"] = []string{batchv1.JobTrackingFinalizer}
	out, err := json.Marshal(m)
	if err != nil {
		return patch
	}
	return out
}

// updateStatus writes sc.job's status with the resourceVersion it was read
// with and keeps the answer for the next write.
func (c *Controller) updateStatus(ctx context.Context, sc *syncCtx) error {
	updated, err := c.client.BatchV1().Jobs(sc.job.Namespace).UpdateStatus(ctx, sc.job, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	if updated.Status.UncountedTerminatedPods == nil {
		updated.Status.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	sc.job = updated
	return nil
}

// syncFinished handles a Job that has finished: its pods' finalizers must be
// gone, and after ttlSecondsAfterFinished the Job itself goes, as Kubernetes'
// ttl-after-finished controller does.
func (c *Controller) syncFinished(ctx context.Context, job *batchv1.Job) error {
	c.orphanFinalizedPods(job)
	if job.Spec.TTLSecondsAfterFinished == nil || job.DeletionTimestamp != nil {
		return nil
	}
	left, ok := ttlLeft(job, c.clock.Now())
	if !ok {
		return nil
	}
	if left > 0 {
		c.queue.AddAfter(keyOf(job), left)
		return nil
	}
	// The cache may be old: the TTL may have been changed or removed since.
	// Read the Job afresh before deleting it.
	fresh, err := c.client.BatchV1().Jobs(job.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if fresh.UID != job.UID || fresh.DeletionTimestamp != nil || fresh.Spec.TTLSecondsAfterFinished == nil {
		return nil
	}
	if left, ok := ttlLeft(fresh, c.clock.Now()); !ok || left > 0 {
		if ok {
			c.queue.AddAfter(keyOf(job), left)
		}
		return nil
	}
	background := metav1.DeletePropagationBackground
	err = c.client.BatchV1().Jobs(job.Namespace).Delete(ctx, job.Name, metav1.DeleteOptions{
		PropagationPolicy: &background,
		Preconditions:     &metav1.Preconditions{UID: &fresh.UID, ResourceVersion: &fresh.ResourceVersion},
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete expired job %s: %w", keyOf(job), err)
	}
	c.log.Info("deleted finished job after its TTL", "job", keyOf(job), "ttl-seconds", *fresh.Spec.TTLSecondsAfterFinished)
	return nil
}

// ttlLeft is the time until a finished Job expires: ttlSecondsAfterFinished
// after its Complete or Failed condition.
func ttlLeft(job *batchv1.Job, now time.Time) (time.Duration, bool) {
	if job.Spec.TTLSecondsAfterFinished == nil {
		return 0, false
	}
	var finishedAt time.Time
	for _, cond := range job.Status.Conditions {
		if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
			finishedAt = cond.LastTransitionTime.Time
		}
	}
	if finishedAt.IsZero() {
		return 0, false
	}
	expire := finishedAt.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second)
	return expire.Sub(now), true
}

// deadlineLeft is the time left before activeDeadlineSeconds; ok is false
// when there is no deadline running (none set, not started, suspended).
func deadlineLeft(job *batchv1.Job, now time.Time) (time.Duration, bool) {
	if job.Spec.ActiveDeadlineSeconds == nil || job.Status.StartTime == nil || suspended(job) {
		return 0, false
	}
	return job.Status.StartTime.Add(time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second).Sub(now), true
}

// pastBackoffLimitOnFailure: with restartPolicy OnFailure failures are
// container restarts in place, so they are counted from the running pods'
// restart counts.
func pastBackoffLimitOnFailure(job *batchv1.Job, pods []*corev1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure {
		return false
	}
	var restarts int32
	for _, p := range pods {
		if p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodPending {
			continue
		}
		for _, s := range p.Status.InitContainerStatuses {
			restarts += s.RestartCount
		}
		for _, s := range p.Status.ContainerStatuses {
			restarts += s.RestartCount
		}
	}
	limit := ptr.Deref(job.Spec.BackoffLimit, 6)
	if limit == 0 {
		return restarts > 0
	}
	return restarts >= limit
}

// isPodFailed: the pod failed, or (unless only failed pods are replaced) is
// being deleted before it succeeded: it will never succeed.
func isPodFailed(p *corev1.Pod, job *batchv1.Job) bool {
	if p.Status.Phase == corev1.PodFailed {
		return true
	}
	if onlyReplaceFailed(job) {
		return false
	}
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded
}

// onlyReplaceFailed: podReplacementPolicy Failed (implied by a
// podFailurePolicy) waits for a deleted pod to terminate before replacing it.
func onlyReplaceFailed(job *batchv1.Job) bool {
	return job.Spec.PodFailurePolicy != nil ||
		(job.Spec.PodReplacementPolicy != nil && *job.Spec.PodReplacementPolicy == batchv1.Failed)
}

func suspended(job *batchv1.Job) bool { return ptr.Deref(job.Spec.Suspend, false) }

// managedElsewhere: spec.managedBy names another controller.
func managedElsewhere(job *batchv1.Job) bool {
	return job.Spec.ManagedBy != nil && *job.Spec.ManagedBy != batchv1.JobControllerName
}

func derefCompletions(job *batchv1.Job) int32 { return ptr.Deref(job.Spec.Completions, 0) }

// isFinished: Complete or Failed is True; nothing more happens to the Job
// but its TTL.
func isFinished(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func newCondition(t batchv1.JobConditionType, reason, message string, now time.Time) *batchv1.JobCondition {
	return &batchv1.JobCondition{
		Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message,
		LastProbeTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now),
	}
}

func findCondition(conds []batchv1.JobCondition, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// setCondition replaces the condition of cond's type, or appends it.
func setCondition(conds []batchv1.JobCondition, cond batchv1.JobCondition) []batchv1.JobCondition {
	if cur := findCondition(conds, cond.Type); cur != nil {
		*cur = cond
		return conds
	}
	return append(conds, cond)
}

// ensureCondition sets a condition's status, reason and message and reports a
// change; a False condition is not added where there was none (nothing to
// say), as Kubernetes does for Suspended.
func ensureCondition(conds []batchv1.JobCondition, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) ([]batchv1.JobCondition, bool) {
	if cur := findCondition(conds, t); cur != nil {
		if cur.Status == status && cur.Reason == reason && cur.Message == message {
			return conds, false
		}
		*cur = *newCondition(t, reason, message, now)
		cur.Status = status
		return conds, true
	}
	if status == corev1.ConditionFalse {
		return conds, false
	}
	c := newCondition(t, reason, message, now)
	c.Status = status
	return append(conds, *c), true
}

func conditionsEqual(a, b []batchv1.JobCondition) bool {
	return slices.EqualFunc(a, b, func(x, y batchv1.JobCondition) bool {
		return x.Type == y.Type && x.Status == y.Status && x.Reason == y.Reason && x.Message == y.Message
	})
}
