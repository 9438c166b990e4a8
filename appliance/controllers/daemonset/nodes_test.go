package daemonset

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func testDS(mutate ...func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ns", UID: "ds-uid"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}}},
			},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType},
		},
	}
	for _, m := range mutate {
		m(ds)
	}
	return ds
}

func testNode(name string, mutate ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
	for _, m := range mutate {
		m(n)
	}
	return n
}

func withTaint(key, value string, effect corev1.TaintEffect) func(*corev1.Node) {
	return func(n *corev1.Node) {
		n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	}
}

func withLabel(k, v string) func(*corev1.Node) { return func(n *corev1.Node) { n.Labels[k] = v } }

func TestNodeShouldRunDaemonPod(t *testing.T) {
	tests := []struct {
		name         string
		ds           *appsv1.DaemonSet
		node         *corev1.Node
		wantRun      bool
		wantContinue bool
	}{
		{name: "plain node", ds: testDS(), node: testNode("a"), wantRun: true, wantContinue: true},
		{name: "nodeSelector matches", ds: testDS(func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"}
		}), node: testNode("a", withLabel("disk", "ssd")), wantRun: true, wantContinue: true},
		{name: "nodeSelector does not match", ds: testDS(func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.NodeSelector = map[string]string{"disk": "ssd"}
		}), node: testNode("a"), wantRun: false, wantContinue: false},
		{name: "required affinity does not match", ds: testDS(func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"east"}}},
				}}},
			}}
		}), node: testNode("a", withLabel("zone", "west")), wantRun: false, wantContinue: false},
		{name: "required affinity matches", ds: testDS(func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"east"}}},
				}}},
			}}
		}), node: testNode("a", withLabel("zone", "east")), wantRun: true, wantContinue: true},
		{name: "template nodeName elsewhere", ds: testDS(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.NodeName = "b" }),
			node: testNode("a"), wantRun: false, wantContinue: false},
		{name: "untolerated NoSchedule: no new pod, existing stays", ds: testDS(),
			node: testNode("a", withTaint("dedicated", "db", corev1.TaintEffectNoSchedule)), wantRun: false, wantContinue: true},
		{name: "untolerated NoExecute: evicted", ds: testDS(),
			node: testNode("a", withTaint("dedicated", "db", corev1.TaintEffectNoExecute)), wantRun: false, wantContinue: false},
		{name: "PreferNoSchedule does not matter", ds: testDS(),
			node: testNode("a", withTaint("dedicated", "db", corev1.TaintEffectPreferNoSchedule)), wantRun: true, wantContinue: true},
		{name: "tolerated taint", ds: testDS(func(ds *appsv1.DaemonSet) {
			ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db", Effect: corev1.TaintEffectNoSchedule}}
		}), node: testNode("a", withTaint("dedicated", "db", corev1.TaintEffectNoSchedule)), wantRun: true, wantContinue: true},
		{name: "not-ready NoExecute is tolerated by daemon pods", ds: testDS(),
			node: testNode("a", withTaint(corev1.TaintNodeNotReady, "", corev1.TaintEffectNoExecute)), wantRun: true, wantContinue: true},
		{name: "unreachable NoExecute is tolerated by daemon pods", ds: testDS(),
			node: testNode("a", withTaint(corev1.TaintNodeUnreachable, "", corev1.TaintEffectNoExecute)), wantRun: true, wantContinue: true},
		{name: "cordoned node", ds: testDS(),
			node: testNode("a", withTaint(corev1.TaintNodeUnschedulable, "", corev1.TaintEffectNoSchedule)), wantRun: true, wantContinue: true},
		{name: "memory pressure", ds: testDS(),
			node: testNode("a", withTaint(corev1.TaintNodeMemoryPressure, "", corev1.TaintEffectNoSchedule)), wantRun: true, wantContinue: true},
		{name: "network unavailable, pod network", ds: testDS(),
			node: testNode("a", withTaint(corev1.TaintNodeNetworkUnavailable, "", corev1.TaintEffectNoSchedule)), wantRun: false, wantContinue: true},
		{name: "network unavailable, host network", ds: testDS(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.HostNetwork = true }),
			node: testNode("a", withTaint(corev1.TaintNodeNetworkUnavailable, "", corev1.TaintEffectNoSchedule)), wantRun: true, wantContinue: true},
		{name: "not-ready NoSchedule is not tolerated", ds: testDS(),
			node: testNode("a", withTaint(corev1.TaintNodeNotReady, "", corev1.TaintEffectNoSchedule)), wantRun: false, wantContinue: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, cont := nodeShouldRunDaemonPod(tt.node, tt.ds)
			if run != tt.wantRun || cont != tt.wantContinue {
				t.Errorf("shouldRun, shouldContinueRunning = %v, %v; want %v, %v", run, cont, tt.wantRun, tt.wantContinue)
			}
		})
	}
}

func TestAddDaemonTolerations(t *testing.T) {
	secs := ptr.To[int64](60)
	tests := []struct {
		name        string
		hostNetwork bool
		have        []corev1.Toleration
		wantCount   int
		check       func(t *testing.T, got []corev1.Toleration)
	}{
		{name: "none before", wantCount: 6},
		{name: "host network adds network-unavailable", hostNetwork: true, wantCount: 7, check: func(t *testing.T, got []corev1.Toleration) {
			if !hasToleration(got, corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule) {
				t.Errorf("no network-unavailable toleration: %+v", got)
			}
		}},
		{name: "user tolerations stay", have: []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists}}, wantCount: 7},
		{name: "not-ready with seconds becomes forever", have: []corev1.Toleration{{
			Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs,
		}}, wantCount: 6, check: func(t *testing.T, got []corev1.Toleration) {
			for _, tol := range got {
				if tol.Key == corev1.TaintNodeNotReady && tol.TolerationSeconds != nil {
					t.Errorf("not-ready toleration keeps tolerationSeconds: %+v", tol)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &corev1.PodSpec{HostNetwork: tt.hostNetwork, Tolerations: tt.have}
			addDaemonTolerations(spec)
			addDaemonTolerations(spec) // idempotent
			if len(spec.Tolerations) != tt.wantCount {
				t.Fatalf("%d tolerations, want %d: %+v", len(spec.Tolerations), tt.wantCount, spec.Tolerations)
			}
			for _, want := range []struct {
				key    string
				effect corev1.TaintEffect
			}{
				{corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute},
				{corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute},
				{corev1.TaintNodeDiskPressure, corev1.TaintEffectNoSchedule},
				{corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule},
				{corev1.TaintNodePIDPressure, corev1.TaintEffectNoSchedule},
				{corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule},
			} {
				if !hasToleration(spec.Tolerations, want.key, want.effect) {
					t.Errorf("missing %s:%s in %+v", want.key, want.effect, spec.Tolerations)
				}
			}
			if tt.check != nil {
				tt.check(t, spec.Tolerations)
			}
		})
	}
}

func hasToleration(ts []corev1.Toleration, key string, effect corev1.TaintEffect) bool {
	for _, t := range ts {
		if t.Key == key && t.Effect == effect && t.Operator == corev1.TolerationOpExists && t.TolerationSeconds == nil {
			return true
		}
	}
	return false
}

func TestNodeAffinityAndTarget(t *testing.T) {
	preferred := []corev1.PreferredSchedulingTerm{{Weight: 1, Preference: corev1.NodeSelectorTerm{
		MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpExists}},
	}}}
	tests := []struct {
		name     string
		affinity *corev1.Affinity
	}{
		{name: "no affinity"},
		{name: "empty node affinity", affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{}}},
		{name: "required terms replaced, preferred kept", affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"east"}}},
			}}},
			PreferredDuringSchedulingIgnoredDuringExecution: preferred,
		}}},
		{name: "pod affinity kept", affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.affinity.DeepCopy()
			got := nodeAffinityTo(tt.affinity, "node-a")
			terms := got.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
			if len(terms) != 1 || len(terms[0].MatchFields) != 1 || len(terms[0].MatchExpressions) != 0 {
				t.Fatalf("terms = %+v", terms)
			}
			if f := terms[0].MatchFields[0]; f.Key != "metadata.name" || f.Operator != corev1.NodeSelectorOpIn || len(f.Values) != 1 || f.Values[0] != "node-a" {
				t.Errorf("match field = %+v", f)
			}
			if tt.affinity != nil && tt.affinity.NodeAffinity != nil && len(tt.affinity.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != len(got.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) {
				t.Errorf("preferred terms lost")
			}
			if tt.affinity != nil && tt.affinity.PodAntiAffinity != nil && got.PodAntiAffinity == nil {
				t.Errorf("pod anti-affinity lost")
			}
			if !equalAffinity(before, tt.affinity) {
				t.Errorf("template affinity modified")
			}
			pod := &corev1.Pod{Spec: corev1.PodSpec{Affinity: got}}
			if node, err := targetNode(pod); err != nil || node != "node-a" {
				t.Errorf("targetNode = %q, %v", node, err)
			}
			pod.Spec.NodeName = "node-b"
			if node, _ := targetNode(pod); node != "node-b" {
				t.Errorf("bound pod's target = %q, want its nodeName", node)
			}
		})
	}
	if _, err := targetNode(&corev1.Pod{}); err == nil {
		t.Errorf("a pod without node or affinity has a target")
	}
}

func equalAffinity(a, b *corev1.Affinity) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.String() == b.String()
}

func TestPodTemplate(t *testing.T) {
	ds := testDS(func(ds *appsv1.DaemonSet) {
		ds.Annotations = map[string]string{appsv1.DeprecatedTemplateGeneration: "3"}
	})
	tpl := podTemplate(ds, "abc123")
	if tpl.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != "abc123" || tpl.Labels["app"] != "agent" || tpl.Labels[templateGenerationLabel] != "3" {
		t.Errorf("labels = %v", tpl.Labels)
	}
	if len(ds.Spec.Template.Spec.Tolerations) != 0 || len(ds.Spec.Template.Labels) != 1 {
		t.Errorf("DaemonSet template modified: %+v", ds.Spec.Template)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: tpl.Labels}}
	if !isPodUpdated(pod, ds, "abc123") {
		t.Errorf("pod from the template is not updated")
	}
	pod.Labels = map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: "old", templateGenerationLabel: "3"}
	if !isPodUpdated(pod, ds, "abc123") {
		t.Errorf("pod of the current template generation is not updated")
	}
	pod.Labels = map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: "old"}
	if isPodUpdated(pod, ds, "abc123") {
		t.Errorf("old pod counts as updated")
	}
}
