// Package replicaset is the ReplicaSet controller, as Kubernetes' (k8s.io/kubernetes
// pkg/controller/replicaset) behaves: it keeps exactly spec.replicas active pods
// for every ReplicaSet. In the pod creation flow it is the step between a
// workload and its pods: a Deployment scales ReplicaSets, this controller
// creates pods from their template (controller ownerReference, blockOwnerDeletion),
// and the scheduler and kubelet take them from there.
//
// What it does, per ReplicaSet:
//   - claims pods through ControllerRef: adopts orphans that match the selector,
//     releases owned pods that stopped matching;
//   - creates missing pods in slow-start batches, deletes extra ones starting with
//     the least useful (unscheduled, pending, not ready, ...; see rank.go);
//   - never acts twice on a stale cache: creations and deletions are expected
//     until the informer has seen them (controllerutil.Expectations);
//   - writes status through /status: replicas, fullyLabeledReplicas,
//     readyReplicas, availableReplicas (ready for minReadySeconds),
//     terminatingReplicas, observedGeneration, and the ReplicaFailure condition;
//   - records the Events users see in `kubectl describe rs` (SuccessfulCreate,
//     SuccessfulDelete, FailedCreate, FailedDelete).
package replicaset

import (
	"context"
	"log/slog"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/appliance/appliance/appliance/controllers/controllerutil"
)

const (
	// burstReplicas caps the pods created or deleted in one sync, as
	// kube-controller-manager does (500); the rest follow in the next sync.
	burstReplicas = 500
	// maxRetries: after this many failed syncs in a row a ReplicaSet waits for
	// its next change instead of being retried (Kubernetes uses 15).
	maxRetries = 15
	// Component is the event source shown by `kubectl describe`.
	Component = "replicaset-controller"
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// Controller keeps ReplicaSets' pods.
type Controller struct {
	client       kubernetes.Interface
	factory      informers.SharedInformerFactory
	rsLister     appslisters.ReplicaSetLister
	podLister    corelisters.PodLister
	synced       []cache.InformerSynced
	queue        workqueue.TypedRateLimitingInterface[string]
	expectations *controllerutil.Expectations
	recorder     record.EventRecorder
	log          *slog.Logger
	now          func() time.Time
}

// New makes a ReplicaSet controller on factory's pod and ReplicaSet informers.
// Call it before factory.Start so the informers are registered; Run starts
// them anyway.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	if log == nil {
		log = slog.Default()
	}
	rsInformer := factory.Apps().V1().ReplicaSets()
	podInformer := factory.Core().V1().Pods()
	c := &Controller{
		client:    client,
		factory:   factory,
		rsLister:  rsInformer.Lister(),
		podLister: podInformer.Lister(),
		synced:    []cache.InformerSynced{rsInformer.Informer().HasSynced, podInformer.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "replicaset"}),
		expectations: controllerutil.NewExpectations(),
		recorder:     &record.FakeRecorder{},
		log:          log,
		now:          time.Now,
	}
	_, _ = rsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: c.updateRS,
		DeleteFunc: c.deleteRS,
	})
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	return c
}

// Run syncs ReplicaSets with workers goroutines until ctx ends. It starts the
// factory's informers (a no-op for those already started) and waits for their
// caches first.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	recorder, stop := controllerutil.NewRecorder(c.client, Component, c.log)
	defer stop()
	c.recorder = recorder
	c.log.Info("starting", "workers", workers, "burst-replicas", burstReplicas)
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	controllerutil.RunWorkers(ctx, c.queue, workers, func(ctx context.Context, key string) {
		controllerutil.RetryUpTo(c.queue, maxRetries, c.log, "replica-set", key, c.sync(ctx, key))
	})
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) enqueueAfter(rs *appsv1.ReplicaSet, d time.Duration) {
	if key, err := cache.MetaNamespaceKeyFunc(rs); err == nil {
		c.queue.AddAfter(key, d)
	}
}

func (c *Controller) updateRS(old, cur any) {
	o, n := old.(*appsv1.ReplicaSet), cur.(*appsv1.ReplicaSet)
	if o.UID != n.UID {
		// Deleted and created again under the same name between two events:
		// what was expected of the old one will never be observed.
		c.deleteRS(cache.DeletedFinalStateUnknown{Key: keyOf(o), Obj: o})
	}
	c.enqueue(cur)
}

func (c *Controller) deleteRS(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.expectations.Delete(key)
	c.queue.Add(key)
}

// resolveControllerRef returns the ReplicaSet ref points to, if it is one and
// still the same object (same UID).
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.ReplicaSet {
	if ref.Kind != controllerKind.Kind {
		return nil
	}
	return controllerutil.ResolveControllerRef(ref, c.rsLister.ReplicaSets(namespace).Get)
}

// replicaSetsFor lists the ReplicaSets whose selector matches an orphan pod's
// labels: those that may want to adopt it.
func (c *Controller) replicaSetsFor(pod *corev1.Pod) []*appsv1.ReplicaSet {
	list, err := c.rsLister.ReplicaSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	return controllerutil.Selecting(list, func(rs *appsv1.ReplicaSet) *metav1.LabelSelector { return rs.Spec.Selector }, pod.Labels)
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen for the first time already being deleted (e.g. after a
		// restart): count it as the deletion it is.
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		rs := c.resolveControllerRef(pod.Namespace, ref)
		if rs == nil {
			return
		}
		key := keyOf(rs)
		c.expectations.CreationObserved(key)
		c.queue.Add(key)
		return
	}
	for _, rs := range c.replicaSetsFor(pod) {
		c.enqueue(rs)
	}
}

func (c *Controller) updatePod(old, cur any) {
	o, n := old.(*corev1.Pod), cur.(*corev1.Pod)
	if o.ResourceVersion == n.ResourceVersion {
		return // periodic resync: nothing changed
	}
	labelsChanged := !labels.Equals(o.Labels, n.Labels)
	if n.DeletionTimestamp != nil {
		// A graceful deletion shows first as an update; the expectation is
		// met now, not when the kubelet finally removes the pod.
		c.deletePod(n)
		if labelsChanged {
			c.deletePod(o)
		}
		return
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(o), metav1.GetControllerOfNoCopy(n)
	refChanged := (oldRef == nil) != (curRef == nil) || (oldRef != nil && oldRef.UID != curRef.UID)
	if refChanged && oldRef != nil {
		if rs := c.resolveControllerRef(o.Namespace, oldRef); rs != nil {
			c.enqueue(rs)
		}
	}
	if curRef != nil {
		rs := c.resolveControllerRef(n.Namespace, curRef)
		if rs == nil {
			return
		}
		c.enqueue(rs)
		// Availability is a matter of time once a pod is ready: look again
		// when minReadySeconds have passed.
		if !controllerutil.IsPodReady(o) && controllerutil.IsPodReady(n) && rs.Spec.MinReadySeconds > 0 {
			c.enqueueAfter(rs, time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		for _, rs := range c.replicaSetsFor(n) {
			c.enqueue(rs)
		}
	}
}

func (c *Controller) deletePod(obj any) {
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
		return
	}
	rs := c.resolveControllerRef(pod.Namespace, ref)
	if rs == nil {
		return
	}
	key := keyOf(rs)
	c.expectations.DeletionObserved(key, controllerutil.PodKey(pod))
	c.queue.Add(key)
}

func keyOf(obj metav1.Object) string {
	if obj.GetNamespace() == "" {
		return obj.GetName()
	}
	return obj.GetNamespace() + "/" + obj.GetName()
}
