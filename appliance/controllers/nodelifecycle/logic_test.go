package nodelifecycle

import (
	"slices"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func nodeWith(conds ...corev1.NodeCondition) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n", CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Status:     corev1.NodeStatus{Conditions: conds},
	}
}

func ready(status corev1.ConditionStatus, heartbeat time.Time) corev1.NodeCondition {
	return corev1.NodeCondition{Type: corev1.NodeReady, Status: status, LastHeartbeatTime: metav1.NewTime(heartbeat)}
}

func leaseAt(at time.Time) *coordinationv1.Lease {
	return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{RenewTime: ptr.To(metav1.NewMicroTime(at))}}
}

func TestObserve(t *testing.T) {
	const grace, startup = 40 * time.Second, 60 * time.Second
	type look struct {
		at    time.Duration // after t0
		node  *corev1.Node
		lease *coordinationv1.Lease
	}
	for _, tc := range []struct {
		name      string
		looks     []look
		wantProbe time.Duration // after t0
		wantGrace time.Duration
	}{
		{name: "first sight of a ready node counts as a heartbeat",
			looks:     []look{{at: 5 * time.Second, node: nodeWith(ready(corev1.ConditionTrue, t0.Add(-time.Hour)))}},
			wantProbe: 5 * time.Second, wantGrace: grace},
		{name: "node that never posted status: startup grace from creation",
			looks:     []look{{at: 5 * time.Second, node: nodeWith()}},
			wantProbe: -time.Hour, wantGrace: startup},
		{name: "unchanged heartbeat and lease: no new probe",
			looks: []look{
				{at: 0, node: nodeWith(ready(corev1.ConditionTrue, t0)), lease: leaseAt(t0)},
				{at: 30 * time.Second, node: nodeWith(ready(corev1.ConditionTrue, t0)), lease: leaseAt(t0)},
			},
			wantProbe: 0, wantGrace: grace},
		{name: "renewed lease is a heartbeat",
			looks: []look{
				{at: 0, node: nodeWith(ready(corev1.ConditionTrue, t0)), lease: leaseAt(t0)},
				{at: 30 * time.Second, node: nodeWith(ready(corev1.ConditionTrue, t0)), lease: leaseAt(t0.Add(10 * time.Second))},
			},
			wantProbe: 30 * time.Second, wantGrace: grace},
		{name: "new status heartbeat counts too",
			looks: []look{
				{at: 0, node: nodeWith(ready(corev1.ConditionTrue, t0))},
				{at: 30 * time.Second, node: nodeWith(ready(corev1.ConditionTrue, t0.Add(20*time.Second)))},
			},
			wantProbe: 30 * time.Second, wantGrace: grace},
		{name: "the kubelet's clock does not matter: a lease dated in the past still counts when renewed",
			looks: []look{
				{at: 0, node: nodeWith(ready(corev1.ConditionTrue, t0)), lease: leaseAt(t0.Add(-time.Hour))},
				{at: 50 * time.Second, node: nodeWith(ready(corev1.ConditionTrue, t0)), lease: leaseAt(t0.Add(-time.Hour + time.Second))},
			},
			wantProbe: 50 * time.Second, wantGrace: grace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &health{}
			var g time.Duration
			for i, l := range tc.looks {
				g = observe(h, i == 0, l.node, l.lease, t0.Add(l.at), grace, startup)
			}
			if want := t0.Add(tc.wantProbe); !h.probe.Equal(want) {
				t.Errorf("probe = %s, want %s", h.probe, want)
			}
			if g != tc.wantGrace {
				t.Errorf("grace = %s, want %s", g, tc.wantGrace)
			}
		})
	}
}

func TestMarkUnknown(t *testing.T) {
	now := t0
	for _, tc := range []struct {
		name        string
		node        *corev1.Node
		wantChanged bool
		wantReason  string
		wantMessage string
	}{
		{name: "ready node", node: nodeWith(ready(corev1.ConditionTrue, t0.Add(-time.Minute))), wantChanged: true,
			wantReason: "NodeStatusUnknown", wantMessage: "Kubelet stopped posting node status."},
		{name: "never posted", node: nodeWith(), wantChanged: true,
			wantReason: "NodeStatusNeverUpdated", wantMessage: "Kubelet never posted node status."},
		{name: "already unknown", node: nodeWith(
			corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown"},
			corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionUnknown},
			corev1.NodeCondition{Type: corev1.NodeDiskPressure, Status: corev1.ConditionUnknown},
			corev1.NodeCondition{Type: corev1.NodePIDPressure, Status: corev1.ConditionUnknown},
		), wantChanged: false, wantReason: "NodeStatusUnknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := markUnknown(tc.node, now); got != tc.wantChanged {
				t.Errorf("changed = %v, want %v", got, tc.wantChanged)
			}
			c := condition(tc.node, corev1.NodeReady)
			if c == nil || c.Status != corev1.ConditionUnknown || c.Reason != tc.wantReason || (tc.wantMessage != "" && c.Message != tc.wantMessage) {
				t.Errorf("Ready = %+v, want Unknown %s %q", c, tc.wantReason, tc.wantMessage)
			}
			for _, typ := range kubeletConditions {
				if c := condition(tc.node, typ); c == nil || c.Status != corev1.ConditionUnknown {
					t.Errorf("%s = %+v, want Unknown", typ, c)
				}
			}
		})
	}
}

func TestNoScheduleDiff(t *testing.T) {
	taint := func(key string) corev1.Taint { return corev1.Taint{Key: key, Effect: corev1.TaintEffectNoSchedule} }
	for _, tc := range []struct {
		name       string
		conds      []corev1.NodeCondition
		unschedul  bool
		taints     []corev1.Taint
		wantAdd    []string
		wantRemove []string
	}{
		{name: "ready: nothing", conds: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
		{name: "unknown", conds: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown}},
			wantAdd: []string{corev1.TaintNodeUnreachable}},
		{name: "not ready replaces unreachable", conds: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}},
			taints: []corev1.Taint{taint(corev1.TaintNodeUnreachable)}, wantAdd: []string{corev1.TaintNodeNotReady}, wantRemove: []string{corev1.TaintNodeUnreachable}},
		{name: "pressure and cordon", conds: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue},
			{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionTrue},
			{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse},
		}, unschedul: true, wantAdd: []string{corev1.TaintNodeMemoryPressure, corev1.TaintNodeUnschedulable}},
		{name: "back to ready, user taints kept", conds: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			taints:     []corev1.Taint{taint(corev1.TaintNodeNotReady), taint("example.com/gpu"), {Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}},
			wantRemove: []string{corev1.TaintNodeNotReady}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := nodeWith(tc.conds...)
			n.Spec.Unschedulable, n.Spec.Taints = tc.unschedul, tc.taints
			add, remove := noScheduleDiff(n)
			keys := func(ts []corev1.Taint) []string {
				var out []string
				for _, t := range ts {
					if t.Effect != corev1.TaintEffectNoSchedule {
						t.Key += "(wrong effect)"
					}
					out = append(out, t.Key)
				}
				return out
			}
			if !slices.Equal(keys(add), tc.wantAdd) || !slices.Equal(keys(remove), tc.wantRemove) {
				t.Errorf("add %v remove %v, want %v %v", keys(add), keys(remove), tc.wantAdd, tc.wantRemove)
			}
		})
	}
}

func TestApplyTaints(t *testing.T) {
	a := corev1.Taint{Key: "a", Effect: corev1.TaintEffectNoExecute}
	b := corev1.Taint{Key: "b", Effect: corev1.TaintEffectNoSchedule}
	aSched := corev1.Taint{Key: "a", Effect: corev1.TaintEffectNoSchedule}
	for _, tc := range []struct {
		name                string
		taints, add, remove []corev1.Taint
		want                []corev1.Taint
		changed             bool
	}{
		{name: "add", taints: []corev1.Taint{b}, add: []corev1.Taint{a}, want: []corev1.Taint{b, a}, changed: true},
		{name: "already there", taints: []corev1.Taint{a}, add: []corev1.Taint{a}, want: []corev1.Taint{a}},
		{name: "swap", taints: []corev1.Taint{a, b}, add: []corev1.Taint{aSched}, remove: []corev1.Taint{a}, want: []corev1.Taint{b, aSched}, changed: true},
		{name: "remove absent", taints: []corev1.Taint{b}, remove: []corev1.Taint{a}, want: []corev1.Taint{b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := applyTaints(tc.taints, tc.add, tc.remove)
			if changed != tc.changed || !slices.EqualFunc(got, tc.want, func(x, y corev1.Taint) bool { return x.Key == y.Key && x.Effect == y.Effect }) {
				t.Errorf("applyTaints = %v %v, want %v %v", got, changed, tc.want, tc.changed)
			}
		})
	}
}

func TestZones(t *testing.T) {
	cfg := Config{}
	cfg.setDefaults()
	for _, tc := range []struct {
		name            string
		ready, notReady int
		want            zoneState
		wantRate        float64
	}{
		{name: "all ready", ready: 3, want: zoneNormal, wantRate: 0.1},
		{name: "one of two down", ready: 1, notReady: 1, want: zoneNormal, wantRate: 0.1},
		{name: "all down", notReady: 2, want: zoneFullDisruption, wantRate: 0.1},
		{name: "small zone mostly down", ready: 2, notReady: 3, want: zonePartialDisruption, wantRate: 0},
		{name: "large zone mostly down", ready: 20, notReady: 40, want: zonePartialDisruption, wantRate: 0.01},
		{name: "two down is never partial", ready: 1, notReady: 2, want: zoneNormal, wantRate: 0.1},
		{name: "large zone, few down", ready: 50, notReady: 10, want: zoneNormal, wantRate: 0.1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := computeZoneState(tc.ready, tc.notReady, cfg.UnhealthyZoneThreshold)
			if s != tc.want {
				t.Errorf("state = %s, want %s", s, tc.want)
			}
			if r := taintRate(&cfg, s, tc.ready+tc.notReady); r != tc.wantRate {
				t.Errorf("rate = %v, want %v", r, tc.wantRate)
			}
		})
	}
}

func TestZoneKey(t *testing.T) {
	for _, tc := range []struct {
		labels map[string]string
		want   string
	}{
		{labels: nil, want: ""},
		{labels: map[string]string{corev1.LabelTopologyZone: "a", corev1.LabelTopologyRegion: "r"}, want: "r:\x00:a"},
		{labels: map[string]string{corev1.LabelFailureDomainBetaZone: "b"}, want: ":\x00:b"},
	} {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Labels: tc.labels}}
		if got := zoneKey(n); got != tc.want {
			t.Errorf("zoneKey(%v) = %q, want %q", tc.labels, got, tc.want)
		}
	}
}

func TestTaintQueue(t *testing.T) {
	q := newTaintQueue(0.001) // burst of one, then practically nothing
	q.add("a")
	q.add("b")
	q.add("a")
	if name, ok := q.next(); !ok || name != "a" {
		t.Fatalf("first = %q %v, want a", name, ok)
	}
	if _, ok := q.next(); ok {
		t.Fatal("second node released beyond the rate")
	}
	q.setRate(0)
	if _, ok := q.next(); ok {
		t.Fatal("node released while stopped")
	}
	q.setRate(1000)
	if name, ok := q.next(); !ok || name != "b" {
		t.Fatalf("after resuming = %q %v, want b", name, ok)
	}
	q.add("c")
	q.remove("c")
	if _, ok := q.next(); ok {
		t.Fatal("removed node released")
	}
}

func TestEvictAt(t *testing.T) {
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	notReady := corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}
	custom := corev1.Taint{Key: "example.com/x", Value: "v", Effect: corev1.TaintEffectNoExecute}
	noSchedule := corev1.Taint{Key: "example.com/y", Effect: corev1.TaintEffectNoSchedule}
	tol := func(key string, secs *int64) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: secs}
	}
	starts := map[string]time.Time{unreachable.Key: t0, notReady.Key: t0.Add(10 * time.Second), custom.Key: t0}
	start := func(t corev1.Taint) time.Time { return starts[t.Key] }
	for _, tc := range []struct {
		name        string
		tolerations []corev1.Toleration
		taints      []corev1.Taint
		wantEvict   bool
		wantAt      time.Time
	}{
		{name: "no taints", wantEvict: false},
		{name: "only NoSchedule", taints: []corev1.Taint{noSchedule}, wantEvict: false},
		{name: "untolerated: at once", taints: []corev1.Taint{unreachable}, wantEvict: true, wantAt: time.Time{}},
		{name: "admission defaults: 300 s", taints: []corev1.Taint{unreachable},
			tolerations: []corev1.Toleration{tol(corev1.TaintNodeNotReady, ptr.To[int64](300)), tol(corev1.TaintNodeUnreachable, ptr.To[int64](300))},
			wantEvict:   true, wantAt: t0.Add(300 * time.Second)},
		{name: "forever", taints: []corev1.Taint{unreachable}, tolerations: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, nil)}},
		{name: "zero seconds: at its start", taints: []corev1.Taint{unreachable}, tolerations: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, ptr.To[int64](0))},
			wantEvict: true, wantAt: t0},
		{name: "negative seconds: at its start", taints: []corev1.Taint{unreachable}, tolerations: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, ptr.To[int64](-5))},
			wantEvict: true, wantAt: t0},
		{name: "first matching toleration is used", taints: []corev1.Taint{unreachable},
			tolerations: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, ptr.To[int64](3)), tol(corev1.TaintNodeUnreachable, nil)},
			wantEvict:   true, wantAt: t0.Add(3 * time.Second)},
		{name: "earliest deadline of several taints", taints: []corev1.Taint{unreachable, notReady},
			tolerations: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, ptr.To[int64](30)), tol(corev1.TaintNodeNotReady, ptr.To[int64](5))},
			wantEvict:   true, wantAt: t0.Add(15 * time.Second)},
		{name: "one taint untolerated wins", taints: []corev1.Taint{unreachable, custom},
			tolerations: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, nil)}, wantEvict: true, wantAt: time.Time{}},
		{name: "wildcard toleration", taints: []corev1.Taint{unreachable, custom},
			tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
		{name: "value must match with Equal", taints: []corev1.Taint{custom},
			tolerations: []corev1.Toleration{{Key: custom.Key, Value: "other", Effect: corev1.TaintEffectNoExecute}}, wantEvict: true},
		{name: "matching value with Equal", taints: []corev1.Taint{custom},
			tolerations: []corev1.Toleration{{Key: custom.Key, Operator: corev1.TolerationOpEqual, Value: "v"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, evict := evictAt(tc.tolerations, tc.taints, start)
			if evict != tc.wantEvict || (evict && !at.Equal(tc.wantAt)) {
				t.Errorf("evictAt = %s %v, want %s %v", at, evict, tc.wantAt, tc.wantEvict)
			}
		})
	}
}

func TestTaintClockStart(t *testing.T) {
	taint := func(added *time.Time) corev1.Taint {
		tt := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
		if added != nil {
			tt.TimeAdded = ptr.To(metav1.NewTime(*added))
		}
		return tt
	}
	for _, tc := range []struct {
		name  string
		added *time.Time
		seen  time.Time
		want  time.Time
	}{
		{name: "seen just after timeAdded (second precision): our sighting", added: ptr.To(t0), seen: t0.Add(900 * time.Millisecond), want: t0.Add(900 * time.Millisecond)},
		{name: "taint older than us: timeAdded", added: ptr.To(t0), seen: t0.Add(time.Minute), want: t0},
		{name: "no timeAdded: our sighting", seen: t0.Add(time.Minute), want: t0.Add(time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc0 := taintClock{seen: map[string]map[string]time.Time{}}
			n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}, Spec: corev1.NodeSpec{Taints: []corev1.Taint{taint(tc.added)}}}
			if !tc0.observe(n, tc.seen) {
				t.Fatal("new taint not reported as a change")
			}
			if tc0.observe(n, tc.seen.Add(time.Hour)) {
				t.Error("same taints reported as a change")
			}
			if got := tc0.start("n", taint(tc.added), tc.seen.Add(time.Hour)); !got.Equal(tc.want) {
				t.Errorf("start = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestMarkPodNotReady(t *testing.T) {
	for _, tc := range []struct {
		name  string
		conds []corev1.PodCondition
		want  bool
	}{
		{name: "ready pod", conds: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue}}, want: true},
		{name: "already not ready", conds: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}},
		{name: "no ready condition", conds: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &corev1.Pod{Status: corev1.PodStatus{Conditions: tc.conds}}
			if got := markPodNotReady(p, t0); got != tc.want {
				t.Fatalf("changed = %v, want %v", got, tc.want)
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && tc.want && (c.Status != corev1.ConditionFalse || !c.LastTransitionTime.Time.Equal(t0)) {
					t.Errorf("Ready = %+v", c)
				}
			}
		})
	}
}
