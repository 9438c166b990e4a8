package scheduler

import (
	"maps"
	"math"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
)

// spreadConstraint is a parsed TopologySpreadConstraint.
type spreadConstraint struct {
	maxSkew    int64
	key        string
	minDomains int64
	selector   labels.Selector
	// owner, when set, replaces the selector: the pods that count are the ones
	// with the same controller. The system default spreading uses it.
	owner         types.UID
	honorAffinity bool // nodeAffinityPolicy: Honor (the default)
	honorTaints   bool // nodeTaintsPolicy: Honor (default Ignore)
}

// matches reports whether an existing pod counts for the constraint: same
// namespace as the incoming pod, not terminating, and selected.
func (sc *spreadConstraint) matches(p *corev1.Pod, namespace string) bool {
	if p.Namespace != namespace || p.DeletionTimestamp != nil {
		return false
	}
	if sc.owner != "" {
		return controllerUID(p) == sc.owner
	}
	return sc.selector.Matches(labels.Set(p.Labels))
}

// addCounts adds, for every node ok accepts, the pods the constraint selects
// there to counts under the node's value of the constraint's key: by
// controller from the nodes' own counts, else by label group.
func (sc *spreadConstraint) addCounts(s *Snapshot, namespace string, counts map[string]int64, ok func(*NodeInfo) bool) {
	add := func(ni *NodeInfo, n int64) {
		if v, has := ni.Node.Labels[sc.key]; has && ok(ni) {
			counts[v] += n
		}
	}
	if sc.owner != "" {
		for _, ni := range s.Nodes {
			if n := ni.ByController[sc.owner]; n > 0 {
				add(ni, int64(n))
			}
		}
		return
	}
	for _, grp := range s.labelGroups() {
		if sc.matches(grp.pod.Pod, namespace) {
			s.eachNode(grp, add)
		}
	}
}

func controllerUID(p *corev1.Pod) types.UID {
	if ref := metav1.GetControllerOfNoCopy(p); ref != nil {
		return ref.UID
	}
	return ""
}

// spreadConstraints parses the pod's constraints with the given
// whenUnsatisfiable. matchLabelKeys add "key in (my value)" to the selector.
func spreadConstraints(pod *corev1.Pod, action corev1.UnsatisfiableConstraintAction) []spreadConstraint {
	var out []spreadConstraint
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != action {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			continue
		}
		for _, k := range c.MatchLabelKeys {
			if v, ok := pod.Labels[k]; ok {
				if r, err := labels.NewRequirement(k, selection.In, []string{v}); err == nil {
					sel = sel.Add(*r)
				}
			}
		}
		sc := spreadConstraint{maxSkew: int64(c.MaxSkew), key: c.TopologyKey, minDomains: 1, selector: sel, honorAffinity: true}
		if c.MinDomains != nil {
			sc.minDomains = int64(*c.MinDomains)
		}
		if c.NodeAffinityPolicy != nil && *c.NodeAffinityPolicy == corev1.NodeInclusionPolicyIgnore {
			sc.honorAffinity = false
		}
		if c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor {
			sc.honorTaints = true
		}
		out = append(out, sc)
	}
	return out
}

// systemDefaultSpread is kube-scheduler's default for pods that state no
// constraints but belong to a controller: spread softly over nodes (maxSkew 3)
// and zones (maxSkew 5). Kubernetes selects the pods by the selectors of the
// pod's services and controllers; pods of the same controller are our
// approximation, with no extra watches.
func systemDefaultSpread(pod *corev1.Pod) []spreadConstraint {
	uid := controllerUID(pod)
	if uid == "" || len(pod.Spec.TopologySpreadConstraints) > 0 {
		return nil
	}
	return []spreadConstraint{
		{maxSkew: 3, key: corev1.LabelHostname, minDomains: 1, owner: uid, honorAffinity: true},
		{maxSkew: 5, key: corev1.LabelTopologyZone, minDomains: 1, owner: uid, honorAffinity: true},
	}
}

// spreadState is PodTopologySpread's filter precomputation: per hard
// constraint, how many matching pods each domain holds among the eligible
// nodes, and the smallest count.
type spreadState struct {
	constraints []spreadConstraint
	counts      []map[string]int64
	min         []int64
	self        []int64 // 1 where the constraint selects the pod itself
	eligible    []bool  // by the node's place in the snapshot
}

// eligibleForSpread: a node counts for a constraint's domains when it has all
// the topology keys, matches the pod's node affinity (nodeAffinityPolicy
// Honor) and, with nodeTaintsPolicy Honor, carries no taint the pod does not
// tolerate.
func (c *cycle) eligibleForSpread(ni *NodeInfo, cs []spreadConstraint, requireAllKeys bool) bool {
	if requireAllKeys {
		for i := range cs {
			if _, ok := ni.Node.Labels[cs[i].key]; !ok {
				return false
			}
		}
	}
	honorAffinity, honorTaints := false, false
	for i := range cs {
		honorAffinity = honorAffinity || cs[i].honorAffinity
		honorTaints = honorTaints || cs[i].honorTaints
	}
	if honorAffinity && c.filterNodeAffinity(ni) != nil {
		return false
	}
	if honorTaints && c.filterTaints(ni) != nil {
		return false
	}
	return true
}

func newSpreadState(c *cycle) *spreadState {
	cs := spreadConstraints(c.pod.Pod, corev1.DoNotSchedule)
	if len(cs) == 0 {
		return nil
	}
	st := &spreadState{constraints: cs, counts: make([]map[string]int64, len(cs)), min: make([]int64, len(cs)),
		self: make([]int64, len(cs)), eligible: make([]bool, len(c.snap.Nodes))}
	ns := c.pod.Pod.Namespace
	for i := range st.counts {
		st.counts[i] = map[string]int64{}
		if cs[i].matches(c.pod.Pod, ns) {
			st.self[i] = 1
		}
	}
	for _, ni := range c.snap.Nodes {
		if !c.eligibleForSpread(ni, cs, true) {
			continue
		}
		st.eligible[ni.pos] = true
		// Every eligible domain counts, the empty ones too: they set the minimum.
		for i := range cs {
			st.counts[i][ni.Node.Labels[cs[i].key]] += 0
		}
	}
	eligible := func(ni *NodeInfo) bool { return st.eligible[ni.pos] }
	for i := range cs {
		cs[i].addCounts(c.snap, ns, st.counts[i], eligible)
	}
	st.computeMin()
	return st
}

func (st *spreadState) computeMin() {
	for i, m := range st.counts {
		lowest := int64(math.MaxInt64)
		for _, n := range m {
			lowest = min(lowest, n)
		}
		// Fewer domains than minDomains: the global minimum is taken as 0, so
		// pods keep going into new domains.
		if int64(len(m)) < st.constraints[i].minDomains || lowest == math.MaxInt64 {
			lowest = 0
		}
		st.min[i] = lowest
	}
}

func (st *spreadState) clone() *spreadState {
	if st == nil {
		return nil
	}
	c := &spreadState{constraints: st.constraints, counts: make([]map[string]int64, len(st.counts)), min: append([]int64(nil), st.min...),
		self: st.self, eligible: st.eligible}
	for i, m := range st.counts {
		c.counts[i] = maps.Clone(m)
	}
	return c
}

// updateWith accounts for pod p appearing on (+1) or leaving (-1) node ni.
func (st *spreadState) updateWith(pod *PodInfo, p *PodInfo, ni *NodeInfo, delta int64) {
	if st == nil || !st.eligible[ni.pos] {
		return
	}
	for i := range st.constraints {
		if st.constraints[i].matches(p.Pod, pod.Pod.Namespace) {
			st.counts[i][ni.Node.Labels[st.constraints[i].key]] += delta
		}
	}
	st.computeMin()
}

// filter: placing the pod on ni must keep each hard constraint's skew (the
// domain's count plus the pod, minus the smallest count) within maxSkew.
func (st *spreadState) filter(pod *PodInfo, ni *NodeInfo) *status {
	if st == nil {
		return nil
	}
	for i := range st.constraints {
		sc := &st.constraints[i]
		v, ok := ni.Node.Labels[sc.key]
		if !ok {
			return fail(unresolvable, reasonSpreadMissingKey)
		}
		if st.counts[i][v]+st.self[i]-st.min[i] > sc.maxSkew {
			return fail(unschedulable, reasonSpread)
		}
	}
	return nil
}

// spreadScores is PodTopologySpread's score for ScheduleAnyway constraints (or
// the system default): fewer matching pods in a node's domains is better.
// Each constraint weighs log(domains+2), so spreading over many nodes counts as
// much as over a few zones.
func (c *cycle) spreadScores(feasible []*NodeInfo) []int64 {
	scores := make([]int64, len(feasible))
	cs := spreadConstraints(c.pod.Pod, corev1.ScheduleAnyway)
	requireAllKeys := true
	if len(c.pod.Pod.Spec.TopologySpreadConstraints) == 0 {
		cs = systemDefaultSpread(c.pod.Pod)
		requireAllKeys = false
	}
	if len(cs) == 0 {
		return scores
	}
	ns := c.pod.Pod.Namespace
	isFeasible := make([]bool, len(c.snap.Nodes))
	for _, ni := range feasible {
		isFeasible[ni.pos] = true
	}
	counts := make([]map[string]int64, len(cs))
	for i := range counts {
		counts[i] = map[string]int64{}
	}
	eligible := make([]bool, len(c.snap.Nodes))
	for _, ni := range c.snap.Nodes {
		if !c.eligibleForSpread(ni, cs, requireAllKeys) {
			continue
		}
		eligible[ni.pos] = true
		for i := range cs {
			v, ok := ni.Node.Labels[cs[i].key]
			if !ok {
				continue
			}
			// Domains of the hostname key are the nodes being scored only.
			if cs[i].key == corev1.LabelHostname && !isFeasible[ni.pos] {
				continue
			}
			counts[i][v] += 0
		}
	}
	for i := range cs {
		hostname := cs[i].key == corev1.LabelHostname
		cs[i].addCounts(c.snap, ns, counts[i], func(ni *NodeInfo) bool {
			return eligible[ni.pos] && (!hostname || isFeasible[ni.pos])
		})
	}
	weights := make([]float64, len(cs))
	for i := range cs {
		weights[i] = math.Log(float64(len(counts[i]) + 2))
	}
	ignored := make([]bool, len(feasible))
	raw := make([]int64, len(feasible))
	minS, maxS := int64(math.MaxInt64), int64(0)
	for j, ni := range feasible {
		if requireAllKeys {
			for i := range cs {
				if _, ok := ni.Node.Labels[cs[i].key]; !ok {
					ignored[j] = true
				}
			}
		}
		if ignored[j] {
			continue
		}
		var s float64
		for i := range cs {
			v, ok := ni.Node.Labels[cs[i].key]
			if !ok {
				continue
			}
			s += float64(counts[i][v])*weights[i] + float64(cs[i].maxSkew-1)
		}
		raw[j] = int64(math.Round(s))
		minS, maxS = min(minS, raw[j]), max(maxS, raw[j])
	}
	for j := range feasible {
		switch {
		case ignored[j]:
			scores[j] = 0
		case maxS == 0:
			scores[j] = maxNodeScore
		default:
			scores[j] = maxNodeScore * (maxS + minS - raw[j]) / maxS
		}
	}
	return scores
}
