package job

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// finishedPod is a pod whose only container terminated at t0+at.
func finishedPod(name string, phase corev1.PodPhase, at time.Duration) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name)},
		Status: corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(t0.Add(at))}},
		}}},
	}
}

func TestBackoffDelay(t *testing.T) {
	tests := []struct {
		failures int32
		want     time.Duration
	}{
		{0, 0},
		{1, 10 * time.Second},
		{2, 20 * time.Second},
		{3, 40 * time.Second},
		{5, 160 * time.Second},
		{6, 320 * time.Second},
		{7, 6 * time.Minute}, // 640 s capped
		{60, 6 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.failures, " failures"), func(t *testing.T) {
			r := backoffRecord{failures: tt.failures, lastFailure: t0}
			if got := r.delay(DefaultPodBackoff, DefaultMaxPodBackoff); got != tt.want {
				t.Errorf("delay = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestBackoffRemaining(t *testing.T) {
	tests := []struct {
		name string
		r    backoffRecord
		now  time.Time
		want time.Duration
	}{
		{name: "no failures", r: backoffRecord{}, now: t0, want: 0},
		{name: "just failed", r: backoffRecord{failures: 1, lastFailure: t0}, now: t0, want: 10 * time.Second},
		{name: "partly waited", r: backoffRecord{failures: 2, lastFailure: t0}, now: t0.Add(15 * time.Second), want: 5 * time.Second},
		{name: "waited out", r: backoffRecord{failures: 2, lastFailure: t0}, now: t0.Add(time.Minute), want: 0},
		{name: "finish time in the future", r: backoffRecord{failures: 1, lastFailure: t0.Add(time.Second)}, now: t0, want: 11 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.remaining(tt.now, DefaultPodBackoff, DefaultMaxPodBackoff); got != tt.want {
				t.Errorf("remaining = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestBackoffRecordNext(t *testing.T) {
	tests := []struct {
		name      string
		old       backoffRecord
		succeeded []*corev1.Pod
		failed    []*corev1.Pod
		want      backoffRecord
	}{
		{name: "nothing new", old: backoffRecord{failures: 2, lastFailure: t0}, want: backoffRecord{failures: 2, lastFailure: t0}},
		{name: "first failures", failed: []*corev1.Pod{finishedPod("b", corev1.PodFailed, 2*time.Second), finishedPod("a", corev1.PodFailed, time.Second)},
			want: backoffRecord{failures: 2, lastFailure: t0.Add(2 * time.Second)}},
		{name: "failures add up", old: backoffRecord{failures: 3, lastFailure: t0}, failed: []*corev1.Pod{finishedPod("a", corev1.PodFailed, time.Minute)},
			want: backoffRecord{failures: 4, lastFailure: t0.Add(time.Minute)}},
		{name: "a success resets", old: backoffRecord{failures: 3, lastFailure: t0}, succeeded: []*corev1.Pod{finishedPod("a", corev1.PodSucceeded, time.Minute)},
			want: backoffRecord{}},
		{name: "only failures after the last success count", old: backoffRecord{failures: 3, lastFailure: t0},
			succeeded: []*corev1.Pod{finishedPod("s", corev1.PodSucceeded, 10*time.Second)},
			failed:    []*corev1.Pod{finishedPod("f1", corev1.PodFailed, 5*time.Second), finishedPod("f2", corev1.PodFailed, 20*time.Second)},
			want:      backoffRecord{failures: 1, lastFailure: t0.Add(20 * time.Second)}},
		{name: "failures before the success do not count", old: backoffRecord{failures: 3, lastFailure: t0},
			succeeded: []*corev1.Pod{finishedPod("s", corev1.PodSucceeded, 30*time.Second)},
			failed:    []*corev1.Pod{finishedPod("f1", corev1.PodFailed, 5*time.Second)},
			want:      backoffRecord{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.old.next(tt.succeeded, tt.failed)
			if got.failures != tt.want.failures || !got.lastFailure.Equal(tt.want.lastFailure) {
				t.Errorf("next = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestFinishTime(t *testing.T) {
	del := metav1.NewTime(t0.Add(time.Hour))
	tests := []struct {
		name string
		pod  *corev1.Pod
		want time.Time
	}{
		{name: "latest container termination", pod: &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
			{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(t0.Add(time.Second))}}},
			{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: metav1.NewTime(t0.Add(3 * time.Second))}}},
		}}}, want: t0.Add(3 * time.Second)},
		{name: "ready false when a container has no termination", pod: &corev1.Pod{Status: corev1.PodStatus{
			ContainerStatuses: []corev1.ContainerStatus{{State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(t0.Add(time.Minute))}},
		}}, want: t0.Add(time.Minute)},
		{name: "deletion minus grace", pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &del, DeletionGracePeriodSeconds: ptr.To[int64](30)}},
			want: t0.Add(time.Hour - 30*time.Second)},
		{name: "creation", pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(t0)}}, want: t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := finishTime(tt.pod); !got.Equal(tt.want) {
				t.Errorf("finishTime = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestIntervals(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		completions int
		add         []int
		want        string
		total       int
	}{
		{name: "empty", in: "", completions: 5, want: "", total: 0},
		{name: "round trip", in: "1,3-5,7", completions: 10, want: "1,3-5,7", total: 5},
		{name: "adjacent merge", in: "1,3", completions: 10, add: []int{2}, want: "1-3", total: 3},
		{name: "beyond completions dropped", in: "0-9", completions: 4, want: "0-3", total: 4},
		{name: "malformed parts dropped", in: "x,2,5-3,-1,4", completions: 10, want: "2,4", total: 2},
		{name: "duplicates", in: "1-2", completions: 10, add: []int{2, 2, 0}, want: "0-2", total: 3},
		{name: "unsorted additions", in: "", completions: 10, add: []int{9, 0, 5, 4}, want: "0,4-5,9", total: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iv := parseIntervals(tt.in, tt.completions).with(tt.add)
			if got := iv.String(); got != tt.want {
				t.Errorf("String = %q, want %q", got, tt.want)
			}
			if iv.total() != tt.total {
				t.Errorf("total = %d, want %d", iv.total(), tt.total)
			}
			for i := range tt.completions {
				want := slices.Contains(strings.Split(expand(tt.want), ","), fmt.Sprint(i))
				if iv.has(i) != want {
					t.Errorf("has(%d) = %v, want %v", i, iv.has(i), want)
				}
			}
		})
	}
}

// expand turns "1,3-5" into "1,3,4,5".
func expand(s string) string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		var a, b int
		if n, _ := fmt.Sscanf(part, "%d-%d", &a, &b); n == 2 {
			for i := a; i <= b; i++ {
				out = append(out, fmt.Sprint(i))
			}
			continue
		}
		out = append(out, part)
	}
	return strings.Join(out, ",")
}

func indexedPod(name string, index string, phase corev1.PodPhase, ready bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), Annotations: map[string]string{}}, Status: corev1.PodStatus{Phase: phase}}
	if index != "" {
		p.Annotations[batchv1.JobCompletionIndexAnnotation] = index
	}
	if ready {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	return p
}

func TestPendingIndexes(t *testing.T) {
	busy := []*corev1.Pod{indexedPod("a", "1", corev1.PodRunning, false), indexedPod("b", "x", corev1.PodRunning, false)}
	tests := []struct {
		name        string
		succeeded   string
		count       int
		completions int
		want        []int
	}{
		{name: "lowest first", succeeded: "", count: 2, completions: 5, want: []int{0, 2}},
		{name: "skips succeeded", succeeded: "0,2-3", count: 5, completions: 5, want: []int{4}},
		{name: "all done", succeeded: "0,2-4", count: 3, completions: 5, want: nil},
		{name: "count caps", succeeded: "", count: 1, completions: 5, want: []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pendingIndexes(parseIntervals(tt.succeeded, tt.completions), busy, tt.count, tt.completions)
			if !slices.Equal(got, tt.want) {
				t.Errorf("pendingIndexes = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDuplicateIndexPods(t *testing.T) {
	pods := []*corev1.Pod{
		indexedPod("none", "", corev1.PodRunning, true),
		indexedPod("big", "7", corev1.PodRunning, true),
		indexedPod("one-pending", "1", corev1.PodPending, false),
		indexedPod("one-ready", "1", corev1.PodRunning, true),
		indexedPod("zero", "0", corev1.PodPending, false),
		indexedPod("two-running", "2", corev1.PodRunning, false),
		indexedPod("two-ready", "2", corev1.PodRunning, true),
	}
	rm, keep := duplicateIndexPods(pods, 5)
	names := func(ps []*corev1.Pod) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		slices.Sort(out)
		return out
	}
	if got, want := names(rm), []string{"big", "none", "one-pending", "two-running"}; !slices.Equal(got, want) {
		t.Errorf("remove %v, want %v", got, want)
	}
	if got, want := names(keep), []string{"one-ready", "two-ready", "zero"}; !slices.Equal(got, want) {
		t.Errorf("keep %v, want %v", got, want)
	}
}

func TestIndexedGenerateName(t *testing.T) {
	long := strings.Repeat("j", 63)
	tests := []struct {
		job   string
		index int
		want  string
	}{
		{"pi", 0, "pi-0-"},
		{"pi", 42, "pi-42-"},
		{long, 123, strings.Repeat("j", 58-5) + "-123-"},
	}
	for _, tt := range tests {
		if got := indexedGenerateName(tt.job, tt.index); got != tt.want || len(got) > maxGeneratedNameLength {
			t.Errorf("indexedGenerateName(%q, %d) = %q, want %q", tt.job, tt.index, got, tt.want)
		}
	}
}

func TestMoveCounted(t *testing.T) {
	tests := []struct {
		name          string
		status        batchv1.JobStatus
		withFinalizer []string
		wantSucceeded int32
		wantFailed    int32
		wantLeft      int
		wantChanged   bool
	}{
		{name: "nothing uncounted", status: batchv1.JobStatus{Succeeded: 2, UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{}}, wantSucceeded: 2},
		{name: "finalizers still on", status: batchv1.JobStatus{UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{Succeeded: []types.UID{"a"}, Failed: []types.UID{"b"}}},
			withFinalizer: []string{"a", "b"}, wantLeft: 2},
		{name: "moved once released", status: batchv1.JobStatus{Succeeded: 1, Failed: 1, UncountedTerminatedPods: &batchv1.UncountedTerminatedPods{Succeeded: []types.UID{"a", "c"}, Failed: []types.UID{"b"}}},
			withFinalizer: []string{"c"}, wantSucceeded: 2, wantFailed: 2, wantLeft: 1, wantChanged: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.status
			changed := moveCounted(&s, sets.New(tt.withFinalizer...))
			left := len(s.UncountedTerminatedPods.Succeeded) + len(s.UncountedTerminatedPods.Failed)
			if s.Succeeded != tt.wantSucceeded || s.Failed != tt.wantFailed || left != tt.wantLeft || changed != tt.wantChanged {
				t.Errorf("succeeded %d failed %d left %d changed %v; want %d %d %d %v",
					s.Succeeded, s.Failed, left, changed, tt.wantSucceeded, tt.wantFailed, tt.wantLeft, tt.wantChanged)
			}
		})
	}
}

// The patches must do what they say when the API server applies them.
func TestFinalizerPatches(t *testing.T) {
	pod := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Finalizers: []string{"example.com/keep", batchv1.JobTrackingFinalizer}}}
	apply := func(p corev1.Pod, patch []byte) corev1.Pod {
		orig, _ := json.Marshal(p)
		out, err := strategicpatch.StrategicMergePatch(orig, patch, corev1.Pod{})
		if err != nil {
			t.Fatalf("patch %s: %v", patch, err)
		}
		var got corev1.Pod
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := apply(pod, removeFinalizerPatch); !slices.Equal(got.Finalizers, []string{"example.com/keep"}) {
		t.Errorf("after removal: finalizers %v", got.Finalizers)
	}
	adopt := withTrackingFinalizer([]byte(`{"metadata":{"ownerReferences":[{"apiVersion":"batch/v1","kind":"Job","name":"j","uid":"u","controller":true}],"uid":"p"}}`))
	orphan := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", UID: "p", Finalizers: []string{"example.com/keep"}}}
	got := apply(orphan, adopt)
	if !sets.New(got.Finalizers...).Equal(sets.New("example.com/keep", batchv1.JobTrackingFinalizer)) || len(got.Finalizers) != 2 {
		t.Errorf("after adoption: finalizers %v", got.Finalizers)
	}
	if ref := metav1.GetControllerOf(&got); ref == nil || ref.UID != "u" {
		t.Errorf("after adoption: controller %+v", ref)
	}
}

func TestTimeLimits(t *testing.T) {
	start := metav1.NewTime(t0)
	finished := []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(time.Minute))},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(t0.Add(2 * time.Minute))},
	}
	tests := []struct {
		name     string
		job      batchv1.Job
		now      time.Time
		ttl      time.Duration
		ttlOK    bool
		deadline time.Duration
		dlOK     bool
	}{
		{name: "nothing set", job: batchv1.Job{Status: batchv1.JobStatus{StartTime: &start}}, now: t0},
		{name: "deadline running", job: batchv1.Job{Spec: batchv1.JobSpec{ActiveDeadlineSeconds: ptr.To[int64](60)}, Status: batchv1.JobStatus{StartTime: &start}},
			now: t0.Add(20 * time.Second), deadline: 40 * time.Second, dlOK: true},
		{name: "deadline passed", job: batchv1.Job{Spec: batchv1.JobSpec{ActiveDeadlineSeconds: ptr.To[int64](60)}, Status: batchv1.JobStatus{StartTime: &start}},
			now: t0.Add(90 * time.Second), deadline: -30 * time.Second, dlOK: true},
		{name: "deadline paused while suspended", job: batchv1.Job{Spec: batchv1.JobSpec{ActiveDeadlineSeconds: ptr.To[int64](60), Suspend: ptr.To(true)}, Status: batchv1.JobStatus{StartTime: &start}},
			now: t0.Add(90 * time.Second)},
		{name: "deadline not started", job: batchv1.Job{Spec: batchv1.JobSpec{ActiveDeadlineSeconds: ptr.To[int64](60)}}, now: t0},
		{name: "ttl from the terminal condition", job: batchv1.Job{Spec: batchv1.JobSpec{TTLSecondsAfterFinished: ptr.To[int32](100)}, Status: batchv1.JobStatus{Conditions: finished}},
			now: t0.Add(3 * time.Minute), ttl: 40 * time.Second, ttlOK: true},
		{name: "ttl 0 expires at once", job: batchv1.Job{Spec: batchv1.JobSpec{TTLSecondsAfterFinished: ptr.To[int32](0)}, Status: batchv1.JobStatus{Conditions: finished}},
			now: t0.Add(2 * time.Minute), ttl: 0, ttlOK: true},
		{name: "ttl of an unfinished job", job: batchv1.Job{Spec: batchv1.JobSpec{TTLSecondsAfterFinished: ptr.To[int32](0)}}, now: t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := ttlLeft(&tt.job, tt.now); got != tt.ttl || ok != tt.ttlOK {
				t.Errorf("ttlLeft = %s %v, want %s %v", got, ok, tt.ttl, tt.ttlOK)
			}
			if got, ok := deadlineLeft(&tt.job, tt.now); got != tt.deadline || ok != tt.dlOK {
				t.Errorf("deadlineLeft = %s %v, want %s %v", got, ok, tt.deadline, tt.dlOK)
			}
		})
	}
}

func TestPastBackoffLimitOnFailure(t *testing.T) {
	pod := func(phase corev1.PodPhase, restarts int32) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{Phase: phase, ContainerStatuses: []corev1.ContainerStatus{{RestartCount: restarts}}}}
	}
	job := func(limit int32, policy corev1.RestartPolicy) *batchv1.Job {
		return &batchv1.Job{Spec: batchv1.JobSpec{BackoffLimit: ptr.To(limit), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: policy}}}}
	}
	tests := []struct {
		name string
		job  *batchv1.Job
		pods []*corev1.Pod
		want bool
	}{
		{name: "restart policy Never ignores restarts", job: job(1, corev1.RestartPolicyNever), pods: []*corev1.Pod{pod(corev1.PodRunning, 5)}},
		{name: "below the limit", job: job(3, corev1.RestartPolicyOnFailure), pods: []*corev1.Pod{pod(corev1.PodRunning, 1), pod(corev1.PodPending, 1)}},
		{name: "at the limit", job: job(3, corev1.RestartPolicyOnFailure), pods: []*corev1.Pod{pod(corev1.PodRunning, 2), pod(corev1.PodPending, 1)}, want: true},
		{name: "finished pods do not count", job: job(3, corev1.RestartPolicyOnFailure), pods: []*corev1.Pod{pod(corev1.PodSucceeded, 5)}},
		{name: "limit 0: any restart", job: job(0, corev1.RestartPolicyOnFailure), pods: []*corev1.Pod{pod(corev1.PodRunning, 1)}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pastBackoffLimitOnFailure(tt.job, tt.pods); got != tt.want {
				t.Errorf("pastBackoffLimitOnFailure = %v, want %v", got, tt.want)
			}
		})
	}
}
