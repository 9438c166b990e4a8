package daemonset

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/appliance/appliance/appliance/controllers/controllerutil"
)

// This file is the DaemonSet controller's arithmetic, free of I/O so that
// tests can state each decision: which nodes get a pod, which pods go, what a
// rolling update may replace now, and what the status says.

// nodePlan is what manage decides for one node.
type nodePlan struct {
	// create: the node needs a daemon pod.
	create bool
	// remove are pods to delete now.
	remove []*corev1.Pod
	// failed are Failed pods to delete, subject to a per-node backoff (a
	// kubelet that keeps rejecting pods must not make the controller spin).
	failed []*corev1.Pod
	// succeeded are pods that finished (a daemon is not supposed to): they are
	// deleted and replaced.
	succeeded []*corev1.Pod
}

// podsShouldBeOnNode follows Kubernetes' function of the same name:
//   - the node should run a pod and has none: create one;
//   - the node may keep its pods: delete failed and succeeded ones, and of the
//     running ones keep the oldest (without surge), or (with surge) the oldest
//     updated pod plus the oldest old one only while the updated one is not yet
//     available and the old one is still ready;
//   - the node must not run the pod (selector, affinity, an untolerated
//     NoExecute taint): delete every pod there.
func podsShouldBeOnNode(node *corev1.Node, pods []*corev1.Pod, ds *appsv1.DaemonSet, hash string, now time.Time) nodePlan {
	var plan nodePlan
	shouldRun, shouldContinueRunning := nodeShouldRunDaemonPod(node, ds)
	switch {
	case shouldRun && len(pods) == 0:
		plan.create = true
	case shouldContinueRunning:
		var running []*corev1.Pod
		for _, pod := range pods {
			switch {
			case pod.DeletionTimestamp != nil:
			case pod.Status.Phase == corev1.PodFailed:
				plan.failed = append(plan.failed, pod)
			case pod.Status.Phase == corev1.PodSucceeded:
				plan.succeeded = append(plan.succeeded, pod)
			default:
				running = append(running, pod)
			}
		}
		sortPods(running)
		if !allowsSurge(ds) {
			if len(running) > 1 {
				plan.remove = append(plan.remove, running[1:]...)
			}
			break
		}
		if len(running) <= 1 {
			// While surging a node must keep one live pod: once the failed or
			// finished ones go, a new one replaces them.
			plan.create = len(running) == 0 && shouldRun
			break
		}
		var oldestNew, oldestOld *corev1.Pod
		for _, pod := range running {
			if isPodUpdated(pod, ds, hash) {
				if oldestNew == nil {
					oldestNew = pod
					continue
				}
			} else if oldestOld == nil {
				oldestOld = pod
				continue
			}
			plan.remove = append(plan.remove, pod)
		}
		if oldestNew != nil && oldestOld != nil {
			switch {
			case !controllerutil.IsPodReady(oldestOld):
				plan.remove = append(plan.remove, oldestOld)
			case controllerutil.IsPodAvailable(oldestNew, ds.Spec.MinReadySeconds, now):
				plan.remove = append(plan.remove, oldestOld)
			}
		}
	case len(pods) > 0:
		for _, pod := range pods {
			if pod.DeletionTimestamp == nil {
				plan.remove = append(plan.remove, pod)
			}
		}
	}
	return plan
}

// sortPods orders daemon pods as Kubernetes' podByCreationTimestampAndPhase:
// bound pods first, then oldest first, then by name.
func sortPods(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName != "") != (b.Spec.NodeName != "") {
			return a.Spec.NodeName != ""
		}
		if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.Name < b.Name
		}
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	})
}

// surgeCount is maxSurge scaled to desired (percentages round up); zero unless
// the strategy is RollingUpdate.
func surgeCount(ds *appsv1.DaemonSet, desired int) (int, error) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil || ru.MaxSurge == nil {
		return 0, nil
	}
	return intstr.GetScaledValueFromIntOrPercent(ru.MaxSurge, desired, true)
}

// unavailableCount is maxUnavailable scaled to desired (percentages round up).
func unavailableCount(ds *appsv1.DaemonSet, desired int) (int, error) {
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType || ru == nil || ru.MaxUnavailable == nil {
		return 0, nil
	}
	return intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, desired, true)
}

// allowsSurge: the DaemonSet may run two pods on a node during an update.
func allowsSurge(ds *appsv1.DaemonSet) bool {
	n, err := surgeCount(ds, 1)
	return err == nil && n > 0
}

// findUpdatedPodsOnNode returns the node's live updated and old pod, or ok
// false when there is more than one of either (manage prunes those first).
func findUpdatedPodsOnNode(ds *appsv1.DaemonSet, pods []*corev1.Pod, hash string) (newPod, oldPod *corev1.Pod, ok bool) {
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if isPodUpdated(pod, ds, hash) {
			if newPod != nil {
				return nil, nil, false
			}
			newPod = pod
		} else {
			if oldPod != nil {
				return nil, nil, false
			}
			oldPod = pod
		}
	}
	return newPod, oldPod, true
}

// rollingPlan is what a rolling update step does.
type rollingPlan struct {
	remove []*corev1.Pod
	create []string // nodes that get a surge pod
}

// planRollingUpdate is one step of a RollingUpdate, Kubernetes' rollingUpdate:
//
// Without surge, old pods are deleted (and manage recreates them at the new
// revision) while at most maxUnavailable desired nodes lack an available pod:
// nodes with no pod, with a new pod not yet available, or in the middle of a
// replacement count against it; an old pod that is not available anyway is
// replaced at once without counting twice.
//
// With surge, a new pod is started next to an old one on up to maxSurge nodes
// at a time (at once where the old pod is unavailable), and the old pod is
// deleted when the new one is available: availability never drops.
//
// Nodes are looked at in name order so that a step is deterministic.
func planRollingUpdate(ds *appsv1.DaemonSet, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string, now time.Time) (rollingPlan, error) {
	var plan rollingPlan
	byName := make(map[string]*corev1.Node, len(nodes))
	desired := 0
	candidates := map[string][]*corev1.Pod{}
	for name, pods := range nodeToPods {
		candidates[name] = pods
	}
	for _, node := range nodes {
		byName[node.Name] = node
		if shouldRun, _ := nodeShouldRunDaemonPod(node, ds); shouldRun {
			desired++
			if _, ok := candidates[node.Name]; !ok {
				candidates[node.Name] = nil
			}
		}
	}
	maxUnavailable, err := unavailableCount(ds, desired)
	if err != nil {
		return plan, fmt.Errorf("invalid maxUnavailable: %w", err)
	}
	maxSurge, err := surgeCount(ds, desired)
	if err != nil {
		return plan, fmt.Errorf("invalid maxSurge: %w", err)
	}
	if desired > 0 && maxUnavailable == 0 && maxSurge == 0 {
		// Validation forbids this; should it happen anyway, an update that
		// can never proceed helps nobody. Kubernetes falls back to 1 too.
		maxUnavailable = 1
	}
	names := make([]string, 0, len(candidates))
	for name := range candidates {
		names = append(names, name)
	}
	slices.Sort(names)
	available := func(p *corev1.Pod) bool { return controllerutil.IsPodAvailable(p, ds.Spec.MinReadySeconds, now) }
	shouldRunOn := func(name string) bool {
		node, ok := byName[name]
		if !ok {
			return false
		}
		shouldRun, _ := nodeShouldRunDaemonPod(node, ds)
		return shouldRun
	}

	if maxSurge == 0 {
		unavailable := 0
		var replace, candidatesToDelete []*corev1.Pod
		for _, name := range names {
			newPod, oldPod, ok := findUpdatedPodsOnNode(ds, candidates[name], hash)
			if !ok {
				unavailable++ // manage prunes the extra pods first
				continue
			}
			switch {
			case oldPod == nil && newPod == nil, oldPod != nil && newPod != nil:
				unavailable++ // manage creates, or deletes the old one
			case newPod != nil:
				if !available(newPod) {
					unavailable++
				}
			case !available(oldPod):
				replace = append(replace, oldPod)
				unavailable++
			case unavailable >= maxUnavailable:
			default:
				candidatesToDelete = append(candidatesToDelete, oldPod)
			}
		}
		room := min(max(maxUnavailable-unavailable, 0), len(candidatesToDelete))
		plan.remove = append(replace, candidatesToDelete[:room]...)
		return plan, nil
	}

	var shouldNotRun []*corev1.Pod
	var allowedNew, candidateNew []string
	surging, availableNow := 0, 0
	for _, name := range names {
		newPod, oldPod, ok := findUpdatedPodsOnNode(ds, candidates[name], hash)
		if !ok {
			surging++
			continue
		}
		switch {
		case oldPod != nil && available(oldPod), oldPod == nil && newPod != nil && available(newPod):
			availableNow++
		}
		switch {
		case oldPod == nil:
			// manage takes care of this node
		case newPod == nil:
			switch {
			case !available(oldPod):
				if !shouldRunOn(name) {
					plan.remove = append(plan.remove, oldPod)
					continue
				}
				allowedNew = append(allowedNew, name)
			case !shouldRunOn(name):
				shouldNotRun = append(shouldNotRun, oldPod)
			case surging >= maxSurge:
			default:
				candidateNew = append(candidateNew, name)
			}
		default:
			if !available(newPod) {
				surging++
				continue
			}
			plan.remove = append(plan.remove, oldPod)
		}
	}
	// With surge the owner asked for full availability: a pod on a node that
	// no longer qualifies goes only once enough pods elsewhere are available.
	if deletable := min(availableNow-desired, len(shouldNotRun)); deletable > 0 {
		plan.remove = append(plan.remove, shouldNotRun[:deletable]...)
	}
	room := min(max(maxSurge-surging, 0), len(candidateNew))
	plan.create = append(allowedNew, candidateNew[:room]...)
	return plan, nil
}

// computeStatus counts, per node, what Kubernetes' updateDaemonSetStatus
// counts: desired nodes, those with a pod (current), whose oldest pod is ready,
// available (ready for minReadySeconds) and updated, and nodes running a pod
// they should not (misscheduled).
func computeStatus(ds *appsv1.DaemonSet, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string, now time.Time) appsv1.DaemonSetStatus {
	var st appsv1.DaemonSetStatus
	for _, node := range nodes {
		shouldRun, _ := nodeShouldRunDaemonPod(node, ds)
		pods := nodeToPods[node.Name]
		scheduled := len(pods) > 0
		if !shouldRun {
			if scheduled {
				st.NumberMisscheduled++
			}
			continue
		}
		st.DesiredNumberScheduled++
		if !scheduled {
			continue
		}
		st.CurrentNumberScheduled++
		sorted := slices.Clone(pods)
		sortPods(sorted)
		pod := sorted[0]
		if controllerutil.IsPodReady(pod) {
			st.NumberReady++
			if controllerutil.IsPodAvailable(pod, ds.Spec.MinReadySeconds, now) {
				st.NumberAvailable++
			}
		}
		if isPodUpdated(pod, ds, hash) {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	return st
}

// podNames is for logs and events.
func podNames(pods []*corev1.Pod) string {
	names := make([]string, len(pods))
	for i, p := range pods {
		names[i] = p.Name
	}
	return strings.Join(names, ",")
}
