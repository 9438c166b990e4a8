package scheduler

import "k8s.io/apimachinery/pkg/labels"

// podGroup is the placed pods that every selector sees alike: the same
// namespace, the same labels and the same terminating state (and, for an
// affinity group, the same pod (anti-)affinity), with how many of them each
// node holds. Inter-pod affinity and topology spread match a selector once
// per group instead of once per pod, then add the group's counts per node:
// the pods of a Deployment or a StatefulSet are one group, so a cycle costs
// about the number of workloads plus the pods that match, not every pod in
// the cluster. kube-scheduler walks every pod (in parallel); this is the same
// sum, taken in fewer steps.
type podGroup struct {
	pod    *PodInfo      // one of the group's pods, to match against and for its terms
	byNode map[int]int64 // by the node's place in the snapshot
}

// podGroups indexes a snapshot's pods into groups; the snapshot keeps it up
// to date as nodes are replaced.
type podGroups struct {
	byLabels   map[string]*podGroup
	byAffinity map[string]*podGroup // pods with pod (anti-)affinity terms
}

func newPodGroups() *podGroups {
	return &podGroups{byLabels: map[string]*podGroup{}, byAffinity: map[string]*podGroup{}}
}

// groupKeys sets what groups a pod: namespace, terminating state and labels
// (labels.Set.String sorts the keys; keys and values cannot hold ',' or '='),
// and for pods with pod affinity terms the terms themselves.
func (pi *PodInfo) groupKeys() {
	pod := pi.Pod
	terminating := "0"
	if pod.DeletionTimestamp != nil {
		terminating = "1"
	}
	pi.labelKey = pod.Namespace + "\x00" + terminating + "\x00" + labels.Set(pod.Labels).String()
	if pi.hasAffinity() {
		a := pod.Spec.Affinity
		pi.affinityKey = pi.labelKey + "\x00" + a.PodAffinity.String() + "\x00" + a.PodAntiAffinity.String()
	}
}

func (g *podGroups) addNode(ni *NodeInfo) {
	for _, p := range ni.Pods {
		g.update(p, ni.pos, 1)
	}
}

// replaceNode accounts for the pods that differ between two versions of a
// node. Pods are appended and removed in place, so the versions share a
// prefix: placing a pod changes one entry, not all of the node's pods.
func (g *podGroups) replaceNode(old, fresh *NodeInfo) {
	i := 0
	for i < len(old.Pods) && i < len(fresh.Pods) && old.Pods[i] == fresh.Pods[i] {
		i++
	}
	for _, p := range old.Pods[i:] {
		g.update(p, old.pos, -1)
	}
	for _, p := range fresh.Pods[i:] {
		g.update(p, fresh.pos, 1)
	}
}

func (g *podGroups) update(p *PodInfo, node int, delta int64) {
	updateGroup(g.byLabels, p.labelKey, p, node, delta)
	if p.affinityKey != "" {
		updateGroup(g.byAffinity, p.affinityKey, p, node, delta)
	}
}

func updateGroup(m map[string]*podGroup, key string, p *PodInfo, node int, delta int64) {
	grp := m[key]
	if grp == nil {
		if delta < 0 {
			return
		}
		grp = &podGroup{pod: p, byNode: map[int]int64{}}
		m[key] = grp
	}
	n := grp.byNode[node] + delta
	if n > 0 {
		grp.byNode[node] = n
		return
	}
	delete(grp.byNode, node)
	if len(grp.byNode) == 0 {
		delete(m, key)
	}
}

// eachNode calls f with every node holding pods of the group, and how many.
func (s *Snapshot) eachNode(grp *podGroup, f func(ni *NodeInfo, n int64)) {
	for pos, n := range grp.byNode {
		f(s.Nodes[pos], n)
	}
}

// labelGroups are the snapshot's pods grouped by namespace, terminating state
// and labels.
func (s *Snapshot) labelGroups() map[string]*podGroup {
	if s.groups == nil {
		s.indexGroups()
	}
	return s.groups.byLabels
}

// affinityGroups are the snapshot's pods with pod (anti-)affinity terms,
// grouped by labels and terms.
func (s *Snapshot) affinityGroups() map[string]*podGroup {
	if s.groups == nil {
		s.indexGroups()
	}
	return s.groups.byAffinity
}

func (s *Snapshot) indexGroups() {
	s.groups = newPodGroups()
	for _, ni := range s.Nodes {
		s.groups.addNode(ni)
	}
}
