package replicaset

import (
	"math"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/appliance/appliance/appliance/controllers/controllerutil"
)

// DeletionCostAnnotation lets users rank pods for scale-down: lower cost goes
// first (Kubernetes' controller.kubernetes.io/pod-deletion-cost, an int32).
const DeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// podsToDelete returns the n pods to delete first among pods. related (the pods
// of all ReplicaSets of the same owner) gives each pod's node crowding.
func podsToDelete(pods, related []*corev1.Pod, n int, minReadySeconds int32, now time.Time) []*corev1.Pod {
	if n >= len(pods) {
		return pods
	}
	onNode := map[string]int{}
	for _, p := range related {
		if controllerutil.IsPodActive(p) {
			onNode[p.Spec.NodeName]++
		}
	}
	r := ranked{pods: append([]*corev1.Pod(nil), pods...), colocated: make([]int, len(pods)), minReadySeconds: minReadySeconds, now: now}
	for i, p := range r.pods {
		r.colocated[i] = onNode[p.Spec.NodeName]
	}
	sort.Sort(r)
	return r.pods[:n]
}

// ranked orders pods from the most to the least deletable, as Kubernetes'
// ActivePodsWithRanks does: whatever costs the least availability goes first.
//  1. not yet scheduled before scheduled;
//  2. Pending before Unknown before Running;
//  3. not ready before ready;
//  4. (ours) ready but not yet available (minReadySeconds) before available:
//     Kubernetes leaves this as a TODO; it keeps a rolling update from removing
//     an available pod while a merely ready one exists;
//  5. lower pod-deletion-cost before higher;
//  6. more pods of the same owner on its node before fewer (spreads what stays);
//  7. ready for a shorter time before longer;
//  8. more container restarts before fewer;
//  9. created more recently before older.
//
// In 7 and 9 times are compared on a log2 scale of their age, ties broken by
// UID: pods of a similar age are picked pseudo-randomly, so repeated scale-up and
// scale-down cycles do not always remove the newest pods (Kubernetes'
// LogarithmicScaleDown).
type ranked struct {
	pods            []*corev1.Pod
	colocated       []int
	minReadySeconds int32
	now             time.Time
}

func (r ranked) Len() int { return len(r.pods) }

func (r ranked) Swap(i, j int) {
	r.pods[i], r.pods[j] = r.pods[j], r.pods[i]
	r.colocated[i], r.colocated[j] = r.colocated[j], r.colocated[i]
}

var phaseOrder = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

func (r ranked) Less(i, j int) bool {
	a, b := r.pods[i], r.pods[j]
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if pa, pb := phaseOrder[a.Status.Phase], phaseOrder[b.Status.Phase]; pa != pb {
		return pa < pb
	}
	readyA, readyB := controllerutil.IsPodReady(a), controllerutil.IsPodReady(b)
	if readyA != readyB {
		return !readyA
	}
	if r.minReadySeconds > 0 {
		availA := controllerutil.IsPodAvailable(a, r.minReadySeconds, r.now)
		availB := controllerutil.IsPodAvailable(b, r.minReadySeconds, r.now)
		if availA != availB {
			return !availA
		}
	}
	if ca, cb := deletionCost(a), deletionCost(b); ca != cb {
		return ca < cb
	}
	if r.colocated[i] != r.colocated[j] {
		return r.colocated[i] > r.colocated[j]
	}
	if readyA && readyB {
		ta, tb := readyTime(a), readyTime(b)
		if !ta.Equal(tb) {
			if less, decided := r.newer(ta, tb, a, b); decided {
				return less
			}
		}
	}
	if ra, rb := maxRestarts(a), maxRestarts(b); ra != rb {
		return ra > rb
	}
	ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time
	if !ta.Equal(tb) {
		if less, decided := r.newer(ta, tb, a, b); decided {
			return less
		}
	}
	return false
}

// newer reports whether time ta (of pod a) ranks before tb (of pod b): zero
// times first, then younger on a log2 scale of age, then by UID.
func (r ranked) newer(ta, tb time.Time, a, b *corev1.Pod) (less, decided bool) {
	if ta.IsZero() || tb.IsZero() || r.now.IsZero() {
		if ta.IsZero() || tb.IsZero() {
			return ta.IsZero(), true
		}
		return ta.After(tb), true
	}
	ba, bb := ageBucket(r.now.Sub(ta)), ageBucket(r.now.Sub(tb))
	if ba != bb {
		return ba < bb, true
	}
	if a.UID != b.UID {
		return a.UID < b.UID, true
	}
	return false, false
}

func ageBucket(d time.Duration) int64 {
	if d <= 0 {
		return -1
	}
	return int64(math.Log2(float64(d)))
}

func readyTime(p *corev1.Pod) time.Time {
	if c := controllerutil.PodReadyCondition(p); c != nil && c.Status == corev1.ConditionTrue {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}

func maxRestarts(p *corev1.Pod) int32 {
	var n int32
	for _, c := range p.Status.ContainerStatuses {
		n = max(n, c.RestartCount)
	}
	return n
}

// deletionCost reads the pod-deletion-cost annotation; absent or invalid is 0,
// as in Kubernetes (the API server validates it there; an invalid one here is
// simply ignored).
func deletionCost(p *corev1.Pod) int32 {
	v, ok := p.Annotations[DeletionCostAnnotation]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}
