// Package statefulset is the StatefulSet controller, as Kubernetes' (k8s.io/kubernetes
// pkg/controller/statefulset) behaves: pods with a stable identity, created in
// order and kept with their storage. In the pod creation flow it stands where a
// ReplicaSet does: it creates pods (and their PersistentVolumeClaims), the
// scheduler and kubelets take them from there, and it waits for what they
// report before the next step.
//
// What it does, per StatefulSet:
//   - pods are <set>-<ordinal> with hostname and subdomain (the headless
//     service) set, labelled statefulset.kubernetes.io/pod-name and
//     apps.kubernetes.io/pod-index, for ordinals spec.ordinals.start onwards;
//   - volumeClaimTemplates become claims <template>-<set>-<ordinal>, created
//     before the pod and kept when it goes; persistentVolumeClaimRetentionPolicy
//     Delete hands them to the garbage collector through ownerReferences;
//   - OrderedReady creates pods one at a time in ordinal order, each only once
//     the one before is Running and Ready (and available for minReadySeconds),
//     and scales down from the highest ordinal, one at a time; Parallel does
//     both at once;
//   - RollingUpdate replaces pods from the highest ordinal down to the
//     partition, maxUnavailable at a time; OnDelete waits for users to delete
//     them; revisions are ControllerRevisions (status.currentRevision and
//     updateRevision, the pods' controller-revision-hash label), pruned to
//     revisionHistoryLimit;
//   - status through /status (replicas, readyReplicas, availableReplicas,
//     currentReplicas, updatedReplicas, revisions, collisionCount,
//     observedGeneration) and the Events `kubectl describe sts` shows.
package statefulset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
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
	// Component is the event source `kubectl describe` shows.
	Component = "statefulset-controller"
	// maxRetries: after this many failed syncs in a row a StatefulSet waits
	// for its next change (Kubernetes uses 15).
	maxRetries = 15
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("StatefulSet")

// Controller keeps StatefulSets' pods.
type Controller struct {
	client         kubernetes.Interface
	factory        informers.SharedInformerFactory
	setLister      appslisters.StatefulSetLister
	podLister      corelisters.PodLister
	pvcLister      corelisters.PersistentVolumeClaimLister
	revisionLister appslisters.ControllerRevisionLister
	synced         []cache.InformerSynced
	queue          workqueue.TypedRateLimitingInterface[string]
	control        podControl
	revisions      revisionStore
	mu             sync.Mutex
	recorder       record.EventRecorder
	log            *slog.Logger
	now            func() time.Time
}

// New makes a StatefulSet controller on factory's StatefulSet, pod,
// PersistentVolumeClaim and ControllerRevision informers. Call it before
// factory.Start so the informers are registered; Run starts them anyway.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	if log == nil {
		log = slog.Default()
	}
	setInformer := factory.Apps().V1().StatefulSets()
	podInformer := factory.Core().V1().Pods()
	pvcInformer := factory.Core().V1().PersistentVolumeClaims()
	revInformer := factory.Apps().V1().ControllerRevisions()
	c := &Controller{
		client:         client,
		factory:        factory,
		setLister:      setInformer.Lister(),
		podLister:      podInformer.Lister(),
		pvcLister:      pvcInformer.Lister(),
		revisionLister: revInformer.Lister(),
		synced: []cache.InformerSynced{setInformer.Informer().HasSynced, podInformer.Informer().HasSynced,
			pvcInformer.Informer().HasSynced, revInformer.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "statefulset"}),
		recorder: &record.FakeRecorder{},
		log:      log,
		now:      time.Now,
	}
	c.control = &apiPodControl{client: client, podLister: c.podLister, pvcLister: c.pvcLister, recorder: c.eventRecorder}
	c.revisions = apiRevisions{c}
	_, _ = setInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: func(_, cur any) { c.enqueue(cur) },
		DeleteFunc: c.enqueue,
	})
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	// Claims and revisions are read from their caches; their events need not
	// wake anyone (as in Kubernetes).
	_ = pvcInformer.Informer()
	_ = revInformer.Informer()
	return c
}

func (c *Controller) eventRecorder() record.EventRecorder {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recorder
}

// Run syncs StatefulSets with workers goroutines until ctx ends. It starts the
// factory's informers (a no-op for those already started) and waits for their
// caches first.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	recorder, stop := controllerutil.NewRecorder(c.client, Component, c.log)
	defer stop()
	c.mu.Lock()
	c.recorder = recorder
	c.mu.Unlock()
	c.log.Info("starting", "workers", workers)
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	controllerutil.RunWorkers(ctx, c.queue, workers, func(ctx context.Context, key string) {
		controllerutil.RetryUpTo(c.queue, maxRetries, c.log, "stateful-set", key, c.sync(ctx, key))
	})
}

// sync brings one StatefulSet's pods, claims, revisions and status in line
// with its spec.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	set, err := c.setLister.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	selector, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
	if err != nil {
		// Validation makes this impossible; retrying would not help.
		c.log.Warn("invalid selector", "stateful-set", key, "err", err)
		return nil
	}
	revisions, err := c.claimRevisions(ctx, set, selector)
	if err != nil {
		return err
	}
	pods, err := c.claimPods(ctx, set, selector)
	if err != nil {
		return err
	}
	sortRevisions(revisions)
	current, update, collisionCount, err := getRevisions(ctx, c.revisions, set, revisions)
	if err != nil {
		return fmt.Errorf("revisions of %s: %w", key, err)
	}
	u := &updater{control: c.control, now: c.now(), log: c.log}
	status, err := u.update(ctx, set, current, update, collisionCount, pods)
	if status != nil {
		if statusErr := c.updateStatus(ctx, set, status); statusErr != nil {
			err = errors.Join(err, statusErr)
		}
		if set.Spec.MinReadySeconds > 0 && status.ReadyReplicas != status.AvailableReplicas {
			// Availability comes with time, not with an event.
			c.queue.AddAfter(key, time.Duration(set.Spec.MinReadySeconds)*time.Second)
		}
	}
	if hErr := truncateHistory(ctx, c.revisions, set, pods, revisions, current, update); hErr != nil {
		err = errors.Join(err, fmt.Errorf("truncate history: %w", hErr))
	}
	return err
}

// updateStatus completes a finished rolling update in status and writes it
// through /status if anything changed, retrying conflicts on a fresh read.
func (c *Controller) updateStatus(ctx context.Context, set *appsv1.StatefulSet, status *appsv1.StatefulSetStatus) error {
	completeRollingUpdate(set, status)
	if !statusChanged(set, status) {
		return nil
	}
	upd := set.DeepCopy()
	for attempt := 0; ; attempt++ {
		upd.Status.ObservedGeneration = status.ObservedGeneration
		upd.Status.Replicas = status.Replicas
		upd.Status.ReadyReplicas = status.ReadyReplicas
		upd.Status.AvailableReplicas = status.AvailableReplicas
		upd.Status.CurrentReplicas = status.CurrentReplicas
		upd.Status.UpdatedReplicas = status.UpdatedReplicas
		upd.Status.CurrentRevision = status.CurrentRevision
		upd.Status.UpdateRevision = status.UpdateRevision
		upd.Status.CollisionCount = status.CollisionCount
		_, err := c.client.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		if err == nil || !apierrors.IsConflict(err) || attempt >= 3 {
			if err != nil {
				return fmt.Errorf("update status of %s: %w", keyOf(set), err)
			}
			return nil
		}
		fresh, getErr := c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
		if getErr != nil {
			return getErr
		}
		if fresh.UID != set.UID {
			return nil
		}
		upd = fresh
	}
}

// claimPods returns set's pods, adopting orphans whose name and labels make
// them its members and releasing owned pods that stopped matching.
func (c *Controller) claimPods(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) ([]*corev1.Pod, error) {
	all, err := c.podLister.Pods(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var candidates []*corev1.Pod
	for _, p := range all {
		ref := metav1.GetControllerOfNoCopy(p)
		if (ref != nil && ref.UID == set.UID) || (ref == nil && isMemberOf(set, p)) {
			candidates = append(candidates, p)
		}
	}
	cl := controllerutil.Claimer[*corev1.Pod]{
		Owner: set, OwnerGVK: controllerKind, Selector: selector,
		CanAdopt: c.recheckDeletion(set),
		Patch: func(ctx context.Context, p *corev1.Pod, patch []byte) error {
			_, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}
	return cl.Claim(ctx, candidates)
}

// claimRevisions returns set's ControllerRevisions, adopting matching orphans.
func (c *Controller) claimRevisions(ctx context.Context, set *appsv1.StatefulSet, selector labels.Selector) ([]*appsv1.ControllerRevision, error) {
	all, err := c.revisionLister.ControllerRevisions(set.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	cl := controllerutil.Claimer[*appsv1.ControllerRevision]{
		Owner: set, OwnerGVK: controllerKind, Selector: selector,
		CanAdopt: c.recheckDeletion(set),
		Patch: func(ctx context.Context, r *appsv1.ControllerRevision, patch []byte) error {
			_, err := c.client.AppsV1().ControllerRevisions(r.Namespace).Patch(ctx, r.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}
	claimed, err := cl.Claim(ctx, all)
	// Copies: getRevisions may hand one back as the update revision, and the
	// cache's objects must stay untouched.
	out := make([]*appsv1.ControllerRevision, len(claimed))
	for i, r := range claimed {
		out[i] = r.DeepCopy()
	}
	return out, err
}

// recheckDeletion refuses adoption if set was deleted (or replaced) after the
// cache was read: an uncached read, as Kubernetes does.
func (c *Controller) recheckDeletion(set *appsv1.StatefulSet) func(ctx context.Context) error {
	return controllerutil.RecheckDeletion(set.UID, func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().StatefulSets(set.Namespace).Get(ctx, set.Name, metav1.GetOptions{})
	})
}

// Event handlers.

func (c *Controller) enqueue(obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.StatefulSet {
	if ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	return controllerutil.ResolveControllerRef(ref, c.setLister.StatefulSets(namespace).Get)
}

// setsForOrphan lists the sets that may adopt an orphan pod: its name makes it
// their member and their selector matches it.
func (c *Controller) setsForOrphan(pod *corev1.Pod) []*appsv1.StatefulSet {
	list, err := c.setLister.StatefulSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.StatefulSet
	for _, set := range list {
		sel, err := metav1.LabelSelectorAsSelector(set.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) || !isMemberOf(set, pod) {
			continue
		}
		out = append(out, set)
	}
	return out
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if set := c.resolveControllerRef(pod.Namespace, ref); set != nil {
			c.enqueue(set)
		}
		return
	}
	for _, set := range c.setsForOrphan(pod) {
		c.enqueue(set)
	}
}

func (c *Controller) updatePod(old, cur any) {
	o, n := old.(*corev1.Pod), cur.(*corev1.Pod)
	if o.ResourceVersion == n.ResourceVersion {
		return
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(o), metav1.GetControllerOfNoCopy(n)
	refChanged := (oldRef == nil) != (curRef == nil) || (oldRef != nil && oldRef.UID != curRef.UID)
	if refChanged && oldRef != nil {
		if set := c.resolveControllerRef(o.Namespace, oldRef); set != nil {
			c.enqueue(set)
		}
	}
	if curRef != nil {
		set := c.resolveControllerRef(n.Namespace, curRef)
		if set == nil {
			return
		}
		c.enqueue(set)
		if !controllerutil.IsPodReady(o) && controllerutil.IsPodReady(n) && set.Spec.MinReadySeconds > 0 {
			c.queue.AddAfter(keyOf(set), time.Duration(set.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if refChanged || !labels.Equals(o.Labels, n.Labels) {
		for _, set := range c.setsForOrphan(n) {
			c.enqueue(set)
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
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		if set := c.resolveControllerRef(pod.Namespace, ref); set != nil {
			c.enqueue(set)
		}
	}
}

func keyOf(obj metav1.Object) string {
	return obj.GetNamespace() + "/" + obj.GetName()
}
