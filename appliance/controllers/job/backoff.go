package job

import (
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Pod failure backoff: after a pod fails, its replacement waits 10 s, then
// 20 s, 40 s, ... after each further failure in a row, capped at six minutes,
// as Kubernetes documents for Jobs. A success resets the count. The record
// lives in memory: after a restart the controller starts again from what the
// pods it still sees tell it, as kube-controller-manager does.

// backoffRecord counts the failures since the last success and remembers
// when the latest one happened.
type backoffRecord struct {
	failures    int32
	lastFailure time.Time
}

// next folds newly finished pods into r. Failures that happened before the
// latest success of the batch do not count.
func (r backoffRecord) next(succeeded, failed []*corev1.Pod) backoffRecord {
	if len(failed) == 0 {
		if len(succeeded) > 0 {
			return backoffRecord{}
		}
		return r
	}
	failTimes := finishTimes(failed)
	if len(succeeded) == 0 {
		return backoffRecord{failures: r.failures + int32(len(failed)), lastFailure: failTimes[len(failTimes)-1]}
	}
	succTimes := finishTimes(succeeded)
	lastSuccess := succTimes[len(succTimes)-1]
	out := backoffRecord{}
	for _, t := range failTimes {
		if t.After(lastSuccess) {
			out.failures++
			out.lastFailure = t
		}
	}
	return out
}

// delay is how long after its last failure the Job must wait before creating
// a pod: base after the first failure, doubling per failure up to limit.
func (r backoffRecord) delay(base, limit time.Duration) time.Duration {
	if r.failures == 0 {
		return 0
	}
	d := base
	for i := int32(1); i < r.failures && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// remaining is what is left of the delay at now (zero once it has passed).
func (r backoffRecord) remaining(now time.Time, base, limit time.Duration) time.Duration {
	if r.failures == 0 {
		return 0
	}
	return max(r.delay(base, limit)-now.Sub(r.lastFailure), 0)
}

func finishTimes(pods []*corev1.Pod) []time.Time {
	out := make([]time.Time, 0, len(pods))
	for _, p := range pods {
		out = append(out, finishTime(p))
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// finishTime is when a pod finished: its containers' latest termination, else
// when it stopped being Ready, else its deletion (minus the grace period),
// else its creation, in the order Kubernetes looks for it.
func finishTime(p *corev1.Pod) time.Time {
	var latest time.Time
	complete := len(p.Status.ContainerStatuses) > 0
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Terminated == nil || cs.State.Terminated.FinishedAt.IsZero() {
			complete = false
			break
		}
		if t := cs.State.Terminated.FinishedAt.Time; t.After(latest) {
			latest = t
		}
	}
	if complete {
		return latest
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionFalse && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.Time
		}
	}
	if p.DeletionTimestamp != nil {
		grace := time.Duration(0)
		if p.DeletionGracePeriodSeconds != nil {
			grace = time.Duration(*p.DeletionGracePeriodSeconds) * time.Second
		}
		return p.DeletionTimestamp.Add(-grace)
	}
	return p.CreationTimestamp.Time
}

// backoffStore keeps a record per Job key.
type backoffStore struct {
	mu      sync.Mutex
	records map[string]backoffRecord
}

func newBackoffStore() *backoffStore { return &backoffStore{records: map[string]backoffRecord{}} }

func (s *backoffStore) get(key string) backoffRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.records[key]
}

func (s *backoffStore) set(key string, r backoffRecord) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.failures == 0 {
		delete(s.records, key)
		return
	}
	s.records[key] = r
}

func (s *backoffStore) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, key)
}
