package controllerutil

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// PodKey is the namespace/name key of a pod, as cache.MetaNamespaceKeyFunc
// makes it.
func PodKey(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }

// IsPodActive: a pod that has not finished and is not being deleted. Only
// these count towards a controller's replicas, as in Kubernetes.
func IsPodActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil
}

// IsPodTerminating: being deleted but not yet finished (its kubelet is still
// stopping it). Reported as status.terminatingReplicas.
func IsPodTerminating(p *corev1.Pod) bool {
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// PodReadyCondition returns the pod's Ready condition, or nil.
func PodReadyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// IsPodReady: the Ready condition is True.
func IsPodReady(p *corev1.Pod) bool {
	c := PodReadyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

// IsPodAvailable: ready for at least minReadySeconds (measured from the Ready
// condition's lastTransitionTime), as Kubernetes counts availableReplicas.
func IsPodAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	c := PodReadyCondition(p)
	if c == nil || c.Status != corev1.ConditionTrue {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	min := time.Duration(minReadySeconds) * time.Second
	return !c.LastTransitionTime.IsZero() && c.LastTransitionTime.Add(min).Before(now)
}

// SlowStartBatch calls fn count times in batches of initial, 2*initial, 4*initial,
// ... (calls within a batch run concurrently). After a batch with a failure it
// stops: a project over quota, or an admission webhook that refuses, should cost
// one failed request and one event, not a thousand (Kubernetes' slow start).
// It returns the number of successful calls and the first error.
func SlowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining, successes := count, 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errs := make(chan error, batch)
		var wg sync.WaitGroup
		for range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := fn(); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		successes += batch - len(errs)
		if len(errs) > 0 {
			return successes, <-errs
		}
		remaining -= batch
	}
	return successes, nil
}
