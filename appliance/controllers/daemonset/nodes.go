package daemonset

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
)

// templateGenerationLabel is the label Kubernetes gives daemon pods when the
// DaemonSet carries the deprecated template-generation annotation (apps/v1
// DaemonSets created through extensions/v1beta1 once did).
const templateGenerationLabel = "pod-template-generation"

// daemonTolerations are the tolerations Kubernetes adds to every daemon pod
// (AddOrUpdateDaemonPodTolerations): a daemon pod is not evicted when its node
// becomes not-ready or unreachable (no tolerationSeconds: forever), and it runs
// on nodes under disk, memory or PID pressure and on cordoned nodes, which the
// node controller marks with NoSchedule taints (TaintNodesByCondition).
func daemonTolerations(hostNetwork bool) []corev1.Toleration {
	ts := []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	}
	if hostNetwork {
		// A host-network pod needs no pod network, so it may run (and usually
		// is what brings the network up) where the network is unavailable.
		ts = append(ts, corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	}
	return ts
}

// addDaemonTolerations adds the daemon tolerations to spec the way Kubernetes'
// AddOrUpdateTolerationInPodSpec does: a toleration with the same key,
// operator, value and effect is replaced (so a user's tolerationSeconds on
// not-ready gives way to "forever"), anything else is appended.
func addDaemonTolerations(spec *corev1.PodSpec) {
	for _, want := range daemonTolerations(spec.HostNetwork) {
		replaced := false
		for i := range spec.Tolerations {
			if want.MatchToleration(&spec.Tolerations[i]) {
				if !equality.Semantic.DeepEqual(want, spec.Tolerations[i]) {
					spec.Tolerations[i] = want
				}
				replaced = true
			}
		}
		if !replaced {
			spec.Tolerations = append(spec.Tolerations, want)
		}
	}
}

// podTemplate is the template daemon pods are made from: the DaemonSet's own,
// with the daemon tolerations and the controller-revision-hash label of the
// current revision (how the controller tells updated pods from old ones).
func podTemplate(ds *appsv1.DaemonSet, hash string) corev1.PodTemplateSpec {
	t := *ds.Spec.Template.DeepCopy()
	addDaemonTolerations(&t.Spec)
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	if gen, ok := templateGeneration(ds); ok {
		t.Labels[templateGenerationLabel] = strconv.FormatInt(gen, 10)
	}
	if hash != "" {
		t.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	}
	return t
}

func templateGeneration(ds *appsv1.DaemonSet) (int64, bool) {
	v, ok := ds.Annotations[appsv1.DeprecatedTemplateGeneration]
	if !ok {
		return 0, false
	}
	gen, err := strconv.ParseInt(v, 10, 64)
	return gen, err == nil
}

// isPodUpdated: the pod was made from the current template (its hash label, or
// the deprecated template generation, matches).
func isPodUpdated(pod *corev1.Pod, ds *appsv1.DaemonSet, hash string) bool {
	if hash != "" && pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
		return true
	}
	gen, ok := templateGeneration(ds)
	return ok && pod.Labels[templateGenerationLabel] == strconv.FormatInt(gen, 10)
}

// nodeAffinityTo returns affinity with its required node affinity replaced by
// "metadata.name In [node]". Since Kubernetes 1.12 daemon pods are not placed by
// the DaemonSet controller but by the default scheduler, which this term binds
// to exactly one node while the scheduler still checks resources and ports. It
// is safe to drop the template's own required terms: the node was chosen
// because it satisfies them.
func nodeAffinityTo(affinity *corev1.Affinity, node string) *corev1.Affinity {
	term := corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{
		Key: metav1.ObjectNameField, Operator: corev1.NodeSelectorOpIn, Values: []string{node},
	}}}
	out := affinity.DeepCopy()
	if out == nil {
		out = &corev1.Affinity{}
	}
	if out.NodeAffinity == nil {
		out.NodeAffinity = &corev1.NodeAffinity{}
	}
	if out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{}
	}
	out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms = []corev1.NodeSelectorTerm{term}
	return out
}

// targetNode is the node a daemon pod is for: its spec.nodeName once bound,
// else the node its metadata.name affinity term names.
func targetNode(pod *corev1.Pod) (string, error) {
	if pod.Spec.NodeName != "" {
		return pod.Spec.NodeName, nil
	}
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return "", fmt.Errorf("pod %s/%s has no required node affinity", pod.Namespace, pod.Name)
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, req := range term.MatchFields {
			if req.Key == metav1.ObjectNameField && req.Operator == corev1.NodeSelectorOpIn {
				if len(req.Values) != 1 {
					return "", fmt.Errorf("pod %s/%s: %s affinity does not name exactly one node", pod.Namespace, pod.Name, metav1.ObjectNameField)
				}
				return req.Values[0], nil
			}
		}
	}
	return "", fmt.Errorf("pod %s/%s has no node name in its affinity", pod.Namespace, pod.Name)
}

// nodeShouldRunDaemonPod decides, as Kubernetes' NodeShouldRunDaemonPod does,
//   - shouldRun: a daemon pod should be created on node if none is there;
//   - shouldContinueRunning: a daemon pod already there may stay.
//
// Both need spec.nodeName (if the template sets one), nodeSelector and required
// node affinity to fit. Taints: an untolerated NoSchedule or NoExecute taint
// stops new pods; only an untolerated NoExecute taint evicts running ones, as
// the kubelet and the taint manager would.
func nodeShouldRunDaemonPod(node *corev1.Node, ds *appsv1.DaemonSet) (shouldRun, shouldContinueRunning bool) {
	if n := ds.Spec.Template.Spec.NodeName; n != "" && n != node.Name {
		return false, false
	}
	spec := ds.Spec.Template.Spec.DeepCopy()
	addDaemonTolerations(spec)
	pod := &corev1.Pod{Spec: *spec}
	// A selector that does not parse selects nothing; Kubernetes ignores the
	// error the same way.
	if fits, _ := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); !fits {
		return false, false
	}
	if _, untolerated := untoleratedTaint(node.Spec.Taints, spec.Tolerations, corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute); !untolerated {
		return true, true
	}
	_, evicts := untoleratedTaint(node.Spec.Taints, spec.Tolerations, corev1.TaintEffectNoExecute)
	return false, !evicts
}

// untoleratedTaint returns the first taint with one of effects that no
// toleration tolerates.
func untoleratedTaint(taints []corev1.Taint, tolerations []corev1.Toleration, effects ...corev1.TaintEffect) (corev1.Taint, bool) {
	for i := range taints {
		t := &taints[i]
		relevant := false
		for _, e := range effects {
			relevant = relevant || t.Effect == e
		}
		if !relevant {
			continue
		}
		tolerated := false
		for j := range tolerations {
			// Comparison operators (Gt/Lt) are understood as our scheduler
			// understands them, so both agree on where a pod may go.
			if tolerations[j].ToleratesTaint(klog.Logger{}, t, true) {
				tolerated = true
				break
			}
		}
		if !tolerated {
			return *t, true
		}
	}
	return corev1.Taint{}, false
}
