package cronjob

import (
	"slices"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

var t0 = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC) // a Monday

func cronJob(schedule string, created time.Time, last *time.Time, deadline *int64) *batchv1.CronJob {
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "cj", Namespace: "ns", UID: "cj-uid", CreationTimestamp: metav1.NewTime(created)},
		Spec:       batchv1.CronJobSpec{Schedule: schedule, StartingDeadlineSeconds: deadline},
	}
	if last != nil {
		cj.Status.LastScheduleTime = &metav1.Time{Time: *last}
	}
	return cj
}

func TestMostRecentScheduleTime(t *testing.T) {
	tests := []struct {
		name         string
		schedule     string
		created      time.Time
		last         *time.Time
		deadline     *int64
		now          time.Time
		withDeadline bool
		want         *time.Time
		missed       missedRuns
		wantErr      bool
	}{
		{name: "not yet", schedule: "* * * * *", created: t0.Add(30 * time.Second), now: t0.Add(50 * time.Second)},
		{name: "one due", schedule: "* * * * *", created: t0.Add(30 * time.Second), now: t0.Add(70 * time.Second),
			want: ptr.To(t0.Add(time.Minute))},
		{name: "a few missed: the latest", schedule: "* * * * *", created: t0.Add(30 * time.Second), now: t0.Add(5*time.Minute + 10*time.Second),
			want: ptr.To(t0.Add(5 * time.Minute)), missed: fewMissed},
		{name: "counted from the last schedule", schedule: "* * * * *", created: t0.Add(-time.Hour), last: ptr.To(t0.Add(5 * time.Minute)), now: t0.Add(5*time.Minute + 30*time.Second)},
		{name: "exactly 100 missed is not too many", schedule: "* * * * *", created: t0, now: t0.Add(100*time.Minute + time.Second),
			want: ptr.To(t0.Add(100 * time.Minute)), missed: fewMissed},
		{name: "101 missed is too many", schedule: "* * * * *", created: t0, now: t0.Add(101*time.Minute + time.Second),
			want: ptr.To(t0.Add(101 * time.Minute)), missed: manyMissed},
		{name: "a week of minutes", schedule: "* * * * *", created: t0, now: t0.AddDate(0, 0, 7).Add(90 * time.Second),
			want: ptr.To(t0.AddDate(0, 0, 7).Add(time.Minute)), missed: manyMissed},
		{name: "irregular schedule, a year missed", schedule: "0 9 * * 1-5", created: t0.AddDate(-1, 0, 0), now: t0.Add(time.Hour),
			want: ptr.To(t0.Add(-time.Hour)), missed: manyMissed},
		{name: "deadline limits the look back", schedule: "* * * * *", created: t0.Add(-3 * time.Hour), deadline: ptr.To[int64](150), withDeadline: true,
			now: t0.Add(10 * time.Second), want: ptr.To(t0), missed: fewMissed},
		{name: "deadline ignored for the wakeup", schedule: "* * * * *", created: t0.Add(-3 * time.Hour), deadline: ptr.To[int64](150),
			now: t0.Add(10 * time.Second), want: ptr.To(t0), missed: manyMissed},
		{name: "never fires", schedule: "0 0 31 2 *", created: t0, now: t0.Add(time.Hour), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sched, err := ParseSchedule(tt.schedule, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			_, got, missed, err := mostRecentScheduleTime(cronJob(tt.schedule, tt.created, tt.last, tt.deadline), tt.now, sched, tt.withDeadline)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if (got == nil) != (tt.want == nil) || (got != nil && !got.Equal(*tt.want)) {
				t.Errorf("most recent = %v, want %v", got, tt.want)
			}
			if missed != tt.missed {
				t.Errorf("missed = %d, want %d", missed, tt.missed)
			}
		})
	}
}

func TestNextWake(t *testing.T) {
	tests := []struct {
		name     string
		schedule string
		created  time.Time
		last     *time.Time
		now      time.Time
		want     time.Time
	}{
		{name: "first run ahead", schedule: "* * * * *", created: t0.Add(30 * time.Second), now: t0.Add(40 * time.Second), want: t0.Add(time.Minute + nextScheduleDelta)},
		{name: "after the run due now", schedule: "*/5 * * * *", created: t0.Add(-time.Minute), now: t0.Add(10 * time.Second), want: t0.Add(5*time.Minute + nextScheduleDelta)},
		{name: "from the last schedule", schedule: "0 * * * *", created: t0.Add(-5 * time.Hour), last: ptr.To(t0), now: t0.Add(time.Minute), want: t0.Add(time.Hour + nextScheduleDelta)},
		{name: "never", schedule: "0 0 31 2 *", created: t0, now: t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sched, err := ParseSchedule(tt.schedule, time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			if got := nextWake(cronJob(tt.schedule, tt.created, tt.last, nil), tt.now, sched); !got.Equal(tt.want) {
				t.Errorf("nextWake = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestJobFromTemplate(t *testing.T) {
	cj := cronJob("* * * * *", t0, nil, nil)
	cj.Spec.TimeZone = ptr.To("Asia/Tokyo")
	cj.Spec.JobTemplate = batchv1.JobTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}, Annotations: map[string]string{"note": "y"}},
		Spec:       batchv1.JobSpec{BackoffLimit: ptr.To[int32](2)},
	}
	job, err := jobFromTemplate(cj, t0)
	if err != nil {
		t.Fatal(err)
	}
	if want := "cj-29460120"; job.Name != want { // 2026-01-05T10:00Z in minutes
		t.Errorf("name %s, want %s", job.Name, want)
	}
	if got := job.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != "2026-01-05T19:00:00+09:00" {
		t.Errorf("scheduled timestamp %q", got)
	}
	if job.Annotations["note"] != "y" || job.Labels["app"] != "x" || ptr.Deref(job.Spec.BackoffLimit, 0) != 2 {
		t.Errorf("template not copied: %+v", job)
	}
	if ref := metav1.GetControllerOf(job); ref == nil || ref.UID != cj.UID || ref.Kind != "CronJob" {
		t.Errorf("controller ref %+v", ref)
	}
	// The template itself is untouched.
	if len(cj.Spec.JobTemplate.Annotations) != 1 {
		t.Errorf("template annotations changed: %v", cj.Spec.JobTemplate.Annotations)
	}
}

func TestByStartTime(t *testing.T) {
	job := func(name string, start *time.Time) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if start != nil {
			j.Status.StartTime = &metav1.Time{Time: *start}
		}
		return j
	}
	jobs := []*batchv1.Job{job("never", nil), job("late", ptr.To(t0.Add(time.Hour))), job("b", ptr.To(t0)), job("a", ptr.To(t0))}
	slices.SortStableFunc(jobs, byStartTime)
	var names []string
	for _, j := range jobs {
		names = append(names, j.Name)
	}
	if want := []string{"a", "b", "late", "never"}; !slices.Equal(names, want) {
		t.Errorf("order %v, want %v", names, want)
	}
}

func TestActiveList(t *testing.T) {
	cj := cronJob("* * * * *", t0, nil, nil)
	cj.Status.Active = []corev1.ObjectReference{{Name: "a", UID: "1"}, {Name: "b", UID: "2"}}
	if !inActiveList(cj, "2") || inActiveList(cj, "3") {
		t.Errorf("inActiveList wrong")
	}
	deleteFromActiveList(cj, "1")
	if len(cj.Status.Active) != 1 || cj.Status.Active[0].Name != "b" {
		t.Errorf("after delete: %+v", cj.Status.Active)
	}
}

// Wakeups follow the (fake) clock: the earliest per key, set relative to the
// clock when they are set, never lost when due.
func TestWakeups(t *testing.T) {
	clk := clocktesting.NewFakeClock(t0)
	var mu sync.Mutex
	var got []string
	w := newWakeups(clk, func(k string) { mu.Lock(); got = append(got, k); mu.Unlock() })
	fired := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(got) }

	w.at("a", t0.Add(time.Minute))
	w.at("a", t0.Add(2*time.Minute)) // later: the earlier one stays
	w.at("b", t0.Add(2*time.Minute))
	w.at("b", t0.Add(30*time.Second)) // earlier: replaces
	w.at("c", t0.Add(-time.Second))   // already due: at once
	if f := fired(); !slices.Equal(f, []string{"c"}) {
		t.Fatalf("fired %v, want [c]", f)
	}
	clk.Step(30 * time.Second)
	if f := fired(); !slices.Equal(f, []string{"c", "b"}) {
		t.Fatalf("fired %v, want [c b]", f)
	}
	clk.Step(30 * time.Second)
	if f := fired(); !slices.Equal(f, []string{"c", "b", "a"}) {
		t.Fatalf("fired %v, want [c b a]", f)
	}
	clk.Step(5 * time.Minute)
	if f := fired(); len(f) != 3 {
		t.Fatalf("fired %v: a replaced or later wakeup fired too", f)
	}
	// A time computed before the clock moved is still honoured.
	w.at("d", t0.Add(6*time.Minute))
	if f := fired(); !slices.Equal(f, []string{"c", "b", "a", "d"}) {
		t.Fatalf("fired %v, want d at once", f)
	}
	w.at("e", clk.Now().Add(time.Minute))
	w.forget("e")
	clk.Step(time.Hour)
	if f := fired(); len(f) != 4 {
		t.Fatalf("fired %v: a forgotten wakeup fired", f)
	}
}
