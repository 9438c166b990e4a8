package scheduler

import (
	"fmt"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// The reasons a node is turned down, in kube-scheduler's words: FailedScheduling
// events count them per node ("0/3 nodes are available: 1 Insufficient cpu, 2
// node(s) had untolerated taint {role: db}."), and users search for these strings.
const (
	reasonUnschedulable      = "node(s) were unschedulable"
	reasonNodeAffinity       = "node(s) didn't match Pod's node affinity/selector"
	reasonHostPorts          = "node(s) didn't have free ports for the requested pod ports"
	reasonTooManyPods        = "Too many pods"
	reasonInsufficientFormat = "Insufficient %s"
	reasonTaintFormat        = "node(s) had untolerated taint {%s: %s}"
	// reasonTaintHidden is what kube-scheduler prints since 1.35 (and in the
	// 1.32-1.34 patch releases), where taint keys and values are considered
	// sensitive; Config.HideTaintValues selects it.
	reasonTaintHidden       = "node(s) had untolerated taint(s)"
	reasonSpread            = "node(s) didn't match pod topology spread constraints"
	reasonSpreadMissingKey  = "node(s) didn't match pod topology spread constraints (missing required label)"
	reasonAffinity          = "node(s) didn't match pod affinity rules"
	reasonAntiAffinity      = "node(s) didn't match pod anti-affinity rules"
	reasonExistingAnti      = "node(s) didn't satisfy existing pods anti-affinity rules"
	reasonNoVictims         = "No preemption victims found for incoming pod"
	reasonPreemptionUseless = "Preemption is not helpful for scheduling"
	msgNoNodes              = "no nodes available to schedule pods"
)

// code says whether evicting pods could ever help a node that failed a filter,
// as kube-scheduler's Unschedulable and UnschedulableAndUnresolvable do.
type code int

const (
	unschedulable code = iota + 1
	unresolvable
)

// status is why one node cannot take the pod.
type status struct {
	code    code
	reasons []string
}

func fail(c code, reasons ...string) *status { return &status{code: c, reasons: reasons} }

// discard is the logger the toleration helpers want; they only log numeric
// comparison problems, which validation already reports.
var discard = logr.Discard()

// filter runs the filters in kube-scheduler's default order on one node and
// returns the first failure (nil: the pod fits). The order matters: the first
// failing filter names the node's reason in the FailedScheduling message.
func (c *cycle) filter(ni *NodeInfo, st *podState) *status {
	if s := c.filterUnschedulable(ni); s != nil {
		return s
	}
	if s := c.filterTaints(ni); s != nil {
		return s
	}
	if s := c.filterNodeAffinity(ni); s != nil {
		return s
	}
	if s := c.filterHostPorts(ni); s != nil {
		return s
	}
	if s := c.filterResources(ni); s != nil {
		return s
	}
	if s := st.spread.filter(c.pod, ni); s != nil {
		return s
	}
	return st.affinity.filter(c.pod, ni)
}

// filterUnschedulable: a cordoned node (spec.unschedulable) takes only pods that
// tolerate node.kubernetes.io/unschedulable:NoSchedule (NodeUnschedulable).
func (c *cycle) filterUnschedulable(ni *NodeInfo) *status {
	if !ni.Node.Spec.Unschedulable {
		return nil
	}
	t := corev1.Taint{Key: taintUnschedulable, Effect: corev1.TaintEffectNoSchedule}
	if tolerates(c.pod.Pod.Spec.Tolerations, &t) {
		return nil
	}
	return fail(unresolvable, reasonUnschedulable)
}

// filterTaints: every NoSchedule and NoExecute taint must be tolerated
// (TaintToleration). PreferNoSchedule only lowers the score.
func (c *cycle) filterTaints(ni *NodeInfo) *status {
	for i := range ni.Taints {
		t := &ni.Taints[i]
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if tolerates(c.pod.Pod.Spec.Tolerations, t) {
			continue
		}
		if c.snap.HideTaintValues {
			return fail(unresolvable, reasonTaintHidden)
		}
		return fail(unresolvable, fmt.Sprintf(reasonTaintFormat, t.Key, t.Value))
	}
	return nil
}

func tolerates(tolerations []corev1.Toleration, t *corev1.Taint) bool {
	for i := range tolerations {
		if tolerations[i].ToleratesTaint(discard, t, true) {
			return true
		}
	}
	return false
}

// filterNodeAffinity: spec.nodeSelector and the required node affinity terms
// (NodeAffinity); both are reported with one reason, as in Kubernetes.
func (c *cycle) filterNodeAffinity(ni *NodeInfo) *status {
	if ok, _ := c.nodeAffinity.Match(ni.Node); !ok {
		return fail(unresolvable, reasonNodeAffinity)
	}
	return nil
}

// filterHostPorts: no two pods on a node may bind the same host port (NodePorts).
func (c *cycle) filterHostPorts(ni *NodeInfo) *status {
	if len(c.pod.Ports) == 0 {
		return nil
	}
	for _, want := range c.pod.Ports {
		for _, used := range ni.UsedPorts {
			if want.conflicts(used) {
				return fail(unschedulable, reasonHostPorts)
			}
		}
		for _, n := range c.nominatedOn(ni) {
			for _, used := range n.Ports {
				if want.conflicts(used) {
					return fail(unschedulable, reasonHostPorts)
				}
			}
		}
	}
	return nil
}

// filterResources: the pod's requests plus what the node's pods already request
// must fit the node's allocatable, for cpu, memory, ephemeral-storage, extended
// resources and the pod count (NodeResourcesFit). Every short resource is a
// reason of its own. Pods that preemption nominated to this node with at least
// this pod's priority count as if they were there already.
func (c *cycle) filterResources(ni *NodeInfo) *status {
	req := c.pod.Requests
	used := ni.Requested
	pods := int64(len(ni.Pods))
	if nom := c.nominatedOn(ni); len(nom) > 0 {
		used = used.clone()
		for _, n := range nom {
			used.addResource(n.Requests, 1)
		}
		pods += int64(len(nom))
	}
	var reasons []string
	if pods+1 > ni.Allocatable.Pods {
		reasons = append(reasons, reasonTooManyPods)
	}
	if req.isZero() {
		if len(reasons) > 0 {
			return fail(unschedulable, reasons...)
		}
		return nil
	}
	if req.MilliCPU > 0 && req.MilliCPU > ni.Allocatable.MilliCPU-used.MilliCPU {
		reasons = append(reasons, fmt.Sprintf(reasonInsufficientFormat, corev1.ResourceCPU))
	}
	if req.Memory > 0 && req.Memory > ni.Allocatable.Memory-used.Memory {
		reasons = append(reasons, fmt.Sprintf(reasonInsufficientFormat, corev1.ResourceMemory))
	}
	if req.EphemeralStorage > 0 && req.EphemeralStorage > ni.Allocatable.EphemeralStorage-used.EphemeralStorage {
		reasons = append(reasons, fmt.Sprintf(reasonInsufficientFormat, corev1.ResourceEphemeralStorage))
	}
	for name, v := range req.Scalar {
		if v > 0 && v > ni.Allocatable.Scalar[name]-used.Scalar[name] {
			reasons = append(reasons, fmt.Sprintf(reasonInsufficientFormat, name))
		}
	}
	if len(reasons) > 0 {
		return fail(unschedulable, reasons...)
	}
	return nil
}

// nominatedOn lists the other pending pods preemption promised this node to,
// with at least this pod's priority.
func (c *cycle) nominatedOn(ni *NodeInfo) []*PodInfo {
	list := c.snap.Nominated[ni.Name()]
	if len(list) == 0 {
		return nil
	}
	var out []*PodInfo
	for _, n := range list {
		if n.Pod.UID != c.pod.Pod.UID && n.Priority >= c.pod.Priority {
			out = append(out, n)
		}
	}
	return out
}

// requiredNodeAffinity parses spec.nodeSelector and the required node affinity.
func requiredNodeAffinity(pod *corev1.Pod) nodeaffinity.RequiredNodeAffinity {
	return nodeaffinity.GetRequiredNodeAffinity(pod)
}
