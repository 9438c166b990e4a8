package printers

import (
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

func init() {
	register("batch", "jobs", newConvertor(jobColumns, jobCells))
	register("batch", "cronjobs", newConvertor(cronJobColumns, cronJobCells))
}

var jobColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Status", "string", "Status of the job."),
	col("Completions", "string", batchv1.JobStatus{}.SwaggerDoc()["succeeded"]),
	col("Duration", "string", "Time required to complete the job."),
	ageColumn,
	containersColumn,
	imagesColumn,
	wide(col("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"])),
}

func jobConditionTrue(job *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range job.Status.Conditions {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func jobCells(job *batchv1.Job) []any {
	var completions string
	switch parallelism := int32Or(job.Spec.Parallelism, 0); {
	case job.Spec.Completions != nil:
		completions = fmt.Sprintf("%d/%d", job.Status.Succeeded, *job.Spec.Completions)
	case parallelism > 1:
		completions = fmt.Sprintf("%d/1 of %d", job.Status.Succeeded, parallelism)
	default:
		completions = fmt.Sprintf("%d/1", job.Status.Succeeded)
	}

	var jobDuration string
	switch start, end := job.Status.StartTime, job.Status.CompletionTime; {
	case start == nil:
	case end == nil:
		jobDuration = duration.HumanDuration(now().Sub(start.Time))
	default:
		jobDuration = duration.HumanDuration(end.Sub(start.Time))
	}

	var status string
	switch {
	case jobConditionTrue(job, batchv1.JobComplete):
		status = "Complete"
	case jobConditionTrue(job, batchv1.JobFailed):
		status = "Failed"
	case job.DeletionTimestamp != nil:
		status = "Terminating"
	case jobConditionTrue(job, batchv1.JobSuspended):
		status = "Suspended"
	case jobConditionTrue(job, batchv1.JobFailureTarget):
		status = "FailureTarget"
	default:
		status = "Running"
	}

	names, images := containerCells(job.Spec.Template.Spec.Containers)
	return []any{
		job.Name, status, completions, jobDuration, age(job.CreationTimestamp),
		names, images, metav1.FormatLabelSelector(job.Spec.Selector),
	}
}

var cronJobColumns = []metav1.TableColumnDefinition{
	nameColumn,
	col("Schedule", "string", batchv1.CronJobSpec{}.SwaggerDoc()["schedule"]),
	col("Timezone", "string", batchv1.CronJobSpec{}.SwaggerDoc()["timeZone"]),
	col("Suspend", "boolean", batchv1.CronJobSpec{}.SwaggerDoc()["suspend"]),
	col("Active", "integer", batchv1.CronJobStatus{}.SwaggerDoc()["active"]),
	col("Last Schedule", "string", batchv1.CronJobStatus{}.SwaggerDoc()["lastScheduleTime"]),
	ageColumn,
	containersColumn,
	imagesColumn,
	wide(col("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"])),
}

func cronJobCells(cj *batchv1.CronJob) []any {
	lastSchedule := "<none>"
	if cj.Status.LastScheduleTime != nil {
		lastSchedule = age(*cj.Status.LastScheduleTime)
	}
	names, images := containerCells(cj.Spec.JobTemplate.Spec.Template.Spec.Containers)
	return []any{
		cj.Name, cj.Spec.Schedule, stringPtrOr(cj.Spec.TimeZone, "<none>"), boolPtrString(cj.Spec.Suspend),
		int64(len(cj.Status.Active)), lastSchedule, age(cj.CreationTimestamp),
		names, images, metav1.FormatLabelSelector(cj.Spec.JobTemplate.Spec.Selector),
	}
}
