package daemonset

import (
	"encoding/json"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/utils/ptr"
)

// TestRevisionDataRestoresTemplate: `kubectl rollout undo ds` applies a
// revision's data as a strategic merge patch; it must bring the old template
// back whole, dropping what the newer one added.
func TestRevisionDataRestoresTemplate(t *testing.T) {
	v1 := testDS()
	data, err := revisionData(v1)
	if err != nil {
		t.Fatal(err)
	}
	v2 := testDS(func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Containers[0].Image = "agent:2"
		ds.Spec.Template.Spec.Containers = append(ds.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar", Image: "side:1"})
		ds.Spec.Template.Labels["extra"] = "yes"
	})
	cur, _ := json.Marshal(v2)
	patched, err := strategicpatch.StrategicMergePatch(cur, data, &appsv1.DaemonSet{})
	if err != nil {
		t.Fatalf("revision data is not a strategic merge patch: %v", err)
	}
	var restored appsv1.DaemonSet
	if err := json.Unmarshal(patched, &restored); err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(restored.Spec.Template, v1.Spec.Template) {
		t.Errorf("restored template = %+v\nwant %+v", restored.Spec.Template, v1.Spec.Template)
	}
	match, err := revisionMatches(v1, &appsv1.ControllerRevision{Data: runtime.RawExtension{Raw: data}})
	if err != nil || !match {
		t.Errorf("revision of v1 does not match v1: %v %v", match, err)
	}
	if match, _ := revisionMatches(v2, &appsv1.ControllerRevision{Data: runtime.RawExtension{Raw: data}}); match {
		t.Errorf("revision of v1 matches v2")
	}
	// Same content, other spacing and key order: still a match.
	var generic any
	_ = json.Unmarshal(data, &generic)
	indented, _ := json.MarshalIndent(generic, "", "  ")
	if match, _ := revisionMatches(v1, &appsv1.ControllerRevision{Data: runtime.RawExtension{Raw: indented}}); !match {
		t.Errorf("re-serialized revision does not match")
	}
}

func TestComputeHash(t *testing.T) {
	a := testDS().Spec.Template
	b := testDS(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "agent:2" }).Spec.Template
	tests := []struct {
		name      string
		x, y      corev1.PodTemplateSpec
		cx, cy    *int32
		wantEqual bool
	}{
		{name: "same template", x: a, y: *a.DeepCopy(), wantEqual: true},
		{name: "other image", x: a, y: b},
		{name: "collision count changes the hash", x: a, y: a, cy: ptr.To[int32](1)},
		{name: "same collision count", x: a, y: a, cx: ptr.To[int32](2), cy: ptr.To[int32](2), wantEqual: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hx, hy := computeHash(&tt.x, tt.cx), computeHash(&tt.y, tt.cy)
			if (hx == hy) != tt.wantEqual {
				t.Errorf("hashes %q and %q, want equal %v", hx, hy, tt.wantEqual)
			}
			if len(hx) == 0 || len(hx) > 10 {
				t.Errorf("hash %q has an odd length", hx)
			}
		})
	}
}

func TestExpectations(t *testing.T) {
	clock := time.Unix(1000, 0)
	tests := []struct {
		name string
		do   func(e *expectations)
		want bool
	}{
		{name: "nothing recorded", do: func(*expectations) {}, want: true},
		{name: "creations and deletions outstanding", do: func(e *expectations) {
			e.expect("k", 2, []string{"ns/a"})
			e.creationObserved("k", 2)
		}, want: false},
		{name: "all observed", do: func(e *expectations) {
			e.expect("k", 2, []string{"ns/a"})
			e.creationObserved("k", 1)
			e.creationObserved("k", 1)
			e.deletionObserved("k", "ns/a")
		}, want: true},
		{name: "a deletion seen twice counts once", do: func(e *expectations) {
			e.expect("k", 0, []string{"ns/a", "ns/b"})
			e.deletionObserved("k", "ns/a")
			e.deletionObserved("k", "ns/a")
		}, want: false},
		{name: "skipped creations lowered at once", do: func(e *expectations) {
			e.expect("k", 5, nil)
			e.creationObserved("k", 5)
		}, want: true},
		{name: "expired", do: func(e *expectations) {
			e.expect("k", 1, nil)
			clock = clock.Add(expectationsTTL + time.Second)
		}, want: true},
		{name: "forgotten", do: func(e *expectations) { e.expect("k", 1, nil); e.forget("k") }, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock = time.Unix(1000, 0)
			e := newExpectations()
			e.now = func() time.Time { return clock }
			tt.do(e)
			if got := e.satisfied("k"); got != tt.want {
				t.Errorf("satisfied = %v, want %v", got, tt.want)
			}
		})
	}
}
