package scheduler

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// topologyPair is one topology domain: a node label key and its value
// ("kubernetes.io/hostname" = "node-a", "topology.kubernetes.io/zone" = "z1").
type topologyPair struct{ key, value string }

type pairCounts map[topologyPair]int64

// update adds delta, dropping pairs that fall to zero so that an empty map
// means "no pod matches anywhere" (the first-pod rule of pod affinity needs it).
func (m pairCounts) update(key, value string, delta int64) {
	p := topologyPair{key, value}
	m[p] += delta
	if m[p] == 0 {
		delete(m, p)
	}
}

// affinityState is the inter-pod affinity precomputation of one cycle, as
// kube-scheduler's InterPodAffinity PreFilter builds it: in which topology
// domains the pods are that the incoming pod must join or avoid, and the domains
// whose pods' required anti-affinity rejects the incoming pod.
type affinityState struct {
	existingAnti pairCounts // domains where a pod's required anti-affinity matches the incoming pod
	affinity     pairCounts // domains with pods that match all the pod's required affinity terms
	anti         pairCounts // domains with pods that match a required anti-affinity term of the pod
	nsLabels     map[string]labels.Set
}

func newAffinityState(s *Snapshot, pod *PodInfo) *affinityState {
	st := &affinityState{existingAnti: pairCounts{}, affinity: pairCounts{}, anti: pairCounts{}, nsLabels: s.NamespaceLabels}
	// The existing pods' required anti-affinity terms that match the pod.
	for _, grp := range s.affinityGroups() {
		for i := range grp.pod.RequiredAntiAffinity {
			t := &grp.pod.RequiredAntiAffinity[i]
			if !t.matches(pod.Pod, st.nsLabels) {
				continue
			}
			s.eachNode(grp, func(ni *NodeInfo, n int64) {
				if v, ok := ni.Node.Labels[t.topologyKey]; ok {
					st.existingAnti.update(t.topologyKey, v, n)
				}
			})
		}
	}
	if len(pod.RequiredAffinity)+len(pod.RequiredAntiAffinity) == 0 {
		return st
	}
	// The existing pods the pod's own required terms select.
	var anti []*affinityTerm
	for _, grp := range s.labelGroups() {
		e := grp.pod.Pod
		all := len(pod.RequiredAffinity) > 0 && matchesAllTerms(pod.RequiredAffinity, e, st.nsLabels)
		anti = anti[:0]
		for i := range pod.RequiredAntiAffinity {
			if t := &pod.RequiredAntiAffinity[i]; t.matches(e, st.nsLabels) {
				anti = append(anti, t)
			}
		}
		if !all && len(anti) == 0 {
			continue
		}
		s.eachNode(grp, func(ni *NodeInfo, n int64) {
			nodeLabels := ni.Node.Labels
			if all {
				for i := range pod.RequiredAffinity {
					t := &pod.RequiredAffinity[i]
					if v, ok := nodeLabels[t.topologyKey]; ok {
						st.affinity.update(t.topologyKey, v, n)
					}
				}
			}
			for _, t := range anti {
				if v, ok := nodeLabels[t.topologyKey]; ok {
					st.anti.update(t.topologyKey, v, n)
				}
			}
		})
	}
	return st
}

func (st *affinityState) clone() *affinityState {
	return &affinityState{existingAnti: maps.Clone(st.existingAnti), affinity: maps.Clone(st.affinity), anti: maps.Clone(st.anti), nsLabels: st.nsLabels}
}

// updateWith accounts (delta +1) or un-accounts (-1) existing pod e on node ni.
func (st *affinityState) updateWith(pod, e *PodInfo, ni *NodeInfo, delta int64) {
	nodeLabels := ni.Node.Labels
	for i := range e.RequiredAntiAffinity {
		t := &e.RequiredAntiAffinity[i]
		if v, ok := nodeLabels[t.topologyKey]; ok && t.matches(pod.Pod, st.nsLabels) {
			st.existingAnti.update(t.topologyKey, v, delta)
		}
	}
	if len(pod.RequiredAffinity) > 0 && matchesAllTerms(pod.RequiredAffinity, e.Pod, st.nsLabels) {
		for i := range pod.RequiredAffinity {
			t := &pod.RequiredAffinity[i]
			if v, ok := nodeLabels[t.topologyKey]; ok {
				st.affinity.update(t.topologyKey, v, delta)
			}
		}
	}
	for i := range pod.RequiredAntiAffinity {
		t := &pod.RequiredAntiAffinity[i]
		if v, ok := nodeLabels[t.topologyKey]; ok && t.matches(e.Pod, st.nsLabels) {
			st.anti.update(t.topologyKey, v, delta)
		}
	}
}

func matchesAllTerms(terms []affinityTerm, pod *corev1.Pod, nsLabels map[string]labels.Set) bool {
	for i := range terms {
		if !terms[i].matches(pod, nsLabels) {
			return false
		}
	}
	return true
}

// filter checks, in kube-scheduler's order, the existing pods' anti-affinity,
// the pod's anti-affinity, then the pod's affinity.
func (st *affinityState) filter(pod *PodInfo, ni *NodeInfo) *status {
	nodeLabels := ni.Node.Labels
	if len(st.existingAnti) > 0 {
		for k, v := range nodeLabels {
			if st.existingAnti[topologyPair{k, v}] > 0 {
				return fail(unschedulable, reasonExistingAnti)
			}
		}
	}
	for i := range pod.RequiredAntiAffinity {
		t := &pod.RequiredAntiAffinity[i]
		if v, ok := nodeLabels[t.topologyKey]; ok && st.anti[topologyPair{t.topologyKey, v}] > 0 {
			return fail(unschedulable, reasonAntiAffinity)
		}
	}
	if len(pod.RequiredAffinity) == 0 {
		return nil
	}
	podsExist := true
	for i := range pod.RequiredAffinity {
		t := &pod.RequiredAffinity[i]
		v, ok := nodeLabels[t.topologyKey]
		if !ok {
			// Every topology key of the terms must be on the node.
			return fail(unresolvable, reasonAffinity)
		}
		if st.affinity[topologyPair{t.topologyKey, v}] <= 0 {
			podsExist = false
		}
	}
	if podsExist {
		return nil
	}
	// The first pod of a group that wants to be with its own kind: when no pod
	// anywhere matches and the pod matches its own terms, let it start the group.
	if len(st.affinity) == 0 && matchesAllTerms(pod.RequiredAffinity, pod.Pod, st.nsLabels) {
		return nil
	}
	return fail(unresolvable, reasonAffinity)
}

// Inter-pod affinity scoring (InterPodAffinity Score): every existing pod adds
// or takes away weight in its topology domains, for the incoming pod's
// preferred terms it matches and for its own terms that match the incoming pod
// (required affinity terms of existing pods count with weight 1, kube-scheduler's
// hardPodAffinityWeight).
const hardPodAffinityWeight = 1

type topologyScores map[string]map[string]int64

func (ts topologyScores) add(key, value string, w int64) {
	m := ts[key]
	if m == nil {
		m = map[string]int64{}
		ts[key] = m
	}
	m[value] += w
}

func (c *cycle) affinityScores(feasible []*NodeInfo) []int64 {
	pod := c.pod
	ts := topologyScores{}
	ns := c.snap.NamespaceLabels
	// addTerm adds w per pod of grp to the domains of key.
	addTerm := func(grp *podGroup, key string, w int64) {
		c.snap.eachNode(grp, func(ni *NodeInfo, n int64) {
			if v, ok := ni.Node.Labels[key]; ok {
				ts.add(key, v, w*n)
			}
		})
	}
	// The pod's preferred terms, against every existing pod.
	if len(pod.PreferredAffinity)+len(pod.PreferredAntiAffinity) > 0 {
		for _, grp := range c.snap.labelGroups() {
			for i := range pod.PreferredAffinity {
				if t := &pod.PreferredAffinity[i]; t.matches(grp.pod.Pod, ns) {
					addTerm(grp, t.topologyKey, t.weight)
				}
			}
			for i := range pod.PreferredAntiAffinity {
				if t := &pod.PreferredAntiAffinity[i]; t.matches(grp.pod.Pod, ns) {
					addTerm(grp, t.topologyKey, -t.weight)
				}
			}
		}
	}
	// The existing pods' terms, against the pod.
	for _, grp := range c.snap.affinityGroups() {
		e := grp.pod
		for i := range e.RequiredAffinity {
			if t := &e.RequiredAffinity[i]; t.matches(pod.Pod, ns) {
				addTerm(grp, t.topologyKey, hardPodAffinityWeight)
			}
		}
		for i := range e.PreferredAffinity {
			if t := &e.PreferredAffinity[i]; t.matches(pod.Pod, ns) {
				addTerm(grp, t.topologyKey, t.weight)
			}
		}
		for i := range e.PreferredAntiAffinity {
			if t := &e.PreferredAntiAffinity[i]; t.matches(pod.Pod, ns) {
				addTerm(grp, t.topologyKey, -t.weight)
			}
		}
	}
	scores := make([]int64, len(feasible))
	if len(ts) == 0 {
		return scores
	}
	minS, maxS := int64(0), int64(0)
	for i, ni := range feasible {
		var s int64
		for key, byValue := range ts {
			if v, ok := ni.Node.Labels[key]; ok {
				s += byValue[v]
			}
		}
		scores[i] = s
		if i == 0 || s < minS {
			minS = s
		}
		if i == 0 || s > maxS {
			maxS = s
		}
	}
	// Normalize to 0..100 between the lowest and highest node, as kube-scheduler.
	for i := range scores {
		if maxS > minS {
			scores[i] = maxNodeScore * (scores[i] - minS) / (maxS - minS)
		} else {
			scores[i] = 0
		}
	}
	return scores
}
