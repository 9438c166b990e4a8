package nodelifecycle

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/flowcontrol"
)

var (
	unreachableNoExecute = corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	notReadyNoExecute    = corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
)

// conditionTaints maps node conditions to the NoSchedule taints Kubernetes puts
// on a node in that state (TaintNodesByCondition), so the scheduler, which
// only looks at taints, keeps new pods off it.
var conditionTaints = map[corev1.NodeConditionType]map[corev1.ConditionStatus]string{
	corev1.NodeReady: {
		corev1.ConditionFalse:   corev1.TaintNodeNotReady,
		corev1.ConditionUnknown: corev1.TaintNodeUnreachable,
	},
	corev1.NodeMemoryPressure:     {corev1.ConditionTrue: corev1.TaintNodeMemoryPressure},
	corev1.NodeDiskPressure:       {corev1.ConditionTrue: corev1.TaintNodeDiskPressure},
	corev1.NodeNetworkUnavailable: {corev1.ConditionTrue: corev1.TaintNodeNetworkUnavailable},
	corev1.NodePIDPressure:        {corev1.ConditionTrue: corev1.TaintNodePIDPressure},
}

// managedNoScheduleKeys are the NoSchedule taint keys this controller owns.
var managedNoScheduleKeys = func() map[string]bool {
	keys := map[string]bool{corev1.TaintNodeUnschedulable: true}
	for _, m := range conditionTaints {
		for _, k := range m {
			keys[k] = true
		}
	}
	return keys
}()

// noScheduleDiff compares the NoSchedule taints the node's conditions and
// spec.unschedulable call for with the managed ones it carries. Taints set by
// users are never touched.
func noScheduleDiff(node *corev1.Node) (add, remove []corev1.Taint) {
	var want []corev1.Taint
	for _, c := range node.Status.Conditions {
		if key, ok := conditionTaints[c.Type][c.Status]; ok {
			want = append(want, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
		}
	}
	if node.Spec.Unschedulable {
		want = append(want, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	var have []corev1.Taint
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule && managedNoScheduleKeys[t.Key] {
			have = append(have, t)
		}
	}
	for _, w := range want {
		if !hasTaint(have, w) {
			add = append(add, w)
		}
	}
	for _, h := range have {
		if !hasTaint(want, h) {
			remove = append(remove, h)
		}
	}
	return add, remove
}

// hasTaint matches by key and effect, the pair taints are unique by.
func hasTaint(taints []corev1.Taint, t corev1.Taint) bool {
	return slices.ContainsFunc(taints, func(x corev1.Taint) bool { return x.Key == t.Key && x.Effect == t.Effect })
}

// applyTaints returns taints without remove and with add (those not there
// yet), and whether that changed anything.
func applyTaints(taints, add, remove []corev1.Taint) ([]corev1.Taint, bool) {
	out := make([]corev1.Taint, 0, len(taints)+len(add))
	changed := false
	for _, t := range taints {
		if hasTaint(remove, t) {
			changed = true
			continue
		}
		out = append(out, t)
	}
	for _, t := range add {
		if !hasTaint(out, t) {
			out = append(out, t)
			changed = true
		}
	}
	return out, changed
}

// zoneState is how healthy a zone's nodes are, as Kubernetes computes it to
// slow or stop evictions when many nodes fail at once (more likely a network
// partition of the control plane than of the nodes).
type zoneState int

const (
	zoneNormal zoneState = iota
	zonePartialDisruption
	zoneFullDisruption
)

func (s zoneState) String() string {
	return [...]string{"Normal", "PartialDisruption", "FullDisruption"}[s]
}

// computeZoneState follows Kubernetes: no ready node is full disruption; more
// than two not-ready nodes making at least unhealthyThreshold of the zone is
// partial disruption.
func computeZoneState(ready, notReady int, unhealthyThreshold float64) zoneState {
	switch {
	case ready == 0 && notReady > 0:
		return zoneFullDisruption
	case notReady > 2 && float64(notReady)/float64(notReady+ready) >= unhealthyThreshold:
		return zonePartialDisruption
	default:
		return zoneNormal
	}
}

// taintRate is how many nodes per second of a zone in state s get NoExecute
// taints: the normal rate, a reduced one for partially disrupted large zones
// and none for partially disrupted small ones. A fully disrupted zone keeps the
// normal rate (unless every zone is, which the caller handles by stopping
// altogether).
func taintRate(cfg *Config, s zoneState, zoneSize int) float64 {
	switch s {
	case zonePartialDisruption:
		if zoneSize > cfg.LargeClusterThreshold {
			return cfg.SecondaryEvictionRate
		}
		return 0
	default:
		return cfg.EvictionRate
	}
}

// zoneKey groups nodes by region and zone labels, the deprecated beta labels
// as fallback, as Kubernetes does.
func zoneKey(node *corev1.Node) string {
	region := node.Labels[corev1.LabelTopologyRegion]
	if region == "" {
		region = node.Labels[corev1.LabelFailureDomainBetaRegion]
	}
	zone := node.Labels[corev1.LabelTopologyZone]
	if zone == "" {
		zone = node.Labels[corev1.LabelFailureDomainBetaZone]
	}
	if region == "" && zone == "" {
		return ""
	}
	return region + ":\x00:" + zone
}

// taintQueue holds a zone's nodes waiting for their NoExecute taint, first in
// first out, released at the zone's rate.
type taintQueue struct {
	limiter flowcontrol.PassiveRateLimiter // nil: stopped
	rate    float64
	order   []string
	queued  map[string]bool
}

func newTaintQueue(rate float64) *taintQueue {
	q := &taintQueue{queued: map[string]bool{}}
	q.setRate(rate)
	return q
}

func (q *taintQueue) setRate(rate float64) {
	if q.limiter != nil && q.rate == rate {
		return
	}
	if q.limiter != nil {
		q.limiter.Stop()
	}
	q.rate, q.limiter = rate, nil
	if rate > 0 {
		q.limiter = flowcontrol.NewTokenBucketPassiveRateLimiter(float32(rate), 1)
	}
}

func (q *taintQueue) add(name string) {
	if !q.queued[name] {
		q.queued[name] = true
		q.order = append(q.order, name)
	}
}

func (q *taintQueue) remove(name string) {
	if q.queued[name] {
		delete(q.queued, name)
		q.order = slices.DeleteFunc(q.order, func(n string) bool { return n == name })
	}
}

// next pops the first node if the rate allows it now.
func (q *taintQueue) next() (string, bool) {
	if len(q.order) == 0 || q.limiter == nil || !q.limiter.TryAccept() {
		return "", false
	}
	name := q.order[0]
	q.order = q.order[1:]
	delete(q.queued, name)
	return name, true
}
