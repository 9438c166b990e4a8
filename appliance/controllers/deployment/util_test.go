package deployment

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func deploy(replicas int32, surge, unavailable string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "d-uid", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: ptr.To(intstr.Parse(surge)), MaxUnavailable: ptr.To(intstr.Parse(unavailable))}},
			ProgressDeadlineSeconds: ptr.To[int32](600),
			RevisionHistoryLimit:    ptr.To[int32](10),
		},
	}
}

func rs(name string, spec, available int32, created time.Duration) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(t0.Add(created))},
		Spec:       appsv1.ReplicaSetSpec{Replicas: ptr.To(spec)},
		Status:     appsv1.ReplicaSetStatus{Replicas: spec, ReadyReplicas: available, AvailableReplicas: available},
	}
}

func TestResolveFenceposts(t *testing.T) {
	tests := []struct {
		surge, unavailable string
		desired            int32
		wantS, wantU       int32
	}{
		{"25%", "25%", 10, 3, 2}, // surge rounds up, unavailable down
		{"25%", "25%", 4, 1, 1},
		{"25%", "25%", 1, 1, 0},
		{"0", "1%", 2, 0, 1}, // both would be 0: unavailable becomes 1
		{"1%", "0", 2, 1, 0},
		{"0%", "0%", 5, 0, 1},
		{"3", "2", 10, 3, 2},
		{"100%", "0", 3, 3, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s of %d", tt.surge, tt.unavailable, tt.desired), func(t *testing.T) {
			s, u, err := resolveFenceposts(ptr.To(intstr.Parse(tt.surge)), ptr.To(intstr.Parse(tt.unavailable)), tt.desired)
			if err != nil || s != tt.wantS || u != tt.wantU {
				t.Errorf("got %d, %d, %v; want %d, %d", s, u, err, tt.wantS, tt.wantU)
			}
		})
	}
}

func TestMaxUnavailableCapped(t *testing.T) {
	d := deploy(2, "0", "5")
	if got := maxUnavailableOf(d); got != 2 {
		t.Errorf("maxUnavailable = %d, want 2 (never above replicas)", got)
	}
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if got := maxUnavailableOf(d); got != 0 {
		t.Errorf("Recreate maxUnavailable = %d, want 0", got)
	}
}

func TestNewRSReplicas(t *testing.T) {
	tests := []struct {
		name       string
		d          *appsv1.Deployment
		newRS, old int32
		want       int32
	}{
		{name: "start of rollout: surge only", d: deploy(10, "3", "2"), newRS: 0, old: 10, want: 3},
		{name: "at ceiling", d: deploy(10, "3", "2"), newRS: 3, old: 10, want: 3},
		{name: "old shrank", d: deploy(10, "3", "2"), newRS: 3, old: 8, want: 5},
		{name: "never above replicas", d: deploy(10, "3", "2"), newRS: 9, old: 0, want: 10},
		{name: "no surge", d: deploy(10, "0", "2"), newRS: 0, old: 8, want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, o := rs("new", tt.newRS, 0, time.Hour), rs("old", tt.old, tt.old, 0)
			got, err := newRSReplicas(tt.d, []*appsv1.ReplicaSet{o, n}, n)
			if err != nil || got != tt.want {
				t.Errorf("got %d (%v), want %d", got, err, tt.want)
			}
		})
	}
}

func TestPlanOldScaleDown(t *testing.T) {
	tests := []struct {
		name string
		d    *appsv1.Deployment
		new  *appsv1.ReplicaSet
		old  []*appsv1.ReplicaSet
		want map[string]int32
	}{
		{name: "surge pods not available yet: only down to min available",
			d: deploy(10, "3", "2"), new: rs("new", 3, 0, time.Hour), old: []*appsv1.ReplicaSet{rs("old", 10, 10, 0)},
			want: map[string]int32{"old": 8}},
		{name: "at min available: nothing",
			d: deploy(10, "3", "2"), new: rs("new", 5, 0, time.Hour), old: []*appsv1.ReplicaSet{rs("old", 8, 8, 0)},
			want: map[string]int32{}},
		{name: "new pods available: old follow",
			d: deploy(10, "3", "2"), new: rs("new", 5, 3, time.Hour), old: []*appsv1.ReplicaSet{rs("old", 8, 8, 0)},
			want: map[string]int32{"old": 5}},
		{name: "unhealthy old pods go first, bounded",
			// 13 pods, min available 8, new unavailable 3: 2 may go; both unhealthy.
			d: deploy(10, "3", "2"), new: rs("new", 3, 0, time.Hour), old: []*appsv1.ReplicaSet{rs("old", 10, 7, 0)},
			want: map[string]int32{"old": 8}},
		{name: "crashing new pods block old ones",
			d: deploy(10, "3", "2"), new: rs("new", 5, 0, time.Hour), old: []*appsv1.ReplicaSet{rs("old", 8, 8, 0)},
			want: map[string]int32{}},
		{name: "oldest first",
			d: deploy(10, "0", "3"), new: rs("new", 0, 0, 2*time.Hour),
			old:  []*appsv1.ReplicaSet{rs("older", 5, 5, 0), rs("old", 5, 5, time.Hour)},
			want: map[string]int32{"older": 2}},
		{name: "stale status after a scale-down counts no more than spec",
			// old was just scaled 10 -> 8; its status still says 10 available.
			d: deploy(10, "3", "2"), new: rs("new", 3, 0, time.Hour),
			old:  []*appsv1.ReplicaSet{func() *appsv1.ReplicaSet { r := rs("old", 8, 10, 0); r.Status.Replicas = 10; return r }()},
			want: map[string]int32{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := planOldScaleDown(tt.d, tt.new, tt.old)
			got := map[string]int32{}
			for _, s := range steps {
				got[s.rs.Name] = s.to
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("steps %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRollingSimulation drives a whole rollout with the planner, a model of the
// ReplicaSet controller (deletes unavailable pods first; reports status as of
// before its own creations and deletions, as the real one does) and a kubelet
// that makes pods ready in an arbitrary order. At every step: available pods >=
// replicas - maxUnavailable, and the ReplicaSets' sizes <= replicas + maxSurge.
func TestRollingSimulation(t *testing.T) {
	tests := []struct {
		replicas           int32
		surge, unavailable string
	}{
		{10, "25%", "25%"}, {10, "3", "2"}, {10, "0", "1"}, {10, "1", "0"}, {10, "100%", "0"},
		{3, "25%", "25%"}, {1, "25%", "25%"}, {1, "0", "1"}, {7, "50%", "50%"}, {20, "10%", "5%"},
	}
	for _, tt := range tests {
		for seed := range 5 {
			t.Run(fmt.Sprintf("%d replicas surge %s unavailable %s seed %d", tt.replicas, tt.surge, tt.unavailable, seed), func(t *testing.T) {
				simulate(t, deploy(tt.replicas, tt.surge, tt.unavailable), uint64(seed))
			})
		}
	}
}

type simRS struct {
	rs    *appsv1.ReplicaSet
	ready []bool // one per pod
}

func simulate(t *testing.T, d *appsv1.Deployment, seed uint64) {
	want := *d.Spec.Replicas
	minAvailable := want - maxUnavailableOf(d)
	ceiling := want + maxSurgeOf(d)
	rng := seed*6364136223846793005 + 1442695040888963407
	random := func(n int) int {
		rng = rng*6364136223846793005 + 1442695040888963407
		return int((rng >> 33) % uint64(n))
	}
	old := &simRS{rs: rs("old", want, want, 0), ready: make([]bool, want)}
	for i := range old.ready {
		old.ready[i] = true
	}
	nw := &simRS{rs: rs("new", 0, 0, time.Hour)}
	sets := []*simRS{old, nw}
	availableNow := func() int32 {
		var n int32
		for _, s := range sets {
			for _, r := range s.ready {
				if r {
					n++
				}
			}
		}
		return n
	}
	// rsController: status first (from the pods as they are), then pods to spec.
	rsController := func(s *simRS) {
		var ready int32
		for _, r := range s.ready {
			if r {
				ready++
			}
		}
		s.rs.Status = appsv1.ReplicaSetStatus{Replicas: int32(len(s.ready)), ReadyReplicas: ready, AvailableReplicas: ready}
		spec := int(*s.rs.Spec.Replicas)
		for len(s.ready) > spec {
			idx := -1
			for i, r := range s.ready {
				if !r {
					idx = i
					break
				}
			}
			if idx < 0 {
				idx = random(len(s.ready))
			}
			s.ready = append(s.ready[:idx], s.ready[idx+1:]...)
		}
		for len(s.ready) < spec {
			s.ready = append(s.ready, false)
		}
	}
	for step := 0; step < 1000; step++ {
		all := []*appsv1.ReplicaSet{old.rs, nw.rs}
		if to, ok := planNewScale(d, all, nw.rs); ok {
			nw.rs.Spec.Replicas = ptr.To(to)
		} else {
			for _, s := range planOldScaleDown(d, nw.rs, activeSets([]*appsv1.ReplicaSet{old.rs})) {
				s.rs.Spec.Replicas = ptr.To(s.to)
			}
		}
		if total := specReplicas(all); total > ceiling {
			t.Fatalf("step %d: ReplicaSets sized %d > replicas + maxSurge = %d", step, total, ceiling)
		}
		// The ReplicaSet controller and kubelet interleave arbitrarily.
		for _, s := range []*simRS{sets[random(2)], sets[random(2)]} {
			rsController(s)
			if a := availableNow(); a < minAvailable {
				t.Fatalf("step %d: %d available < replicas - maxUnavailable = %d", step, a, minAvailable)
			}
		}
		if len(nw.ready) > 0 && random(3) > 0 {
			nw.ready[random(len(nw.ready))] = true
		}
		if *old.rs.Spec.Replicas == 0 && len(old.ready) == 0 && *nw.rs.Spec.Replicas == want &&
			nw.rs.Status.AvailableReplicas == want && availableNow() == want {
			return
		}
	}
	t.Fatalf("rollout did not finish: old %d (%d pods), new %d (%d pods, %d available)",
		*old.rs.Spec.Replicas, len(old.ready), *nw.rs.Spec.Replicas, len(nw.ready), nw.rs.Status.AvailableReplicas)
}

func TestProportionalSizes(t *testing.T) {
	annotated := func(r *appsv1.ReplicaSet, maxReplicas int32) *appsv1.ReplicaSet {
		r.Annotations = map[string]string{MaxReplicasAnnotation: fmt.Sprint(maxReplicas)}
		return r
	}
	tests := []struct {
		name   string
		d      *appsv1.Deployment
		sets   []*appsv1.ReplicaSet
		want   map[string]int32
		wantOp string
	}{
		{name: "scale up mid-rollout keeps proportions",
			// Was 10 (+3 surge = 13): old 8, new 5. Now 20 (+5 = 25).
			d:    deploy(20, "25%", "25%"),
			sets: []*appsv1.ReplicaSet{annotated(rs("old", 8, 8, 0), 13), annotated(rs("new", 5, 0, time.Hour), 13)},
			want: map[string]int32{"old": 15, "new": 10}, wantOp: "up"},
		{name: "scale down mid-rollout",
			d:    deploy(5, "25%", "25%"), // 5 + 2 = 7 from 13
			sets: []*appsv1.ReplicaSet{annotated(rs("old", 8, 8, 0), 13), annotated(rs("new", 5, 0, time.Hour), 13)},
			want: map[string]int32{"old": 4, "new": 3}, wantOp: "down"},
		{name: "to zero",
			d:    deploy(0, "25%", "25%"),
			sets: []*appsv1.ReplicaSet{annotated(rs("old", 8, 8, 0), 13), annotated(rs("new", 5, 0, time.Hour), 13)},
			want: map[string]int32{"old": 0, "new": 0}, wantOp: "down"},
		{name: "leftover goes to the largest, newer first when equal",
			d:    deploy(11, "0", "1"), // 11 from 10
			sets: []*appsv1.ReplicaSet{annotated(rs("old", 5, 5, 0), 10), annotated(rs("new", 5, 0, time.Hour), 10)},
			want: map[string]int32{"old": 5, "new": 6}, wantOp: "up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, op := proportionalSizes(tt.d, tt.sets)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || op != tt.wantOp {
				t.Errorf("sizes %v %q, want %v %q", got, op, tt.want, tt.wantOp)
			}
		})
	}
}

func TestActiveOrLatest(t *testing.T) {
	older, newer, nw := rs("older", 0, 0, 0), rs("newer", 0, 0, time.Hour), rs("new", 0, 0, 2*time.Hour)
	busy := rs("busy", 3, 3, 0)
	tests := []struct {
		name string
		new  *appsv1.ReplicaSet
		old  []*appsv1.ReplicaSet
		want string
	}{
		{name: "none active: the new one", new: nw, old: []*appsv1.ReplicaSet{older, newer}, want: "new"},
		{name: "none active, no new: newest old", old: []*appsv1.ReplicaSet{older, newer}, want: "newer"},
		{name: "one active", new: nw, old: []*appsv1.ReplicaSet{busy, older}, want: "busy"},
		{name: "two active", new: rs("new", 1, 0, time.Hour), old: []*appsv1.ReplicaSet{busy}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := activeOrLatest(tt.new, tt.old)
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tt.want {
				t.Errorf("got %q, want %q", name, tt.want)
			}
		})
	}
}

func template(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
	}
}

func TestComputeHash(t *testing.T) {
	seen := map[string]int{}
	for i := range 1000 {
		tpl := template(fmt.Sprintf("registry/web:v0.%d.0", i))
		h := ComputeHash(&tpl, nil)
		if j, ok := seen[h]; ok {
			t.Fatalf("collision between %d and %d: %s", i, j, h)
		}
		seen[h] = i
		if strings.Trim(h, "bcdfghjklmnpqrstvwxz2456789") != "" {
			t.Fatalf("hash %q has characters outside the safe alphabet", h)
		}
	}
	tpl := template("nginx")
	same := template("nginx")
	if ComputeHash(&tpl, nil) != ComputeHash(&same, nil) {
		t.Error("equal templates hash differently")
	}
	if ComputeHash(&tpl, nil) == ComputeHash(&tpl, ptr.To[int32](1)) {
		t.Error("collisionCount does not change the hash")
	}
	if ComputeHash(&tpl, ptr.To[int32](1)) == ComputeHash(&tpl, ptr.To[int32](2)) {
		t.Error("collisionCount 1 and 2 hash the same")
	}
}

func TestEqualIgnoreHash(t *testing.T) {
	a, b := template("nginx"), template("nginx")
	b.Labels[PodTemplateHashLabel] = "abc"
	if !EqualIgnoreHash(&a, &b) {
		t.Error("templates differing only by hash label should be equal")
	}
	c := template("nginx:2")
	if EqualIgnoreHash(&a, &c) {
		t.Error("different images should differ")
	}
	// The inputs are not modified.
	if b.Labels[PodTemplateHashLabel] != "abc" {
		t.Error("EqualIgnoreHash modified its argument")
	}
}

func TestSetNewRSAnnotations(t *testing.T) {
	d := deploy(3, "25%", "25%")
	d.Annotations = map[string]string{
		"kubernetes.io/change-cause": "kubectl set image",
		RevisionAnnotation:           "7",
		annotationLastAppliedCfg:     "{}",
	}
	tests := []struct {
		name        string
		annotations map[string]string
		newRevision int64
		exists      bool
		want        map[string]string
	}{
		{name: "created", newRevision: 1, want: map[string]string{
			"kubernetes.io/change-cause": "kubectl set image", RevisionAnnotation: "1",
			DesiredReplicasAnnotation: "3", MaxReplicasAnnotation: "4"}},
		{name: "rolled back to: old revision remembered", exists: true, newRevision: 4,
			annotations: map[string]string{RevisionAnnotation: "1", RevisionHistoryAnnotation: "0"},
			want:        map[string]string{"kubernetes.io/change-cause": "kubectl set image", RevisionAnnotation: "4", RevisionHistoryAnnotation: "0,1"}},
		{name: "revision never goes down", exists: true, newRevision: 2,
			annotations: map[string]string{RevisionAnnotation: "5"},
			want:        map[string]string{"kubernetes.io/change-cause": "kubectl set image", RevisionAnnotation: "5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rs("x", 0, 0, 0)
			r.Annotations = tt.annotations
			setNewRSAnnotations(d, r, tt.newRevision, tt.exists)
			gotJSON, _ := json.Marshal(r.Annotations)
			wantJSON, _ := json.Marshal(tt.want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("annotations %s, want %s", gotJSON, wantJSON)
			}
		})
	}
}

func TestRevisionHistoryBounded(t *testing.T) {
	h := ""
	for i := range 2000 {
		h = appendRevisionHistory(h, fmt.Sprint(i))
	}
	if len(h) > maxRevisionHistoryChars || !strings.HasSuffix(h, ",1999") {
		t.Errorf("history of %d chars ending %q", len(h), h[len(h)-10:])
	}
}

func TestProgressConditions(t *testing.T) {
	d := deploy(3, "25%", "25%")
	progressing := func(reason string, updated time.Time) []appsv1.DeploymentCondition {
		return []appsv1.DeploymentCondition{{Type: conditionProgressing, Status: corev1.ConditionTrue, Reason: reason,
			LastUpdateTime: metav1.NewTime(updated), LastTransitionTime: metav1.NewTime(updated)}}
	}
	tests := []struct {
		name      string
		status    appsv1.DeploymentStatus
		newStatus appsv1.DeploymentStatus
		now       time.Time
		complete  bool
		moving    bool
		timedOut  bool
	}{
		{name: "complete", newStatus: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}, complete: true, moving: true},
		{name: "old generation is not complete", newStatus: appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3}, moving: true},
		{name: "more updated is progress", status: appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1},
			newStatus: appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 2}, moving: true},
		{name: "fewer old is progress", status: appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 2},
			newStatus: appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 2}, moving: true},
		{name: "no progress within the deadline",
			newStatus: appsv1.DeploymentStatus{Conditions: progressing(ReasonRSUpdated, t0)}, now: t0.Add(599 * time.Second)},
		{name: "no progress past the deadline",
			newStatus: appsv1.DeploymentStatus{Conditions: progressing(ReasonRSUpdated, t0)}, now: t0.Add(601 * time.Second), timedOut: true},
		{name: "a complete rollout never times out",
			newStatus: appsv1.DeploymentStatus{Conditions: progressing(ReasonNewRSAvailable, t0)}, now: t0.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := d.DeepCopy()
			d.Status = tt.status
			if got := deploymentComplete(d, &tt.newStatus); got != tt.complete {
				t.Errorf("complete = %v", got)
			}
			if got := deploymentProgressing(d, &tt.newStatus); got != tt.moving {
				t.Errorf("progressing = %v", got)
			}
			if got := deploymentTimedOut(d, &tt.newStatus, tt.now); got != tt.timedOut {
				t.Errorf("timed out = %v", got)
			}
		})
	}
}

func TestCalculateStatus(t *testing.T) {
	d := deploy(10, "25%", "25%")
	newRS, old := rs("new", 6, 4, time.Hour), rs("old", 5, 5, 0)
	old.Status.TerminatingReplicas = ptr.To[int32](1)
	s := calculateStatus(d, []*appsv1.ReplicaSet{old, newRS}, newRS, t0)
	if s.Replicas != 11 || s.UpdatedReplicas != 6 || s.AvailableReplicas != 9 || s.UnavailableReplicas != 2 ||
		s.ReadyReplicas != 9 || s.ObservedGeneration != 1 || s.TerminatingReplicas == nil || *s.TerminatingReplicas != 1 {
		t.Errorf("status %+v", s)
	}
	if c := getCondition(s, conditionAvailable); c == nil || c.Status != corev1.ConditionTrue || c.Reason != ReasonMinimumAvailable {
		t.Errorf("Available condition %+v", c)
	}
	newRS.Status.AvailableReplicas, old.Status.AvailableReplicas = 0, 7 // 7 < 10 - 2
	s = calculateStatus(d, []*appsv1.ReplicaSet{old, newRS, nil}, newRS, t0)
	if c := getCondition(s, conditionAvailable); c == nil || c.Status != corev1.ConditionFalse || c.Reason != ReasonMinimumUnavailable {
		t.Errorf("Available condition %+v", c)
	}
}
