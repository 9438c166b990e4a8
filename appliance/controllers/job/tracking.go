package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
)

// Counting finished pods exactly once, as Kubernetes' Job controller does
// (KEP-2307, "Job tracking without lingering pods"):
//
//  1. every pod is created with the batch.kubernetes.io/job-tracking
//     finalizer, so it cannot vanish before it has been counted;
//  2. when a pod has finished, its UID is first written to
//     status.uncountedTerminatedPods (succeeded or failed);
//  3. then its finalizer is removed;
//  4. then its UID moves from the uncounted list to status.succeeded or
//     status.failed.
//
// Each step is persisted before the next starts, and every status write
// carries the resourceVersion the controller read, so a write from a stale
// cache is refused (409) instead of counting a pod twice. Indexed Jobs skip
// the UID list for successes: the completion index is enough.

// hasTrackingFinalizer: the pod is still counted by its Job.
func hasTrackingFinalizer(p *corev1.Pod) bool {
	return slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer)
}

// removeFinalizerPatch is the strategic merge patch that takes the tracking
// finalizer off a pod and leaves any other finalizer alone.
var removeFinalizerPatch = func() []byte {
	b, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{
			"$deleteFromPrimitiveList/finalizers": []string{batchv1.JobTrackingFinalizer},
		},
	})
	return b
}()

func (c *Controller) removeFinalizer(ctx context.Context, p *corev1.Pod) error {
	_, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, removeFinalizerPatch, metav1.PatchOptions{})
	return err
}

// uncountedSets is status.uncountedTerminatedPods as sets.
type uncountedSets struct{ succeeded, failed sets.Set[string] }

func newUncountedSets(u *batchv1.UncountedTerminatedPods) uncountedSets {
	s := uncountedSets{succeeded: sets.New[string](), failed: sets.New[string]()}
	if u == nil {
		return s
	}
	for _, uid := range u.Succeeded {
		s.succeeded.Insert(string(uid))
	}
	for _, uid := range u.Failed {
		s.failed.Insert(string(uid))
	}
	return s
}

// moveCounted takes out of the uncounted lists the UIDs whose pods no longer
// carry the finalizer (or are gone), adding them to succeeded and failed. It
// reports whether the status changed.
func moveCounted(status *batchv1.JobStatus, withFinalizer sets.Set[string]) bool {
	u := status.UncountedTerminatedPods
	keep := func(uids []types.UID) []types.UID {
		var out []types.UID
		for _, uid := range uids {
			if withFinalizer.Has(string(uid)) {
				out = append(out, uid)
			}
		}
		return out
	}
	changed := false
	if s := keep(u.Succeeded); len(s) != len(u.Succeeded) {
		status.Succeeded += int32(len(u.Succeeded) - len(s))
		u.Succeeded, changed = s, true
	}
	if f := keep(u.Failed); len(f) != len(u.Failed) {
		status.Failed += int32(len(u.Failed) - len(f))
		u.Failed, changed = f, true
	}
	return changed
}

// trackStatus records finished pods in the status, removes their finalizers,
// counts them, and writes the conditions; needsFlush says whether the status
// changed before it was called.
func (c *Controller) trackStatus(ctx context.Context, sc *syncCtx, needsFlush bool) error {
	job := sc.job
	key := keyOf(job)
	indexed := isIndexed(job)
	completions := int(derefCompletions(job))
	uncounted := job.Status.UncountedTerminatedPods

	withFinalizer := sets.New[string]()
	for _, p := range sc.pods {
		if hasTrackingFinalizer(p) && !sc.expectedRemovals.Has(string(p.UID)) {
			withFinalizer.Insert(string(p.UID))
		}
	}
	if moveCounted(&job.Status, withFinalizer) {
		needsFlush = true
	}

	var release []*corev1.Pod
	var newIndexes []int
	full := false
	terminal := sc.finished != nil && sc.finished.Type != batchv1.JobSuccessCriteriaMet
	for _, p := range sc.pods {
		uid := string(p.UID)
		if !hasTrackingFinalizer(p) || sc.expectedRemovals.Has(uid) {
			continue // counted in an earlier sync
		}
		failed := isPodFailed(p, job)
		// A pod is let go once it has finished, or once the whole Job is
		// done or being deleted (then a still running pod counts as failed).
		if job.DeletionTimestamp == nil && sc.finished == nil && p.Status.Phase != corev1.PodSucceeded && !failed {
			continue
		}
		release = append(release, p)
		switch {
		case p.Status.Phase == corev1.PodSucceeded && !sc.uncounted.failed.Has(uid):
			if indexed {
				if i := completionIndex(p); validIndex(p, completions) && !sc.prevSucceededIndexes.has(i) {
					newIndexes = append(newIndexes, i)
					needsFlush = true
				}
			} else if !sc.uncounted.succeeded.Has(uid) {
				uncounted.Succeeded = append(uncounted.Succeeded, p.UID)
				needsFlush = true
			}
		case failed || terminal:
			if !sc.uncounted.failed.Has(uid) && (!indexed || validIndex(p, completions)) {
				uncounted.Failed = append(uncounted.Failed, p.UID)
				needsFlush = true
			}
		}
		if len(newIndexes)+len(uncounted.Succeeded)+len(uncounted.Failed) >= maxUncountedPods {
			// Enough for one status write; the pod updates bring the Job
			// back for the rest.
			full = true
			break
		}
	}
	if indexed {
		sc.succeededIndexes = sc.succeededIndexes.with(newIndexes)
		if s := sc.succeededIndexes.String(); s != job.Status.CompletedIndexes {
			job.Status.CompletedIndexes = s
			needsFlush = true
		}
		job.Status.Succeeded = int32(sc.succeededIndexes.total())
	}

	// The interim condition is written before any finalizer goes, so that the
	// reason survives a crash; the terminal one waits for the last pod.
	switch {
	case sc.finished != nil && sc.finished.Type == batchv1.JobFailureTarget:
		job.Status.Conditions = append(job.Status.Conditions, *sc.finished)
		needsFlush = true
		sc.finished = newCondition(batchv1.JobFailed, sc.finished.Reason, sc.finished.Message, c.clock.Now())
	case sc.finished != nil && sc.finished.Type == batchv1.JobSuccessCriteriaMet:
		if findCondition(job.Status.Conditions, batchv1.JobSuccessCriteriaMet) == nil {
			job.Status.Conditions = append(job.Status.Conditions, *sc.finished)
			needsFlush = true
		}
		sc.finished = newCondition(batchv1.JobComplete, sc.finished.Reason, sc.finished.Message, c.clock.Now())
	}

	if needsFlush {
		if err := c.updateStatus(ctx, sc); err != nil {
			return fmt.Errorf("add uncounted pods to status: %w", err)
		}
		c.backoff.set(key, sc.backoff)
		needsFlush = false
	}

	var rmErr error
	if len(release) > 0 {
		var removed []string
		removed, rmErr = c.releasePods(ctx, key, release)
		for _, uid := range removed {
			withFinalizer.Delete(uid)
		}
	}
	if moveCounted(&sc.job.Status, withFinalizer) {
		needsFlush = true
	}
	if rmErr != nil {
		if needsFlush {
			if err := c.updateStatus(ctx, sc); err != nil {
				return errors.Join(rmErr, err)
			}
		}
		return rmErr
	}
	finishedNow := !full && c.enactFinished(sc)
	if finishedNow {
		needsFlush = true
	}
	if needsFlush {
		if err := c.updateStatus(ctx, sc); err != nil {
			return fmt.Errorf("count finished pods: %w", err)
		}
		if finishedNow {
			c.recordFinished(sc.job, sc.finished)
		}
	}
	return nil
}

// releasePods removes the tracking finalizer from pods concurrently and
// returns the UIDs it is gone from (a pod already deleted counts).
func (c *Controller) releasePods(ctx context.Context, key string, pods []*corev1.Pod) ([]string, error) {
	uids := make([]string, len(pods))
	for i, p := range pods {
		uids[i] = string(p.UID)
	}
	c.finalizers.expect(key, uids)
	var mu sync.Mutex
	var removed []string
	var errs []error
	var wg sync.WaitGroup
	for _, p := range pods {
		wg.Go(func() {
			err := c.removeFinalizer(ctx, p)
			if err != nil {
				// No update will come for this one.
				c.finalizers.observed(key, string(p.UID))
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil || apierrors.IsNotFound(err):
				removed = append(removed, string(p.UID))
			default:
				errs = append(errs, fmt.Errorf("remove tracking finalizer of %s: %w", p.Name, err))
			}
		})
	}
	wg.Wait()
	return removed, errors.Join(errs...)
}

// enactFinished writes the terminal condition once every finished pod is
// counted and no pod of the Job is still terminating, as Kubernetes does
// since 1.31: a Job reported Failed or Complete has nothing left running.
func (c *Controller) enactFinished(sc *syncCtx) bool {
	if sc.finished == nil {
		return false
	}
	u := sc.job.Status.UncountedTerminatedPods
	if len(u.Succeeded)+len(u.Failed) > 0 || sc.terminating > 0 {
		return false
	}
	cond := sc.finished
	sc.job.Status.Conditions = setCondition(sc.job.Status.Conditions, *cond)
	if cond.Type == batchv1.JobComplete {
		t := cond.LastTransitionTime
		sc.job.Status.CompletionTime = &t
	}
	return true
}

func (c *Controller) recordFinished(job *batchv1.Job, cond *batchv1.JobCondition) {
	if cond.Type == batchv1.JobComplete {
		if job.Spec.Completions != nil && job.Status.Succeeded > *job.Spec.Completions {
			c.recorder.Event(job, corev1.EventTypeWarning, "TooManySucceededPods", "Too many succeeded pods running after completion count reached")
		}
		c.recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed")
		c.log.Info("job completed", "job", keyOf(job), "succeeded", job.Status.Succeeded)
		return
	}
	c.recorder.Event(job, corev1.EventTypeWarning, cond.Reason, cond.Message)
	c.log.Info("job failed", "job", keyOf(job), "reason", cond.Reason, "failed", job.Status.Failed)
}

// syncOrphanPod removes the tracking finalizer from a pod that no unfinished
// Job counts: its Job is gone, finished, replaced, or released it.
func (c *Controller) syncOrphanPod(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, err := c.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !hasTrackingFinalizer(pod) {
		return nil
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
			return nil // someone else's pod; not ours to touch
		}
		if job := c.resolveControllerRef(ns, ref); job != nil && (!isFinished(job) || managedElsewhere(job)) {
			return nil // still counted (or counted by another controller)
		}
	}
	if err := c.removeFinalizer(ctx, pod); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// uidExpectations remembers, per Job, the pods whose finalizer removal was
// sent but not yet seen in the informer.
type uidExpectations struct {
	mu   sync.Mutex
	uids map[string]sets.Set[string]
}

func newUIDExpectations() *uidExpectations {
	return &uidExpectations{uids: map[string]sets.Set[string]{}}
}

func (e *uidExpectations) expect(key string, uids []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.uids[key]
	if !ok {
		s = sets.New[string]()
		e.uids[key] = s
	}
	s.Insert(uids...)
}

func (e *uidExpectations) observed(key, uid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.uids[key]; ok {
		s.Delete(uid)
		if s.Len() == 0 {
			delete(e.uids, key)
		}
	}
}

func (e *uidExpectations) get(key string) sets.Set[string] {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.uids[key].Clone()
}

func (e *uidExpectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.uids, key)
}
