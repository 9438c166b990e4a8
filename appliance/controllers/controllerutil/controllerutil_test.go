package controllerutil

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

func TestExpectations(t *testing.T) {
	now := time.Unix(1000, 0)
	tests := []struct {
		name string
		do   func(e *Expectations)
		want bool
	}{
		{name: "nothing recorded", do: func(e *Expectations) {}, want: true},
		{name: "creations outstanding", do: func(e *Expectations) { e.ExpectCreations("ns/a", 2); e.CreationObserved("ns/a") }, want: false},
		{name: "creations observed", do: func(e *Expectations) {
			e.ExpectCreations("ns/a", 2)
			e.CreationObserved("ns/a")
			e.CreationObserved("ns/a")
		}, want: true},
		{name: "extra observations do not go negative", do: func(e *Expectations) {
			e.ExpectCreations("ns/a", 1)
			e.CreationObserved("ns/a")
			e.CreationObserved("ns/a")
			e.ExpectCreations("ns/a", 1)
		}, want: false},
		{name: "deletions outstanding", do: func(e *Expectations) {
			e.ExpectDeletions("ns/a", []string{"ns/p1", "ns/p2"})
			e.DeletionObserved("ns/a", "ns/p1")
		}, want: false},
		{name: "a deletion is counted once", do: func(e *Expectations) {
			e.ExpectDeletions("ns/a", []string{"ns/p1", "ns/p2"})
			e.DeletionObserved("ns/a", "ns/p1") // seen with a deletionTimestamp
			e.DeletionObserved("ns/a", "ns/p1") // seen gone
		}, want: false},
		{name: "untracked deletions do not count", do: func(e *Expectations) {
			e.ExpectDeletions("ns/a", []string{"ns/p1"})
			e.DeletionObserved("ns/a", "ns/other")
		}, want: false},
		{name: "deletions observed", do: func(e *Expectations) {
			e.ExpectDeletions("ns/a", []string{"ns/p1", "ns/p2"})
			e.DeletionObserved("ns/a", "ns/p2")
			e.DeletionObserved("ns/a", "ns/p1")
		}, want: true},
		{name: "expired", do: func(e *Expectations) {
			e.ExpectCreations("ns/a", 3)
			now = now.Add(ExpectationsTTL + time.Second)
		}, want: true},
		{name: "other keys are independent", do: func(e *Expectations) { e.ExpectCreations("ns/b", 3) }, want: true},
		{name: "deleted", do: func(e *Expectations) { e.ExpectCreations("ns/a", 3); e.Delete("ns/a") }, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now = time.Unix(1000, 0)
			e := NewExpectations()
			e.Now = func() time.Time { return now }
			tt.do(e)
			if got := e.Satisfied("ns/a"); got != tt.want {
				t.Errorf("Satisfied = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSlowStartBatch(t *testing.T) {
	tests := []struct {
		name      string
		count     int
		failAfter int32 // calls beyond this number fail; -1: never
		wantOK    int
		wantCalls int32
	}{
		{name: "all succeed", count: 10, failAfter: -1, wantOK: 10, wantCalls: 10},
		{name: "first fails", count: 10, failAfter: 0, wantOK: 0, wantCalls: 1},
		// Batches 1, 2, 4: the batch of 4 has the failure; 8 is never tried.
		{name: "fails in third batch", count: 15, failAfter: 4, wantOK: 4, wantCalls: 7},
		{name: "nothing to do", count: 0, failAfter: -1, wantOK: 0, wantCalls: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			ok, err := SlowStartBatch(tt.count, 1, func() error {
				if n := calls.Add(1); tt.failAfter >= 0 && n > tt.failAfter {
					return errors.New("quota")
				}
				return nil
			})
			if ok != tt.wantOK || calls.Load() != tt.wantCalls {
				t.Errorf("successes %d calls %d, want %d and %d", ok, calls.Load(), tt.wantOK, tt.wantCalls)
			}
			if (err != nil) != (tt.failAfter >= 0 && tt.count > 0) {
				t.Errorf("err = %v", err)
			}
		})
	}
}

func TestIsPodAvailable(t *testing.T) {
	now := time.Unix(10000, 0)
	pod := func(ready corev1.ConditionStatus, since time.Duration) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{
			Type: corev1.PodReady, Status: ready, LastTransitionTime: metav1.NewTime(now.Add(-since)),
		}}}}
	}
	tests := []struct {
		name     string
		pod      *corev1.Pod
		minReady int32
		want     bool
	}{
		{name: "no condition", pod: &corev1.Pod{}, want: false},
		{name: "not ready", pod: pod(corev1.ConditionFalse, time.Hour), want: false},
		{name: "ready, no minReadySeconds", pod: pod(corev1.ConditionTrue, 0), want: true},
		{name: "ready for less than minReadySeconds", pod: pod(corev1.ConditionTrue, 5*time.Second), minReady: 10, want: false},
		{name: "ready for longer", pod: pod(corev1.ConditionTrue, 11*time.Second), minReady: 10, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsPodAvailable(tt.pod, tt.minReady, now); got != tt.want {
				t.Errorf("IsPodAvailable = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClaim(t *testing.T) {
	owner := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "rs-uid"}}
	gvk := appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
	ref := func(uid types.UID) []metav1.OwnerReference {
		return []metav1.OwnerReference{*metav1.NewControllerRef(&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "x", UID: uid}}, gvk)}
	}
	pod := func(name, app string, owners []metav1.OwnerReference) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name + "-uid"),
			Labels: map[string]string{"app": app}, OwnerReferences: owners}}
	}
	deleting := pod("deleting", "web", nil)
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	otherNS := pod("elsewhere", "web", nil)
	otherNS.Namespace = "other"

	tests := []struct {
		name        string
		pods        []*corev1.Pod
		canAdopt    error
		patchErr    error
		wantClaimed []string
		wantPatched map[string]string // pod -> "adopt" | "release"
		wantErr     bool
	}{
		{name: "owned and matching", pods: []*corev1.Pod{pod("a", "web", ref("rs-uid"))}, wantClaimed: []string{"a"}},
		{name: "owned by another", pods: []*corev1.Pod{pod("a", "web", ref("other"))}},
		{name: "orphan adopted", pods: []*corev1.Pod{pod("a", "web", nil)}, wantClaimed: []string{"a"}, wantPatched: map[string]string{"a": "adopt"}},
		{name: "orphan not matching", pods: []*corev1.Pod{pod("a", "db", nil)}},
		{name: "owned, no longer matching, released", pods: []*corev1.Pod{pod("a", "db", ref("rs-uid"))}, wantPatched: map[string]string{"a": "release"}},
		{name: "orphan being deleted", pods: []*corev1.Pod{deleting}},
		{name: "orphan in another namespace", pods: []*corev1.Pod{otherNS}},
		{name: "owner gone: no adoption", pods: []*corev1.Pod{pod("a", "web", nil), pod("b", "web", nil)}, canAdopt: errors.New("gone"), wantErr: true},
		{name: "adopted pod vanished", pods: []*corev1.Pod{pod("a", "web", nil)}, patchErr: apierrors.NewNotFound(corev1.Resource("pods"), "a"), wantPatched: map[string]string{"a": "adopt"}},
		{name: "adoption fails", pods: []*corev1.Pod{pod("a", "web", nil)}, patchErr: errors.New("boom"), wantPatched: map[string]string{"a": "adopt"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			patched := map[string]string{}
			adoptChecks := 0
			c := Claimer[*corev1.Pod]{
				Owner: owner, OwnerGVK: gvk, Selector: labels.SelectorFromSet(labels.Set{"app": "web"}),
				CanAdopt: func(context.Context) error { adoptChecks++; return tt.canAdopt },
				Patch: func(_ context.Context, p *corev1.Pod, patch []byte) error {
					// The patch must apply as the API server applies it.
					orig, _ := json.Marshal(p)
					out, err := strategicpatch.StrategicMergePatch(orig, patch, corev1.Pod{})
					if err != nil {
						t.Fatalf("patch %s: %v", patch, err)
					}
					var got corev1.Pod
					_ = json.Unmarshal(out, &got)
					ctl := metav1.GetControllerOf(&got)
					switch {
					case ctl != nil && ctl.UID == owner.UID:
						patched[p.Name] = "adopt"
						if ctl.BlockOwnerDeletion == nil || !*ctl.BlockOwnerDeletion {
							t.Errorf("adoption without blockOwnerDeletion: %+v", ctl)
						}
					case ctl == nil:
						patched[p.Name] = "release"
					}
					return tt.patchErr
				},
			}
			claimed, err := c.Claim(context.Background(), tt.pods)
			var names []string
			for _, p := range claimed {
				names = append(names, p.Name)
			}
			if !equalStrings(names, tt.wantClaimed) {
				t.Errorf("claimed %v, want %v", names, tt.wantClaimed)
			}
			if len(patched) != len(tt.wantPatched) {
				t.Errorf("patched %v, want %v", patched, tt.wantPatched)
			}
			for k, v := range tt.wantPatched {
				if patched[k] != v {
					t.Errorf("patched %v, want %v", patched, tt.wantPatched)
				}
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error %v", err, tt.wantErr)
			}
			if adoptChecks > 1 {
				t.Errorf("CanAdopt asked %d times, want at most once", adoptChecks)
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
