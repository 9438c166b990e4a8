package statefulset

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var now = time.Unix(100000, 0)

func testSet(replicas int32, mutate ...func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	set := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "set-uid", Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    ptr.To(replicas),
			ServiceName: "web",
			Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1"}}},
			},
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: ptr.To[int32](0), MaxUnavailable: ptr.To(intstr.FromInt32(1))}},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}},
		},
	}
	for _, m := range mutate {
		m(set)
	}
	return set
}

func parallel(set *appsv1.StatefulSet) { set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }

func partition(n int32) func(*appsv1.StatefulSet) {
	return func(set *appsv1.StatefulSet) { set.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To(n) }
}

func image(img string) func(*appsv1.StatefulSet) {
	return func(set *appsv1.StatefulSet) { set.Spec.Template.Spec.Containers[0].Image = img }
}

// revisionsOf returns the revisions of the set as it was (old) and is.
func revisionsOf(t *testing.T, old, cur *appsv1.StatefulSet) (*appsv1.ControllerRevision, *appsv1.ControllerRevision) {
	t.Helper()
	a, err := newRevision(old, 1, ptr.To[int32](0))
	if err != nil {
		t.Fatal(err)
	}
	b, err := newRevision(cur, 2, ptr.To[int32](0))
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// state is a pod as a test writes it: "ready", "pending", "running" (not
// ready), "failed", "terminating"; rev "old" or "new".
type state struct {
	ord   int
	phase string
	rev   string
}

// fakeControl records what the algorithm asks for (from several goroutines
// for a Parallel set).
type fakeControl struct {
	mu      sync.Mutex
	actions []string
	created []*corev1.Pod
}

func (f *fakeControl) record(action string, pod *corev1.Pod) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, action+" "+pod.Name)
	if action == "create" {
		f.created = append(f.created, pod)
	}
}

func (f *fakeControl) createPod(_ context.Context, _ *appsv1.StatefulSet, pod *corev1.Pod) error {
	f.record("create", pod)
	return nil
}
func (f *fakeControl) updatePod(_ context.Context, _ *appsv1.StatefulSet, pod *corev1.Pod) error {
	f.record("update", pod)
	return nil
}
func (f *fakeControl) deletePod(_ context.Context, _ *appsv1.StatefulSet, pod *corev1.Pod) error {
	f.record("delete", pod)
	return nil
}
func (f *fakeControl) claimsMatchPolicy(*appsv1.StatefulSet, *corev1.Pod) (bool, error) {
	return true, nil
}
func (f *fakeControl) updateClaimsForPolicy(context.Context, *appsv1.StatefulSet, *corev1.Pod) error {
	return nil
}
func (f *fakeControl) claimIsStale(*appsv1.StatefulSet, *corev1.Pod) (bool, error) { return false, nil }
func (f *fakeControl) createMissingClaims(context.Context, *appsv1.StatefulSet, *corev1.Pod) error {
	return nil
}

func buildPods(t *testing.T, set *appsv1.StatefulSet, oldRev, newRev *appsv1.ControllerRevision, states []state) []*corev1.Pod {
	t.Helper()
	var pods []*corev1.Pod
	for _, s := range states {
		rev := newRev
		if s.rev == "old" {
			rev = oldRev
		}
		at, err := applyRevision(set, rev)
		if err != nil {
			t.Fatal(err)
		}
		p := newPod(at, s.ord)
		p.UID = types.UID(fmt.Sprintf("uid-%d", s.ord))
		setRevision(p, rev.Name)
		switch s.phase {
		case "ready", "terminating":
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-time.Hour))}}
			if s.phase == "terminating" {
				p.DeletionTimestamp = &metav1.Time{Time: now}
			}
		case "running":
			p.Status.Phase = corev1.PodRunning
		case "pending":
			p.Status.Phase = corev1.PodPending
		case "failed":
			p.Status.Phase = corev1.PodFailed
		default:
			t.Fatalf("unknown phase %q", s.phase)
		}
		pods = append(pods, p)
	}
	return pods
}

func ready(ords ...int) []state {
	var out []state
	for _, o := range ords {
		out = append(out, state{ord: o, phase: "ready"})
	}
	return out
}

func readyOld(ords ...int) []state {
	var out []state
	for _, o := range ords {
		out = append(out, state{ord: o, phase: "ready", rev: "old"})
	}
	return out
}

func TestUpdateStatefulSet(t *testing.T) {
	tests := []struct {
		name        string
		set         *appsv1.StatefulSet
		old         *appsv1.StatefulSet // the set at the current revision; nil: no update going on
		pods        []state
		want        []string
		wantCreated map[string]string // pod -> "old" | "new" revision
	}{
		{name: "ordered: creates web-0 only", set: testSet(3), want: []string{"create web-0"}},
		{name: "ordered: waits for web-0 pending", set: testSet(3), pods: []state{{ord: 0, phase: "pending"}}},
		{name: "ordered: waits for web-0 running but not ready", set: testSet(3), pods: []state{{ord: 0, phase: "running"}}},
		{name: "ordered: web-0 ready, creates web-1", set: testSet(3), pods: ready(0), want: []string{"create web-1"}},
		{name: "ordered: fills a gap before going on", set: testSet(3), pods: ready(0, 2), want: []string{"create web-1"}},
		{name: "ordered: nothing to do", set: testSet(3), pods: ready(0, 1, 2)},
		{name: "ordered: failed pod is deleted", set: testSet(3), pods: []state{{ord: 0, phase: "ready"}, {ord: 1, phase: "failed"}, {ord: 2, phase: "ready"}},
			want: []string{"delete web-1"}},
		{name: "ordered: waits for a terminating pod", set: testSet(3), pods: []state{{ord: 0, phase: "terminating"}}},
		{name: "parallel: creates all", set: testSet(3, parallel), want: []string{"create web-0", "create web-1", "create web-2"}},
		{name: "parallel: creates the rest without waiting", set: testSet(3, parallel), pods: []state{{ord: 0, phase: "pending"}},
			want: []string{"create web-1", "create web-2"}},
		{name: "ordered scale down: highest first", set: testSet(1), pods: ready(0, 1, 2), want: []string{"delete web-2"}},
		{name: "ordered scale down: one at a time", set: testSet(1), pods: []state{{ord: 0, phase: "ready"}, {ord: 1, phase: "ready"}, {ord: 2, phase: "terminating"}}},
		{name: "ordered scale down: not while a replica is unhealthy", set: testSet(1), pods: []state{{ord: 0, phase: "running"}, {ord: 1, phase: "ready"}}},
		{name: "ordered scale down: an unhealthy condemned pod may go", set: testSet(1), pods: []state{{ord: 0, phase: "ready"}, {ord: 1, phase: "ready"}, {ord: 2, phase: "running"}},
			want: []string{"delete web-2"}},
		{name: "ordered scale down: the highest goes even if a lower one is unhealthy", set: testSet(1),
			pods: []state{{ord: 0, phase: "ready"}, {ord: 1, phase: "running"}, {ord: 2, phase: "ready"}}, want: []string{"delete web-2"}},
		{name: "ordered scale down: an unhealthy pod waits for the first unhealthy one", set: testSet(1),
			pods: []state{{ord: 0, phase: "ready"}, {ord: 1, phase: "running"}, {ord: 2, phase: "running"}}, want: nil},
		{name: "parallel scale down: all at once", set: testSet(1, parallel), pods: ready(0, 1, 2), want: []string{"delete web-1", "delete web-2"}},
		{name: "scale to zero", set: testSet(0), pods: ready(0, 1), want: []string{"delete web-1"}},
		{name: "rolling update: highest ordinal first", set: testSet(3, image("web:2")), old: testSet(3), pods: readyOld(0, 1, 2),
			want: []string{"delete web-2"}},
		{name: "rolling update: recreated at the update revision", set: testSet(3, image("web:2")), old: testSet(3), pods: readyOld(0, 1),
			want: []string{"create web-2"}, wantCreated: map[string]string{"web-2": "new"}},
		{name: "rolling update: waits for the new pod", set: testSet(3, image("web:2")), old: testSet(3),
			pods: append(readyOld(0, 1), state{ord: 2, phase: "running"})},
		{name: "rolling update: then the next one down", set: testSet(3, image("web:2")), old: testSet(3), pods: append(readyOld(0, 1), ready(2)...),
			want: []string{"delete web-1"}},
		{name: "rolling update: partition stops it", set: testSet(3, image("web:2"), partition(1)), old: testSet(3), pods: append(readyOld(0), ready(1, 2)...)},
		{name: "rolling update: partition 2", set: testSet(3, image("web:2"), partition(2)), old: testSet(3), pods: readyOld(0, 1, 2),
			want: []string{"delete web-2"}},
		{name: "rolling update: partition above replicas", set: testSet(3, image("web:2"), partition(5)), old: testSet(3), pods: readyOld(0, 1, 2)},
		{name: "rolling update: below the partition a missing pod comes back at the current revision", set: testSet(3, image("web:2"), partition(2)), old: testSet(3),
			pods: append(readyOld(0), ready(2)...), want: []string{"create web-1"}, wantCreated: map[string]string{"web-1": "old"}},
		{name: "rolling update: maxUnavailable 2 in parallel", set: testSet(3, image("web:2"), parallel, func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(2))
		}), old: testSet(3, parallel), pods: readyOld(0, 1, 2), want: []string{"delete web-2", "delete web-1"}},
		{name: "rolling update: maxUnavailable counts unavailable pods", set: testSet(3, image("web:2"), parallel, func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(2))
		}), old: testSet(3, parallel), pods: append(readyOld(0, 1), state{ord: 2, phase: "running"}), want: []string{"delete web-1"}},
		{name: "on delete: old pods stay", set: testSet(3, image("web:2"), func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
		}), old: testSet(3), pods: readyOld(0, 1, 2)},
		{name: "on delete: a deleted pod comes back at the update revision", set: testSet(3, image("web:2"), func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
		}), old: testSet(3), pods: readyOld(0, 2), want: []string{"create web-1"}, wantCreated: map[string]string{"web-1": "new"}},
		{name: "ordinals start at 5", set: testSet(2, func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5} }),
			want: []string{"create web-5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old := tt.old
			if old == nil {
				old = tt.set
			}
			oldRev, newRev := revisionsOf(t, old, tt.set)
			pods := buildPods(t, tt.set, oldRev, newRev, tt.pods)
			f := &fakeControl{}
			u := &updater{control: f, now: now, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			status, err := u.update(context.Background(), tt.set, oldRev, newRev, 0, pods)
			if err != nil {
				t.Fatal(err)
			}
			got := f.actions
			if tt.set.Spec.PodManagementPolicy == appsv1.ParallelPodManagement {
				// Parallel work happens in any order.
				got, want := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(tt.want))
				if !slices.Equal(got, want) {
					t.Errorf("actions %v, want %v", got, want)
				}
			} else if !slices.Equal(got, tt.want) {
				t.Errorf("actions %v, want %v", got, tt.want)
			}
			for _, p := range f.created {
				want, ok := tt.wantCreated[p.Name]
				if !ok {
					continue
				}
				wantRev := map[string]string{"old": oldRev.Name, "new": newRev.Name}[want]
				if revisionOf(p) != wantRev {
					t.Errorf("%s created at revision %s, want %s (%s)", p.Name, revisionOf(p), wantRev, want)
				}
			}
			if status == nil || status.CurrentRevision != oldRev.Name || status.UpdateRevision != newRev.Name || status.ObservedGeneration != tt.set.Generation {
				t.Errorf("status %+v", status)
			}
		})
	}
}

func TestCountStatus(t *testing.T) {
	set := testSet(3, image("web:2"), func(s *appsv1.StatefulSet) { s.Spec.MinReadySeconds = 60 })
	oldRev, newRev := revisionsOf(t, testSet(3), set)
	pods := buildPods(t, set, oldRev, newRev, []state{
		{ord: 0, phase: "ready", rev: "old"}, {ord: 1, phase: "ready"}, {ord: 2, phase: "running"}, {ord: 3, phase: "terminating"},
	})
	// web-1 became ready just now: ready, not yet available.
	pods[1].Status.Conditions[0].LastTransitionTime = metav1.NewTime(now.Add(-time.Second))
	var st appsv1.StatefulSetStatus
	countStatus(&st, set.Spec.MinReadySeconds, oldRev, newRev, now, pods)
	want := appsv1.StatefulSetStatus{Replicas: 4, ReadyReplicas: 3, AvailableReplicas: 2, CurrentReplicas: 1, UpdatedReplicas: 2}
	if st.Replicas != want.Replicas || st.ReadyReplicas != want.ReadyReplicas || st.AvailableReplicas != want.AvailableReplicas ||
		st.CurrentReplicas != want.CurrentReplicas || st.UpdatedReplicas != want.UpdatedReplicas {
		t.Errorf("status %+v, want %+v", st, want)
	}
}

func TestCompleteRollingUpdate(t *testing.T) {
	tests := []struct {
		name     string
		strategy appsv1.StatefulSetUpdateStrategyType
		status   appsv1.StatefulSetStatus
		wantCur  string
	}{
		{name: "all updated and ready", strategy: appsv1.RollingUpdateStatefulSetStrategyType,
			status: appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 3, UpdatedReplicas: 3, CurrentRevision: "a", UpdateRevision: "b"}, wantCur: "b"},
		{name: "one not updated", strategy: appsv1.RollingUpdateStatefulSetStrategyType,
			status: appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 3, UpdatedReplicas: 2, CurrentRevision: "a", UpdateRevision: "b"}, wantCur: "a"},
		{name: "one not ready", strategy: appsv1.RollingUpdateStatefulSetStrategyType,
			status: appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 2, UpdatedReplicas: 3, CurrentRevision: "a", UpdateRevision: "b"}, wantCur: "a"},
		{name: "OnDelete never completes this way", strategy: appsv1.OnDeleteStatefulSetStrategyType,
			status: appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 3, UpdatedReplicas: 3, CurrentRevision: "a", UpdateRevision: "b"}, wantCur: "a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := testSet(3)
			set.Spec.UpdateStrategy.Type = tt.strategy
			st := tt.status
			completeRollingUpdate(set, &st)
			if st.CurrentRevision != tt.wantCur {
				t.Errorf("currentRevision %q, want %q", st.CurrentRevision, tt.wantCur)
			}
		})
	}
}

func TestScaledMaxUnavailable(t *testing.T) {
	tests := []struct {
		name string
		v    *intstr.IntOrString
		n    int
		want int
	}{
		{name: "unset", n: 5, want: 1},
		{name: "absolute", v: ptr.To(intstr.FromInt32(2)), n: 5, want: 2},
		{name: "percent rounds up", v: ptr.To(intstr.FromString("30%")), n: 5, want: 2},
		{name: "at least one", v: ptr.To(intstr.FromString("0%")), n: 5, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scaledMaxUnavailable(tt.v, tt.n)
			if err != nil || got != tt.want {
				t.Errorf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}
