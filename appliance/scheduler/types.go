package scheduler

import (
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Resource is an amount of the resources the scheduler accounts for, in the units
// kube-scheduler uses: millicores, bytes, a pod count, and integer amounts of
// extended resources (nvidia.com/gpu, hugepages-2Mi, ...).
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	Pods             int64
	Scalar           map[corev1.ResourceName]int64
}

// newResource sums a ResourceList.
func newResource(rl corev1.ResourceList) Resource {
	var r Resource
	r.add(rl)
	return r
}

func (r *Resource) add(rl corev1.ResourceList) {
	for name, q := range rl {
		switch name {
		case corev1.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case corev1.ResourceMemory:
			r.Memory += q.Value()
		case corev1.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		case corev1.ResourcePods:
			r.Pods += q.Value()
		default:
			if isScalarResource(name) {
				if r.Scalar == nil {
					r.Scalar = map[corev1.ResourceName]int64{}
				}
				r.Scalar[name] += q.Value()
			}
		}
	}
}

func (r *Resource) addResource(o Resource, sign int64) {
	r.MilliCPU += sign * o.MilliCPU
	r.Memory += sign * o.Memory
	r.EphemeralStorage += sign * o.EphemeralStorage
	r.Pods += sign * o.Pods
	for k, v := range o.Scalar {
		if r.Scalar == nil {
			r.Scalar = map[corev1.ResourceName]int64{}
		}
		r.Scalar[k] += sign * v
	}
}

func (r Resource) clone() Resource {
	c := r
	if r.Scalar != nil {
		c.Scalar = make(map[corev1.ResourceName]int64, len(r.Scalar))
		for k, v := range r.Scalar {
			c.Scalar[k] = v
		}
	}
	return c
}

func (r Resource) isZero() bool {
	if r.MilliCPU != 0 || r.Memory != 0 || r.EphemeralStorage != 0 {
		return false
	}
	for _, v := range r.Scalar {
		if v != 0 {
			return false
		}
	}
	return true
}

// isScalarResource: extended resources (a domain-qualified name outside
// kubernetes.io), hugepages and attachable volume limits are counted as
// integers, as kube-scheduler's NodeResourcesFit does.
func isScalarResource(name corev1.ResourceName) bool {
	s := string(name)
	if strings.HasPrefix(s, corev1.ResourceHugePagesPrefix) || strings.HasPrefix(s, corev1.ResourceAttachableVolumesPrefix) {
		return true
	}
	if !strings.Contains(s, "/") || strings.HasPrefix(s, corev1.ResourceDefaultNamespacePrefix) {
		return false
	}
	return !strings.HasPrefix(s, "requests.")
}

// Kubernetes' scheduler scores a container that requests no cpu or memory as if it
// asked for 100m and 200Mi (schedutil.DefaultMilliCPURequest/DefaultMemoryRequest),
// so best-effort pods do not all pile onto one node. Fit is never affected.
const (
	defaultMilliCPURequest int64 = 100
	defaultMemoryRequest   int64 = 200 * 1024 * 1024
)

var nonMissingRequests = corev1.ResourceList{
	corev1.ResourceCPU:    *resource.NewMilliQuantity(defaultMilliCPURequest, resource.DecimalSI),
	corev1.ResourceMemory: *resource.NewQuantity(defaultMemoryRequest, resource.BinarySI),
}

// PodInfo is a pod with what the filters and scores need precomputed once.
type PodInfo struct {
	Pod      *corev1.Pod
	Priority int32
	// Requests is what the pod needs from a node: the larger of the sum of its
	// app containers (plus sidecars) and its largest init container, plus
	// spec.overhead; pod-level resources when set. This is
	// k8s.io/component-helpers/resource.PodRequests, kube-scheduler's own formula.
	Requests Resource
	// NonZero is Requests with 100m/200Mi for containers that ask for nothing,
	// used only for scoring.
	NonZero Resource
	Ports   []hostPort
	// Controller is the UID of the pod's controller (ownerReference with
	// controller: true), for the default spreading of replicas.
	Controller types.UID

	RequiredAffinity      []affinityTerm
	RequiredAntiAffinity  []affinityTerm
	PreferredAffinity     []weightedTerm
	PreferredAntiAffinity []weightedTerm

	// labelKey and affinityKey name the pod's podGroup (see groups.go).
	labelKey, affinityKey string
}

// NewPodInfo precomputes a pod's requests, host ports and affinity terms.
func NewPodInfo(pod *corev1.Pod, priority int32) *PodInfo {
	pi := &PodInfo{Pod: pod, Priority: priority}
	pi.Requests = newResource(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{}))
	pi.NonZero = newResource(resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{NonMissingContainerRequests: nonMissingRequests}))
	pi.Ports = podHostPorts(pod)
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		pi.Controller = ref.UID
	}
	if a := pod.Spec.Affinity; a != nil {
		if a.PodAffinity != nil {
			pi.RequiredAffinity = newAffinityTerms(pod, a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
			pi.PreferredAffinity = newWeightedTerms(pod, a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
		}
		if a.PodAntiAffinity != nil {
			pi.RequiredAntiAffinity = newAffinityTerms(pod, a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution)
			pi.PreferredAntiAffinity = newWeightedTerms(pod, a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
		}
	}
	pi.groupKeys()
	return pi
}

func (pi *PodInfo) hasAffinity() bool {
	return len(pi.RequiredAffinity)+len(pi.RequiredAntiAffinity)+len(pi.PreferredAffinity)+len(pi.PreferredAntiAffinity) > 0
}

// affinityTerm is a parsed PodAffinityTerm.
type affinityTerm struct {
	namespaces  sets.Set[string]
	nsSelector  labels.Selector // nil when the term has no namespaceSelector
	selector    labels.Selector
	topologyKey string
}

type weightedTerm struct {
	affinityTerm
	weight int64
}

// matches reports whether pod falls under the term: it lives in one of the term's
// namespaces (or one its namespaceSelector picks) and carries matching labels.
func (t *affinityTerm) matches(pod *corev1.Pod, nsLabels map[string]labels.Set) bool {
	if !t.namespaces.Has(pod.Namespace) && (t.nsSelector == nil || !t.nsSelector.Matches(nsLabels[pod.Namespace])) {
		return false
	}
	return t.selector.Matches(labels.Set(pod.Labels))
}

func newAffinityTerm(pod *corev1.Pod, term *corev1.PodAffinityTerm) (affinityTerm, bool) {
	sel, err := metav1.LabelSelectorAsSelector(term.LabelSelector)
	if err != nil {
		return affinityTerm{}, false
	}
	// matchLabelKeys and mismatchLabelKeys add "key in (my value)" and
	// "key notin (my value)" to the selector, as the API server does on create.
	for _, k := range term.MatchLabelKeys {
		if v, ok := pod.Labels[k]; ok {
			if r, err := labels.NewRequirement(k, selection.In, []string{v}); err == nil {
				sel = sel.Add(*r)
			}
		}
	}
	for _, k := range term.MismatchLabelKeys {
		if v, ok := pod.Labels[k]; ok {
			if r, err := labels.NewRequirement(k, selection.NotIn, []string{v}); err == nil {
				sel = sel.Add(*r)
			}
		}
	}
	var nsSel labels.Selector
	if term.NamespaceSelector != nil {
		if nsSel, err = metav1.LabelSelectorAsSelector(term.NamespaceSelector); err != nil {
			return affinityTerm{}, false
		}
	}
	ns := sets.New(term.Namespaces...)
	// No namespaces and no namespaceSelector means the pod's own namespace.
	if len(term.Namespaces) == 0 && term.NamespaceSelector == nil {
		ns.Insert(pod.Namespace)
	}
	return affinityTerm{namespaces: ns, nsSelector: nsSel, selector: sel, topologyKey: term.TopologyKey}, true
}

func newAffinityTerms(pod *corev1.Pod, terms []corev1.PodAffinityTerm) []affinityTerm {
	var out []affinityTerm
	for i := range terms {
		if t, ok := newAffinityTerm(pod, &terms[i]); ok {
			out = append(out, t)
		}
	}
	return out
}

func newWeightedTerms(pod *corev1.Pod, terms []corev1.WeightedPodAffinityTerm) []weightedTerm {
	var out []weightedTerm
	for i := range terms {
		if t, ok := newAffinityTerm(pod, &terms[i].PodAffinityTerm); ok {
			out = append(out, weightedTerm{affinityTerm: t, weight: int64(terms[i].Weight)})
		}
	}
	return out
}

// hostPort is one (ip, protocol, port) a pod binds on its node.
type hostPort struct {
	ip       string
	protocol corev1.Protocol
	port     int32
}

// podHostPorts lists the host ports of the app containers and of restartable
// init containers (sidecars run alongside the app), as kube-scheduler does.
func podHostPorts(pod *corev1.Pod) []hostPort {
	var out []hostPort
	add := func(c *corev1.Container) {
		for _, p := range c.Ports {
			if p.HostPort <= 0 {
				continue
			}
			hp := hostPort{ip: p.HostIP, protocol: p.Protocol, port: p.HostPort}
			if hp.ip == "" {
				hp.ip = "0.0.0.0"
			}
			if hp.protocol == "" {
				hp.protocol = corev1.ProtocolTCP
			}
			out = append(out, hp)
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			add(c)
		}
	}
	for i := range pod.Spec.Containers {
		add(&pod.Spec.Containers[i])
	}
	return out
}

// conflicts: the same protocol and port conflict when either side binds all
// addresses (0.0.0.0) or both bind the same address.
func (a hostPort) conflicts(b hostPort) bool {
	if a.port != b.port || a.protocol != b.protocol {
		return false
	}
	return a.ip == b.ip || a.ip == "0.0.0.0" || b.ip == "0.0.0.0"
}

// NodeInfo is a node with the pods placed on it and their sums.
type NodeInfo struct {
	Node *corev1.Node
	Pods []*PodInfo
	// PodsWithAffinity and PodsWithRequiredAntiAffinity are the subsets the
	// inter-pod affinity filter and score walk, so a pod without affinity does not
	// pay for every pod in the cluster.
	PodsWithAffinity             []*PodInfo
	PodsWithRequiredAntiAffinity []*PodInfo
	Requested                    Resource
	NonZeroRequested             Resource
	Allocatable                  Resource
	UsedPorts                    []hostPort
	// ByController counts the node's pods that are not terminating by their
	// controller's UID, so spreading replicas costs a lookup per node.
	ByController map[types.UID]int
	// Taints are the node's taints plus the ones Kubernetes' node lifecycle
	// controller would add for its Ready condition (TaintNodesByCondition):
	// node.kubernetes.io/not-ready or unreachable with effect NoSchedule.
	Taints []corev1.Taint

	generation int64
	// pos is the node's place in its Snapshot's Nodes.
	pos int
}

func newNodeInfo() *NodeInfo { return &NodeInfo{} }

// SetNode records the node object and what derives from it.
func (n *NodeInfo) SetNode(node *corev1.Node) {
	n.Node = node
	n.Allocatable = newResource(node.Status.Allocatable)
	n.Taints = effectiveTaints(node)
}

// AddPod accounts for a pod placed on the node.
func (n *NodeInfo) AddPod(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	if pi.hasAffinity() {
		n.PodsWithAffinity = append(n.PodsWithAffinity, pi)
	}
	if len(pi.RequiredAntiAffinity) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, pi)
	}
	n.Requested.addResource(pi.Requests, 1)
	n.NonZeroRequested.addResource(pi.NonZero, 1)
	n.UsedPorts = append(n.UsedPorts, pi.Ports...)
	if pi.Controller != "" && pi.Pod.DeletionTimestamp == nil {
		if n.ByController == nil {
			n.ByController = map[types.UID]int{}
		}
		n.ByController[pi.Controller]++
	}
}

// RemovePod forgets a pod by UID and reports whether it was there.
func (n *NodeInfo) RemovePod(pod *corev1.Pod) bool {
	idx := -1
	for i, p := range n.Pods {
		if p.Pod.UID == pod.UID {
			idx = i
			break
		}
	}
	if idx < 0 {
		return false
	}
	pi := n.Pods[idx]
	n.Pods = append(n.Pods[:idx:idx], n.Pods[idx+1:]...)
	n.PodsWithAffinity = removePodInfo(n.PodsWithAffinity, pi)
	n.PodsWithRequiredAntiAffinity = removePodInfo(n.PodsWithRequiredAntiAffinity, pi)
	n.Requested.addResource(pi.Requests, -1)
	n.NonZeroRequested.addResource(pi.NonZero, -1)
	if pi.Controller != "" && pi.Pod.DeletionTimestamp == nil {
		if n.ByController[pi.Controller]--; n.ByController[pi.Controller] <= 0 {
			delete(n.ByController, pi.Controller)
		}
	}
	if len(pi.Ports) > 0 {
		n.UsedPorts = nil
		for _, p := range n.Pods {
			n.UsedPorts = append(n.UsedPorts, p.Ports...)
		}
	}
	return true
}

func removePodInfo(list []*PodInfo, pi *PodInfo) []*PodInfo {
	for i, p := range list {
		if p == pi {
			return append(list[:i:i], list[i+1:]...)
		}
	}
	return list
}

// Clone copies the node info so that the copy and the original can change apart
// (the pod infos themselves are immutable and shared).
func (n *NodeInfo) Clone() *NodeInfo {
	c := &NodeInfo{
		Node:                         n.Node,
		Pods:                         append([]*PodInfo(nil), n.Pods...),
		PodsWithAffinity:             append([]*PodInfo(nil), n.PodsWithAffinity...),
		PodsWithRequiredAntiAffinity: append([]*PodInfo(nil), n.PodsWithRequiredAntiAffinity...),
		Requested:                    n.Requested.clone(),
		NonZeroRequested:             n.NonZeroRequested.clone(),
		Allocatable:                  n.Allocatable.clone(),
		UsedPorts:                    append([]hostPort(nil), n.UsedPorts...),
		ByController:                 maps.Clone(n.ByController),
		Taints:                       n.Taints,
		generation:                   n.generation,
		pos:                          n.pos,
	}
	return c
}

// Name is the node's name.
func (n *NodeInfo) Name() string {
	if n.Node == nil {
		return ""
	}
	return n.Node.Name
}

// Well-known taint keys (k8s.io/api/core/v1 has them as constants too; these
// are the ones the scheduler itself relies on).
const (
	taintNotReady      = corev1.TaintNodeNotReady
	taintUnreachable   = corev1.TaintNodeUnreachable
	taintUnschedulable = corev1.TaintNodeUnschedulable
)

// effectiveTaints adds the not-ready/unreachable NoSchedule taint Kubernetes'
// node lifecycle controller puts on a node whose Ready condition is False or
// Unknown, unless the node already carries it. DaemonSet pods tolerate these, so
// they still land on such nodes, as in Kubernetes.
func effectiveTaints(node *corev1.Node) []corev1.Taint {
	// A node that has not reported a Ready condition yet is not ready: the
	// kubelet registers it with the not-ready taint.
	key := taintNotReady
	for _, c := range node.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		switch c.Status {
		case corev1.ConditionTrue:
			return node.Spec.Taints
		case corev1.ConditionUnknown:
			key = taintUnreachable
		}
	}
	for _, t := range node.Spec.Taints {
		if (t.Key == taintNotReady || t.Key == taintUnreachable) && t.Effect == corev1.TaintEffectNoSchedule {
			return node.Spec.Taints
		}
	}
	out := append([]corev1.Taint(nil), node.Spec.Taints...)
	return append(out, corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule})
}
