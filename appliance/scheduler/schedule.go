package scheduler

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// Decision is the outcome of one scheduling cycle for one pod.
type Decision struct {
	// Node is where the pod goes; empty when it fits nowhere.
	Node string
	// Message is the FailedScheduling text when Node is empty, worded as
	// kube-scheduler words it ("0/3 nodes are available: 3 Insufficient cpu.
	// preemption: 0/3 nodes are available: 3 No preemption victims found for
	// incoming pod.").
	Message string
	// NominatedNode and Victims are set when preemption found room: deleting
	// the victims makes the pod fit on NominatedNode.
	NominatedNode string
	Victims       []*corev1.Pod
	// Evaluated and Feasible count the nodes filtered and the ones that passed.
	Evaluated, Feasible int

	// info is the pod's info as the cycle computed it, for the cache.
	info *PodInfo
}

// cycle is one pod's scheduling cycle over a snapshot.
type cycle struct {
	snap         *Snapshot
	pod          *PodInfo
	nodeAffinity nodeaffinity.RequiredNodeAffinity
}

// podState holds the precomputations that depend on the whole cluster; the
// preemption dry run clones it and takes victims out.
type podState struct {
	affinity *affinityState
	spread   *spreadState
}

func (ps *podState) clone() *podState {
	return &podState{affinity: ps.affinity.clone(), spread: ps.spread.clone()}
}

func (ps *podState) update(pod, p *PodInfo, ni *NodeInfo, delta int64) {
	ps.affinity.updateWith(pod, p, ni, delta)
	ps.spread.updateWith(pod, p, ni, delta)
}

// Schedule picks a node for pod, or explains why none fits and whether
// preempting lower-priority pods would make room. It follows kube-scheduler's
// cycle: PreFilter (volumes), the pod's nominated node first, Filter on enough
// nodes, Score, and PostFilter (preemption) when nothing fits. It only reads the
// snapshot, except for the rotating start index.
func (s *Snapshot) Schedule(pod *corev1.Pod) Decision {
	if s.byName == nil {
		s.index()
	}
	n := len(s.Nodes)
	if n == 0 {
		return Decision{Message: msgNoNodes}
	}
	c := &cycle{snap: s, pod: NewPodInfo(pod, s.priorityOf(pod)), nodeAffinity: requiredNodeAffinity(pod)}
	if msg := c.preFilterVolumes(); msg != "" {
		// A PreFilter rejection applies to every node; preemption cannot help.
		return Decision{Message: fitMessage(n, msg, nil)}
	}
	st := &podState{affinity: newAffinityState(s, c.pod), spread: newSpreadState(c)}

	// A pod that preemption nominated goes to its node as soon as it fits there.
	if nn := pod.Status.NominatedNodeName; nn != "" {
		if ni := s.byName[nn]; ni != nil && c.filter(ni, st) == nil {
			return Decision{Node: nn, Evaluated: 1, Feasible: 1, info: c.pod}
		}
	}

	feasible, statuses, evaluated := c.findFeasible(st)
	if len(feasible) == 0 {
		d := Decision{Evaluated: evaluated}
		msg := fitMessage(n, "", statuses)
		post, node, victims := c.preempt(st, statuses)
		if node != "" {
			d.NominatedNode = node
			for _, v := range victims {
				d.Victims = append(d.Victims, v.Pod)
			}
		} else if post != "" {
			msg += " preemption: " + post
		}
		d.Message = msg
		return d
	}
	d := Decision{Evaluated: evaluated, Feasible: len(feasible), info: c.pod}
	if len(feasible) == 1 {
		d.Node = feasible[0].Name()
		return d
	}
	scores := c.score(feasible)
	best := 0
	for i := range scores {
		if scores[i] > scores[best] {
			best = i
		}
	}
	d.Node = feasible[best].Name()
	return d
}

// preFilterVolumes: every PersistentVolumeClaim the pod mounts must exist and
// not be on its way out (VolumeBinding's PreFilter). Binding and volume topology
// are left to the PV controller for now.
func (c *cycle) preFilterVolumes() string {
	if c.snap.Claim == nil {
		return ""
	}
	for _, v := range c.pod.Pod.Spec.Volumes {
		name := ""
		switch {
		case v.PersistentVolumeClaim != nil:
			name = v.PersistentVolumeClaim.ClaimName
		case v.Ephemeral != nil:
			// A generic ephemeral volume's claim is <pod>-<volume>, made by the
			// ephemeral volume controller.
			name = c.pod.Pod.Name + "-" + v.Name
		default:
			continue
		}
		pvc, ok := c.snap.Claim(c.pod.Pod.Namespace, name)
		if !ok {
			return fmt.Sprintf("persistentvolumeclaim %q not found", name)
		}
		if pvc.DeletionTimestamp != nil {
			return fmt.Sprintf("persistentvolumeclaim %q is being deleted", name)
		}
	}
	return ""
}

// numFeasibleNodesToFind is how many feasible nodes are enough to score:
// all of them in clusters under 100 nodes, else an adaptive share (50% minus
// 1% per 125 nodes, at least 5%) and never fewer than 100, as kube-scheduler's
// percentageOfNodesToScore default does.
func numFeasibleNodesToFind(all int) int {
	if all < 100 {
		return all
	}
	pct := max(50-all/125, 5)
	return max(all*pct/100, 100)
}

// findFeasible filters nodes from the rotating start until enough feasible ones
// are found, recording why the others failed.
func (c *cycle) findFeasible(st *podState) (feasible []*NodeInfo, statuses map[string]*status, evaluated int) {
	s := c.snap
	n := len(s.Nodes)
	want := numFeasibleNodesToFind(n)
	statuses = map[string]*status{}
	start := s.nextStart % n
	for i := 0; i < n && len(feasible) < want; i++ {
		ni := s.Nodes[(start+i)%n]
		evaluated++
		if fs := c.filter(ni, st); fs != nil {
			statuses[ni.Name()] = fs
			continue
		}
		feasible = append(feasible, ni)
	}
	s.nextStart = (start + evaluated) % n
	return feasible, statuses, evaluated
}

// fitMessage renders kube-scheduler's FitError: "0/N nodes are available:"
// then either the PreFilter message or the per-node reasons counted and sorted
// as strings, each part ending with a period.
func fitMessage(numNodes int, preFilterMsg string, statuses map[string]*status) string {
	msg := fmt.Sprintf("0/%d nodes are available:", numNodes)
	if preFilterMsg != "" {
		return msg + " " + preFilterMsg + "."
	}
	counts := map[string]int{}
	for _, st := range statuses {
		for _, r := range st.reasons {
			counts[r]++
		}
	}
	var parts []string
	for r, k := range counts {
		parts = append(parts, fmt.Sprintf("%d %s", k, r))
	}
	sort.Strings(parts)
	if len(parts) > 0 {
		msg += " " + strings.Join(parts, ", ") + "."
	}
	return msg
}

// preempt is DefaultPreemption's dry run. On nodes that failed for reasons
// eviction can fix (resources, ports, anti-affinity, spread), it removes every
// pod of lower priority, checks the pod then fits, and gives back as many of
// them as still leave room, most important first. Among the candidates it
// prefers the node whose most important victim matters least, then the fewest
// and least important victims. With no candidate it returns the preemption
// message ("0/3 nodes are available: 3 Preemption is not helpful for
// scheduling.").
func (c *cycle) preempt(st *podState, statuses map[string]*status) (msg, node string, victims []*PodInfo) {
	pod := c.pod.Pod
	if pod.Spec.PreemptionPolicy != nil && *pod.Spec.PreemptionPolicy == corev1.PreemptNever {
		return "not eligible due to preemptionPolicy=Never.", "", nil
	}
	if nn := pod.Status.NominatedNodeName; nn != "" {
		// While victims on the nominated node are still terminating, wait for
		// them instead of preempting more (PodEligibleToPreemptOthers).
		if ni := c.snap.byName[nn]; ni != nil {
			if fs := statuses[nn]; fs == nil || fs.code != unresolvable {
				for _, p := range ni.Pods {
					if p.Pod.DeletionTimestamp != nil && p.Priority < c.pod.Priority {
						return "not eligible due to a terminating pod on the nominated node.", "", nil
					}
				}
			}
		}
	}
	type candidate struct {
		node    *NodeInfo
		victims []*PodInfo
	}
	var candidates []candidate
	perNode := map[string]*status{}
	for _, ni := range c.snap.Nodes {
		fs := statuses[ni.Name()]
		if fs == nil {
			continue
		}
		if fs.code == unresolvable {
			perNode[ni.Name()] = fail(unresolvable, reasonPreemptionUseless)
			continue
		}
		v, vs := c.selectVictims(ni, st)
		if vs != nil {
			perNode[ni.Name()] = vs
			continue
		}
		candidates = append(candidates, candidate{ni, v})
	}
	if len(candidates) == 0 {
		return fitMessage(len(c.snap.Nodes), "", perNode), "", nil
	}
	highest := func(vs []*PodInfo) int32 {
		h := int32(-1 << 31)
		for _, v := range vs {
			h = max(h, v.Priority)
		}
		return h
	}
	sum := func(vs []*PodInfo) int64 {
		var total int64
		for _, v := range vs {
			// Offset so that negative priorities still add up to more victims
			// costing more, as kube-scheduler does.
			total += int64(v.Priority) + (1 << 31) + 1
		}
		return total
	}
	sort.SliceStable(candidates, func(i, j int) bool {
		a, b := candidates[i], candidates[j]
		if ha, hb := highest(a.victims), highest(b.victims); ha != hb {
			return ha < hb
		}
		if sa, sb := sum(a.victims), sum(b.victims); sa != sb {
			return sa < sb
		}
		if len(a.victims) != len(b.victims) {
			return len(a.victims) < len(b.victims)
		}
		return a.node.Name() < b.node.Name()
	})
	best := candidates[0]
	return "", best.node.Name(), best.victims
}

// selectVictims finds the fewest, least important lower-priority pods on ni
// whose removal lets the pod fit; the status says why no such set exists.
func (c *cycle) selectVictims(ni *NodeInfo, st *podState) ([]*PodInfo, *status) {
	var lower []*PodInfo
	for _, p := range ni.Pods {
		if p.Priority < c.pod.Priority {
			lower = append(lower, p)
		}
	}
	if len(lower) == 0 {
		return nil, fail(unresolvable, reasonNoVictims)
	}
	trial := ni.Clone()
	tst := st.clone()
	for _, p := range lower {
		trial.RemovePod(p.Pod)
		tst.update(c.pod, p, ni, -1)
	}
	if fs := c.filter(trial, tst); fs != nil {
		return nil, fs
	}
	// Give back the most important pods first: higher priority, then the one
	// that started earlier (MoreImportantPod).
	sort.SliceStable(lower, func(i, j int) bool {
		if lower[i].Priority != lower[j].Priority {
			return lower[i].Priority > lower[j].Priority
		}
		return startTime(lower[i].Pod).Before(startTime(lower[j].Pod))
	})
	var victims []*PodInfo
	for _, p := range lower {
		trial.AddPod(p)
		tst.update(c.pod, p, ni, 1)
		if c.filter(trial, tst) != nil {
			trial.RemovePod(p.Pod)
			tst.update(c.pod, p, ni, -1)
			victims = append(victims, p)
		}
	}
	return victims, nil
}

func startTime(p *corev1.Pod) time.Time {
	if p.Status.StartTime != nil {
		return p.Status.StartTime.Time
	}
	return p.CreationTimestamp.Time
}
