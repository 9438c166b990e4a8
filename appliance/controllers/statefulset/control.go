package statefulset

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// podControl is what the StatefulSet algorithm does to the world; the
// controller's implementation talks to the API server (podcontrol.go), unit
// tests record the calls.
type podControl interface {
	// createPod creates the pod's missing claims, then the pod.
	createPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error
	// updatePod restores the pod's identity labels, creates missing claims
	// and sets the claims' owners for the retention policy.
	updatePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error
	deletePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error
	// claimsMatchPolicy: every existing claim of pod has the owners the
	// retention policy wants.
	claimsMatchPolicy(set *appsv1.StatefulSet, pod *corev1.Pod) (bool, error)
	// updateClaimsForPolicy sets those owners.
	updateClaimsForPolicy(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error
	// claimIsStale: a claim of pod is on its way out (being deleted, or owned
	// by an earlier pod of that name under whenScaled=Delete); the pod must
	// wait, or it would mount a volume about to vanish.
	claimIsStale(set *appsv1.StatefulSet, pod *corev1.Pod) (bool, error)
	// createMissingClaims creates claims a pending pod lacks.
	createMissingClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error
}

// maxBatch caps concurrent requests of a Parallel set, as Kubernetes does.
const maxBatch = 500

// updater runs the StatefulSet algorithm once, Kubernetes' updateStatefulSet.
type updater struct {
	control podControl
	now     time.Time
	log     *slog.Logger
}

// update creates, deletes and fixes pods to move set towards its spec and
// returns the status that results. The algorithm:
//
//  1. Pods are split into replicas (ordinals start..start+replicas-1) and
//     condemned ones (beyond); missing replicas are planned at the revision
//     newVersionedPod gives them.
//  2. Each replica, in ordinal order: a failed or finished pod is deleted
//     (to be recreated), a missing one is created, a terminating one is
//     waited for, an unhealthy one is waited for; identity, storage and claim
//     owners are fixed. With OrderedReady ("monotonic") processing stops at
//     the first pod that is created or not Running and Ready (and
//     available), so web-1 is not created before web-0 is Ready. Parallel
//     does all of it at once.
//  3. Condemned pods get their claim owners set, then are deleted from the
//     highest ordinal down; OrderedReady deletes one at a time (waiting for
//     the terminating one to be gone), and an unhealthy condemned pod only if
//     it is the first unhealthy pod of the set.
//  4. RollingUpdate: pods at ordinals >= partition not at the update revision
//     are deleted from the highest ordinal down, at most maxUnavailable
//     unavailable at once; step 2 recreates them at the update revision.
//     OnDelete leaves that to the user.
func (u *updater) update(ctx context.Context, set *appsv1.StatefulSet, current, updateRev *appsv1.ControllerRevision, collisionCount int32, pods []*corev1.Pod) (*appsv1.StatefulSetStatus, error) {
	currentSet, err := applyRevision(set, current)
	if err != nil {
		return nil, err
	}
	updateSet, err := applyRevision(set, updateRev)
	if err != nil {
		return nil, err
	}
	status := &appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    current.Name,
		UpdateRevision:     updateRev.Name,
		CollisionCount:     &collisionCount,
	}
	countStatus(status, set.Spec.MinReadySeconds, current, updateRev, u.now, pods)

	start, end := startOrdinal(set), endOrdinal(set)
	replicas := make([]*corev1.Pod, max(end-start+1, 0))
	var condemned []*corev1.Pod
	for _, pod := range pods {
		ord := ordinalOf(pod)
		switch {
		case ord >= start && ord <= end:
			replicas[ord-start] = pod
		case ord >= 0:
			condemned = append(condemned, pod)
		}
	}
	for ord := start; ord <= end; ord++ {
		if replicas[ord-start] == nil {
			replicas[ord-start] = newVersionedPod(currentSet, updateSet, current.Name, updateRev.Name, ord)
		}
	}
	sort.SliceStable(condemned, func(i, j int) bool { return ordinalOf(condemned[i]) > ordinalOf(condemned[j]) })

	minReady := set.Spec.MinReadySeconds
	var firstUnhealthy *corev1.Pod
	for _, p := range replicas {
		if isUnavailable(p, minReady, u.now) {
			firstUnhealthy = p
			break
		}
	}
	if firstUnhealthy == nil {
		for i := len(condemned) - 1; i >= 0; i-- {
			if isUnavailable(condemned[i], minReady, u.now) {
				firstUnhealthy = condemned[i]
				break
			}
		}
	}
	recount := func() { countStatus(status, minReady, current, updateRev, u.now, replicas, condemned) }

	// A set being deleted only reports its status; the garbage collector
	// takes its pods.
	if set.DeletionTimestamp != nil {
		return status, nil
	}
	monotonic := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement

	if stop, err := runForAll(replicas, monotonic, func(i int) (bool, error) {
		return u.processReplica(ctx, set, updateSet, monotonic, replicas, i)
	}); stop || err != nil {
		recount()
		return status, err
	}
	if stop, err := runForAll(condemned, monotonic, func(i int) (bool, error) {
		ok, err := u.control.claimsMatchPolicy(updateSet, condemned[i])
		if err != nil {
			return true, err
		}
		if !ok {
			if err := u.control.updateClaimsForPolicy(ctx, updateSet, condemned[i]); err != nil {
				return true, err
			}
		}
		return false, nil
	}); stop || err != nil {
		recount()
		return status, err
	}
	if stop, err := runForAll(condemned, monotonic, func(i int) (bool, error) {
		return u.processCondemned(ctx, set, firstUnhealthy, monotonic, condemned, i)
	}); stop || err != nil {
		recount()
		return status, err
	}
	recount()

	if set.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		return status, nil // OnDelete: pods change when users delete them
	}
	return u.rollingUpdate(ctx, set, replicas, updateRev, status)
}

// processReplica handles replicas[i] and reports whether processing must stop
// here (OrderedReady waits).
func (u *updater) processReplica(ctx context.Context, set, updateSet *appsv1.StatefulSet, monotonic bool, replicas []*corev1.Pod, i int) (bool, error) {
	pod := replicas[i]
	// A finished pod (Failed, or Succeeded: a node reboot can end a pod with
	// exit code 0) is deleted, and recreated once it is gone.
	if isFailed(pod) || isSucceeded(pod) {
		if pod.DeletionTimestamp == nil {
			if err := u.control.deletePod(ctx, set, pod); err != nil {
				return true, err
			}
		}
		return true, nil
	}
	if !isCreated(pod) {
		if stale, err := u.control.claimIsStale(set, pod); err != nil || stale {
			return true, err
		}
		if err := u.control.createPod(ctx, set, pod); err != nil {
			return true, err
		}
		if monotonic {
			return true, nil
		}
	}
	if isPending(pod) {
		if err := u.control.createMissingClaims(ctx, set, pod); err != nil {
			return true, err
		}
	}
	if isTerminating(pod) && monotonic {
		u.log.Debug("waiting for pod to terminate", "stateful-set", keyOf(set), "pod", pod.Name)
		return true, nil
	}
	if !isRunningAndReady(pod) && monotonic {
		u.log.Debug("waiting for pod to be running and ready", "stateful-set", keyOf(set), "pod", pod.Name)
		return true, nil
	}
	if !isRunningAndAvailable(pod, set.Spec.MinReadySeconds, u.now) && monotonic {
		u.log.Debug("waiting for pod to be available", "stateful-set", keyOf(set), "pod", pod.Name)
		return true, nil
	}
	if !isCreated(pod) {
		return false, nil // just created (Parallel): nothing to fix yet
	}
	match, err := u.control.claimsMatchPolicy(updateSet, pod)
	if err != nil {
		match = true // claims not there yet: nothing to fix
	}
	if identityMatches(set, pod) && storageMatches(set, pod) && match {
		return false, nil
	}
	if err := u.control.updatePod(ctx, updateSet, pod.DeepCopy()); err != nil {
		return true, err
	}
	return false, nil
}

// processCondemned deletes condemned[i] when its turn has come.
func (u *updater) processCondemned(ctx context.Context, set *appsv1.StatefulSet, firstUnhealthy *corev1.Pod, monotonic bool, condemned []*corev1.Pod, i int) (bool, error) {
	pod := condemned[i]
	if isTerminating(pod) {
		return monotonic, nil // OrderedReady: one at a time
	}
	if monotonic && pod != firstUnhealthy && isUnavailable(pod, set.Spec.MinReadySeconds, u.now) {
		// OrderedReady removes an unhealthy pod only if it is the first
		// unhealthy one (lowest ordinal): otherwise it waits for that one.
		return true, nil
	}
	u.log.Debug("deleting pod for scale down", "stateful-set", keyOf(set), "pod", pod.Name)
	return true, u.control.deletePod(ctx, set, pod)
}

// runForAll calls fn for each pod: in order, stopping at the first that says
// stop or fails (monotonic), or all at once in slow-start batches (Parallel).
func runForAll(pods []*corev1.Pod, monotonic bool, fn func(i int) (bool, error)) (bool, error) {
	if monotonic {
		for i := range pods {
			if stop, err := fn(i); stop || err != nil {
				return true, err
			}
		}
		return false, nil
	}
	var errs []error
	next := 0
	for batch := min(1, len(pods)); batch > 0; batch = min(2*batch, len(pods)-next, maxBatch) {
		results := make(chan error, batch)
		for range batch {
			i := next
			next++
			go func() {
				_, err := fn(i)
				results <- err
			}()
		}
		for range batch {
			if err := <-results; err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			return true, errors.Join(errs...)
		}
	}
	return false, nil
}

// rollingUpdate deletes pods not at the update revision, highest ordinal
// first, down to the partition, keeping at most maxUnavailable replicas
// unavailable (Kubernetes' updateStatefulSetAfterInvariantEstablished; with the
// default maxUnavailable of 1 this is the classic one-at-a-time update).
func (u *updater) rollingUpdate(ctx context.Context, set *appsv1.StatefulSet, replicas []*corev1.Pod, updateRev *appsv1.ControllerRevision, status *appsv1.StatefulSetStatus) (*appsv1.StatefulSetStatus, error) {
	partition, maxUnavailable := 0, 1
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil {
		partition = int(ptrOr(ru.Partition, 0))
		var err error
		if maxUnavailable, err = scaledMaxUnavailable(ru.MaxUnavailable, len(replicas)); err != nil {
			return status, err
		}
	}
	unavailable := 0
	for _, p := range replicas {
		if isUnavailable(p, set.Spec.MinReadySeconds, u.now) {
			unavailable++
		}
	}
	budget := maxUnavailable - unavailable
	for target := len(replicas) - 1; target >= partition && budget > 0; target-- {
		pod := replicas[target]
		if !isCreated(pod) || revisionOf(pod) == updateRev.Name || isTerminating(pod) {
			continue
		}
		u.log.Debug("deleting pod for update", "stateful-set", keyOf(set), "pod", pod.Name, "revision", revisionOf(pod))
		if err := u.control.deletePod(ctx, set, pod); err != nil && !apierrors.IsNotFound(err) {
			return status, err
		}
		budget--
		status.CurrentReplicas--
	}
	return status, nil
}

// scaledMaxUnavailable is maxUnavailable of replicas (percentages round up),
// at least 1.
func scaledMaxUnavailable(v *intstr.IntOrString, replicas int) (int, error) {
	if v == nil {
		return 1, nil
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(v, intstr.FromInt32(1)), replicas, true)
	if err != nil {
		return 1, err
	}
	return max(n, 1), nil
}

// countStatus sets the replica counts of status from the pods, as Kubernetes'
// computeReplicaStatus: replicas are created pods; ready and available ones
// are Running and Ready (for minReadySeconds); current and updated ones are
// created, not terminating, and at the current or update revision.
func countStatus(status *appsv1.StatefulSetStatus, minReadySeconds int32, current, update *appsv1.ControllerRevision, now time.Time, lists ...[]*corev1.Pod) {
	status.Replicas, status.ReadyReplicas, status.AvailableReplicas = 0, 0, 0
	status.CurrentReplicas, status.UpdatedReplicas = 0, 0
	for _, list := range lists {
		for _, pod := range list {
			if isCreated(pod) {
				status.Replicas++
			}
			if isRunningAndReady(pod) {
				status.ReadyReplicas++
				if isRunningAndAvailable(pod, minReadySeconds, now) {
					status.AvailableReplicas++
				}
			}
			if isCreated(pod) && !isTerminating(pod) {
				if revisionOf(pod) == current.Name {
					status.CurrentReplicas++
				}
				if revisionOf(pod) == update.Name {
					status.UpdatedReplicas++
				}
			}
		}
	}
}

// completeRollingUpdate: once every replica is updated and ready, the update
// revision becomes the current one (what `kubectl rollout status` waits for).
func completeRollingUpdate(set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) {
	if set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType &&
		status.UpdatedReplicas == status.Replicas && status.ReadyReplicas == status.Replicas {
		status.CurrentReplicas = status.UpdatedReplicas
		status.CurrentRevision = status.UpdateRevision
	}
}

// statusChanged: status differs from what set reports.
func statusChanged(set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) bool {
	s := set.Status
	return status.ObservedGeneration > s.ObservedGeneration ||
		status.Replicas != s.Replicas || status.ReadyReplicas != s.ReadyReplicas ||
		status.AvailableReplicas != s.AvailableReplicas || status.CurrentReplicas != s.CurrentReplicas ||
		status.UpdatedReplicas != s.UpdatedReplicas || status.CurrentRevision != s.CurrentRevision ||
		status.UpdateRevision != s.UpdateRevision ||
		ptrOr(status.CollisionCount, 0) != ptrOr(s.CollisionCount, 0)
}
