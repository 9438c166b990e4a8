package cronjob

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/reference"
	"k8s.io/utils/ptr"
)

// sync looks at one CronJob: forgets finished Jobs beyond the history limits,
// notices Jobs that finished, and starts the one that is due. It returns when
// the CronJob must be looked at again (zero: only on a change).
func (c *Controller) sync(ctx context.Context, key string) (time.Time, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return time.Time{}, nil
	}
	shared, err := c.cjLister.CronJobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.wakeups.forget(key)
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	jobs, err := c.jobsOf(shared)
	if err != nil {
		return time.Time{}, err
	}
	cj := shared.DeepCopy()
	changed := c.cleanupFinishedJobs(ctx, cj, jobs)
	wake, changedBySync, syncErr := c.syncCronJob(ctx, cj, jobs)
	if errors.Is(syncErr, errCacheBehind) {
		return time.Time{}, syncErr
	}
	if changed || changedBySync {
		if _, err := c.client.BatchV1().CronJobs(cj.Namespace).UpdateStatus(ctx, cj, metav1.UpdateOptions{}); err != nil {
			return time.Time{}, fmt.Errorf("update status of %s: %w", key, err)
		}
	}
	return wake, syncErr
}

// jobsOf returns the Jobs the CronJob controls (by ControllerRef, whatever
// their labels now say).
func (c *Controller) jobsOf(cj *batchv1.CronJob) ([]*batchv1.Job, error) {
	all, err := c.jobLister.Jobs(cj.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var out []*batchv1.Job
	for _, j := range all {
		if ref := metav1.GetControllerOfNoCopy(j); ref != nil && ref.UID == cj.UID {
			out = append(out, j)
		}
	}
	return out, nil
}

// syncCronJob does the work on cj (a copy); it reports the wakeup time and
// whether cj's status changed.
func (c *Controller) syncCronJob(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) (time.Time, bool, error) {
	now := c.clock.Now()
	changed := false

	children := map[types.UID]bool{}
	for _, j := range jobs {
		children[j.UID] = true
		inActive := inActiveList(cj, j.UID)
		finished, status := finishedStatus(j)
		switch {
		case !inActive && !finished:
			// Running but not listed: we may have crashed between creating
			// it and writing the status, or our cache is older than the
			// Job. Read the CronJob afresh before complaining.
			fresh, err := c.client.BatchV1().CronJobs(cj.Namespace).Get(ctx, cj.Name, metav1.GetOptions{})
			if err != nil {
				return time.Time{}, changed, err
			}
			if inActiveList(fresh, j.UID) {
				// Our cache is behind: start over once it has caught up.
				return time.Time{}, false, errCacheBehind
			}
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnexpectedJob", "Saw a job that the controller did not create or forgot: %s", j.Name)
		case inActive && finished:
			deleteFromActiveList(cj, j.UID)
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s, status: %v", j.Name, status)
			changed = true
		}
		if finished && status == batchv1.JobComplete && j.Status.CompletionTime != nil {
			// Listed or not, a success moves lastSuccessfulTime.
			if cj.Status.LastSuccessfulTime == nil || j.Status.CompletionTime.After(cj.Status.LastSuccessfulTime.Time) {
				cj.Status.LastSuccessfulTime = j.Status.CompletionTime.DeepCopy()
				changed = true
			}
		}
	}
	// Listed Jobs the cache does not know: ask the API server before
	// declaring them gone, a slow watch is not a deletion.
	for _, ref := range slices.Clone(cj.Status.Active) {
		if children[ref.UID] {
			continue
		}
		_, err := c.client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "MissingJob", "Active job went missing: %v", ref.Name)
			deleteFromActiveList(cj, ref.UID)
			changed = true
		case err != nil:
			return time.Time{}, changed, err
		}
	}

	if cj.DeletionTimestamp != nil {
		return time.Time{}, changed, nil
	}
	sched, tzInSchedule, err := scheduleOf(cj)
	if err != nil {
		var tzErr timeZoneError
		if errors.As(err, &tzErr) {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnknownTimeZone", "invalid timeZone: %q: %s", tzErr.zone, tzErr.err)
		} else {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnparseableSchedule", "unparseable schedule: %q : %s", cj.Spec.Schedule, err)
		}
		// A user error: nothing to do until the spec changes.
		return time.Time{}, changed, nil
	}
	if tzInSchedule {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnsupportedSchedule", "CRON_TZ or TZ used in schedule %q is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details", cj.Spec.Schedule)
	}
	if ptr.Deref(cj.Spec.Suspend, false) {
		return time.Time{}, changed, nil
	}

	_, scheduled, missed, err := mostRecentScheduleTime(cj, now, sched, true)
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "InvalidSchedule", "invalid schedule: %s : %s", cj.Spec.Schedule, err)
		return time.Time{}, changed, nil
	}
	wake := nextWake(cj, now, sched)
	if scheduled == nil {
		return wake, changed, nil
	}
	if missed == manyMissed {
		c.recorder.Event(cj, corev1.EventTypeWarning, "TooManyMissedTimes", "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew")
		c.log.Info("too many missed start times", "cron-job", keyOf(cj))
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && scheduled.Add(time.Duration(*d)*time.Second).Before(now) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "MissSchedule", "Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC1123Z))
		return wake, changed, nil
	}
	name := jobName(cj, *scheduled)
	if slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.Name == name }) ||
		(cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Time.Equal(*scheduled)) {
		return wake, changed, nil // already started
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(cj.Status.Active) > 0 {
			// It may still start late, when the running one finishes
			// within startingDeadlineSeconds.
			c.recorder.Event(cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
			return wake, changed, nil
		}
	case batchv1.ReplaceConcurrent:
		for _, ref := range slices.Clone(cj.Status.Active) {
			job, err := c.client.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				deleteFromActiveList(cj, ref.UID)
				changed = true
				continue
			}
			if err != nil {
				c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedGet", "Get job: %v", err)
				return time.Time{}, changed, err
			}
			if err := c.removeJob(ctx, cj, job); err != nil {
				return time.Time{}, changed, err
			}
			changed = true
		}
	}

	job, err := jobFromTemplate(cj, *scheduled)
	if err != nil {
		return time.Time{}, changed, err
	}
	created, err := c.client.BatchV1().Jobs(cj.Namespace).Create(ctx, job, metav1.CreateOptions{})
	switch {
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return time.Time{}, changed, err
	case apierrors.IsAlreadyExists(err):
		// Created before, and the status write after it was lost (or our
		// cache is behind): adopt it into the status if it is ours.
		existing, err := c.client.BatchV1().Jobs(cj.Namespace).Get(ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			return time.Time{}, changed, err
		}
		if !metav1.IsControlledBy(existing, cj) || inActiveList(cj, existing.UID) {
			return wake, changed, nil
		}
		if finished, _ := finishedStatus(existing); finished {
			// Already ran to the end: only the schedule time is news.
			cj.Status.LastScheduleTime = &metav1.Time{Time: *scheduled}
			return wake, true, nil
		}
		created = existing
		c.log.Info("job already exists", "cron-job", keyOf(cj), "job", existing.Name)
	case err != nil:
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		return time.Time{}, changed, err
	default:
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %v", created.Name)
		c.log.Info("created job", "cron-job", keyOf(cj), "job", created.Name, "scheduled", scheduled.UTC().Format(time.RFC3339))
	}
	// The Job's name is the lock against starting the same time twice; the
	// status records it for the next syncs.
	ref, err := reference.GetReference(scheme.Scheme, created)
	if err != nil {
		return time.Time{}, changed, fmt.Errorf("reference to job %s: %w", created.Name, err)
	}
	cj.Status.Active = append(cj.Status.Active, *ref)
	cj.Status.LastScheduleTime = &metav1.Time{Time: *scheduled}
	return wake, true, nil
}

// cleanupFinishedJobs deletes the oldest finished Jobs beyond the history
// limits and reports whether the status changed.
func (c *Controller) cleanupFinishedJobs(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) bool {
	if cj.Spec.SuccessfulJobsHistoryLimit == nil && cj.Spec.FailedJobsHistoryLimit == nil {
		return false
	}
	var succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		switch finished, status := finishedStatus(j); {
		case finished && status == batchv1.JobComplete:
			succeeded = append(succeeded, j)
		case finished && status == batchv1.JobFailed:
			failed = append(failed, j)
		}
	}
	changed := false
	if limit := cj.Spec.SuccessfulJobsHistoryLimit; limit != nil && c.removeOldest(ctx, cj, succeeded, int(*limit)) {
		changed = true
	}
	if limit := cj.Spec.FailedJobsHistoryLimit; limit != nil && c.removeOldest(ctx, cj, failed, int(*limit)) {
		changed = true
	}
	return changed
}

func (c *Controller) removeOldest(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job, keep int) bool {
	n := len(jobs) - keep
	if n <= 0 {
		return false
	}
	slices.SortStableFunc(jobs, byStartTime)
	changed := false
	for _, j := range jobs[:n] {
		if c.removeJob(ctx, cj, j) == nil {
			changed = true
		}
	}
	return changed
}

// removeJob deletes a Job with background propagation (the garbage
// collector then removes its pods) and takes it off the active list.
func (c *Controller) removeJob(ctx context.Context, cj *batchv1.CronJob, job *batchv1.Job) error {
	background := metav1.DeletePropagationBackground
	err := c.client.BatchV1().Jobs(job.Namespace).Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &background})
	if err != nil && !apierrors.IsNotFound(err) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
		return fmt.Errorf("delete job %s: %w", job.Name, err)
	}
	deleteFromActiveList(cj, job.UID)
	c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %v", job.Name)
	c.log.Debug("deleted job", "cron-job", keyOf(cj), "job", job.Name)
	return nil
}

// byStartTime orders Jobs oldest first; Jobs that never started go last, and
// names break ties.
func byStartTime(a, b *batchv1.Job) int {
	switch {
	case a.Status.StartTime == nil && b.Status.StartTime == nil:
		return strings.Compare(a.Name, b.Name)
	case a.Status.StartTime == nil:
		return 1
	case b.Status.StartTime == nil:
		return -1
	}
	if c := a.Status.StartTime.Time.Compare(b.Status.StartTime.Time); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// jobName is <cronjob>-<scheduled time in minutes since the epoch>: the
// controller schedules by the minute, and the name makes a second creation
// for the same time fail.
func jobName(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}

// jobFromTemplate makes the Job for a scheduled time.
func jobFromTemplate(cj *batchv1.CronJob, scheduled time.Time) (*batchv1.Job, error) {
	loc := time.UTC
	if cj.Spec.TimeZone != nil {
		l, err := time.LoadLocation(*cj.Spec.TimeZone)
		if err != nil {
			return nil, err
		}
		loc = l
	}
	annotations := maps.Clone(cj.Spec.JobTemplate.Annotations)
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[batchv1.CronJobScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            jobName(cj, scheduled),
			Namespace:       cj.Namespace,
			Labels:          maps.Clone(cj.Spec.JobTemplate.Labels),
			Annotations:     annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, controllerKind)},
		},
	}
	cj.Spec.JobTemplate.Spec.DeepCopyInto(&job.Spec)
	return job, nil
}

type timeZoneError struct {
	zone string
	err  error
}

func (e timeZoneError) Error() string { return fmt.Sprintf("unknown time zone %q: %v", e.zone, e.err) }

// errCacheBehind: the informer's CronJob is older than what the API server
// has; acting on it would undo a status write.
var errCacheBehind = errors.New("cron job cache is behind the API server")

// scheduleOf parses the CronJob's schedule in its time zone. tzInSchedule
// reports a TZ= or CRON_TZ= prefix, which Kubernetes still honours on old
// objects but warns about (the API server refuses it on new ones).
func scheduleOf(cj *batchv1.CronJob) (sched Schedule, tzInSchedule bool, err error) {
	var loc *time.Location
	if strings.Contains(cj.Spec.Schedule, "TZ") {
		tzInSchedule = true
	} else if cj.Spec.TimeZone != nil {
		if loc, err = time.LoadLocation(*cj.Spec.TimeZone); err != nil {
			return nil, false, timeZoneError{*cj.Spec.TimeZone, err}
		}
	}
	sched, err = ParseSchedule(cj.Spec.Schedule, loc)
	return sched, tzInSchedule, err
}

func inActiveList(cj *batchv1.CronJob, uid types.UID) bool {
	return slices.ContainsFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == uid })
}

func deleteFromActiveList(cj *batchv1.CronJob, uid types.UID) {
	cj.Status.Active = slices.DeleteFunc(cj.Status.Active, func(r corev1.ObjectReference) bool { return r.UID == uid })
}

// finishedStatus reports whether a Job has finished, and how (Complete or
// Failed).
func finishedStatus(j *batchv1.Job) (bool, batchv1.JobConditionType) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true, c.Type
		}
	}
	return false, ""
}
