package scheduler

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// TestFilters checks each filter on its own: where the pod goes, or the exact
// FailedScheduling message kube-scheduler would write.
func TestFilters(t *testing.T) {
	never := corev1.PreemptNever
	tests := []struct {
		name     string
		nodes    []*corev1.Node
		existing []*corev1.Pod
		pod      *corev1.Pod
		hide     bool
		wantNode string // "" when unschedulable
		wantMsg  string
	}{
		{
			name:     "fits",
			nodes:    []*corev1.Node{mkNode("a", "2", "4Gi")},
			pod:      mkPod("p", "1", "1Gi"),
			wantNode: "a",
		},
		{
			name:    "insufficient cpu and memory are both counted",
			nodes:   []*corev1.Node{mkNode("a", "2", "4Gi")},
			pod:     mkPod("p", "3", "5Gi"),
			wantMsg: "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			name:     "existing pods use the room",
			nodes:    []*corev1.Node{mkNode("a", "2", "4Gi"), mkNode("b", "4", "4Gi")},
			existing: []*corev1.Pod{mkPod("x", "1500m", "", on("a"))},
			pod:      mkPod("p", "1", ""),
			wantNode: "b",
		},
		{
			name:     "pod count",
			nodes:    []*corev1.Node{mkNode("a", "2", "4Gi", withAllocatable(corev1.ResourcePods, "1"))},
			existing: []*corev1.Pod{mkPod("x", "", "", on("a"))},
			pod:      mkPod("p", "", ""),
			wantMsg:  "0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			name:  "ephemeral storage and extended resources",
			nodes: []*corev1.Node{mkNode("a", "2", "4Gi", withAllocatable("example.com/gpu", "1"))},
			pod: mkPod("p", "", "", func(p *corev1.Pod) {
				p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{
					corev1.ResourceEphemeralStorage: resource.MustParse("60Gi"),
					"example.com/gpu":               resource.MustParse("2"),
				}
			}),
			wantMsg: "0/1 nodes are available: 1 Insufficient ephemeral-storage, 1 Insufficient example.com/gpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			// max(sum(app)=1, max(init)=3) = 3 > 2.5 free
			name:     "an init container larger than the app containers counts",
			nodes:    []*corev1.Node{mkNode("a", "3", "4Gi")},
			existing: []*corev1.Pod{mkPod("x", "500m", "", on("a"))},
			pod:      mkPod("p", "1", "", initContainer("3")),
			wantMsg:  "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			// max(1, max(2, 1)) = 2 <= 2.5 free: init containers run one at a time
			name:     "init containers count one at a time",
			nodes:    []*corev1.Node{mkNode("a", "3", "4Gi")},
			existing: []*corev1.Pod{mkPod("x", "500m", "", on("a"))},
			pod:      mkPod("p", "1", "", initContainer("2"), initContainer("1")),
			wantNode: "a",
		},
		{
			// sidecar 1 runs alongside: app 1 + sidecar 1 = 2, and the init
			// container after it needs 1 + 1 = 2; with overhead 1 that is 3 > 2.5.
			name:     "sidecars add up and overhead counts",
			nodes:    []*corev1.Node{mkNode("a", "3", "4Gi")},
			existing: []*corev1.Pod{mkPod("x", "500m", "", on("a"))},
			pod:      mkPod("p", "1", "", sidecar("1"), initContainer("1"), overhead("1")),
			wantMsg:  "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			name:    "not ready node is tainted not-ready",
			nodes:   []*corev1.Node{mkNode("a", "2", "4Gi", withReady(corev1.ConditionFalse)), mkNode("b", "2", "4Gi", withReady(corev1.ConditionUnknown))},
			pod:     mkPod("p", "", ""),
			wantMsg: "0/2 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.",
		},
		{
			name:     "a pod tolerating not-ready (a DaemonSet's) still lands",
			nodes:    []*corev1.Node{mkNode("a", "2", "4Gi", withReady(corev1.ConditionFalse))},
			pod:      mkPod("p", "", "", tolerate(corev1.TaintNodeNotReady, "", corev1.TaintEffectNoSchedule)),
			wantNode: "a",
		},
		{
			name:    "cordoned",
			nodes:   []*corev1.Node{mkNode("a", "2", "4Gi", cordoned())},
			pod:     mkPod("p", "", ""),
			wantMsg: "0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
		},
		{
			name:     "cordoned but tolerated",
			nodes:    []*corev1.Node{mkNode("a", "2", "4Gi", cordoned())},
			pod:      mkPod("p", "", "", tolerate(corev1.TaintNodeUnschedulable, "", corev1.TaintEffectNoSchedule)),
			wantNode: "a",
		},
		{
			name:     "nodeSelector",
			nodes:    []*corev1.Node{mkNode("a", "2", "4Gi"), mkNode("b", "2", "4Gi", withLabels("disk", "ssd"))},
			pod:      mkPod("p", "", "", nodeSelector("disk", "ssd")),
			wantNode: "b",
		},
		{
			name:    "nodeSelector matches nothing",
			nodes:   []*corev1.Node{mkNode("a", "2", "4Gi")},
			pod:     mkPod("p", "", "", nodeSelector("disk", "ssd")),
			wantMsg: "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
		},
		{
			name:  "required node affinity",
			nodes: []*corev1.Node{mkNode("a", "2", "4Gi", withLabels("zone", "z1")), mkNode("b", "2", "4Gi", withLabels("zone", "z2"))},
			pod: mkPod("p", "", "", affinity(&corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"z2", "z3"}}},
				}}},
			}})),
			wantNode: "b",
		},
		{
			name: "the issue's example: resources and taints",
			nodes: []*corev1.Node{
				mkNode("a", "1", "4Gi"),
				mkNode("b", "8", "4Gi", withTaint("role", "db", corev1.TaintEffectNoSchedule)),
				mkNode("c", "8", "4Gi", withTaint("role", "db", corev1.TaintEffectNoExecute)),
			},
			pod:     mkPod("web-1", "2", ""),
			wantMsg: "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {role: db}. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.",
		},
		{
			name:    "taint values hidden as kube-scheduler 1.35 does",
			nodes:   []*corev1.Node{mkNode("a", "8", "4Gi", withTaint("role", "db", corev1.TaintEffectNoSchedule))},
			pod:     mkPod("p", "", ""),
			hide:    true,
			wantMsg: "0/1 nodes are available: 1 node(s) had untolerated taint(s). preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
		},
		{
			name:     "PreferNoSchedule does not filter",
			nodes:    []*corev1.Node{mkNode("a", "2", "4Gi", withTaint("role", "db", corev1.TaintEffectPreferNoSchedule))},
			pod:      mkPod("p", "", ""),
			wantNode: "a",
		},
		{
			name:     "toleration with Equal",
			nodes:    []*corev1.Node{mkNode("a", "2", "4Gi", withTaint("role", "db", corev1.TaintEffectNoSchedule))},
			pod:      mkPod("p", "", "", tolerate("role", "db", corev1.TaintEffectNoSchedule)),
			wantNode: "a",
		},
		{
			name:     "host port taken",
			nodes:    []*corev1.Node{mkNode("a", "2", "4Gi"), mkNode("b", "2", "4Gi")},
			existing: []*corev1.Pod{mkPod("x", "", "", on("a"), hostPortOpt(8080))},
			pod:      mkPod("p", "", "", hostPortOpt(8080)),
			wantNode: "b",
		},
		{
			name:     "host port taken everywhere",
			nodes:    []*corev1.Node{mkNode("a", "2", "4Gi")},
			existing: []*corev1.Pod{mkPod("x", "", "", on("a"), hostPortOpt(8080))},
			pod:      mkPod("p", "", "", hostPortOpt(8080)),
			wantMsg:  "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			name:     "required pod anti-affinity",
			nodes:    []*corev1.Node{mkNode("a", "2", "4Gi"), mkNode("b", "2", "4Gi")},
			existing: []*corev1.Pod{mkPod("x", "", "", on("a"), podLabels("app", "web"))},
			pod: mkPod("p", "", "", podLabels("app", "web"), affinity(&corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term(corev1.LabelHostname, "app", "web")},
			}})),
			wantNode: "b",
		},
		{
			name:     "required pod anti-affinity everywhere",
			nodes:    []*corev1.Node{mkNode("a", "2", "4Gi")},
			existing: []*corev1.Pod{mkPod("x", "", "", on("a"), podLabels("app", "web"))},
			pod: mkPod("p", "", "", podLabels("app", "web"), affinity(&corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term(corev1.LabelHostname, "app", "web")},
			}})),
			wantMsg: "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			name:  "existing pod's anti-affinity keeps the pod away",
			nodes: []*corev1.Node{mkNode("a", "2", "4Gi"), mkNode("b", "2", "4Gi")},
			existing: []*corev1.Pod{mkPod("x", "", "", on("a"), affinity(&corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term(corev1.LabelHostname, "app", "noisy")},
			}}))},
			pod:      mkPod("p", "", "", podLabels("app", "noisy")),
			wantNode: "b",
		},
		{
			name:  "existing pod's anti-affinity everywhere",
			nodes: []*corev1.Node{mkNode("a", "2", "4Gi")},
			existing: []*corev1.Pod{mkPod("x", "", "", on("a"), affinity(&corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term(corev1.LabelHostname, "app", "noisy")},
			}}))},
			pod:     mkPod("p", "", "", podLabels("app", "noisy")),
			wantMsg: "0/1 nodes are available: 1 node(s) didn't satisfy existing pods anti-affinity rules. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			name:     "required pod affinity follows the pods it wants",
			nodes:    []*corev1.Node{mkNode("a", "2", "4Gi", withLabels("zone", "z1")), mkNode("b", "2", "4Gi", withLabels("zone", "z2")), mkNode("c", "2", "4Gi", withLabels("zone", "z2"))},
			existing: []*corev1.Pod{mkPod("db", "", "", on("c"), podLabels("app", "db"))},
			pod: mkPod("p", "", "", affinity(&corev1.Affinity{PodAffinity: &corev1.PodAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term("zone", "app", "db")},
			}})),
			wantNode: "b", // zone z2, the emptier node of the two
		},
		{
			name:  "required pod affinity with no match anywhere",
			nodes: []*corev1.Node{mkNode("a", "2", "4Gi")},
			pod: mkPod("p", "", "", affinity(&corev1.Affinity{PodAffinity: &corev1.PodAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term(corev1.LabelHostname, "app", "db")},
			}})),
			wantMsg: "0/1 nodes are available: 1 node(s) didn't match pod affinity rules. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
		},
		{
			name:  "the first pod of a self-affine group may start it",
			nodes: []*corev1.Node{mkNode("a", "2", "4Gi")},
			pod: mkPod("p", "", "", podLabels("app", "cache"), affinity(&corev1.Affinity{PodAffinity: &corev1.PodAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term(corev1.LabelHostname, "app", "cache")},
			}})),
			wantNode: "a",
		},
		{
			name:  "affinity needs the topology key on the node",
			nodes: []*corev1.Node{mkNode("a", "2", "4Gi")},
			pod: mkPod("p", "", "", podLabels("app", "cache"), affinity(&corev1.Affinity{PodAffinity: &corev1.PodAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term("zone", "app", "cache")},
			}})),
			wantMsg: "0/1 nodes are available: 1 node(s) didn't match pod affinity rules. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.",
		},
		{
			name:  "topology spread DoNotSchedule",
			nodes: []*corev1.Node{mkNode("a", "8", "8Gi", withLabels("zone", "z1")), mkNode("b", "2", "4Gi", withLabels("zone", "z2"))},
			existing: []*corev1.Pod{
				mkPod("w1", "", "", on("a"), podLabels("app", "web")),
			},
			// z1 has 1, z2 has 0: placing in z1 makes skew 2 > 1, so z2 it is,
			// although a is the emptier node.
			pod:      mkPod("p", "", "", podLabels("app", "web"), spread(1, "zone", corev1.DoNotSchedule, "app", "web")),
			wantNode: "b",
		},
		{
			name: "topology spread that cannot be met",
			nodes: []*corev1.Node{
				mkNode("a", "8", "8Gi", withLabels("zone", "z1")),
				mkNode("b", "8", "8Gi", withLabels("zone", "z2"), withTaint("role", "db", corev1.TaintEffectNoSchedule)),
				mkNode("c", "8", "8Gi"),
			},
			existing: []*corev1.Pod{mkPod("w1", "", "", on("a"), podLabels("app", "web"))},
			pod:      mkPod("p", "", "", podLabels("app", "web"), spread(1, "zone", corev1.DoNotSchedule, "app", "web")),
			wantMsg:  "0/3 nodes are available: 1 node(s) didn't match pod topology spread constraints, 1 node(s) didn't match pod topology spread constraints (missing required label), 1 node(s) had untolerated taint {role: db}. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.",
		},
		{
			name:    "preemptionPolicy Never",
			nodes:   []*corev1.Node{mkNode("a", "1", "4Gi")},
			pod:     mkPod("p", "2", "", func(p *corev1.Pod) { p.Spec.PreemptionPolicy = &never }),
			wantMsg: "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never.",
		},
		{
			name:  "missing claim fails before any node is looked at",
			nodes: []*corev1.Node{mkNode("a", "1", "4Gi"), mkNode("b", "1", "4Gi")},
			pod: mkPod("p", "", "", func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-0"}}}}
			}),
			wantMsg: `0/2 nodes are available: persistentvolumeclaim "data-0" not found.`,
		},
		{
			name:    "no nodes",
			pod:     mkPod("p", "", ""),
			wantMsg: "no nodes available to schedule pods",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSnapshot(tt.nodes, tt.existing)
			s.HideTaintValues = tt.hide
			s.Claim = func(string, string) (*corev1.PersistentVolumeClaim, bool) { return nil, false }
			d := s.Schedule(tt.pod)
			if d.Node != tt.wantNode {
				t.Errorf("node = %q, want %q (message %q)", d.Node, tt.wantNode, d.Message)
			}
			if d.Message != tt.wantMsg {
				t.Errorf("message:\n got %q\nwant %q", d.Message, tt.wantMsg)
			}
		})
	}
}

// TestScores checks that each score steers the choice among nodes that all fit.
func TestScores(t *testing.T) {
	preferZone := func(zone string, w int32) podOpt {
		return affinity(&corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: w, Preference: corev1.NodeSelectorTerm{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{zone}}},
			}}},
		}})
	}
	tests := []struct {
		name     string
		nodes    []*corev1.Node
		existing []*corev1.Pod
		pod      *corev1.Pod
		wantNode string
	}{
		{
			name:     "least allocated",
			nodes:    []*corev1.Node{mkNode("a", "4", "8Gi"), mkNode("b", "4", "8Gi")},
			existing: []*corev1.Pod{mkPod("x", "2", "4Gi", on("a"))},
			pod:      mkPod("p", "1", "1Gi"),
			wantNode: "b",
		},
		{
			name:     "best-effort pods count as 100m/200Mi when scoring",
			nodes:    []*corev1.Node{mkNode("a", "4", "8Gi"), mkNode("b", "4", "8Gi")},
			existing: []*corev1.Pod{mkPod("x", "", "", on("a")), mkPod("y", "", "", on("a"))},
			pod:      mkPod("p", "", ""),
			wantNode: "b",
		},
		{
			// On a, cpu would be 75% and memory 12.5% used; on b, 50% and 50%.
			// Least allocated ties (a: 56, b: 50 → a), balance breaks it for b.
			name:     "balanced allocation",
			nodes:    []*corev1.Node{mkNode("a", "4", "8Gi"), mkNode("b", "4", "8Gi")},
			existing: []*corev1.Pod{mkPod("x", "2", "", on("a")), mkPod("y", "1", "3Gi", on("b"))},
			pod:      mkPod("p", "1", "1Gi"),
			wantNode: "b",
		},
		{
			name:     "preferred node affinity",
			nodes:    []*corev1.Node{mkNode("a", "4", "8Gi", withLabels("zone", "z1")), mkNode("b", "4", "8Gi", withLabels("zone", "z2"))},
			existing: []*corev1.Pod{mkPod("x", "1", "1Gi", on("b"))},
			pod:      mkPod("p", "", "", preferZone("z2", 50)),
			wantNode: "b",
		},
		{
			name:     "PreferNoSchedule taints are avoided",
			nodes:    []*corev1.Node{mkNode("a", "4", "8Gi", withTaint("spot", "true", corev1.TaintEffectPreferNoSchedule)), mkNode("b", "4", "8Gi")},
			existing: []*corev1.Pod{mkPod("x", "1", "1Gi", on("b"))},
			pod:      mkPod("p", "", ""),
			wantNode: "b",
		},
		{
			name:     "preferred pod affinity",
			nodes:    []*corev1.Node{mkNode("a", "4", "8Gi"), mkNode("b", "4", "8Gi")},
			existing: []*corev1.Pod{mkPod("db", "1", "1Gi", on("b"), podLabels("app", "db"))},
			pod: mkPod("p", "", "", affinity(&corev1.Affinity{PodAffinity: &corev1.PodAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: term(corev1.LabelHostname, "app", "db")}},
			}})),
			wantNode: "b",
		},
		{
			name:     "preferred pod anti-affinity",
			nodes:    []*corev1.Node{mkNode("a", "4", "8Gi"), mkNode("b", "4", "8Gi")},
			existing: []*corev1.Pod{mkPod("w", "", "", on("b"), podLabels("app", "web")), mkPod("x", "2", "4Gi", on("a"))},
			pod: mkPod("p", "", "", podLabels("app", "web"), affinity(&corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: term(corev1.LabelHostname, "app", "web")}},
			}})),
			wantNode: "a",
		},
		{
			name:  "ScheduleAnyway spread",
			nodes: []*corev1.Node{mkNode("a", "4", "8Gi"), mkNode("b", "4", "8Gi")},
			existing: []*corev1.Pod{
				mkPod("w1", "", "", on("b"), podLabels("app", "web")),
				mkPod("x", "1", "2Gi", on("a")),
			},
			pod:      mkPod("p", "", "", podLabels("app", "web"), spread(1, corev1.LabelHostname, corev1.ScheduleAnyway, "app", "web")),
			wantNode: "a",
		},
		{
			name:  "pods of one controller spread by default",
			nodes: []*corev1.Node{mkNode("a", "4", "8Gi"), mkNode("b", "4", "8Gi")},
			existing: []*corev1.Pod{
				mkPod("r1", "", "", on("b"), ownedBy("rs-1")),
				mkPod("r2", "", "", on("b"), ownedBy("rs-1")),
				mkPod("x", "500m", "1Gi", on("a")),
			},
			pod:      mkPod("p", "", "", ownedBy("rs-1")),
			wantNode: "a",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewSnapshot(tt.nodes, tt.existing).Schedule(tt.pod)
			if d.Node != tt.wantNode {
				t.Errorf("node = %q, want %q (message %q)", d.Node, tt.wantNode, d.Message)
			}
		})
	}
}

// TestPreemption: a pod that fits nowhere evicts the fewest, least important
// lower-priority pods.
func TestPreemption(t *testing.T) {
	tests := []struct {
		name        string
		nodes       []*corev1.Node
		existing    []*corev1.Pod
		pod         *corev1.Pod
		wantNode    string
		wantVictims []string
		wantMsg     string
	}{
		{
			name:  "evicts only what is needed, least important first",
			nodes: []*corev1.Node{mkNode("a", "4", "8Gi")},
			existing: []*corev1.Pod{
				mkPod("low", "1", "", on("a"), priority(1)),
				mkPod("mid", "1", "", on("a"), priority(5)),
				mkPod("lowest", "1", "", on("a"), priority(0)),
				mkPod("high", "1", "", on("a"), priority(100)),
			},
			pod:         mkPod("p", "2", "", priority(10)),
			wantNode:    "a",
			wantVictims: []string{"low", "lowest"},
			wantMsg:     "0/1 nodes are available: 1 Insufficient cpu.",
		},
		{
			name:  "prefers the node whose victims matter least",
			nodes: []*corev1.Node{mkNode("a", "2", "8Gi"), mkNode("b", "2", "8Gi")},
			existing: []*corev1.Pod{
				mkPod("a1", "2", "", on("a"), priority(5)),
				mkPod("b1", "2", "", on("b"), priority(1)),
			},
			pod:         mkPod("p", "2", "", priority(10)),
			wantNode:    "b",
			wantVictims: []string{"b1"},
			wantMsg:     "0/2 nodes are available: 2 Insufficient cpu.",
		},
		{
			name:     "equal priorities cannot be preempted",
			nodes:    []*corev1.Node{mkNode("a", "2", "8Gi")},
			existing: []*corev1.Pod{mkPod("a1", "2", "", on("a"), priority(10))},
			pod:      mkPod("p", "2", "", priority(10)),
			wantMsg:  "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.",
		},
		{
			name:     "evicting everything still is not enough",
			nodes:    []*corev1.Node{mkNode("a", "2", "8Gi")},
			existing: []*corev1.Pod{mkPod("a1", "1", "", on("a"), priority(1))},
			pod:      mkPod("p", "3", "", priority(10)),
			wantMsg:  "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 Insufficient cpu.",
		},
		{
			name:  "anti-affinity to a lower-priority pod is resolved by preemption",
			nodes: []*corev1.Node{mkNode("a", "2", "8Gi")},
			existing: []*corev1.Pod{
				mkPod("web", "", "", on("a"), podLabels("app", "web"), priority(1)),
				mkPod("other", "", "", on("a"), priority(1)),
			},
			pod: mkPod("p", "", "", priority(10), affinity(&corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term(corev1.LabelHostname, "app", "web")},
			}})),
			wantNode:    "a",
			wantVictims: []string{"web"},
			wantMsg:     "0/1 nodes are available: 1 node(s) didn't match pod anti-affinity rules.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewSnapshot(tt.nodes, tt.existing).Schedule(tt.pod)
			if d.Node != "" {
				t.Fatalf("scheduled on %q, want preemption", d.Node)
			}
			if d.NominatedNode != tt.wantNode {
				t.Errorf("nominated %q, want %q", d.NominatedNode, tt.wantNode)
			}
			var got []string
			for _, v := range d.Victims {
				got = append(got, v.Name)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantVictims) {
				t.Errorf("victims %v, want %v", got, tt.wantVictims)
			}
			if d.Message != tt.wantMsg {
				t.Errorf("message:\n got %q\nwant %q", d.Message, tt.wantMsg)
			}
		})
	}
}

// TestNominatedPodsHoldTheirRoom: a node promised to a higher-priority pod is
// not given away to a lower one meanwhile; the nominated pod itself goes there.
func TestNominatedPodsHoldTheirRoom(t *testing.T) {
	nominated := mkPod("big", "2", "", priority(10), func(p *corev1.Pod) { p.Status.NominatedNodeName = "a" })
	s := NewSnapshot([]*corev1.Node{mkNode("a", "2", "8Gi")}, []*corev1.Pod{nominated})
	if d := s.Schedule(mkPod("small", "1", "", priority(1))); d.Node != "" {
		t.Errorf("lower-priority pod took the nominated room on %q", d.Node)
	}
	if d := s.Schedule(nominated); d.Node != "a" {
		t.Errorf("nominated pod went to %q (%s), want a", d.Node, d.Message)
	}
}

// TestLargeClusterSearch: in a big cluster only part of the nodes are filtered
// per pod, and the search start rotates so all nodes are used.
func TestLargeClusterSearch(t *testing.T) {
	var nodes []*corev1.Node
	for i := range 500 {
		nodes = append(nodes, mkNode(fmt.Sprintf("n-%03d", i), "4", "8Gi"))
	}
	s := NewSnapshot(nodes, nil)
	used := map[string]bool{}
	for i := range 10 {
		d := s.Schedule(mkPod(fmt.Sprintf("p%d", i), "100m", ""))
		if d.Node == "" {
			t.Fatalf("unschedulable: %s", d.Message)
		}
		if want := numFeasibleNodesToFind(500); d.Evaluated != want {
			t.Errorf("evaluated %d nodes, want %d", d.Evaluated, want)
		}
		used[d.Node] = true
	}
	if len(used) < 2 {
		t.Errorf("all pods went to %v", used)
	}
	if got := numFeasibleNodesToFind(50); got != 50 {
		t.Errorf("numFeasibleNodesToFind(50) = %d", got)
	}
	if got := numFeasibleNodesToFind(5000); got != 500 {
		t.Errorf("numFeasibleNodesToFind(5000) = %d, want 500 (10%%)", got)
	}
}

func TestNamespaceSelectorInAffinity(t *testing.T) {
	nodes := []*corev1.Node{mkNode("a", "4", "8Gi"), mkNode("b", "4", "8Gi")}
	other := mkPod("db", "", "", on("b"), podLabels("app", "db"), func(p *corev1.Pod) { p.Namespace = "data" })
	s := NewSnapshot(nodes, []*corev1.Pod{other})
	s.NamespaceLabels = map[string]labels.Set{"data": {"team": "storage"}}
	tm := term(corev1.LabelHostname, "app", "db")
	tm.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "storage"}}
	pod := mkPod("p", "", "", affinity(&corev1.Affinity{PodAffinity: &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{tm}}}))
	if d := s.Schedule(pod); d.Node != "b" {
		t.Errorf("node %q (%s), want b", d.Node, d.Message)
	}
}
