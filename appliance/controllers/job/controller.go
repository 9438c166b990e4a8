// Package job is the Job controller, as Kubernetes' (k8s.io/kubernetes
// pkg/controller/job, with the ttl-after-finished controller folded in)
// behaves. In the pod creation flow it sits where a ReplicaSet would: a Job
// asks for pods that run to completion, this controller creates them from the
// template (controller ownerReference, the selector labels the API server put
// on the template), and the scheduler and kubelet take them from there; when
// they finish, it counts them.
//
// What it does, per Job:
//   - keeps min(parallelism, remaining completions) pods active, creating them
//     in slow-start batches; Indexed Jobs give each pod its completion index
//     (annotation and label batch.kubernetes.io/job-completion-index, env
//     JOB_COMPLETION_INDEX, hostname <job>-<index>);
//   - counts finished pods exactly once, with the batch.kubernetes.io/job-tracking
//     finalizer and status.uncountedTerminatedPods (tracking.go), so pods may
//     be deleted at any time without the Job losing count;
//   - replaces failed pods after an exponential backoff (10 s doubling, capped
//     at six minutes) until backoffLimit failures, then fails the Job
//     (BackoffLimitExceeded); fails it at activeDeadlineSeconds
//     (DeadlineExceeded); suspends and resumes it;
//   - writes the conditions `kubectl wait` and `kubectl describe` read:
//     SuccessCriteriaMet then Complete, FailureTarget then Failed, the terminal
//     one only once no pod of the Job is left running;
//   - deletes a finished Job ttlSecondsAfterFinished after it finished
//     (background propagation: the garbage collector removes its pods);
//   - records SuccessfulCreate, SuccessfulDelete, Completed,
//     BackoffLimitExceeded, DeadlineExceeded, Suspended, Resumed.
package job

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/appliance/appliance/appliance/controllers/controllerutil"
)

const (
	// Component is the event source shown by `kubectl describe`.
	Component = "job-controller"
	// DefaultPodBackoff is the wait before replacing a pod after the first
	// failure; it doubles with each failure in a row.
	DefaultPodBackoff = 10 * time.Second
	// DefaultMaxPodBackoff caps that wait (six minutes, as Kubernetes
	// documents for Jobs).
	DefaultMaxPodBackoff = 6 * time.Minute
	// DefaultSyncBatchPeriod gathers the pod events of a Job into one sync,
	// as kube-controller-manager does (1 s): a Job of 500 pods finishing
	// together is synced a few times, not 500.
	DefaultSyncBatchPeriod = time.Second

	// maxPodChangesPerSync caps the pods created or deleted in one sync; the
	// rest follow in the next (Kubernetes: 500).
	maxPodChangesPerSync = 500
	// maxUncountedPods caps status.uncountedTerminatedPods so the Job stays
	// well below the object size limit (Kubernetes: 500).
	maxUncountedPods = 500
	// retryBase and retryMax bound the wait before a failed sync is retried
	// (doubling per failure). Kubernetes retries a Job for ever, at most a
	// minute apart: a Job whose pods cannot be created yet (quota, admission)
	// must start once they can.
	retryBase = 100 * time.Millisecond
	retryMax  = time.Minute
)

var controllerKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Controller runs Jobs' pods to completion.
type Controller struct {
	client    kubernetes.Interface
	factory   informers.SharedInformerFactory
	jobLister batchlisters.JobLister
	podLister corelisters.PodLister
	synced    []cache.InformerSynced
	// queue holds Job keys; orphans holds pod keys whose tracking finalizer
	// must go because no unfinished Job counts them any more.
	queue   workqueue.TypedRateLimitingInterface[string]
	orphans workqueue.TypedRateLimitingInterface[string]
	// expectations: pod creations and deletions not yet seen by the informer.
	expectations *controllerutil.Expectations
	// finalizers: pods whose tracking finalizer was removed (and counted) but
	// whose update the informer has not shown yet; counting them again from
	// the stale cache would count them twice.
	finalizers *uidExpectations
	backoff    *backoffStore
	recorder   record.EventRecorder
	log        *slog.Logger

	clock         clock.WithTicker
	podBackoff    time.Duration
	maxPodBackoff time.Duration
	batchPeriod   time.Duration
}

// Option changes a Controller's defaults.
type Option func(*Controller)

// WithClock makes the controller read time from clk (tests use a fake one);
// the delays of its work queue follow it too.
func WithClock(clk clock.WithTicker) Option { return func(c *Controller) { c.clock = clk } }

// WithPodBackoff sets the wait before replacing a failed pod (base, doubling
// per failure in a row) and its cap. Defaults: DefaultPodBackoff and
// DefaultMaxPodBackoff.
func WithPodBackoff(base, limit time.Duration) Option {
	return func(c *Controller) { c.podBackoff, c.maxPodBackoff = base, limit }
}

// WithSyncBatchPeriod sets how long pod events of a Job are gathered before
// it is synced (DefaultSyncBatchPeriod).
func WithSyncBatchPeriod(d time.Duration) Option { return func(c *Controller) { c.batchPeriod = d } }

// New makes a Job controller on factory's Job and pod informers. Call it
// before factory.Start so the informers are registered; Run starts them
// anyway.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger, opts ...Option) *Controller {
	if log == nil {
		log = slog.Default()
	}
	c := &Controller{
		client:        client,
		factory:       factory,
		expectations:  controllerutil.NewExpectations(),
		finalizers:    newUIDExpectations(),
		backoff:       newBackoffStore(),
		recorder:      &record.FakeRecorder{},
		log:           log,
		clock:         clock.RealClock{},
		podBackoff:    DefaultPodBackoff,
		maxPodBackoff: DefaultMaxPodBackoff,
		batchPeriod:   DefaultSyncBatchPeriod,
	}
	for _, o := range opts {
		o(c)
	}
	c.expectations.Now = c.clock.Now
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.NewTypedItemExponentialFailureRateLimiter[string](retryBase, retryMax),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "job", Clock: c.clock})
	c.orphans = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.NewTypedItemExponentialFailureRateLimiter[string](retryBase, retryMax),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "job-orphan-pod", Clock: c.clock})

	jobInformer := factory.Batch().V1().Jobs()
	podInformer := factory.Core().V1().Pods()
	c.jobLister = jobInformer.Lister()
	c.podLister = podInformer.Lister()
	c.synced = []cache.InformerSynced{jobInformer.Informer().HasSynced, podInformer.Informer().HasSynced}
	_, _ = jobInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.enqueue(obj, 0) },
		UpdateFunc: c.updateJob,
		DeleteFunc: c.deleteJob,
	})
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: func(obj any) { c.deletePod(obj, true) },
	})
	return c
}

// Run syncs Jobs with workers goroutines until ctx ends. It starts the
// factory's informers (a no-op for those already started) and waits for
// their caches first.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	defer c.orphans.ShutDown()
	recorder, stop := controllerutil.NewRecorder(c.client, Component, c.log)
	defer stop()
	c.recorder = recorder
	c.log.Info("starting", "workers", workers, "pod-backoff", c.podBackoff, "max-pod-backoff", c.maxPodBackoff)
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		controllerutil.RunWorkers(ctx, c.orphans, 1, c.processOrphan)
	})
	controllerutil.RunWorkers(ctx, c.queue, workers, func(ctx context.Context, key string) {
		// Conflicts are routine (a status write from a cache one step
		// behind); anything failing repeatedly is worth a warning.
		controllerutil.RetryForever(c.queue, c.log, "job", key, c.sync(ctx, key))
	})
	wg.Wait()
}

func (c *Controller) processOrphan(ctx context.Context, key string) {
	if err := c.syncOrphanPod(ctx, key); err != nil {
		c.log.Debug("removing tracking finalizer failed, retrying", "pod", key, "err", err)
		c.orphans.AddRateLimited(key)
		return
	}
	c.orphans.Forget(key)
}

// enqueue syncs a Job after delay: 0 for changes to the Job itself, the batch
// period for pod events and status echoes. The delaying queue keeps the
// earliest time, so a burst of pod events is one sync.
func (c *Controller) enqueue(obj any, delay time.Duration) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	if delay <= 0 {
		c.queue.Add(key)
		return
	}
	c.queue.AddAfter(key, delay)
}

func (c *Controller) updateJob(old, cur any) {
	o, n := old.(*batchv1.Job), cur.(*batchv1.Job)
	if o.UID != n.UID {
		// Deleted and created again under the same name between two events.
		c.deleteJob(cache.DeletedFinalStateUnknown{Key: keyOf(o), Obj: o})
	}
	// A spec change is acted on at once; a status change is our own echo,
	// or a pod count moving, and can wait for the batch.
	if o.Generation == n.Generation {
		c.enqueue(n, c.batchPeriod)
	} else {
		c.enqueue(n, 0)
	}
	if isFinished(n) {
		// Backup: a finished Job must not leave tracking finalizers behind.
		c.orphanFinalizedPods(n)
	}
}

func (c *Controller) deleteJob(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.queue.Add(key)
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
	// Its pods no longer count towards anything: let them go.
	c.orphanFinalizedPods(job)
}

// orphanFinalizedPods queues the pods of job that still carry the tracking
// finalizer for its removal.
func (c *Controller) orphanFinalizedPods(job *batchv1.Job) {
	selector, err := metav1.LabelSelectorAsSelector(job.Spec.Selector)
	if err != nil {
		return
	}
	pods, _ := c.podLister.Pods(job.Namespace).List(selector)
	for _, p := range pods {
		if metav1.IsControlledBy(p, job) && hasTrackingFinalizer(p) {
			c.orphans.Add(controllerutil.PodKey(p))
		}
	}
}

// resolveControllerRef returns the Job ref points to, if it is one and still
// the same object (same UID).
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *batchv1.Job {
	if ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	return controllerutil.ResolveControllerRef(ref, c.jobLister.Jobs(namespace).Get)
}

// jobsFor lists the Jobs whose selector matches an orphan pod: those that
// may want to adopt it.
func (c *Controller) jobsFor(pod *corev1.Pod) []*batchv1.Job {
	jobs, err := c.jobLister.Jobs(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	return controllerutil.Selecting(jobs, func(j *batchv1.Job) *metav1.LabelSelector { return j.Spec.Selector }, pod.Labels)
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen for the first time already being deleted (after a restart):
		// not a creation we wait for.
		c.deletePod(pod, false)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		job := c.resolveControllerRef(pod.Namespace, ref)
		if job == nil {
			if hasTrackingFinalizer(pod) {
				c.orphans.Add(controllerutil.PodKey(pod))
			}
			return
		}
		c.expectations.CreationObserved(keyOf(job))
		c.enqueue(job, c.batchPeriod)
		return
	}
	if hasTrackingFinalizer(pod) {
		c.orphans.Add(controllerutil.PodKey(pod))
	}
	for _, j := range c.jobsFor(pod) {
		c.enqueue(j, c.batchPeriod)
	}
}

func (c *Controller) updatePod(old, cur any) {
	o, n := old.(*corev1.Pod), cur.(*corev1.Pod)
	if o.ResourceVersion == n.ResourceVersion {
		return
	}
	if n.DeletionTimestamp != nil {
		// A graceful deletion has begun: the Job may replace the pod now
		// rather than when the kubelet is done with it.
		c.deletePod(n, false)
		return
	}
	finalizerGone := !hasTrackingFinalizer(n)
	curRef, oldRef := metav1.GetControllerOfNoCopy(n), metav1.GetControllerOfNoCopy(o)
	refChanged := !reflect.DeepEqual(curRef, oldRef)
	if refChanged && oldRef != nil {
		if job := c.resolveControllerRef(o.Namespace, oldRef); job != nil {
			if finalizerGone {
				c.finalizers.observed(keyOf(job), string(n.UID))
			}
			c.enqueue(job, c.batchPeriod)
		}
	}
	if curRef != nil {
		job := c.resolveControllerRef(n.Namespace, curRef)
		if job == nil {
			if hasTrackingFinalizer(n) {
				c.orphans.Add(controllerutil.PodKey(n))
			}
			return
		}
		if finalizerGone {
			c.finalizers.observed(keyOf(job), string(n.UID))
		}
		c.enqueue(job, c.batchPeriod)
		return
	}
	if hasTrackingFinalizer(n) {
		c.orphans.Add(controllerutil.PodKey(n))
	}
	if refChanged || !reflect.DeepEqual(o.Labels, n.Labels) {
		for _, j := range c.jobsFor(n) {
			c.enqueue(j, c.batchPeriod)
		}
	}
}

// deletePod handles a pod gone (final) or marked for deletion.
func (c *Controller) deletePod(obj any, final bool) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if pod, ok = tomb.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	ref := metav1.GetControllerOfNoCopy(pod)
	if ref == nil {
		if hasTrackingFinalizer(pod) && !final {
			c.orphans.Add(controllerutil.PodKey(pod))
		}
		return
	}
	job := c.resolveControllerRef(pod.Namespace, ref)
	if job == nil || isFinished(job) {
		if hasTrackingFinalizer(pod) && !final {
			c.orphans.Add(controllerutil.PodKey(pod))
		}
		return
	}
	key := keyOf(job)
	c.expectations.DeletionObserved(key, controllerutil.PodKey(pod))
	if final || !hasTrackingFinalizer(pod) {
		c.finalizers.observed(key, string(pod.UID))
	}
	c.enqueue(job, c.batchPeriod)
}

func keyOf(obj metav1.Object) string {
	return obj.GetNamespace() + "/" + obj.GetName()
}
