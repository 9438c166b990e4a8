package job_test

import (
	"context"
	"fmt"
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
	"k8s.io/client-go/informers"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/controllers/controllerutil/simtest"
	"github.com/appliance/appliance/appliance/controllers/job"
	"github.com/appliance/appliance/appliance/testcluster"
)

// Backoff used by the integration tests: short enough to keep them quick,
// long enough to be measured.
const (
	testBackoff    = 500 * time.Millisecond
	testMaxBackoff = time.Second
)

// TestJobIntegration runs the controller against a real appliance (etcd and
// our API server in-process). No kubelet runs: the tests play it, moving pods
// to Running, Succeeded or Failed through pods/status.
func TestJobIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	// Only the controllers every API user relies on: this test runs its own
	// Job controller, and the built-in one must not act too.
	c := testcluster.Start(t, testcluster.APIOnly)
	factory := informers.NewSharedInformerFactory(c.Client, 0)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctl := job.New(c.Client, factory, log, job.WithPodBackoff(testBackoff, testMaxBackoff), job.WithSyncBatchPeriod(20*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ctl.Run(ctx, 4) }()
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })

	for _, tc := range []struct {
		name string
		run  func(t *testing.T, c *testcluster.Cluster, ns string)
	}{
		{"completions and parallelism", testCompletes},
		{"backoff limit", testBackoffLimit},
		{"indexed", testIndexed},
		{"ttl after finished", testTTL},
		{"active deadline", testActiveDeadline},
		{"suspend and resume", testSuspend},
		{"deleted pod counts as failed", testDeletedPod},
		{"work queue", testWorkQueue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := "job-" + strings.ReplaceAll(tc.name, " ", "-")
			if _, err := c.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			tc.run(t, c, ns)
		})
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newJob(ns, name string, completions, parallelism *int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: batchv1.JobSpec{
			Completions: completions,
			Parallelism: parallelism,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "work", Image: "busybox:1"}},
				},
			},
		},
	}
}

func createJob(t *testing.T, c *testcluster.Cluster, job *batchv1.Job) *batchv1.Job {
	t.Helper()
	got, err := c.Client.BatchV1().Jobs(job.Namespace).Create(context.Background(), job, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create job: %v", err)
	}
	return got
}

func getJob(t *testing.T, c *testcluster.Cluster, ns, name string) *batchv1.Job {
	t.Helper()
	job, err := c.Client.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get job: %v", err)
	}
	return job
}

// eventually polls cond until it holds, failing the test after timeout with
// cond's last explanation.

// jobPods lists the pods the Job controls, oldest first.
func jobPods(t *testing.T, c *testcluster.Cluster, job *batchv1.Job) []corev1.Pod {
	t.Helper()
	list, err := c.Client.CoreV1().Pods(job.Namespace).List(context.Background(), metav1.ListOptions{
		LabelSelector: batchv1.ControllerUidLabel + "=" + string(job.UID),
	})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if metav1.IsControlledBy(&p, job) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreationTimestamp.Before(&out[j].CreationTimestamp) })
	return out
}

func running(pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			out = append(out, p)
		}
	}
	return out
}

// waitActive waits until the Job has exactly n unfinished pods and returns them.
func waitActive(t *testing.T, c *testcluster.Cluster, job *batchv1.Job, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	simtest.Eventually(t, 20*time.Second, fmt.Sprintf("%d active pods", n), func() (bool, string) {
		pods = running(jobPods(t, c, job))
		return len(pods) == n, fmt.Sprintf("%d active", len(pods))
	})
	return pods
}

// finish plays the kubelet: the pod's containers terminated (exit 0 for
// Succeeded, 1 for Failed) at finishedAt.
func finish(t *testing.T, c *testcluster.Cluster, pod corev1.Pod, phase corev1.PodPhase, finishedAt time.Time) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := c.Client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		at := metav1.NewTime(finishedAt)
		code, reason := int32(0), "Completed"
		if phase == corev1.PodFailed {
			code, reason = 1, "Error"
		}
		p.Status.Phase = phase
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "PodCompleted", LastTransitionTime: at}}
		p.Status.ContainerStatuses = nil
		for _, ctr := range p.Spec.Containers {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
				Name: ctr.Name, Image: ctr.Image,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, StartedAt: at, FinishedAt: at}},
			})
		}
		_, err = c.Client.CoreV1().Pods(p.Namespace).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("finish pod %s: %v", pod.Name, err)
	}
}

// runReady plays the kubelet: the pod runs and is Ready.
func runReady(t *testing.T, c *testcluster.Cluster, pod corev1.Pod) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := c.Client.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		p.Status.Phase = corev1.PodRunning
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
		_, err = c.Client.CoreV1().Pods(p.Namespace).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("run pod %s: %v", pod.Name, err)
	}
}

func condition(job *batchv1.Job, ct batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if job.Status.Conditions[i].Type == ct && job.Status.Conditions[i].Status == corev1.ConditionTrue {
			return &job.Status.Conditions[i]
		}
	}
	return nil
}

func waitCondition(t *testing.T, c *testcluster.Cluster, job *batchv1.Job, ct batchv1.JobConditionType) *batchv1.Job {
	t.Helper()
	var got *batchv1.Job
	simtest.Eventually(t, 20*time.Second, "condition "+string(ct), func() (bool, string) {
		got = getJob(t, c, job.Namespace, job.Name)
		return condition(got, ct) != nil, fmt.Sprintf("status %+v", got.Status)
	})
	return got
}

func eventReasons(t *testing.T, c *testcluster.Cluster, ns string, uid types.UID) []string {
	t.Helper()
	evs, err := c.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(uid)})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	var out []string
	for _, e := range evs.Items {
		out = append(out, e.Reason)
	}
	return out
}

func waitEvent(t *testing.T, c *testcluster.Cluster, ns string, uid types.UID, reason string) {
	t.Helper()
	simtest.Eventually(t, 10*time.Second, "event "+reason, func() (bool, string) {
		got := eventReasons(t, c, ns, uid)
		return slices.Contains(got, reason), fmt.Sprintf("events %v", got)
	})
}

// testCompletes: completions 3, parallelism 2. Never more than two pods run,
// three succeed, the Job is Complete and `kubectl wait` says so.
func testCompletes(t *testing.T, c *testcluster.Cluster, ns string) {
	job := createJob(t, c, newJob(ns, "x", ptr.To[int32](3), ptr.To[int32](2)))

	// kubectl wait is started first: it must wait, then exit 0.
	waited := make(chan error, 1)
	go func() {
		out, errOut, err := c.TryKubectl(t, nil, "wait", "--for=condition=complete", "job/x", "-n", ns, "--timeout=60s")
		if err != nil {
			err = fmt.Errorf("%v: %s%s", err, out, errOut)
		}
		waited <- err
	}()

	pods := waitActive(t, c, job, 2)
	for _, p := range pods {
		if ref := metav1.GetControllerOf(&p); ref == nil || ref.UID != job.UID || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			t.Errorf("pod %s: controller ref %+v", p.Name, ref)
		}
		if p.Labels[batchv1.ControllerUidLabel] != string(job.UID) || p.Labels[batchv1.JobNameLabel] != "x" || p.Labels["app"] != "x" {
			t.Errorf("pod %s labels %v", p.Name, p.Labels)
		}
		if !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
			t.Errorf("pod %s finalizers %v, want the tracking finalizer", p.Name, p.Finalizers)
		}
		if !strings.HasPrefix(p.Name, "x-") {
			t.Errorf("pod name %s", p.Name)
		}
	}
	runReady(t, c, pods[0])
	simtest.Eventually(t, 10*time.Second, "status active 2 ready 1", func() (bool, string) {
		j := getJob(t, c, ns, "x")
		return j.Status.Active == 2 && ptr.Deref(j.Status.Ready, -1) == 1 && j.Status.StartTime != nil, fmt.Sprintf("%+v", j.Status)
	})

	finish(t, c, pods[0], corev1.PodSucceeded, time.Now())
	finish(t, c, pods[1], corev1.PodSucceeded, time.Now())
	// Two of three done: exactly one more pod, never two.
	third := waitActive(t, c, job, 1)
	simtest.Eventually(t, 10*time.Second, "succeeded 2", func() (bool, string) {
		j := getJob(t, c, ns, "x")
		return j.Status.Succeeded == 2, fmt.Sprintf("%+v", j.Status)
	})
	finish(t, c, third[0], corev1.PodSucceeded, time.Now())

	job = waitCondition(t, c, job, batchv1.JobComplete)
	if condition(job, batchv1.JobSuccessCriteriaMet) == nil {
		t.Errorf("Complete without SuccessCriteriaMet: %+v", job.Status.Conditions)
	}
	if job.Status.Succeeded != 3 || job.Status.Failed != 0 || job.Status.Active != 0 || job.Status.CompletionTime == nil || job.Status.StartTime == nil {
		t.Errorf("status %+v", job.Status)
	}
	if u := job.Status.UncountedTerminatedPods; u != nil && len(u.Succeeded)+len(u.Failed) > 0 {
		t.Errorf("uncounted pods left: %+v", u)
	}
	all := jobPods(t, c, job)
	if len(all) != 3 {
		t.Errorf("%d pods created, want 3", len(all))
	}
	for _, p := range all {
		if slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
			t.Errorf("pod %s still has the tracking finalizer", p.Name)
		}
	}
	if err := <-waited; err != nil {
		t.Errorf("kubectl wait --for=condition=complete: %v", err)
	}
	waitEvent(t, c, ns, job.UID, "Completed")
	if evs := eventReasons(t, c, ns, job.UID); !slices.Contains(evs, "SuccessfulCreate") {
		t.Errorf("events %v, want SuccessfulCreate", evs)
	}
	// What kubectl users read.
	if out := c.Kubectl(t, "get", "job", "x", "-n", ns); !strings.Contains(out, "Complete") || !strings.Contains(out, "3/3") {
		t.Errorf("kubectl get job:\n%s", out)
	}
	out := c.Kubectl(t, "describe", "job", "x", "-n", ns)
	for _, want := range []string{"0 Active (0 Ready) / 3 Succeeded / 0 Failed", "Completed", "SuccessfulCreate", "job-controller"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl describe job lacks %q:\n%s", want, out)
		}
	}
}

// testBackoffLimit: backoffLimit 2 with failing pods: two replacements, each
// after a growing backoff, then Failed with BackoffLimitExceeded.
func testBackoffLimit(t *testing.T, c *testcluster.Cluster, ns string) {
	j := newJob(ns, "fails", nil, nil)
	j.Spec.BackoffLimit = ptr.To[int32](2)
	job := createJob(t, c, j)

	for i := range 3 {
		pods := waitActive(t, c, job, 1)
		// The kubelet reports whole seconds: a finish time on a whole
		// second makes the backoff measurable from here.
		finishedAt := time.Now().Truncate(time.Second).Add(time.Second)
		finish(t, c, pods[0], corev1.PodFailed, finishedAt)
		if i == 2 {
			break
		}
		delay := min(testBackoff<<i, testMaxBackoff)
		waitActive(t, c, job, 1)
		if seen := time.Now(); seen.Before(finishedAt.Add(delay)) {
			t.Errorf("replacement %d seen %s after the failure, want at least the backoff %s", i+1, seen.Sub(finishedAt), delay)
		}
	}
	job = waitCondition(t, c, job, batchv1.JobFailed)
	failed := condition(job, batchv1.JobFailed)
	if failed.Reason != batchv1.JobReasonBackoffLimitExceeded {
		t.Errorf("Failed reason %q, want BackoffLimitExceeded", failed.Reason)
	}
	if condition(job, batchv1.JobFailureTarget) == nil {
		t.Errorf("Failed without FailureTarget: %+v", job.Status.Conditions)
	}
	if job.Status.Failed != 3 || job.Status.Succeeded != 0 || job.Status.Active != 0 || job.Status.CompletionTime != nil {
		t.Errorf("status %+v", job.Status)
	}
	if n := len(jobPods(t, c, job)); n != 3 {
		t.Errorf("%d pods, want 3 (one and two retries)", n)
	}
	waitEvent(t, c, ns, job.UID, batchv1.JobReasonBackoffLimitExceeded)
	// kubectl sees it too.
	c.Kubectl(t, "wait", "--for=condition=failed", "job/fails", "-n", ns, "--timeout=30s")
}

// testIndexed: completions 5, parallelism 2, Indexed: indexes 0..4, each pod
// with its index in annotation, label, env and hostname; a failed index is
// retried with the same index.
func testIndexed(t *testing.T, c *testcluster.Cluster, ns string) {
	j := newJob(ns, "idx", ptr.To[int32](5), ptr.To[int32](2))
	j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
	job := createJob(t, c, j)

	seen := map[string]bool{}
	failedOnce := false
	for {
		job = getJob(t, c, ns, "idx")
		if condition(job, batchv1.JobComplete) != nil {
			break
		}
		var pods []corev1.Pod
		simtest.Eventually(t, 20*time.Second, "an active pod or completion", func() (bool, string) {
			pods = running(jobPods(t, c, job))
			job = getJob(t, c, ns, "idx")
			return len(pods) > 0 || condition(job, batchv1.JobComplete) != nil, fmt.Sprintf("%+v", job.Status)
		})
		if len(pods) > 2 {
			t.Fatalf("%d pods active, parallelism is 2", len(pods))
		}
		for _, p := range pods {
			ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
			if p.Labels[batchv1.JobCompletionIndexAnnotation] != ix {
				t.Errorf("pod %s: label %q, annotation %q", p.Name, p.Labels[batchv1.JobCompletionIndexAnnotation], ix)
			}
			if p.Spec.Hostname != "idx-"+ix {
				t.Errorf("pod %s hostname %q, want idx-%s", p.Name, p.Spec.Hostname, ix)
			}
			if !strings.HasPrefix(p.Name, "idx-"+ix+"-") {
				t.Errorf("pod name %s, want prefix idx-%s-", p.Name, ix)
			}
			env := p.Spec.Containers[0].Env
			if len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].ValueFrom == nil || env[0].ValueFrom.FieldRef == nil ||
				env[0].ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
				t.Errorf("pod %s env %+v", p.Name, env)
			}
			if ix == "3" && !failedOnce {
				failedOnce = true
				finish(t, c, p, corev1.PodFailed, time.Now())
				continue
			}
			seen[ix] = true
			finish(t, c, p, corev1.PodSucceeded, time.Now())
		}
		simtest.Eventually(t, 20*time.Second, "finished pods counted", func() (bool, string) {
			job = getJob(t, c, ns, "idx")
			return len(running(jobPods(t, c, job))) > 0 || condition(job, batchv1.JobComplete) != nil, fmt.Sprintf("%+v", job.Status)
		})
	}
	want := map[string]bool{"0": true, "1": true, "2": true, "3": true, "4": true}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("indexes succeeded %v, want 0..4", seen)
	}
	if !failedOnce {
		t.Errorf("index 3 never ran")
	}
	if job.Status.CompletedIndexes != "0-4" || job.Status.Succeeded != 5 || job.Status.Failed != 1 {
		t.Errorf("status %+v", job.Status)
	}
	// Six pods: one per index and the retry of index 3.
	counts := map[string]int{}
	for _, p := range jobPods(t, c, job) {
		counts[p.Annotations[batchv1.JobCompletionIndexAnnotation]]++
	}
	if fmt.Sprint(counts) != fmt.Sprint(map[string]int{"0": 1, "1": 1, "2": 1, "3": 2, "4": 1}) {
		t.Errorf("pods per index %v", counts)
	}
}

// testTTL: ttlSecondsAfterFinished 1 deletes the Job a second after it
// completed.
func testTTL(t *testing.T, c *testcluster.Cluster, ns string) {
	j := newJob(ns, "short", nil, nil)
	j.Spec.TTLSecondsAfterFinished = ptr.To[int32](1)
	job := createJob(t, c, j)
	pods := waitActive(t, c, job, 1)
	finish(t, c, pods[0], corev1.PodSucceeded, time.Now())
	job = waitCondition(t, c, job, batchv1.JobComplete)
	completed := condition(job, batchv1.JobComplete).LastTransitionTime.Time
	simtest.Eventually(t, 20*time.Second, "job deleted", func() (bool, string) {
		_, err := c.Client.BatchV1().Jobs(ns).Get(context.Background(), "short", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprintf("get: %v", err)
	})
	// Condition times have whole seconds: allow for the truncation.
	if gone := time.Now(); gone.Before(completed.Add(time.Second)) {
		t.Errorf("deleted %s after completion, want at least the TTL of 1s", gone.Sub(completed))
	}
	// Background propagation: the garbage collector removes the pods.
	simtest.Eventually(t, 20*time.Second, "pods removed", func() (bool, string) {
		list, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		return len(list.Items) == 0, fmt.Sprintf("%d pods", len(list.Items))
	})
}

// testActiveDeadline: a Job whose pod never finishes fails after
// activeDeadlineSeconds with DeadlineExceeded, and its pod is removed.
func testActiveDeadline(t *testing.T, c *testcluster.Cluster, ns string) {
	j := newJob(ns, "slow", nil, nil)
	j.Spec.ActiveDeadlineSeconds = ptr.To[int64](1)
	job := createJob(t, c, j)
	waitActive(t, c, job, 1)
	job = waitCondition(t, c, job, batchv1.JobFailed)
	if r := condition(job, batchv1.JobFailed).Reason; r != batchv1.JobReasonDeadlineExceeded {
		t.Errorf("reason %q, want DeadlineExceeded", r)
	}
	if job.Status.Active != 0 || job.Status.Failed != 1 {
		t.Errorf("status %+v", job.Status)
	}
	simtest.Eventually(t, 10*time.Second, "pods removed", func() (bool, string) {
		pods := jobPods(t, c, job)
		return len(pods) == 0, fmt.Sprintf("%d pods", len(pods))
	})
	waitEvent(t, c, ns, job.UID, batchv1.JobReasonDeadlineExceeded)
}

// testSuspend: a suspended Job creates no pods; resumed, it does; suspended
// again, its pods go without counting as failures.
func testSuspend(t *testing.T, c *testcluster.Cluster, ns string) {
	j := newJob(ns, "later", ptr.To[int32](2), ptr.To[int32](2))
	j.Spec.Suspend = ptr.To(true)
	job := createJob(t, c, j)
	job = waitCondition(t, c, job, batchv1.JobSuspended)
	if job.Status.StartTime != nil || len(jobPods(t, c, job)) != 0 {
		t.Errorf("suspended job started: %+v", job.Status)
	}
	setSuspend := func(v bool) {
		patch := fmt.Sprintf(`{"spec":{"suspend":%v}}`, v)
		if _, err := c.Client.BatchV1().Jobs(ns).Patch(context.Background(), "later", types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatalf("patch suspend: %v", err)
		}
	}
	setSuspend(false)
	waitActive(t, c, job, 2)
	simtest.Eventually(t, 10*time.Second, "resumed", func() (bool, string) {
		job = getJob(t, c, ns, "later")
		for _, cond := range job.Status.Conditions {
			if cond.Type == batchv1.JobSuspended && cond.Status == corev1.ConditionFalse && cond.Reason == "JobResumed" {
				return job.Status.StartTime != nil, fmt.Sprintf("%+v", job.Status)
			}
		}
		return false, fmt.Sprintf("%+v", job.Status)
	})
	setSuspend(true)
	simtest.Eventually(t, 10*time.Second, "pods removed on suspend", func() (bool, string) {
		job = getJob(t, c, ns, "later")
		pods := jobPods(t, c, job)
		return len(pods) == 0 && job.Status.Active == 0 && condition(job, batchv1.JobSuspended) != nil, fmt.Sprintf("%d pods, %+v", len(pods), job.Status)
	})
	if job.Status.Failed != 0 {
		t.Errorf("suspending counted failures: %+v", job.Status)
	}
	waitEvent(t, c, ns, job.UID, "Resumed")
}

// testDeletedPod: a running pod deleted by someone else is a failure (it will
// never succeed): counted once, and replaced.
func testDeletedPod(t *testing.T, c *testcluster.Cluster, ns string) {
	job := createJob(t, c, newJob(ns, "victim", nil, nil))
	pods := waitActive(t, c, job, 1)
	if err := c.Client.CoreV1().Pods(ns).Delete(context.Background(), pods[0].Name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete pod: %v", err)
	}
	var replacement []corev1.Pod
	simtest.Eventually(t, 20*time.Second, "replacement", func() (bool, string) {
		replacement = running(jobPods(t, c, job))
		job = getJob(t, c, ns, "victim")
		return len(replacement) == 1 && replacement[0].UID != pods[0].UID && job.Status.Failed == 1, fmt.Sprintf("%+v", job.Status)
	})
	simtest.Eventually(t, 10*time.Second, "deleted pod gone", func() (bool, string) {
		_, err := c.Client.CoreV1().Pods(ns).Get(context.Background(), pods[0].Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprintf("get: %v", err)
	})
	finish(t, c, replacement[0], corev1.PodSucceeded, time.Now())
	job = waitCondition(t, c, job, batchv1.JobComplete)
	if job.Status.Failed != 1 || job.Status.Succeeded != 1 {
		t.Errorf("status %+v", job.Status)
	}
}

// testWorkQueue: no completions, parallelism 3: the Job is complete once one
// pod succeeded and the others have finished.
func testWorkQueue(t *testing.T, c *testcluster.Cluster, ns string) {
	job := createJob(t, c, newJob(ns, "queue", nil, ptr.To[int32](3)))
	pods := waitActive(t, c, job, 3)
	finish(t, c, pods[0], corev1.PodSucceeded, time.Now())
	simtest.Eventually(t, 10*time.Second, "success counted", func() (bool, string) {
		job = getJob(t, c, ns, "queue")
		return job.Status.Succeeded == 1, fmt.Sprintf("%+v", job.Status)
	})
	// No replacement while the others finish.
	if n := len(running(jobPods(t, c, job))); n != 2 {
		t.Errorf("%d active after the first success, want 2", n)
	}
	finish(t, c, pods[1], corev1.PodSucceeded, time.Now())
	finish(t, c, pods[2], corev1.PodSucceeded, time.Now())
	job = waitCondition(t, c, job, batchv1.JobComplete)
	if job.Status.Succeeded != 3 {
		t.Errorf("status %+v", job.Status)
	}
}
