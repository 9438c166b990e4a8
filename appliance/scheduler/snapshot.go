package scheduler

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Snapshot is the cluster as one scheduling cycle sees it: the nodes with the
// pods placed on them, namespace labels (for namespaceSelector), the pending
// pods that preemption nominated to a node, and a way to look up PVCs. It is
// plain data: Schedule reads it and returns a Decision, so every filter and
// score is tested without an API server.
type Snapshot struct {
	// Nodes are sorted by name.
	Nodes []*NodeInfo
	// NamespaceLabels are the labels of each namespace, for affinity terms with
	// a namespaceSelector.
	NamespaceLabels map[string]labels.Set
	// Nominated maps a node name to the pending pods nominated to it.
	Nominated map[string][]*PodInfo
	// Claim looks up a PersistentVolumeClaim; nil skips the volume checks.
	Claim func(namespace, name string) (*corev1.PersistentVolumeClaim, bool)
	// Priority resolves a pod's priority; nil reads spec.priority (0 if unset).
	Priority func(*corev1.Pod) int32
	// HideTaintValues prints "node(s) had untolerated taint(s)" instead of the
	// taint's key and value (kube-scheduler 1.35 and later).
	HideTaintValues bool

	byName map[string]*NodeInfo
	// groups indexes the pods for inter-pod affinity and spread; nil until
	// first needed.
	groups *podGroups
	// nextStart is where the next search for feasible nodes starts, so that
	// when only part of a large cluster is searched every node gets its turn
	// (kube-scheduler's nextStartNodeIndex).
	nextStart int
}

// NewSnapshot builds a snapshot from nodes and the pods bound to them (pods
// without spec.nodeName, or on unknown nodes, are left out; pods in a pending
// state with status.nominatedNodeName are recorded as nominated).
func NewSnapshot(nodes []*corev1.Node, pods []*corev1.Pod) *Snapshot {
	s := &Snapshot{NamespaceLabels: map[string]labels.Set{}, Nominated: map[string][]*PodInfo{}}
	infos := map[string]*NodeInfo{}
	for _, n := range nodes {
		ni := newNodeInfo()
		ni.SetNode(n)
		infos[n.Name] = ni
		s.Nodes = append(s.Nodes, ni)
	}
	for _, p := range pods {
		switch {
		case p.Spec.NodeName != "":
			if ni := infos[p.Spec.NodeName]; ni != nil {
				ni.AddPod(NewPodInfo(p, s.priorityOf(p)))
			}
		case p.Status.NominatedNodeName != "":
			s.Nominated[p.Status.NominatedNodeName] = append(s.Nominated[p.Status.NominatedNodeName], NewPodInfo(p, s.priorityOf(p)))
		}
	}
	s.index()
	return s
}

// index sorts the nodes and rebuilds the name lookup.
func (s *Snapshot) index() {
	sort.Slice(s.Nodes, func(i, j int) bool { return s.Nodes[i].Name() < s.Nodes[j].Name() })
	s.byName = make(map[string]*NodeInfo, len(s.Nodes))
	for i, ni := range s.Nodes {
		s.byName[ni.Name()] = ni
		ni.pos = i
	}
	s.groups = nil
}

// Node returns the named node's info.
func (s *Snapshot) Node(name string) *NodeInfo {
	if s.byName == nil {
		s.index()
	}
	return s.byName[name]
}

func (s *Snapshot) priorityOf(p *corev1.Pod) int32 {
	if s.Priority != nil {
		return s.Priority(p)
	}
	if p.Spec.Priority != nil {
		return *p.Spec.Priority
	}
	return 0
}
