package scheduler

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// cache is the scheduler's view of nodes and the pods placed on them, fed by
// the informers and by the scheduler itself: a pod is "assumed" on its node the
// moment it is chosen, before the binding reaches the API server, so the next
// cycle already counts it (as kube-scheduler's cache does). The informer's
// update confirms it; a failed binding forgets it.
type cache struct {
	mu         sync.Mutex
	nodes      map[string]*NodeInfo
	pods       map[types.UID]*cachedPod
	nominated  map[types.UID]*PodInfo
	namespaces map[string]labels.Set
	generation int64
	nodeSetGen int64 // generation of the last node added or removed
	// dirty names the nodes changed since the snapshot was last updated (the
	// scheduler keeps one snapshot per cache), so an update looks at those
	// only, not at every node.
	dirty    map[string]struct{}
	priority func(*corev1.Pod) int32
}

type cachedPod struct {
	info    *PodInfo
	node    string
	assumed bool
}

func newCache(priority func(*corev1.Pod) int32) *cache {
	return &cache{
		nodes:      map[string]*NodeInfo{},
		pods:       map[types.UID]*cachedPod{},
		nominated:  map[types.UID]*PodInfo{},
		namespaces: map[string]labels.Set{},
		dirty:      map[string]struct{}{},
		priority:   priority,
	}
}

func (c *cache) nodeInfo(name string) *NodeInfo {
	ni := c.nodes[name]
	if ni == nil {
		ni = newNodeInfo()
		c.nodes[name] = ni
	}
	return ni
}

func (c *cache) touch(name string, ni *NodeInfo) {
	c.generation++
	ni.generation = c.generation
	c.dirty[name] = struct{}{}
}

func (c *cache) setNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni := c.nodeInfo(node.Name)
	if ni.Node == nil {
		c.nodeSetGen = c.generation + 1
	}
	ni.SetNode(node)
	c.touch(node.Name, ni)
}

func (c *cache) removeNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ni := c.nodes[name]
	if ni == nil {
		return
	}
	c.generation++
	c.nodeSetGen = c.generation
	if len(ni.Pods) == 0 {
		delete(c.nodes, name)
		return
	}
	// Pods outlive their node until they are deleted; keep their accounting.
	ni.Node = nil
	c.touch(name, ni)
}

// addPod records a bound pod (or confirms an assumed one).
func (c *cache) addPod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removePodLocked(pod.UID)
	pi := NewPodInfo(pod, c.priority(pod))
	ni := c.nodeInfo(pod.Spec.NodeName)
	ni.AddPod(pi)
	c.touch(pod.Spec.NodeName, ni)
	c.pods[pod.UID] = &cachedPod{info: pi, node: pod.Spec.NodeName}
}

// assume places a pod on node before its binding is confirmed. info, when
// the cycle's Decision carries it, saves computing the pod's info again.
func (c *cache) assume(pod *corev1.Pod, node string, info *PodInfo) {
	// A shallow copy: the informer's objects are never changed, only the
	// node name differs.
	p := new(corev1.Pod)
	*p = *pod
	p.Spec.NodeName = node
	var pi *PodInfo
	if info != nil && info.Pod == pod {
		cp := *info
		cp.Pod = p
		pi = &cp
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removePodLocked(p.UID)
	if pi == nil {
		pi = NewPodInfo(p, c.priority(p))
	}
	ni := c.nodeInfo(node)
	ni.AddPod(pi)
	c.touch(node, ni)
	c.pods[p.UID] = &cachedPod{info: pi, node: node, assumed: true}
}

// forget drops an assumed pod whose binding failed.
func (c *cache) forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cp := c.pods[uid]; cp != nil && cp.assumed {
		c.removePodLocked(uid)
	}
}

func (c *cache) removePod(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removePodLocked(uid)
}

func (c *cache) removePodLocked(uid types.UID) {
	cp := c.pods[uid]
	if cp == nil {
		return
	}
	delete(c.pods, uid)
	ni := c.nodes[cp.node]
	if ni == nil {
		return
	}
	ni.RemovePod(cp.info.Pod)
	c.touch(cp.node, ni)
	if ni.Node == nil && len(ni.Pods) == 0 {
		delete(c.nodes, cp.node)
	}
}

// isAssumed reports whether the pod is placed but not yet confirmed.
func (c *cache) isAssumed(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := c.pods[uid]
	return cp != nil && cp.assumed
}

// nominate records (node != "") or clears a pending pod's nominated node.
func (c *cache) nominate(pod *corev1.Pod, node string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if node == "" {
		delete(c.nominated, pod.UID)
		return
	}
	p := pod
	if p.Status.NominatedNodeName != node {
		p = pod.DeepCopy()
		p.Status.NominatedNodeName = node
	}
	c.nominated[pod.UID] = NewPodInfo(p, c.priority(p))
}

func (c *cache) setNamespace(ns *corev1.Namespace) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Copy on write: snapshots hold the old map.
	m := make(map[string]labels.Set, len(c.namespaces)+1)
	for k, v := range c.namespaces {
		m[k] = v
	}
	m[ns.Name] = labels.Set(ns.Labels)
	c.namespaces = m
}

func (c *cache) removeNamespace(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]labels.Set, len(c.namespaces))
	for k, v := range c.namespaces {
		if k != name {
			m[k] = v
		}
	}
	c.namespaces = m
}

// updateSnapshot brings s up to date, copying only the nodes that changed
// since it was last updated.
func (c *cache) updateSnapshot(s *Snapshot, state *snapshotState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.byName == nil {
		s.byName = map[string]*NodeInfo{}
	}
	rebuild := state.nodeSetGen != c.nodeSetGen || state.nodes == nil
	if rebuild {
		for name := range c.nodes {
			c.dirty[name] = struct{}{}
		}
	}
	for name := range c.dirty {
		ni := c.nodes[name]
		if ni == nil || ni.Node == nil {
			continue
		}
		if old := s.byName[name]; old == nil || old.generation != ni.generation {
			s.byName[name] = ni.Clone()
			if old == nil {
				rebuild = true
			} else if !rebuild {
				if !state.replace(s, old, s.byName[name]) {
					rebuild = true
				} else if s.groups != nil {
					s.groups.replaceNode(old, s.byName[name])
				}
			}
		}
	}
	if rebuild {
		for name := range s.byName {
			if ni := c.nodes[name]; ni == nil || ni.Node == nil {
				delete(s.byName, name)
			}
		}
		s.Nodes = s.Nodes[:0]
		for _, ni := range s.byName {
			s.Nodes = append(s.Nodes, ni)
		}
		s.index()
		state.reindex(s)
		state.nodeSetGen = c.nodeSetGen
	}
	clear(c.dirty)
	s.NamespaceLabels = c.namespaces
	s.Nominated = make(map[string][]*PodInfo, len(c.nominated))
	for _, pi := range c.nominated {
		n := pi.Pod.Status.NominatedNodeName
		s.Nominated[n] = append(s.Nominated[n], pi)
	}
}

// snapshotState remembers where each node sits in the snapshot's sorted list,
// so a changed node is swapped in place without sorting again.
type snapshotState struct {
	nodes      map[*NodeInfo]int
	nodeSetGen int64
}

func (st *snapshotState) reindex(s *Snapshot) {
	st.nodes = make(map[*NodeInfo]int, len(s.Nodes))
	for i, ni := range s.Nodes {
		st.nodes[ni] = i
	}
}

func (st *snapshotState) replace(s *Snapshot, old, fresh *NodeInfo) bool {
	i, ok := st.nodes[old]
	if !ok {
		return false
	}
	delete(st.nodes, old)
	st.nodes[fresh] = i
	s.Nodes[i] = fresh
	fresh.pos = i
	return true
}
