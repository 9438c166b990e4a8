package deployment

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
)

// rolloutRolling moves a RollingUpdate Deployment one step: scale the new
// ReplicaSet up if surge allows, else scale old ones down if availability
// allows, else (complete) clean up old revisions; then status.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) error {
	newRS, old, err := c.allReplicaSets(ctx, d, rsList, true)
	if err != nil {
		return err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), old...), newRS)

	if to, ok := planNewScale(d, all, newRS); ok {
		if _, err := c.scaleReplicaSet(ctx, d, newRS, to, ""); err != nil {
			return err
		}
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	steps := planOldScaleDown(d, newRS, activeSets(old))
	for _, s := range steps {
		if _, err := c.scaleReplicaSet(ctx, d, s.rs, s.to, "down"); err != nil {
			return err
		}
	}
	if len(steps) > 0 {
		return c.syncRolloutStatus(ctx, d, all, newRS)
	}
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanup(ctx, d, old); err != nil {
			return err
		}
	}
	return c.syncRolloutStatus(ctx, d, all, newRS)
}

// scaleStep is one ReplicaSet resize.
type scaleStep struct {
	rs *appsv1.ReplicaSet
	to int32
}

// planNewScale is the new ReplicaSet's next size and whether it changes: down
// to replicas when above it, else up as far as maxSurge allows.
func planNewScale(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (int32, bool) {
	want, cur := replicasOf(d.Spec.Replicas), replicasOf(newRS.Spec.Replicas)
	if cur == want {
		return cur, false
	}
	if cur > want {
		return want, true
	}
	to, err := newRSReplicas(d, all, newRS)
	if err != nil || to == cur {
		return cur, false
	}
	return to, true
}

// planOldScaleDown is how far the old ReplicaSets may shrink now without
// fewer than replicas - maxUnavailable pods available. Two passes, as in
// Kubernetes:
//
//  1. Unhealthy pods of old ReplicaSets (wanted but not available) go first,
//     oldest ReplicaSet first, but no more than
//     allPods - minAvailable - (unavailable pods of the new ReplicaSet):
//     removing them costs no availability, and without this a rollout stuck
//     behind crashing old pods would never progress.
//  2. Then available old pods, as many as availability exceeds minAvailable.
//
// Example: 10 replicas, maxSurge 3, maxUnavailable 2. The new ReplicaSet goes
// to 3 (13 pods). Nothing new is available yet: 13-8-3 = 2 old pods may go
// only if unhealthy, and available 10 > 8 lets 2 available ones go: old 10->8.
// As new pods become available, old ones follow, two at a time at most.
func planOldScaleDown(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) []scaleStep {
	if specReplicas(old) == 0 {
		return nil
	}
	all := append(append([]*appsv1.ReplicaSet(nil), old...), newRS)
	minAvailable := replicasOf(d.Spec.Replicas) - maxUnavailableOf(d)
	newUnavailable := int32(0)
	if newRS != nil {
		newUnavailable = replicasOf(newRS.Spec.Replicas) - safeAvailable(newRS)
	}
	maxScaledDown := specReplicas(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return nil
	}
	ordered := append([]*appsv1.ReplicaSet(nil), old...)
	sortByCreation(ordered)
	sizes := make([]int32, len(ordered))
	for i, rs := range ordered {
		sizes[i] = replicasOf(rs.Spec.Replicas)
	}
	availableAt := func(i int) int32 { return max(min(ordered[i].Status.AvailableReplicas, sizes[i]), 0) }

	var cleaned int32
	for i := range ordered {
		if cleaned >= maxScaledDown {
			break
		}
		unhealthy := sizes[i] - availableAt(i)
		if sizes[i] == 0 || unhealthy <= 0 {
			continue
		}
		n := min(maxScaledDown-cleaned, unhealthy)
		sizes[i] -= n
		cleaned += n
	}

	available := safeAvailable(newRS)
	for i := range ordered {
		available += availableAt(i)
	}
	if budget := available - minAvailable; budget > 0 {
		for i := range ordered {
			if budget <= 0 {
				break
			}
			n := min(sizes[i], budget)
			sizes[i] -= n
			budget -= n
		}
	}

	var steps []scaleStep
	for i, rs := range ordered {
		if sizes[i] != replicasOf(rs.Spec.Replicas) {
			steps = append(steps, scaleStep{rs: rs, to: sizes[i]})
		}
	}
	return steps
}
