// Package daemonset is the DaemonSet controller, as Kubernetes' (k8s.io/kubernetes
// pkg/controller/daemon) behaves: every node that qualifies runs one pod of each
// DaemonSet. In the pod creation flow it stands where a ReplicaSet does for a
// Deployment: it creates the pods, and the scheduler and kubelets take them
// from there. It never binds a pod itself; since Kubernetes 1.12 a daemon pod
// carries a required node affinity to its node (metadata.name In [node]) and
// the default scheduler binds it.
//
// What it does, per DaemonSet:
//   - decides per node whether a pod should run (spec.nodeName, nodeSelector,
//     required node affinity, taints against the template's tolerations plus
//     the ones Kubernetes adds to every daemon pod; nodes.go);
//   - follows nodes: a new or newly qualifying node gets a pod, a node that
//     stops qualifying (or is deleted) loses it; failed pods are replaced with
//     a per-node backoff;
//   - claims pods and ControllerRevisions through ControllerRef (adopts
//     matching orphans, releases what stops matching);
//   - keeps its history as ControllerRevisions (history.go) whose hash is the
//     pods' controller-revision-hash label, pruned to revisionHistoryLimit;
//   - updates pods with RollingUpdate (maxUnavailable, or maxSurge) or leaves
//     them to OnDelete (plan.go);
//   - writes status through /status (desired, current, ready, available,
//     updated, misscheduled and unavailable counts, observedGeneration) and
//     records the Events `kubectl describe ds` shows.
package daemonset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
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
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/controllers/controllerutil"
)

const (
	// Component is the event source `kubectl describe` shows.
	Component = "daemonset-controller"
	// burstReplicas caps pods created or deleted per sync, as
	// kube-controller-manager does for DaemonSets (250).
	burstReplicas = 250
	// maxRetries: after this many failed syncs in a row a DaemonSet waits for
	// its next change (Kubernetes uses 15).
	maxRetries = 15
	// Failed daemon pods are replaced with this backoff per node, so that a
	// kubelet rejecting the pod does not turn into a hot loop.
	failedPodsBackoffBase = time.Second
	failedPodsBackoffMax  = 15 * time.Minute

	reasonSelectingAll     = "SelectingAll"
	reasonFailedDaemonPod  = "FailedDaemonPod"
	reasonSucceededDaemon  = "SucceededDaemonPod"
	reasonSuccessfulCreate = "SuccessfulCreate"
	reasonFailedCreate     = "FailedCreate"
	reasonSuccessfulDelete = "SuccessfulDelete"
	reasonFailedDelete     = "FailedDelete"
)

var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// Controller keeps DaemonSets' pods.
type Controller struct {
	client        kubernetes.Interface
	factory       informers.SharedInformerFactory
	dsLister      appslisters.DaemonSetLister
	podLister     corelisters.PodLister
	nodeLister    corelisters.NodeLister
	historyLister appslisters.ControllerRevisionLister
	synced        []cache.InformerSynced
	queue         workqueue.TypedRateLimitingInterface[string]
	expectations  *expectations
	backoff       *flowcontrol.Backoff
	recorder      record.EventRecorder
	log           *slog.Logger
	now           func() time.Time
}

// New makes a DaemonSet controller on factory's DaemonSet, pod, node and
// ControllerRevision informers. Call it before factory.Start so the informers
// are registered; Run starts them anyway.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	if log == nil {
		log = slog.Default()
	}
	dsInformer := factory.Apps().V1().DaemonSets()
	podInformer := factory.Core().V1().Pods()
	nodeInformer := factory.Core().V1().Nodes()
	historyInformer := factory.Apps().V1().ControllerRevisions()
	c := &Controller{
		client:        client,
		factory:       factory,
		dsLister:      dsInformer.Lister(),
		podLister:     podInformer.Lister(),
		nodeLister:    nodeInformer.Lister(),
		historyLister: historyInformer.Lister(),
		synced: []cache.InformerSynced{dsInformer.Informer().HasSynced, podInformer.Informer().HasSynced,
			nodeInformer.Informer().HasSynced, historyInformer.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "daemonset"}),
		expectations: newExpectations(),
		backoff:      flowcontrol.NewBackOff(failedPodsBackoffBase, failedPodsBackoffMax),
		recorder:     &record.FakeRecorder{},
		log:          log,
		now:          time.Now,
	}
	_, _ = dsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueue,
		UpdateFunc: c.updateDS,
		DeleteFunc: c.deleteDS,
	})
	_, _ = podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	})
	_, _ = nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addNode,
		UpdateFunc: c.updateNode,
		DeleteFunc: c.deleteNode,
	})
	_, _ = historyInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.changedHistory,
		UpdateFunc: func(_, cur any) { c.changedHistory(cur) },
		DeleteFunc: c.changedHistory,
	})
	return c
}

// Run syncs DaemonSets with workers goroutines until ctx ends. It starts the
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
	var wg sync.WaitGroup
	// Forget the backoff of failed pods now and then, as Kubernetes does.
	wg.Go(func() {
		t := time.NewTicker(time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.backoff.GC()
			}
		}
	})
	controllerutil.RunWorkers(ctx, c.queue, workers, func(ctx context.Context, key string) {
		controllerutil.RetryUpTo(c.queue, maxRetries, c.log, "daemon-set", key, c.sync(ctx, key))
	})
	wg.Wait()
}

// sync brings one DaemonSet's pods and status in line with its spec and the
// nodes, as Kubernetes' syncDaemonSet.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	ds, err := c.dsLister.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.expectations.forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return err
	}
	if sel := ds.Spec.Selector; sel == nil || (len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0) {
		c.recorder.Event(ds, corev1.EventTypeWarning, reasonSelectingAll, "This daemon set is selecting all pods. A non-empty selector is required.")
		return nil
	}
	// A DaemonSet being deleted may already have lost its history to the
	// garbage collector: its status could not be computed reliably, so it is
	// left alone (as in Kubernetes).
	if ds.DeletionTimestamp != nil {
		return nil
	}
	cur, old, err := c.constructHistory(ctx, ds)
	if err != nil {
		return fmt.Errorf("revisions of %s: %w", key, err)
	}
	hash := cur.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]

	if !c.expectations.satisfied(key) {
		// Earlier creations or deletions are not in the cache yet: acting now
		// would act twice. Only the status is refreshed, and observedGeneration
		// is not raised, since this generation has not been acted upon.
		nodeToPods, err := c.nodeToDaemonPods(ctx, ds, false)
		if err != nil {
			return err
		}
		return c.updateStatus(ctx, ds, nodes, nodeToPods, hash, false)
	}

	err = c.manageAndUpdate(ctx, ds, key, nodes, hash, old)
	nodeToPods, listErr := c.nodeToDaemonPods(ctx, ds, false)
	if listErr != nil {
		return errors.Join(err, listErr)
	}
	if statusErr := c.updateStatus(ctx, ds, nodes, nodeToPods, hash, true); statusErr != nil {
		return errors.Join(err, statusErr)
	}
	return err
}

// manageAndUpdate creates and deletes pods per node, then (once the cache has
// caught up with that) takes a step of the rolling update, then prunes history.
func (c *Controller) manageAndUpdate(ctx context.Context, ds *appsv1.DaemonSet, key string, nodes []*corev1.Node, hash string, old []*appsv1.ControllerRevision) error {
	nodeToPods, err := c.nodeToDaemonPods(ctx, ds, true)
	if err != nil {
		return err
	}
	if err := c.manage(ctx, ds, nodes, nodeToPods, hash); err != nil {
		return err
	}
	if c.expectations.satisfied(key) && ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		plan, err := planRollingUpdate(ds, nodes, nodeToPods, hash, c.now())
		if err != nil {
			return err
		}
		if len(plan.remove) > 0 || len(plan.create) > 0 {
			c.log.Debug("rolling update step", "daemon-set", key, "delete", podNames(plan.remove), "surge-on", plan.create)
		}
		if err := c.syncNodes(ctx, ds, plan.remove, nil, plan.create, hash); err != nil {
			return err
		}
	}
	withTerminal, err := c.nodeToDaemonPods(ctx, ds, true)
	if err != nil {
		return err
	}
	if err := c.cleanupHistory(ctx, ds, old, withTerminal); err != nil {
		return fmt.Errorf("clean up revisions: %w", err)
	}
	return nil
}

// manage works out, node by node, which pods to create and which to delete.
func (c *Controller) manage(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string) error {
	now := c.now()
	var create []string
	var remove []*corev1.Pod
	known := make(map[string]bool, len(nodes))
	for _, node := range nodes {
		known[node.Name] = true
		plan := podsShouldBeOnNode(node, nodeToPods[node.Name], ds, hash, now)
		if plan.create {
			create = append(create, node.Name)
		}
		remove = append(remove, plan.remove...)
		for _, pod := range plan.succeeded {
			c.recorder.Eventf(ds, corev1.EventTypeNormal, reasonSucceededDaemon,
				"Found succeeded daemon pod %s/%s on node %s, will try to delete it", pod.Namespace, pod.Name, node.Name)
			remove = append(remove, pod)
		}
		for _, pod := range plan.failed {
			id := fmt.Sprintf("%s/%d/%s", ds.UID, ds.Status.ObservedGeneration, node.Name)
			if c.backoff.IsInBackOffSinceUpdate(id, now) {
				c.enqueueAfter(ds, c.backoff.Get(id))
				continue
			}
			c.backoff.Next(id, now)
			c.recorder.Eventf(ds, corev1.EventTypeWarning, reasonFailedDaemonPod,
				"Found failed daemon pod %s/%s on node %s, will try to kill it", pod.Namespace, pod.Name, node.Name)
			remove = append(remove, pod)
		}
	}
	// Pods for nodes that no longer exist. Unscheduled ones would wait
	// forever for their node; Kubernetes deletes those here. Bound ones are
	// the pod garbage collector's in Kubernetes, which the appliance does not
	// run: they are force-deleted here, since no kubelet is left to confirm.
	var force []*corev1.Pod
	for name, pods := range nodeToPods {
		if known[name] {
			continue
		}
		gone := false
		for _, pod := range pods {
			if pod.Spec.NodeName == "" {
				if pod.DeletionTimestamp == nil {
					remove = append(remove, pod)
				}
				continue
			}
			if !gone {
				// Confirm with a quorum read: the node cache may lag a node
				// that was just (re)created.
				_, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
				if err != nil && !apierrors.IsNotFound(err) {
					return err
				}
				if gone = apierrors.IsNotFound(err); !gone {
					break
				}
			}
			force = append(force, pod)
		}
	}
	return c.syncNodes(ctx, ds, remove, force, create, hash)
}

// syncNodes deletes pods (force ones without grace period) and creates a pod on
// each of nodes, expecting all of it first so no later sync acts on a cache that
// has not seen it yet. Creations go in slow-start batches.
func (c *Controller) syncNodes(ctx context.Context, ds *appsv1.DaemonSet, remove, force []*corev1.Pod, nodes []string, hash string) error {
	key := keyOf(ds)
	if len(nodes) > burstReplicas {
		nodes = nodes[:burstReplicas]
	}
	type deletion struct {
		pod   *corev1.Pod
		force bool
	}
	var dels []deletion
	for _, p := range remove {
		dels = append(dels, deletion{p, false})
	}
	for _, p := range force {
		dels = append(dels, deletion{p, true})
	}
	if len(dels) > burstReplicas {
		dels = dels[:burstReplicas]
	}
	if len(nodes) == 0 && len(dels) == 0 {
		return nil
	}
	podKeys := make([]string, len(dels))
	for i, d := range dels {
		podKeys[i] = controllerutil.PodKey(d.pod)
	}
	c.expectations.expect(key, len(nodes), podKeys)

	var errs []error
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	template := podTemplate(ds, hash)
	var next atomic.Int32
	_, _ = controllerutil.SlowStartBatch(len(nodes), 1, func() error {
		node := nodes[next.Add(1)-1]
		err := c.createPod(ctx, ds, &template, node)
		if err != nil {
			c.expectations.creationObserved(key, 1)
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil // nothing more can be created there, nor needs to be
			}
			fail(fmt.Errorf("create pod for node %s: %w", node, err))
		}
		return err
	})
	if skipped := len(nodes) - int(next.Load()); skipped > 0 {
		// Slow start stopped after a failure: these were never tried.
		c.expectations.creationObserved(key, skipped)
	}

	var wg sync.WaitGroup
	for _, d := range dels {
		wg.Go(func() {
			if err := c.deletePodOf(ctx, ds, d.pod, d.force); err != nil {
				c.expectations.deletionObserved(key, controllerutil.PodKey(d.pod))
				if !apierrors.IsNotFound(err) {
					fail(fmt.Errorf("delete pod %s: %w", d.pod.Name, err))
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// createPod creates a daemon pod for node from template, controlled by ds.
func (c *Controller) createPod(ctx context.Context, ds *appsv1.DaemonSet, template *corev1.PodTemplateSpec, node string) error {
	spec := template.Spec.DeepCopy()
	spec.Affinity = nodeAffinityTo(spec.Affinity, node)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    ds.Name + "-",
			Namespace:       ds.Namespace,
			Labels:          cloneMap(template.Labels),
			Annotations:     cloneMap(template.Annotations),
			Finalizers:      slices.Clone(template.Finalizers),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
		},
		Spec: *spec,
	}
	created, err := c.client.CoreV1().Pods(ds.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.recorder.Eventf(ds, corev1.EventTypeWarning, reasonFailedCreate, "Error creating: %v", err)
		}
		return err
	}
	c.log.Debug("created pod", "daemon-set", keyOf(ds), "pod", created.Name, "node", node)
	c.recorder.Eventf(ds, corev1.EventTypeNormal, reasonSuccessfulCreate, "Created pod: %v", created.Name)
	return nil
}

// deletePodOf deletes one of ds's pods. The UID precondition keeps a stale
// cache from deleting a new pod that took an old one's name.
func (c *Controller) deletePodOf(ctx context.Context, ds *appsv1.DaemonSet, pod *corev1.Pod, force bool) error {
	opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}}
	if force {
		opts.GracePeriodSeconds = ptr.To[int64](0)
	}
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, opts)
	switch {
	case apierrors.IsNotFound(err):
		return err
	case apierrors.IsConflict(err):
		// The pod was replaced by another of the same name: this one is
		// gone, which is what was wanted.
		return apierrors.NewNotFound(corev1.Resource("pods"), pod.Name)
	case err != nil:
		c.recorder.Eventf(ds, corev1.EventTypeWarning, reasonFailedDelete, "Error deleting: %v", err)
		return err
	}
	c.log.Debug("deleted pod", "daemon-set", keyOf(ds), "pod", pod.Name, "node", pod.Spec.NodeName, "force", force)
	c.recorder.Eventf(ds, corev1.EventTypeNormal, reasonSuccessfulDelete, "Deleted pod: %v", pod.Name)
	return nil
}

// claimPods returns the pods ds controls, adopting and releasing on the way.
func (c *Controller) claimPods(ctx context.Context, ds *appsv1.DaemonSet) ([]*corev1.Pod, error) {
	selector, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil {
		return nil, err
	}
	// All pods, not only matching ones: owned pods that stopped matching must
	// be seen to be released.
	pods, err := c.podLister.Pods(ds.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	cl := controllerutil.Claimer[*corev1.Pod]{
		Owner: ds, OwnerGVK: controllerKind, Selector: selector,
		CanAdopt: c.recheckDeletion(ds),
		Patch: func(ctx context.Context, p *corev1.Pod, patch []byte) error {
			_, err := c.client.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		},
	}
	return cl.Claim(ctx, pods)
}

// nodeToDaemonPods groups ds's pods by the node they are for. Pods that
// finished and are being deleted are left out unless withTerminal (the history
// cleanup must still see their revision), as in Kubernetes.
func (c *Controller) nodeToDaemonPods(ctx context.Context, ds *appsv1.DaemonSet, withTerminal bool) (map[string][]*corev1.Pod, error) {
	pods, err := c.claimPods(ctx, ds)
	if err != nil && len(pods) == 0 {
		return nil, err
	}
	out := map[string][]*corev1.Pod{}
	for _, pod := range pods {
		terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
		if !withTerminal && terminal && pod.DeletionTimestamp != nil {
			continue
		}
		node, nerr := targetNode(pod)
		if nerr != nil {
			c.log.Debug("daemon pod without a node", "daemon-set", keyOf(ds), "pod", pod.Name, "err", nerr)
			continue
		}
		out[node] = append(out[node], pod)
	}
	return out, err
}

// recheckDeletion refuses adoption if ds was deleted (or replaced) after the
// cache was read: an uncached read, as Kubernetes does.
func (c *Controller) recheckDeletion(ds *appsv1.DaemonSet) func(ctx context.Context) error {
	return controllerutil.RecheckDeletion(ds.UID, func(ctx context.Context) (metav1.Object, error) {
		return c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
	})
}

// updateStatus writes the counts to /status if they changed (or the
// generation moved), retrying once on a conflict with a fresh read.
func (c *Controller) updateStatus(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, nodeToPods map[string][]*corev1.Pod, hash string, observed bool) error {
	st := computeStatus(ds, nodes, nodeToPods, hash, c.now())
	if ds.Spec.MinReadySeconds > 0 && st.NumberReady != st.NumberAvailable {
		// Availability comes with time, not with an event: look again.
		c.enqueueAfter(ds, time.Duration(ds.Spec.MinReadySeconds)*time.Second)
	}
	cur := ds.Status
	if cur.DesiredNumberScheduled == st.DesiredNumberScheduled && cur.CurrentNumberScheduled == st.CurrentNumberScheduled &&
		cur.NumberMisscheduled == st.NumberMisscheduled && cur.NumberReady == st.NumberReady &&
		cur.UpdatedNumberScheduled == st.UpdatedNumberScheduled && cur.NumberAvailable == st.NumberAvailable &&
		cur.NumberUnavailable == st.NumberUnavailable && cur.ObservedGeneration >= ds.Generation {
		return nil
	}
	upd := ds.DeepCopy()
	for attempt := 0; ; attempt++ {
		if observed {
			upd.Status.ObservedGeneration = ds.Generation
		}
		upd.Status.DesiredNumberScheduled = st.DesiredNumberScheduled
		upd.Status.CurrentNumberScheduled = st.CurrentNumberScheduled
		upd.Status.NumberMisscheduled = st.NumberMisscheduled
		upd.Status.NumberReady = st.NumberReady
		upd.Status.UpdatedNumberScheduled = st.UpdatedNumberScheduled
		upd.Status.NumberAvailable = st.NumberAvailable
		upd.Status.NumberUnavailable = st.NumberUnavailable
		_, err := c.client.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		if err == nil || attempt >= 1 || !apierrors.IsConflict(err) {
			if err != nil {
				return fmt.Errorf("update status of %s: %w", keyOf(ds), err)
			}
			return nil
		}
		fresh, getErr := c.client.AppsV1().DaemonSets(ds.Namespace).Get(ctx, ds.Name, metav1.GetOptions{})
		if getErr != nil {
			return getErr
		}
		if fresh.UID != ds.UID {
			return nil
		}
		upd = fresh
	}
}

// Event handlers.

func (c *Controller) enqueue(obj any) {
	if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
		c.queue.Add(key)
	}
}

func (c *Controller) enqueueAfter(ds *appsv1.DaemonSet, d time.Duration) {
	c.queue.AddAfter(keyOf(ds), d)
}

func (c *Controller) updateDS(old, cur any) {
	o, n := old.(*appsv1.DaemonSet), cur.(*appsv1.DaemonSet)
	if o.UID != n.UID {
		// Deleted and created again under the same name between two events.
		c.deleteDS(cache.DeletedFinalStateUnknown{Key: keyOf(o), Obj: o})
	}
	c.enqueue(cur)
}

func (c *Controller) deleteDS(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		return
	}
	c.expectations.forget(key)
	c.queue.Add(key)
}

// resolveControllerRef returns the DaemonSet ref points to, if it is one and
// still the same object (same UID).
func (c *Controller) resolveControllerRef(namespace string, ref *metav1.OwnerReference) *appsv1.DaemonSet {
	if ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	return controllerutil.ResolveControllerRef(ref, c.dsLister.DaemonSets(namespace).Get)
}

// daemonSetsSelecting lists the DaemonSets of namespace whose selector matches
// lbls: those that may want to adopt an orphan.
func (c *Controller) daemonSetsSelecting(namespace string, lbls map[string]string) []*appsv1.DaemonSet {
	list, err := c.dsLister.DaemonSets(namespace).List(labels.Everything())
	if err != nil {
		return nil
	}
	return controllerutil.Selecting(list, func(ds *appsv1.DaemonSet) *metav1.LabelSelector { return ds.Spec.Selector }, lbls)
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen for the first time already being deleted (after a restart):
		// count it as the deletion it is.
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOfNoCopy(pod); ref != nil {
		ds := c.resolveControllerRef(pod.Namespace, ref)
		if ds == nil {
			return
		}
		key := keyOf(ds)
		c.expectations.creationObserved(key, 1)
		c.queue.Add(key)
		return
	}
	for _, ds := range c.daemonSetsSelecting(pod.Namespace, pod.Labels) {
		c.enqueue(ds)
	}
}

func (c *Controller) updatePod(old, cur any) {
	o, n := old.(*corev1.Pod), cur.(*corev1.Pod)
	if o.ResourceVersion == n.ResourceVersion {
		return // periodic resync: nothing changed
	}
	labelsChanged := !labels.Equals(o.Labels, n.Labels)
	if n.DeletionTimestamp != nil {
		// A graceful deletion shows first as an update: the expected deletion
		// has happened, even if the kubelet still has to stop the pod.
		c.deletePod(n)
		if labelsChanged {
			c.deletePod(o)
		}
		return
	}
	oldRef, curRef := metav1.GetControllerOfNoCopy(o), metav1.GetControllerOfNoCopy(n)
	refChanged := (oldRef == nil) != (curRef == nil) || (oldRef != nil && oldRef.UID != curRef.UID)
	if refChanged && oldRef != nil {
		if ds := c.resolveControllerRef(o.Namespace, oldRef); ds != nil {
			c.enqueue(ds)
		}
	}
	if curRef != nil {
		ds := c.resolveControllerRef(n.Namespace, curRef)
		if ds == nil {
			return
		}
		c.enqueue(ds)
		if !controllerutil.IsPodReady(o) && controllerutil.IsPodReady(n) && ds.Spec.MinReadySeconds > 0 {
			// Available minReadySeconds from now: look again then.
			c.enqueueAfter(ds, time.Duration(ds.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		for _, ds := range c.daemonSetsSelecting(n.Namespace, n.Labels) {
			c.enqueue(ds)
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
	ds := c.resolveControllerRef(pod.Namespace, ref)
	if ds == nil {
		return
	}
	key := keyOf(ds)
	c.expectations.deletionObserved(key, controllerutil.PodKey(pod))
	c.queue.Add(key)
}

func (c *Controller) allDaemonSets() []*appsv1.DaemonSet {
	list, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return nil
	}
	return list
}

func (c *Controller) addNode(obj any) {
	node, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	for _, ds := range c.allDaemonSets() {
		if shouldRun, _ := nodeShouldRunDaemonPod(node, ds); shouldRun {
			c.enqueue(ds)
		}
	}
}

// updateNode wakes the DaemonSets for which the node changed its mind
// (labels, taints, ...). Heartbeats that only move condition timestamps, the
// bulk of node updates, wake nobody.
func (c *Controller) updateNode(old, cur any) {
	o, n := old.(*corev1.Node), cur.(*corev1.Node)
	for _, ds := range c.allDaemonSets() {
		oRun, oCont := nodeShouldRunDaemonPod(o, ds)
		nRun, nCont := nodeShouldRunDaemonPod(n, ds)
		if oRun != nRun || oCont != nCont {
			c.enqueue(ds)
		}
	}
}

// deleteNode wakes every DaemonSet: pods for the node must go.
func (c *Controller) deleteNode(any) {
	for _, ds := range c.allDaemonSets() {
		c.enqueue(ds)
	}
}

// changedHistory wakes the DaemonSet a ControllerRevision belongs to (or, for
// an orphan, those that may adopt it).
func (c *Controller) changedHistory(obj any) {
	h, ok := obj.(*appsv1.ControllerRevision)
	if !ok {
		tomb, ok := obj.(cache.DeletedFinalStateUnknown)
		if !ok {
			return
		}
		if h, ok = tomb.Obj.(*appsv1.ControllerRevision); !ok {
			return
		}
	}
	if ref := metav1.GetControllerOfNoCopy(h); ref != nil {
		if ds := c.resolveControllerRef(h.Namespace, ref); ds != nil {
			c.enqueue(ds)
		}
		return
	}
	if h.DeletionTimestamp != nil {
		return
	}
	for _, ds := range c.daemonSetsSelecting(h.Namespace, h.Labels) {
		c.enqueue(ds)
	}
}

func keyOf(obj metav1.Object) string {
	if obj.GetNamespace() == "" {
		return obj.GetName()
	}
	return obj.GetNamespace() + "/" + obj.GetName()
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
