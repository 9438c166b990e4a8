package scheduler

import (
	"math"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// maxNodeScore is the top of every score's scale (framework.MaxNodeScore).
const maxNodeScore int64 = 100

// Score weights: kube-scheduler's default profile.
const (
	weightTaints   = 3
	weightAffinity = 2 // NodeAffinity
	weightFit      = 1 // NodeResourcesFit, LeastAllocated
	weightBalanced = 1 // NodeResourcesBalancedAllocation
	weightSpread   = 2 // PodTopologySpread
	weightPodAff   = 2 // InterPodAffinity
)

// score totals the weighted scores of the feasible nodes.
func (c *cycle) score(feasible []*NodeInfo) []int64 {
	total := make([]int64, len(feasible))
	add := func(w int64, s []int64) {
		for i := range s {
			total[i] += w * s[i]
		}
	}
	fit, balanced := make([]int64, len(feasible)), make([]int64, len(feasible))
	for i, ni := range feasible {
		fit[i] = c.leastAllocated(ni)
		balanced[i] = c.balancedAllocation(ni)
	}
	add(weightFit, fit)
	add(weightBalanced, balanced)
	add(weightTaints, c.taintScores(feasible))
	add(weightAffinity, c.nodeAffinityScores(feasible))
	add(weightSpread, c.spreadScores(feasible))
	add(weightPodAff, c.affinityScores(feasible))
	return total
}

// leastAllocated favours nodes with more room left, cpu and memory weighing
// the same, counting containers without requests as 100m/200Mi
// (NodeResourcesFit with the LeastAllocated strategy).
func (c *cycle) leastAllocated(ni *NodeInfo) int64 {
	free := func(requested, capacity int64) int64 {
		if capacity == 0 || requested > capacity {
			return 0
		}
		return (capacity - requested) * maxNodeScore / capacity
	}
	cpu := free(ni.NonZeroRequested.MilliCPU+c.pod.NonZero.MilliCPU, ni.Allocatable.MilliCPU)
	mem := free(ni.NonZeroRequested.Memory+c.pod.NonZero.Memory, ni.Allocatable.Memory)
	return (cpu + mem) / 2
}

// balancedAllocation favours nodes whose cpu and memory would be used in the
// same proportion after placing the pod: 100 * (1 - standard deviation of
// the two fractions). Best-effort pods are not scored, as in kube-scheduler.
func (c *cycle) balancedAllocation(ni *NodeInfo) int64 {
	if c.pod.Requests.MilliCPU == 0 && c.pod.Requests.Memory == 0 {
		return 0
	}
	fraction := func(requested, capacity int64) float64 {
		if capacity == 0 {
			return 1
		}
		return math.Min(1, float64(requested)/float64(capacity))
	}
	cpu := fraction(ni.Requested.MilliCPU+c.pod.Requests.MilliCPU, ni.Allocatable.MilliCPU)
	mem := fraction(ni.Requested.Memory+c.pod.Requests.Memory, ni.Allocatable.Memory)
	std := math.Abs(cpu-mem) / 2
	return int64((1 - std) * float64(maxNodeScore))
}

// taintScores: fewer PreferNoSchedule taints the pod does not tolerate is
// better; normalized so the worst node gets 0 (TaintToleration Score).
func (c *cycle) taintScores(feasible []*NodeInfo) []int64 {
	var tolerations []corev1.Toleration
	for _, t := range c.pod.Pod.Spec.Tolerations {
		if t.Effect == "" || t.Effect == corev1.TaintEffectPreferNoSchedule {
			tolerations = append(tolerations, t)
		}
	}
	counts := make([]int64, len(feasible))
	var highest int64
	for i, ni := range feasible {
		for j := range ni.Taints {
			t := &ni.Taints[j]
			if t.Effect == corev1.TaintEffectPreferNoSchedule && !tolerates(tolerations, t) {
				counts[i]++
			}
		}
		highest = max(highest, counts[i])
	}
	scores := make([]int64, len(feasible))
	for i := range counts {
		if highest == 0 {
			scores[i] = maxNodeScore
		} else {
			scores[i] = maxNodeScore - counts[i]*maxNodeScore/highest
		}
	}
	return scores
}

// nodeAffinityScores sums the weights of the preferred node affinity terms a
// node matches, normalized so the best node gets 100 (NodeAffinity Score).
func (c *cycle) nodeAffinityScores(feasible []*NodeInfo) []int64 {
	scores := make([]int64, len(feasible))
	a := c.pod.Pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		return scores
	}
	terms, err := nodeaffinity.NewPreferredSchedulingTerms(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	if err != nil {
		return scores
	}
	var highest int64
	for i, ni := range feasible {
		scores[i] = terms.Score(ni.Node)
		highest = max(highest, scores[i])
	}
	for i := range scores {
		if highest > 0 {
			scores[i] = scores[i] * maxNodeScore / highest
		}
	}
	return scores
}
