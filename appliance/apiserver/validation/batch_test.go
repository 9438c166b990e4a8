package validation

import (
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestValidateJob(t *testing.T) {
	runCreateCases(t, validJob, []createCase[*batchv1.Job]{
		{name: "negative counts", mutate: func(j *batchv1.Job) {
			j.Spec.Parallelism = ptr.To[int32](-1)
			j.Spec.Completions = ptr.To[int32](-1)
			j.Spec.BackoffLimit = ptr.To[int32](-1)
			j.Spec.ActiveDeadlineSeconds = ptr.To[int64](-1)
			j.Spec.TTLSecondsAfterFinished = ptr.To[int32](-1)
		}, want: []want{
			invalid("spec.parallelism"), invalid("spec.completions"), invalid("spec.backoffLimit"),
			invalid("spec.activeDeadlineSeconds"), invalid("spec.ttlSecondsAfterFinished"),
		}},
		{name: "restartPolicy Always", mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways }, want: []want{notSupported("spec.template.spec.restartPolicy")}},
		{name: "selector required", mutate: func(j *batchv1.Job) { j.Spec.Selector = nil }, want: []want{required("spec.selector")}},
		{name: "selector must match", mutate: func(j *batchv1.Job) { j.Spec.Template.Labels = nil }, want: []want{invalid("spec.template.metadata.labels")}},
		{name: "completion mode", mutate: func(j *batchv1.Job) { j.Spec.CompletionMode = ptr.To[batchv1.CompletionMode]("Sorted") }, want: []want{notSupported("spec.completionMode")}},
		{name: "indexed needs completions", mutate: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = nil
		}, want: []want{required("spec.completions")}},
		{name: "indexed parallelism limit", mutate: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Parallelism = ptr.To[int32](100001)
		}, want: []want{invalid("spec.parallelism")}},
		{name: "backoff limit per index needs indexed", mutate: func(j *batchv1.Job) {
			j.Spec.BackoffLimitPerIndex = ptr.To[int32](1)
			j.Spec.MaxFailedIndexes = ptr.To[int32](1)
		}, want: []want{forbidden("spec.backoffLimitPerIndex")}},
		{name: "maxFailedIndexes needs backoffLimitPerIndex", mutate: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.MaxFailedIndexes = ptr.To[int32](2)
		}, want: []want{required("spec.backoffLimitPerIndex"), invalid("spec.maxFailedIndexes")}},
		{name: "pod replacement policy", mutate: func(j *batchv1.Job) { j.Spec.PodReplacementPolicy = ptr.To[batchv1.PodReplacementPolicy]("Never") }, want: []want{notSupported("spec.podReplacementPolicy")}},
		{name: "pod failure policy", mutate: func(j *batchv1.Job) {
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
					ContainerName: ptr.To("web"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1, 42},
				}},
				{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}},
			}}
		}},
		{name: "bad pod failure policy", mutate: func(j *batchv1.Job) {
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
				{Action: "Retry", OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
					ContainerName: ptr.To("db"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{0, 5, 5},
				}},
				{Action: batchv1.PodFailurePolicyActionFailIndex},
			}}
		}, want: []want{
			notSupported("spec.podFailurePolicy.rules[0].action"),
			invalid("spec.podFailurePolicy.rules[0].onExitCodes.containerName"),
			invalid("spec.podFailurePolicy.rules[0].onExitCodes.values[0]"),
			invalid("spec.podFailurePolicy.rules[0].onExitCodes.values[2]"),
			forbidden("spec.podFailurePolicy.rules[1].action"),
			invalid("spec.podFailurePolicy.rules[1]"),
		}},
		{name: "pod failure policy needs restartPolicy Never", mutate: func(j *batchv1.Job) {
			j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
			j.Spec.PodReplacementPolicy = ptr.To(batchv1.Failed)
			j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{}
		}, want: []want{invalid("spec.template.spec.restartPolicy")}},
		{name: "success policy", mutate: func(j *batchv1.Job) {
			j.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			j.Spec.Completions = ptr.To[int32](10)
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{
				{SucceededIndexes: ptr.To("0,2-4"), SucceededCount: ptr.To[int32](2)},
				{SucceededIndexes: ptr.To("3-1")},
				{SucceededIndexes: ptr.To("1"), SucceededCount: ptr.To[int32](2)},
				{},
			}}
		}, want: []want{
			invalid("spec.successPolicy.rules[1].succeededIndexes"),
			invalid("spec.successPolicy.rules[2].succeededCount"),
			required("spec.successPolicy.rules[3]"),
		}},
		{name: "managedBy", mutate: func(j *batchv1.Job) { j.Spec.ManagedBy = ptr.To("kueue") }, want: []want{invalid("spec.managedBy")}},
		{name: "template is validated", mutate: func(j *batchv1.Job) { j.Spec.Template.Spec.Containers = nil }, want: []want{required("spec.template.spec.containers")}},
	})

	runUpdateCases(t, validJob, ValidateUpdate, []updateCase[*batchv1.Job]{
		{name: "parallelism may change", mutate: func(n, _ *batchv1.Job) { n.Spec.Parallelism = ptr.To[int32](3) }},
		{name: "completions are immutable", mutate: func(n, _ *batchv1.Job) { n.Spec.Completions = ptr.To[int32](3) }, want: []want{invalid("spec.completions")}},
		{name: "elastic indexed jobs may scale", mutate: func(n, o *batchv1.Job) {
			o.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			n.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
			n.Spec.Completions, n.Spec.Parallelism = ptr.To[int32](4), ptr.To[int32](4)
		}},
		{name: "selector is immutable", mutate: func(n, _ *batchv1.Job) {
			n.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/job-name": "pi"}}
		}, want: []want{invalid("spec.selector")}},
		{name: "template is immutable", mutate: func(n, _ *batchv1.Job) { n.Spec.Template.Spec.Containers[0].Image = "perl:5.40" }, want: []want{invalid("spec.template")}},
		{name: "suspended jobs may change scheduling", mutate: func(n, o *batchv1.Job) {
			o.Spec.Suspend = ptr.To(true)
			n.Spec.Suspend = ptr.To(true)
			n.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"}
			n.Spec.Template.Annotations = map[string]string{"queue": "batch"}
		}},
		{name: "completion mode is immutable", mutate: func(n, _ *batchv1.Job) {
			n.Spec.CompletionMode = ptr.To(batchv1.IndexedCompletion)
		}, want: []want{invalid("spec.completionMode")}},
	})
	runUpdateCases(t, validJob, ValidateStatusUpdate, []updateCase[*batchv1.Job]{
		{name: "counts", mutate: func(n, _ *batchv1.Job) { n.Status.Active = 1; n.Status.Ready = ptr.To[int32](1) }},
		{name: "negative counts", mutate: func(n, _ *batchv1.Job) { n.Status.Failed = -1 }, want: []want{invalid("status.failed")}},
	})
}

func TestValidateCronJob(t *testing.T) {
	runCreateCases(t, validCronJob, []createCase[*batchv1.CronJob]{
		{name: "schedule required", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "" }, want: []want{required("spec.schedule")}},
		{name: "bad schedule", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "61 * * * *" }, want: []want{invalid("spec.schedule")}},
		{name: "descriptor", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "@hourly" }},
		{name: "TZ in schedule", mutate: func(c *batchv1.CronJob) { c.Spec.Schedule = "CRON_TZ=UTC 0 * * * *" }, want: []want{invalid("spec.schedule")}},
		{name: "time zone", mutate: func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr.To("Europe/Paris") }},
		{name: "unknown time zone", mutate: func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr.To("Europe/Pariss") }, want: []want{invalid("spec.timeZone")}},
		{name: "empty time zone", mutate: func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr.To("") }, want: []want{invalid("spec.timeZone")}},
		{name: "Local time zone", mutate: func(c *batchv1.CronJob) { c.Spec.TimeZone = ptr.To("Local") }, want: []want{invalid("spec.timeZone")}},
		{name: "concurrency policy", mutate: func(c *batchv1.CronJob) { c.Spec.ConcurrencyPolicy = "Queue" }, want: []want{notSupported("spec.concurrencyPolicy")}},
		{name: "concurrency policy not defaulted", mutate: func(c *batchv1.CronJob) { c.Spec.ConcurrencyPolicy = "" }, want: []want{required("spec.concurrencyPolicy")}},
		{name: "history limits and deadline", mutate: func(c *batchv1.CronJob) {
			c.Spec.SuccessfulJobsHistoryLimit = ptr.To[int32](-1)
			c.Spec.FailedJobsHistoryLimit = ptr.To[int32](-1)
			c.Spec.StartingDeadlineSeconds = ptr.To[int64](-1)
		}, want: []want{invalid("spec.successfulJobsHistoryLimit"), invalid("spec.failedJobsHistoryLimit"), invalid("spec.startingDeadlineSeconds")}},
		{name: "job template selector", mutate: func(c *batchv1.CronJob) {
			c.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
			c.Spec.JobTemplate.Spec.ManualSelector = ptr.To(true)
		}, want: []want{invalid("spec.jobTemplate.spec.selector"), notSupported("spec.jobTemplate.spec.manualSelector")}},
		{name: "job template restart policy", mutate: func(c *batchv1.CronJob) {
			c.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		}, want: []want{notSupported("spec.jobTemplate.spec.template.spec.restartPolicy")}},
		{name: "name too long", mutate: func(c *batchv1.CronJob) { c.Name = strings.Repeat("a", 53) }, want: []want{invalid("metadata.name")}},
	})
	t.Run("schedule message", func(t *testing.T) {
		c := validCronJob()
		c.Spec.Schedule = "61 * * * *"
		expectDetail(t, Validate(c), `spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61`)
	})
	tzSchedule := func() *batchv1.CronJob {
		c := validCronJob()
		c.Spec.Schedule = "TZ=UTC 0 * * * *"
		return c
	}
	runUpdateCases(t, tzSchedule, ValidateUpdate, []updateCase[*batchv1.CronJob]{
		{name: "stored TZ may stay", mutate: func(n, _ *batchv1.CronJob) { n.Spec.Suspend = ptr.To(true) }},
		{name: "but not with timeZone", mutate: func(n, _ *batchv1.CronJob) { n.Spec.TimeZone = ptr.To("UTC") }, want: []want{invalid("spec.schedule")}},
	})
	runUpdateCases(t, validCronJob, ValidateUpdate, []updateCase[*batchv1.CronJob]{
		{name: "TZ may not be added", mutate: func(n, _ *batchv1.CronJob) { n.Spec.Schedule = "TZ=UTC 0 * * * *" }, want: []want{invalid("spec.schedule")}},
		{name: "schedule and template may change", mutate: func(n, _ *batchv1.CronJob) {
			n.Spec.Schedule = "@daily"
			n.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image = "perl:5.40"
		}},
	})
}

func TestParseCronSchedule(t *testing.T) {
	tests := []struct {
		name     string
		schedule string
		err      string
	}{
		{name: "every minute", schedule: "* * * * *"},
		{name: "lists ranges steps", schedule: "0,15,30-45/5 1-5 1,15 */2 1-5"},
		{name: "names", schedule: "0 0 * JAN-mar mon-FRI"},
		{name: "question mark", schedule: "0 0 ? * *"},
		{name: "start with step", schedule: "5/15 * * * *"},
		{name: "yearly", schedule: "@yearly"},
		{name: "annually", schedule: "@annually"},
		{name: "monthly", schedule: "@monthly"},
		{name: "weekly", schedule: "@weekly"},
		{name: "daily", schedule: "@daily"},
		{name: "midnight", schedule: "@midnight"},
		{name: "hourly", schedule: "@hourly"},
		{name: "every", schedule: "@every 1h30m"},
		{name: "empty", schedule: "", err: "empty spec string"},
		{name: "too few fields", schedule: "* * * *", err: "expected exactly 5 fields, found 4: [* * * *]"},
		{name: "seconds field", schedule: "0 * * * * *", err: "expected exactly 5 fields, found 6: [0 * * * * *]"},
		{name: "minute too big", schedule: "60 * * * *", err: "end of range (60) above maximum (59): 60"},
		{name: "day zero", schedule: "0 0 0 * *", err: "beginning of range (0) below minimum (1): 0"},
		{name: "weekday seven", schedule: "0 0 * * 7", err: "end of range (7) above maximum (6): 7"},
		{name: "reversed range", schedule: "0 5-1 * * *", err: "beginning of range (5) beyond end of range (1): 5-1"},
		{name: "zero step", schedule: "*/0 * * * *", err: "step of range should be a positive number: */0"},
		{name: "not a number", schedule: "a * * * *", err: `failed to parse int from a: strconv.Atoi: parsing "a": invalid syntax`},
		{name: "too many hyphens", schedule: "1-2-3 * * * *", err: "too many hyphens: 1-2-3"},
		{name: "too many slashes", schedule: "*/2/3 * * * *", err: "too many slashes: */2/3"},
		{name: "unknown descriptor", schedule: "@fortnightly", err: "unrecognized descriptor: @fortnightly"},
		{name: "bad duration", schedule: "@every forever", err: `failed to parse duration @every forever: time: invalid duration "forever"`},
		{name: "bad month name", schedule: "0 0 1 foo *", err: `failed to parse int from foo: strconv.Atoi: parsing "foo": invalid syntax`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := parseCronSchedule(tc.schedule)
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.err != "" && (err == nil || err.Error() != tc.err):
				t.Errorf("got error %v, want %q", err, tc.err)
			}
		})
	}
}
