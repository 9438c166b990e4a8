// Package cronjob is the CronJob controller, as Kubernetes' (k8s.io/kubernetes
// pkg/controller/cronjob, the "v2" controller) behaves: at each time its
// schedule names, a CronJob gets a Job made from its jobTemplate, and the Job
// controller takes it from there.
//
// What it does, per CronJob:
//   - evaluates spec.schedule (standard cron syntax and @hourly-style macros;
//     schedule.go) in spec.timeZone, or the local zone;
//   - creates the Job for the latest scheduled time that has passed, named
//     <cronjob>-<scheduled time in minutes since the epoch> (the name is the
//     lock: the same time is never run twice), annotated with
//     batch.kubernetes.io/cronjob-scheduled-timestamp;
//   - honours concurrencyPolicy (Allow, Forbid: skip while one runs, Replace:
//     delete the running ones first), startingDeadlineSeconds (too late is
//     skipped, MissSchedule), suspend, and warns TooManyMissedTimes after more
//     than 100 missed runs (then starts only the latest);
//   - keeps successfulJobsHistoryLimit and failedJobsHistoryLimit finished
//     Jobs, deleting older ones (background propagation);
//   - writes status.active, lastScheduleTime and lastSuccessfulTime;
//   - sleeps until the next scheduled time instead of polling.
//
// Events: SuccessfulCreate, SawCompletedJob, SuccessfulDelete, JobAlreadyActive,
// MissSchedule, TooManyMissedTimes, UnexpectedJob, MissingJob, FailedCreate,
// FailedDelete, UnparseableSchedule, InvalidSchedule, UnknownTimeZone,
// UnsupportedSchedule.
package cronjob

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/controllers/controllerutil"
)

const (
	// Component is the event source shown by `kubectl describe`.
	Component = "cronjob-controller"
)

var controllerKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// Controller starts CronJobs' Jobs on schedule.
type Controller struct {
	client    kubernetes.Interface
	factory   informers.SharedInformerFactory
	cjLister  batchlisters.CronJobLister
	jobLister batchlisters.JobLister
	synced    []cache.InformerSynced
	// queue retries failed syncs on the real clock; wakeups bring a CronJob
	// back at its next scheduled time on c.clock (a fake one in tests).
	queue    workqueue.TypedRateLimitingInterface[string]
	wakeups  *wakeups
	recorder record.EventRecorder
	log      *slog.Logger
	clock    Clock
}

// Clock is the time the controller schedules by: now, and a callback after a
// duration. k8s.io/utils/clock.RealClock and its testing.FakeClock satisfy it.
type Clock interface {
	clock.PassiveClock
	AfterFunc(d time.Duration, f func()) clock.Timer
}

// Option changes a Controller's defaults.
type Option func(*Controller)

// WithClock makes the controller schedule by clk: tests step a fake clock
// through the minutes instead of waiting for them.
func WithClock(clk Clock) Option { return func(c *Controller) { c.clock = clk } }

// New makes a CronJob controller on factory's CronJob and Job informers.
// Call it before factory.Start so the informers are registered; Run starts
// them anyway.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger, opts ...Option) *Controller {
	if log == nil {
		log = slog.Default()
	}
	c := &Controller{
		client:   client,
		factory:  factory,
		queue:    workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](), workqueue.TypedRateLimitingQueueConfig[string]{Name: "cronjob"}),
		recorder: &record.FakeRecorder{},
		log:      log,
		clock:    clock.RealClock{},
	}
	for _, o := range opts {
		o(c)
	}
	c.wakeups = newWakeups(c.clock, c.queue.Add)
	cjInformer := factory.Batch().V1().CronJobs()
	jobInformer := factory.Batch().V1().Jobs()
	c.cjLister = cjInformer.Lister()
	c.jobLister = jobInformer.Lister()
	c.synced = []cache.InformerSynced{cjInformer.Informer().HasSynced, jobInformer.Informer().HasSynced}
	_, _ = cjInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: c.updateCronJob,
		DeleteFunc: c.deleteCronJob,
	})
	_, _ = jobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addJob,
		UpdateFunc: c.updateJob,
		DeleteFunc: c.deleteJob,
	})
	return c
}

// Run syncs CronJobs with workers goroutines until ctx ends. It starts the
// factory's informers (a no-op for those already started) and waits for
// their caches first.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	defer c.wakeups.stop()
	recorder, stop := controllerutil.NewRecorder(c.client, Component, c.log)
	defer stop()
	c.recorder = recorder
	c.log.Info("starting", "workers", workers)
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	controllerutil.RunWorkers(ctx, c.queue, workers, c.process)
}

func (c *Controller) process(ctx context.Context, key string) {
	wake, err := c.sync(ctx, key)
	if !wake.IsZero() {
		c.wakeups.at(key, wake)
	}
	// Retried for ever, further and further apart (up to the rate
	// limiter's cap), as Kubernetes does: giving up would stop the schedule.
	controllerutil.RetryForever(c.queue, c.log, "cron-job", key, err)
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) updateCronJob(old, cur any) {
	o, n := old.(*batchv1.CronJob), cur.(*batchv1.CronJob)
	if o.Spec.Schedule != n.Spec.Schedule || !ptr.Equal(o.Spec.TimeZone, n.Spec.TimeZone) {
		// A new schedule: wake at its next time (earlier than the old
		// wakeup, or the old one finds nothing due and moves on).
		if sched, _, err := scheduleOf(n); err == nil {
			if wake := nextWake(n, c.clock.Now(), sched); !wake.IsZero() {
				c.wakeups.at(keyOf(n), wake)
			}
		}
	}
	// Anything else (suspend, policy, limits, status) is looked at now.
	c.enqueue(cur)
}

func (c *Controller) deleteCronJob(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.wakeups.forget(key)
	c.queue.Add(key)
}

// resolveControllerRef returns the CronJob ref points to, if it is one and
// still the same object (same UID).
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *batchv1.CronJob {
	if ref.Kind != controllerKind.Kind {
		return nil
	}
	return controllerutil.ResolveControllerRef(ref, c.cjLister.CronJobs(namespace).Get)
}

func (c *Controller) addJob(obj any) {
	job := obj.(*batchv1.Job)
	if job.DeletionTimestamp != nil {
		c.deleteJob(job)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(job); ref != nil {
		if cj := c.resolveControllerRef(job.Namespace, ref); cj != nil {
			c.enqueue(cj)
		}
	}
}

func (c *Controller) updateJob(old, cur any) {
	o, n := old.(*batchv1.Job), cur.(*batchv1.Job)
	if o.ResourceVersion == n.ResourceVersion {
		return
	}
	curRef, oldRef := metav1.GetControllerOfNoCopy(n), metav1.GetControllerOfNoCopy(o)
	if oldRef != nil && !reflect.DeepEqual(curRef, oldRef) {
		if cj := c.resolveControllerRef(o.Namespace, oldRef); cj != nil {
			c.enqueue(cj)
		}
	}
	if curRef != nil {
		if cj := c.resolveControllerRef(n.Namespace, curRef); cj != nil {
			c.enqueue(cj)
		}
	}
}

func (c *Controller) deleteJob(obj any) {
	job, ok := obj.(*batchv1.Job)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if job, ok = tomb.Obj.(*batchv1.Job); !ok {
			return
		}
	}
	if ref := metav1.GetControllerOfNoCopy(job); ref != nil {
		if cj := c.resolveControllerRef(job.Namespace, ref); cj != nil {
			c.enqueue(cj)
		}
	}
}

func keyOf(obj metav1.Object) string { return obj.GetNamespace() + "/" + obj.GetName() }

// wakeups brings keys back into the queue at given times on a clock that may
// be fake. One timer per key, the earliest asked for; a timer that is due is
// never cancelled, so no wakeup is lost.
type wakeups struct {
	mu     sync.Mutex
	clock  Clock
	add    func(string)
	timers map[string]wakeup
}

type wakeup struct {
	at    time.Time
	timer clock.Timer
}

func newWakeups(clk Clock, add func(string)) *wakeups {
	return &wakeups{clock: clk, add: add, timers: map[string]wakeup{}}
}

// at wakes key at time t. The duration is taken from the clock when the timer
// is set, not when t was computed, so a clock that moved meanwhile (a test
// stepping its fake clock) does not delay the wakeup.
func (w *wakeups) at(key string, t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.clock.Now()
	if cur, ok := w.timers[key]; ok && cur.at.After(now) {
		if !cur.at.After(t) {
			return // an earlier wakeup is set; it will compute the next one
		}
		cur.timer.Stop()
	}
	if !t.After(now) {
		delete(w.timers, key)
		w.add(key)
		return
	}
	// The callback only adds to the queue: a fake clock calls it with its
	// own lock held, so it must not wait for w.mu.
	w.timers[key] = wakeup{at: t, timer: w.clock.AfterFunc(t.Sub(now), func() { w.add(key) })}
}

func (w *wakeups) forget(key string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if cur, ok := w.timers[key]; ok {
		cur.timer.Stop()
		delete(w.timers, key)
	}
}

func (w *wakeups) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for key, cur := range w.timers {
		cur.timer.Stop()
		delete(w.timers, key)
	}
}
