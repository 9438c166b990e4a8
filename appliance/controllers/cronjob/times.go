package cronjob

import (
	"errors"
	"time"

	batchv1 "k8s.io/api/batch/v1"
)

// missedRuns says how many scheduled times went by without a Job.
type missedRuns int

const (
	noneMissed missedRuns = iota
	fewMissed
	// manyMissed: more than tooManyMissed. Kubernetes then warns
	// (TooManyMissedTimes) and still starts only the latest.
	manyMissed
)

// tooManyMissed is Kubernetes' threshold: an hourly CronJob may miss a long
// weekend (about 80 runs) without alarm; more suggests a wrong clock or a
// missing startingDeadlineSeconds.
const tooManyMissed = 100

var errNeverFires = errors.New("the schedule never fires (e.g. a day that does not exist in its month)")

// mostRecentScheduleTime looks at the scheduled times after the CronJob's
// last schedule (or its creation) up to now. It returns where it started
// looking, the latest scheduled time not after now (nil if none), and how
// many were missed. With withDeadline, times older than
// startingDeadlineSeconds are not looked at: they can no longer start.
func mostRecentScheduleTime(cj *batchv1.CronJob, now time.Time, sched Schedule, withDeadline bool) (time.Time, *time.Time, missedRuns, error) {
	earliest := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		earliest = cj.Status.LastScheduleTime.Time
	}
	if withDeadline && cj.Spec.StartingDeadlineSeconds != nil {
		if d := now.Add(-time.Duration(*cj.Spec.StartingDeadlineSeconds) * time.Second); d.After(earliest) {
			earliest = d
		}
	}
	first := sched.Next(earliest)
	if first.IsZero() {
		return earliest, nil, noneMissed, errNeverFires
	}
	if now.Before(first) {
		return earliest, nil, noneMissed, nil
	}
	// Count the due times, up to just past the threshold.
	latest, count := first, 1
	for count <= tooManyMissed {
		next := sched.Next(latest)
		if next.IsZero() || next.After(now) {
			missed := noneMissed
			if count > 1 {
				missed = fewMissed
			}
			return earliest, &latest, missed, nil
		}
		latest, count = next, count+1
	}
	// Too many to walk one by one: find the latest in a window before now,
	// widening it until a scheduled time falls inside.
	second := sched.Next(first)
	window := max(second.Sub(first), time.Minute)
	for {
		from := now.Add(-window)
		if from.Before(latest) {
			from = latest
		}
		last := latest
		for t := sched.Next(from); !t.IsZero() && !t.After(now); t = sched.Next(t) {
			last = t
		}
		if last.After(latest) || !from.After(latest) {
			return earliest, &last, manyMissed, nil
		}
		window *= 2
	}
}

// nextWake is when the CronJob must be looked at again: its next scheduled
// time after the latest one due, plus a little for clock skew between the
// nodes (Kubernetes adds 100 ms).
func nextWake(cj *batchv1.CronJob, now time.Time, sched Schedule) time.Time {
	earliest, recent, missed, err := mostRecentScheduleTime(cj, now, sched, false)
	from := earliest
	switch {
	case err != nil:
		from = now
	case recent != nil:
		from = *recent
	case missed != noneMissed:
		from = now
	}
	next := sched.Next(from)
	if next.IsZero() {
		return time.Time{}
	}
	return next.Add(nextScheduleDelta)
}

const nextScheduleDelta = 100 * time.Millisecond
