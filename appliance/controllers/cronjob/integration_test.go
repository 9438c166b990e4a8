package cronjob_test

import (
	"context"
	"fmt"
	"github.com/appliance/appliance/appliance/controllers/cronjob"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/util/retry"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/controllers/job"
	"github.com/appliance/appliance/appliance/testcluster"
)

// env is one subtest's world: its namespace, a CronJob controller watching
// only it, and the fake clock that controller schedules by.
type env struct {
	t     *testing.T
	c     *testcluster.Cluster
	ns    string
	clock *clocktesting.FakeClock
	// last is the latest scheduled time the test has moved the clock to.
	last time.Time
}

// TestCronJobIntegration runs the controller against a real appliance (etcd
// and our API server in-process) with a fake clock: the tests move it to the
// next scheduled minute instead of waiting for it. No Job controller runs
// (except in the end-to-end subtest): the tests finish Jobs themselves through
// jobs/status.
func TestCronJobIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	// Only the controllers every API user relies on: this test runs its own
	// CronJob controller (with a fake clock) and, where it needs one, its own
	// Job controller; the built-in ones must not act too.
	c := testcluster.Start(t, testcluster.APIOnly)
	for _, tc := range []struct {
		name string
		run  func(e *env)
	}{
		{"schedule and history limits", testHistory},
		{"forbid", testForbid},
		{"replace", testReplace},
		{"suspend", testSuspend},
		{"starting deadline", testStartingDeadline},
		{"too many missed", testTooManyMissed},
		{"time zone", testTimeZone},
		{"tz in schedule refused", testTZRefused},
		{"with the job controller", testWithJobController},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := "cj-" + strings.ReplaceAll(tc.name, " ", "-")
			if _, err := c.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			e := &env{t: t, c: c, ns: ns, clock: clocktesting.NewFakeClock(time.Now())}
			factory := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(ns))
			ctl := cronjob.New(c.Client, factory, testLog(t), cronjob.WithClock(e.clock))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); ctl.Run(ctx, 2) }()
			t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })
			tc.run(e)
		})
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLog(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func (e *env) cronJob(name, schedule string, mutate func(*batchv1.CronJob)) *batchv1.CronJob {
	e.t.Helper()
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec: batchv1.CronJobSpec{
			Schedule: schedule,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"cron": name}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "work", Image: "busybox:1"}},
				}}},
			},
		},
	}
	if mutate != nil {
		mutate(cj)
	}
	got, err := e.c.Client.BatchV1().CronJobs(e.ns).Create(context.Background(), cj, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatalf("create cron job: %v", err)
	}
	e.last = got.CreationTimestamp.Time
	return got
}

// tick moves the fake clock one second past the CronJob's next scheduled
// time and returns that time.
func (e *env) tick(cj *batchv1.CronJob) time.Time {
	e.t.Helper()
	sched, _, err := cronjob.ScheduleOf(cj)
	if err != nil {
		e.t.Fatal(err)
	}
	next := sched.Next(e.last)
	e.last = next
	if at := next.Add(time.Second); at.After(e.clock.Now()) {
		e.clock.SetTime(at)
	}
	return next
}

func (e *env) getCronJob(name string) *batchv1.CronJob {
	e.t.Helper()
	cj, err := e.c.Client.BatchV1().CronJobs(e.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("get cron job: %v", err)
	}
	return cj
}

// jobNames lists the Jobs of the namespace, sorted.
func (e *env) jobNames() []string {
	e.t.Helper()
	list, err := e.c.Client.BatchV1().Jobs(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		e.t.Fatalf("list jobs: %v", err)
	}
	var out []string
	for _, j := range list.Items {
		if j.DeletionTimestamp == nil {
			out = append(out, j.Name)
		}
	}
	sort.Strings(out)
	return out
}

func nameAt(cj string, t time.Time) string { return fmt.Sprintf("%s-%d", cj, t.Unix()/60) }

func (e *env) eventually(what string, cond func() (bool, string)) {
	e.t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
		ok, why := cond()
		last = why
		return ok, nil
	})
	if err != nil {
		e.t.Fatalf("%s: not within 20s: %s", what, last)
	}
}

func (e *env) waitJobs(want ...string) {
	e.t.Helper()
	sort.Strings(want)
	e.eventually(fmt.Sprintf("jobs %v", want), func() (bool, string) {
		got := e.jobNames()
		return slices.Equal(got, want), fmt.Sprintf("jobs %v", got)
	})
}

func (e *env) getJob(name string) *batchv1.Job {
	e.t.Helper()
	j, err := e.c.Client.BatchV1().Jobs(e.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatalf("get job: %v", err)
	}
	return j
}

// finish plays the Job controller: the Job is Complete (or Failed).
func (e *env) finish(name string, how batchv1.JobConditionType) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		j, err := e.c.Client.BatchV1().Jobs(e.ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		j.Status.StartTime = &now
		cond := func(t batchv1.JobConditionType) batchv1.JobCondition {
			return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now}
		}
		if how == batchv1.JobComplete {
			j.Status.Succeeded = 1
			j.Status.CompletionTime = &now
			j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet), cond(batchv1.JobComplete)}
		} else {
			j.Status.Failed = 1
			j.Status.Conditions = []batchv1.JobCondition{cond(batchv1.JobFailureTarget), cond(batchv1.JobFailed)}
		}
		_, err = e.c.Client.BatchV1().Jobs(e.ns).UpdateStatus(context.Background(), j, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.t.Fatalf("finish job %s: %v", name, err)
	}
}

func (e *env) waitActive(cj string, want ...string) *batchv1.CronJob {
	e.t.Helper()
	sort.Strings(want)
	var got *batchv1.CronJob
	e.eventually(fmt.Sprintf("active %v", want), func() (bool, string) {
		got = e.getCronJob(cj)
		var names []string
		for _, r := range got.Status.Active {
			names = append(names, r.Name)
		}
		sort.Strings(names)
		return slices.Equal(names, want), fmt.Sprintf("active %v", names)
	})
	return got
}

func (e *env) events(uid types.UID) []string {
	e.t.Helper()
	evs, err := e.c.Client.CoreV1().Events(e.ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(uid)})
	if err != nil {
		e.t.Fatalf("list events: %v", err)
	}
	var out []string
	for _, ev := range evs.Items {
		out = append(out, ev.Reason)
	}
	return out
}

func (e *env) waitEvent(uid types.UID, reason string) {
	e.t.Helper()
	e.eventually("event "+reason, func() (bool, string) {
		got := e.events(uid)
		return slices.Contains(got, reason), fmt.Sprintf("events %v", got)
	})
}

// testHistory: "* * * * *" with Allow runs every minute, also while the
// previous Job runs; finished Jobs beyond the limits are deleted, oldest
// first.
func testHistory(e *env) {
	cj := e.cronJob("hist", "* * * * *", func(cj *batchv1.CronJob) {
		cj.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](2)
		cj.Spec.FailedJobsHistoryLimit = ptr.To[int32](1)
	})
	t1 := e.tick(cj)
	j1 := nameAt("hist", t1)
	e.waitJobs(j1)
	got := e.waitActive("hist", j1)
	if got.Status.LastScheduleTime == nil || !got.Status.LastScheduleTime.Time.Equal(t1) {
		e.t.Errorf("lastScheduleTime %v, want %s", got.Status.LastScheduleTime, t1)
	}
	job := e.getJob(j1)
	if ts := job.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; ts != t1.UTC().Format(time.RFC3339) {
		e.t.Errorf("scheduled timestamp %q, want %s", ts, t1.UTC().Format(time.RFC3339))
	}
	if ref := metav1.GetControllerOf(job); ref == nil || ref.UID != cj.UID {
		e.t.Errorf("job controller ref %+v", ref)
	}
	if job.Labels["cron"] != "hist" {
		e.t.Errorf("job labels %v", job.Labels)
	}
	e.waitEvent(cj.UID, "SuccessfulCreate")

	// Allow: the next minute starts while the first still runs.
	t2 := e.tick(cj)
	j2 := nameAt("hist", t2)
	e.waitJobs(j1, j2)
	e.waitActive("hist", j1, j2)

	e.finish(j1, batchv1.JobComplete)
	e.finish(j2, batchv1.JobComplete)
	got = e.waitActive("hist")
	if got.Status.LastSuccessfulTime == nil {
		e.t.Errorf("no lastSuccessfulTime: %+v", got.Status)
	}
	e.waitEvent(cj.UID, "SawCompletedJob")

	t3 := e.tick(cj)
	j3 := nameAt("hist", t3)
	e.waitJobs(j1, j2, j3)
	e.finish(j3, batchv1.JobComplete)
	// Three successes, two kept: the oldest goes.
	e.waitJobs(j2, j3)
	e.waitEvent(cj.UID, "SuccessfulDelete")

	t4 := e.tick(cj)
	j4 := nameAt("hist", t4)
	e.waitJobs(j2, j3, j4)
	e.finish(j4, batchv1.JobFailed)
	t5 := e.tick(cj)
	j5 := nameAt("hist", t5)
	e.waitJobs(j2, j3, j4, j5)
	e.finish(j5, batchv1.JobFailed)
	// Two failures, one kept.
	e.waitJobs(j2, j3, j5)
	got = e.waitActive("hist")
	if !got.Status.LastScheduleTime.Time.Equal(t5) {
		e.t.Errorf("lastScheduleTime %s, want %s", got.Status.LastScheduleTime, t5)
	}
}

// testForbid: while a Job runs, the next time is skipped (JobAlreadyActive);
// once it finishes, the skipped time starts late.
func testForbid(e *env) {
	cj := e.cronJob("forbid", "* * * * *", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent })
	t1 := e.tick(cj)
	j1 := nameAt("forbid", t1)
	e.waitJobs(j1)
	e.waitActive("forbid", j1)
	t2 := e.tick(cj)
	e.waitEvent(cj.UID, "JobAlreadyActive")
	if got := e.jobNames(); !slices.Equal(got, []string{j1}) {
		e.t.Fatalf("jobs %v while %s runs under Forbid", got, j1)
	}
	e.finish(j1, batchv1.JobComplete)
	j2 := nameAt("forbid", t2)
	e.waitJobs(j1, j2)
	e.waitActive("forbid", j2)
}

// testReplace: the running Job is deleted and the new one started.
func testReplace(e *env) {
	cj := e.cronJob("replace", "* * * * *", func(cj *batchv1.CronJob) { cj.Spec.ConcurrencyPolicy = batchv1.ReplaceConcurrent })
	t1 := e.tick(cj)
	j1 := nameAt("replace", t1)
	e.waitJobs(j1)
	e.waitActive("replace", j1)
	t2 := e.tick(cj)
	j2 := nameAt("replace", t2)
	e.waitJobs(j2)
	e.waitActive("replace", j2)
	e.waitEvent(cj.UID, "SuccessfulDelete")
	if _, err := e.c.Client.BatchV1().Jobs(e.ns).Get(context.Background(), j1, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		e.t.Errorf("replaced job %s: %v", j1, err)
	}
}

// testSuspend: nothing starts while suspended; resumed, the latest missed
// time starts.
func testSuspend(e *env) {
	cj := e.cronJob("paused", "* * * * *", func(cj *batchv1.CronJob) { cj.Spec.Suspend = ptr.To(true) })
	e.tick(cj)
	t2 := e.tick(cj)
	if got := e.getCronJob("paused"); got.Status.LastScheduleTime != nil || len(e.jobNames()) != 0 {
		e.t.Fatalf("suspended cron job ran: %+v, jobs %v", got.Status, e.jobNames())
	}
	if _, err := e.c.Client.BatchV1().CronJobs(e.ns).Patch(context.Background(), "paused", types.MergePatchType, []byte(`{"spec":{"suspend":false}}`), metav1.PatchOptions{}); err != nil {
		e.t.Fatalf("resume: %v", err)
	}
	e.waitJobs(nameAt("paused", t2))
}

// testStartingDeadline: a time skipped by Forbid is not started once more
// than startingDeadlineSeconds late.
func testStartingDeadline(e *env) {
	cj := e.cronJob("deadline", "* * * * *", func(cj *batchv1.CronJob) {
		cj.Spec.ConcurrencyPolicy = batchv1.ForbidConcurrent
		cj.Spec.StartingDeadlineSeconds = ptr.To[int64](10)
	})
	t1 := e.tick(cj)
	j1 := nameAt("deadline", t1)
	e.waitJobs(j1)
	e.waitActive("deadline", j1)
	e.tick(cj)
	e.waitEvent(cj.UID, "JobAlreadyActive")
	e.clock.Step(30 * time.Second) // the skipped time is now 31 s late
	e.finish(j1, batchv1.JobComplete)
	e.waitActive("deadline")
	t3 := e.tick(cj)
	e.waitJobs(j1, nameAt("deadline", t3))
}

// testTooManyMissed: after more than 100 missed minutes, a warning and one
// Job, for the latest.
func testTooManyMissed(e *env) {
	cj := e.cronJob("late", "* * * * *", nil)
	e.clock.SetTime(cj.CreationTimestamp.Add(3*time.Hour + 30*time.Second))
	// 180 minutes went by: one Job, for the latest.
	e.waitJobs(nameAt("late", e.clock.Now().Truncate(time.Minute)))
	e.waitEvent(cj.UID, "TooManyMissedTimes")
}

// testTimeZone: "0 9 * * *" in Asia/Tokyo runs at 09:00 there, and the Job's
// scheduled-timestamp annotation says so in that zone.
func testTimeZone(e *env) {
	cj := e.cronJob("tokyo", "0 9 * * *", func(cj *batchv1.CronJob) { cj.Spec.TimeZone = ptr.To("Asia/Tokyo") })
	t1 := e.tick(cj)
	if h := t1.In(cronjob.MustLoad(e.t, "Asia/Tokyo")).Hour(); h != 9 {
		e.t.Fatalf("scheduled at %s, hour %d in Tokyo", t1, h)
	}
	j1 := nameAt("tokyo", t1)
	e.waitJobs(j1)
	want := t1.In(cronjob.MustLoad(e.t, "Asia/Tokyo")).Format(time.RFC3339)
	if got := e.getJob(j1).Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != want || !strings.HasSuffix(got, "+09:00") {
		e.t.Errorf("scheduled timestamp %q, want %q", got, want)
	}
}

// testTZRefused: as Kubernetes, the API server refuses TZ= and CRON_TZ= in a
// new schedule (spec.timeZone is the way).
func testTZRefused(e *env) {
	for _, s := range []string{"CRON_TZ=UTC * * * * *", "TZ=UTC * * * * *"} {
		cj := &batchv1.CronJob{
			ObjectMeta: metav1.ObjectMeta{Name: "tz", Namespace: e.ns},
			Spec: batchv1.CronJobSpec{Schedule: s, JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "c", Image: "busybox:1"}},
			}}}}},
		}
		_, err := e.c.Client.BatchV1().CronJobs(e.ns).Create(context.Background(), cj, metav1.CreateOptions{})
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "use timeZone field instead") {
			e.t.Errorf("create with schedule %q: %v, want Invalid", s, err)
		}
	}
}

// testWithJobController: the whole chain, CronJob applied with kubectl ->
// Job -> pod (the test plays the kubelet) -> Job Complete -> CronJob status.
func testWithJobController(e *env) {
	factory := informers.NewSharedInformerFactoryWithOptions(e.c.Client, 0, informers.WithNamespace(e.ns))
	jc := job.New(e.c.Client, factory, testLog(e.t), job.WithSyncBatchPeriod(20*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); jc.Run(ctx, 2) }()
	e.t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })

	manifest := `apiVersion: batch/v1
kind: CronJob
metadata:
  name: flow
spec:
  schedule: "*/1 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers:
          - name: hello
            image: busybox:1
            command: ["echo", "hello"]
`
	if out, errOut, err := e.c.TryKubectl(e.t, []byte(manifest), "apply", "-n", e.ns, "-f", "-"); err != nil {
		e.t.Fatalf("kubectl apply: %v\n%s%s", err, out, errOut)
	}
	cj := e.getCronJob("flow")
	e.last = cj.CreationTimestamp.Time
	t1 := e.tick(cj)
	j1 := nameAt("flow", t1)
	e.waitJobs(j1)

	var pod corev1.Pod
	e.eventually("the job's pod", func() (bool, string) {
		pods, err := e.c.Client.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + j1})
		if err != nil || len(pods.Items) != 1 {
			return false, fmt.Sprintf("pods %v err %v", pods, err)
		}
		pod = pods.Items[0]
		return true, ""
	})
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := e.c.Client.CoreV1().Pods(e.ns).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		p.Status.Phase = corev1.PodSucceeded
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "hello", State: corev1.ContainerState{
			Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now},
		}}}
		_, err = e.c.Client.CoreV1().Pods(e.ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.t.Fatalf("finish pod: %v", err)
	}
	e.eventually("cron job saw the success", func() (bool, string) {
		cj = e.getCronJob("flow")
		return len(cj.Status.Active) == 0 && cj.Status.LastSuccessfulTime != nil, fmt.Sprintf("%+v", cj.Status)
	})
	e.waitEvent(cj.UID, "SawCompletedJob")
	out := e.c.Kubectl(e.t, "get", "cronjob", "flow", "-n", e.ns)
	if !strings.Contains(out, "flow") || !strings.Contains(out, "*/1 * * * *") {
		e.t.Errorf("kubectl get cronjob:\n%s", out)
	}
}
