// Package deployment is the Deployment controller, as Kubernetes' (k8s.io/kubernetes
// pkg/controller/deployment) behaves. In the pod creation flow it sits above the
// ReplicaSet controller: it never creates pods, it creates and scales ReplicaSets.
//
// One ReplicaSet per pod template: the new one carries the current template with
// a pod-template-hash label (added to its selector and template, so ReplicaSets of
// one Deployment never share pods), the old ones are earlier templates kept as
// revision history (deployment.kubernetes.io/revision; `kubectl rollout undo`
// patches an old template back, which makes that ReplicaSet the new one again
// under the next revision number).
//
// Per sync, in Kubernetes' order:
//   - claim ReplicaSets through ControllerRef (adopt matching orphans, release
//     the ones that stopped matching);
//   - being deleted: status only; paused: scaling only, no rollout;
//   - a scaling event (spec.replicas differs from the desired-replicas annotation
//     of an active ReplicaSet): scale proportionally, no rollout;
//   - RollingUpdate: grow the new ReplicaSet up to replicas + maxSurge pods in
//     total, shrink old ones as long as replicas - maxUnavailable pods stay
//     available; Recreate: old ReplicaSets to 0, wait until their pods are gone,
//     then the new one to replicas;
//   - once complete, delete old ReplicaSets beyond revisionHistoryLimit;
//   - status (replicas, updated, ready, available, unavailable, terminating,
//     observedGeneration) and the Available and Progressing conditions, with
//     ProgressDeadlineExceeded after progressDeadlineSeconds without progress.
package deployment

import (
	"context"
	"log/slog"
	"sync"
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
	// maxRetries: after this many failed syncs in a row a Deployment waits for
	// its next change (Kubernetes uses 15).
	maxRetries = 15
	// Component is the event source shown by `kubectl describe`.
	Component = "deployment-controller"
	// writtenTTL bounds how long a sync waits for the cache to show a
	// ReplicaSet write of ours (see Controller.written).
	writtenTTL = 30 * time.Second
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("Deployment")

// Controller rolls Deployments out through ReplicaSets.
type Controller struct {
	client    kubernetes.Interface
	factory   informers.SharedInformerFactory
	dLister   appslisters.DeploymentLister
	rsLister  appslisters.ReplicaSetLister
	podLister corelisters.PodLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	recorder  record.EventRecorder
	log       *slog.Logger
	now       func() time.Time

	// written remembers, per Deployment key, the generation of each ReplicaSet
	// (by name) this controller last created or scaled. A sync whose cache shows
	// an older generation waits for the informer: deciding on a ReplicaSet's old
	// size could scale down twice and break maxUnavailable.
	mu      sync.Mutex
	written map[string]map[string]writtenRS
}

type writtenRS struct {
	generation int64
	at         time.Time
}

// New makes a Deployment controller on factory's Deployment, ReplicaSet and pod
// informers. Call it before factory.Start; Run starts them anyway.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	if log == nil {
		log = slog.Default()
	}
	dInformer := factory.Apps().V1().Deployments()
	rsInformer := factory.Apps().V1().ReplicaSets()
	podInformer := factory.Core().V1().Pods()
	c := &Controller{
		client:    client,
		factory:   factory,
		dLister:   dInformer.Lister(),
		rsLister:  rsInformer.Lister(),
		podLister: podInformer.Lister(),
		synced: []cache.InformerSynced{dInformer.Informer().HasSynced, rsInformer.Informer().HasSynced,
			podInformer.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "deployment"}),
		recorder: &record.FakeRecorder{},
		log:      log,
		now:      time.Now,
		written:  map[string]map[string]writtenRS{},
	}
	_, _ = dInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: c.enqueue,
	})
	_, _ = rsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addReplicaSet,
		UpdateFunc: c.updateReplicaSet,
		DeleteFunc: c.deleteReplicaSet,
	})
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.deletePod,
	})
	return c
}

// Run syncs Deployments with workers goroutines until ctx ends. It starts the
// factory's informers (a no-op for those already started) and waits for their
// caches first.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	recorder, stop := controllerutil.NewRecorder(c.client, Component, c.log)
	defer stop()
	c.recorder = recorder
	c.log.Info("starting", "workers", workers)
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	controllerutil.RunWorkers(ctx, c.queue, workers, func(ctx context.Context, key string) {
		controllerutil.RetryUpTo(c.queue, maxRetries, c.log, "deployment", key, c.sync(ctx, key))
	})
}

func (c *Controller) enqueue(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func keyOf(obj metav1.Object) string { return obj.GetNamespace() + "/" + obj.GetName() }

// resolveControllerRef returns the Deployment ref points to, if it is one and
// still the same object.
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.Deployment {
	if ref.Kind != controllerKind.Kind {
		return nil
	}
	return controllerutil.ResolveControllerRef(ref, c.dLister.Deployments(namespace).Get)
}

// deploymentsFor lists the Deployments whose selector matches an orphan
// ReplicaSet: those that may adopt it.
func (c *Controller) deploymentsFor(rs *appsv1.ReplicaSet) []*appsv1.Deployment {
	list, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	return controllerutil.Selecting(list, func(d *appsv1.Deployment) *metav1.LabelSelector { return d.Spec.Selector }, rs.Labels)
}

func (c *Controller) addReplicaSet(obj any) {
	rs := obj.(*appsv1.ReplicaSet)
	if rs.DeletionTimestamp != nil {
		c.deleteReplicaSet(rs)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(rs); ref != nil {
		if d := c.resolveControllerRef(rs.Namespace, ref); d != nil {
			c.enqueue(d)
		}
		return
	}
	for _, d := range c.deploymentsFor(rs) {
		c.enqueue(d)
	}
}

func (c *Controller) updateReplicaSet(old, cur any) {
	o, n := old.(*appsv1.ReplicaSet), cur.(*appsv1.ReplicaSet)
	if o.ResourceVersion == n.ResourceVersion {
		return
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(o), metav1.GetControllerOfNoCopy(n)
	refChanged := (oldRef == nil) != (curRef == nil) || (oldRef != nil && oldRef.UID != curRef.UID)
	if refChanged && oldRef != nil {
		if d := c.resolveControllerRef(o.Namespace, oldRef); d != nil {
			c.enqueue(d)
		}
	}
	if curRef != nil {
		if d := c.resolveControllerRef(n.Namespace, curRef); d != nil {
			c.enqueue(d)
		}
		return
	}
	if refChanged || !labels.Equals(o.Labels, n.Labels) {
		for _, d := range c.deploymentsFor(n) {
			c.enqueue(d)
		}
	}
}

func (c *Controller) deleteReplicaSet(obj any) {
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if rs, ok = tomb.Obj.(*appsv1.ReplicaSet); !ok {
			return
		}
	}
	ref := metav1.GetControllerOfNoCopy(rs)
	if ref == nil {
		return
	}
	if d := c.resolveControllerRef(rs.Namespace, ref); d != nil {
		c.forgetWritten(keyOf(d), rs.Name)
		c.enqueue(d)
	}
}

// deletePod wakes a Recreate Deployment when one of its pods is gone: it waits
// for all old pods to disappear before starting new ones.
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
	if ref == nil || ref.Kind != "ReplicaSet" {
		return
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	dref := metav1.GetControllerOfNoCopy(rs)
	if dref == nil {
		return
	}
	if d := c.resolveControllerRef(rs.Namespace, dref); d != nil && d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		c.enqueue(d)
	}
}

// noteWritten records that rs (as returned by the API server) was written for
// the Deployment with key.
func (c *Controller) noteWritten(key string, rs *appsv1.ReplicaSet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.written[key]
	if m == nil {
		m = map[string]writtenRS{}
		c.written[key] = m
	}
	m[rs.Name] = writtenRS{generation: rs.Generation, at: c.now()}
}

func (c *Controller) forgetWritten(key string, names ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(names) == 0 {
		delete(c.written, key)
		return
	}
	for _, n := range names {
		delete(c.written[key], n)
	}
}

// cacheBehind reports whether rsList (from the cache) misses a ReplicaSet
// write of ours for the Deployment with key; entries the cache has caught up
// with, or that are older than writtenTTL, are dropped.
func (c *Controller) cacheBehind(key string, rsList []*appsv1.ReplicaSet) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.written[key]
	if len(m) == 0 {
		return false
	}
	byName := map[string]*appsv1.ReplicaSet{}
	for _, rs := range rsList {
		byName[rs.Name] = rs
	}
	behind := false
	now := c.now()
	for name, w := range m {
		rs := byName[name]
		switch {
		case now.Sub(w.at) > writtenTTL:
			delete(m, name)
		case rs == nil || rs.Generation < w.generation:
			behind = true
		default:
			delete(m, name)
		}
	}
	return behind
}
