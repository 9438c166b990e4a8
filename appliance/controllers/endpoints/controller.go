// Package endpoints is the Endpoints controller, as kube-controller-manager
// runs it: one core/v1 Endpoints object per Service with a selector, named as
// the Service, listing the selected pods' addresses and resolved ports. The
// EndpointSlice controller (package endpointslice) is what the appliance's own
// service proxy and DNS read; this one keeps the older API true for the tools
// that still read it (`kubectl get endpoints`, older ingress controllers and
// client-go programs).
//
// What it writes (subsets.go has the rules per pod):
//   - subsets grouping pods by their resolved port set, ready pods in
//     addresses, the others in notReadyAddresses;
//   - the Service's labels, plus service.kubernetes.io/headless for a Service
//     without a cluster IP;
//   - endpoints.kubernetes.io/last-change-trigger-time: the earliest pod
//     readiness change or Service creation that this write reflects;
//   - at most 1000 addresses, with endpoints.kubernetes.io/over-capacity:
//     truncated when there were more.
//
// What it leaves alone: Services without a selector (their Endpoints are
// written by whoever set them up, like default/kubernetes, which the API
// server writes), ExternalName Services, and Endpoints labelled
// endpointslice.kubernetes.io/skip-mirror=true (the label the API server puts
// on default/kubernetes) or carrying a leader-election record. It deletes the
// Endpoints of a deleted Service (they have no ownerReference), including
// leftovers found at start-up. Unlike Kubernetes, which reacts only to their
// deletion, it also puts back an Endpoints object someone edited.
package endpoints

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	esutil "k8s.io/endpointslice/util"

	"github.com/appliance/appliance/appliance/controllers/controllerutil"
)

const (
	// Component is the event source shown by `kubectl describe`.
	Component = "endpoint-controller"
	// maxRetries: a Service whose sync failed this many times in a row waits
	// for its next change (Kubernetes: 15).
	maxRetries = 15
	// OverCapacityTruncated is the value of corev1.EndpointsOverCapacity on
	// an Endpoints object cut down to MaxAddresses.
	OverCapacityTruncated = "truncated"
)

// errStaleCache: the cache still shows an Endpoints version this controller
// has already replaced; the sync is retried rather than failing on a conflict.
var errStaleCache = errors.New("endpoints informer cache is out of date")

// Controller keeps selector Services' Endpoints.
type Controller struct {
	client          kubernetes.Interface
	factory         informers.SharedInformerFactory
	serviceLister   corelisters.ServiceLister
	podLister       corelisters.PodLister
	endpointsLister corelisters.EndpointsLister
	synced          []cache.InformerSynced
	queue           workqueue.TypedRateLimitingInterface[string]
	triggers        *esutil.TriggerTimeTracker
	recorder        record.EventRecorder
	log             *slog.Logger

	mu sync.Mutex
	// replaced holds, per Service key, the resourceVersion of the Endpoints
	// this controller last replaced: seeing it again in the cache means the
	// cache lags behind.
	replaced map[string]string
}

// New makes an Endpoints controller on factory's Service, Pod and Endpoints
// informers. Call it before factory.Start so the informers are registered;
// Run starts them anyway.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	if log == nil {
		log = slog.Default()
	}
	services := factory.Core().V1().Services()
	pods := factory.Core().V1().Pods()
	eps := factory.Core().V1().Endpoints()
	c := &Controller{
		client:          client,
		factory:         factory,
		serviceLister:   services.Lister(),
		podLister:       pods.Lister(),
		endpointsLister: eps.Lister(),
		synced:          []cache.InformerSynced{services.Informer().HasSynced, pods.Informer().HasSynced, eps.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpoint"}),
		triggers: esutil.NewTriggerTimeTracker(),
		recorder: &record.FakeRecorder{},
		log:      log,
		replaced: map[string]string{},
	}
	_, _ = services.Informer().AddEventHandler(controllerutil.EnqueueHandler(c.queue))
	_, _ = pods.Informer().AddEventHandler(controllerutil.ServicesOfPodHandler(c.serviceLister, c.queue, log))
	_, _ = eps.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, cur any) {
			// Our own writes come back here too; their sync finds nothing
			// to do and writes nothing.
			if old.(*corev1.Endpoints).ResourceVersion != cur.(*corev1.Endpoints).ResourceVersion {
				c.enqueue(cur)
			}
		},
		DeleteFunc: c.enqueue,
	})
	return c
}

// Run syncs Services with workers goroutines until ctx ends. It starts the
// factory's informers (a no-op for those already started) and waits for their
// caches first.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	recorder, stop := controllerutil.NewRecorder(c.client, Component, c.log)
	defer stop()
	c.recorder = recorder
	c.log.Info("starting", "workers", workers, "max-addresses", MaxAddresses)
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	// Endpoints whose Service went while no controller ran are found once
	// here; later ones are seen going.
	if list, err := c.endpointsLister.List(labels.Everything()); err == nil {
		for _, ep := range list {
			c.enqueue(ep)
		}
	}
	controllerutil.RunWorkers(ctx, c.queue, workers, func(ctx context.Context, key string) {
		controllerutil.RetryUpTo(c.queue, maxRetries, c.log, "service", key, c.sync(ctx, key))
	})
}

func (c *Controller) enqueue(obj any) { controllerutil.Enqueue(c.queue, obj) }

// untouchable: Endpoints this controller must never write or delete.
func untouchable(ep *corev1.Endpoints) bool {
	if ep.Labels[discoveryv1.LabelSkipMirror] == "true" {
		return true
	}
	_, leader := ep.Annotations[resourcelock.LeaderElectionRecordAnnotationKey]
	return leader
}

// sync brings one Service's Endpoints in line with its pods.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.serviceLister.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		c.triggers.DeleteService(namespace, name)
		c.setReplaced(key, "")
		return c.deleteOrphan(ctx, namespace, name)
	}
	if err != nil {
		return err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		return nil
	}
	cur, err := c.endpointsLister.Endpoints(namespace).Get(name)
	switch {
	case apierrors.IsNotFound(err):
		cur = nil
	case err != nil:
		return err
	case untouchable(cur):
		return nil
	case c.isReplaced(key, cur.ResourceVersion):
		return errStaleCache
	}
	pods, err := c.podLister.Pods(namespace).List(labels.Set(svc.Spec.Selector).AsSelectorPreValidated())
	if err != nil {
		return err
	}
	// Computed on every sync, so the tracker sees every state even when
	// nothing is written.
	trigger := c.triggers.ComputeEndpointLastChangeTriggerTime(namespace, svc, pods)
	subsets := desiredSubsets(svc, pods)
	truncated := truncate(subsets)
	lbls := desiredLabels(svc)
	if cur != nil && apiequality.Semantic.DeepEqual(cur.Subsets, subsets) && apiequality.Semantic.DeepEqual(cur.Labels, lbls) &&
		(cur.Annotations[corev1.EndpointsOverCapacity] == OverCapacityTruncated) == truncated {
		return nil
	}

	next := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}
	if cur != nil {
		next = cur.DeepCopy()
	}
	next.Subsets, next.Labels = subsets, lbls
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	if trigger.IsZero() {
		delete(next.Annotations, corev1.EndpointsLastChangeTriggerTime)
	} else {
		next.Annotations[corev1.EndpointsLastChangeTriggerTime] = trigger.UTC().Format(time.RFC3339Nano)
	}
	if truncated {
		next.Annotations[corev1.EndpointsOverCapacity] = OverCapacityTruncated
	} else {
		delete(next.Annotations, corev1.EndpointsOverCapacity)
	}

	if cur == nil {
		_, err = c.client.CoreV1().Endpoints(namespace).Create(ctx, next, metav1.CreateOptions{})
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil // creations will keep failing; the namespace is going
		}
		if err != nil {
			c.recorder.Eventf(next, corev1.EventTypeWarning, "FailedToCreateEndpoint", "Failed to create endpoint for service %s/%s: %v", namespace, name, err)
			return fmt.Errorf("create endpoints: %w", err)
		}
		return nil
	}
	updated, err := c.client.CoreV1().Endpoints(namespace).Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		c.recorder.Eventf(next, corev1.EventTypeWarning, "FailedToUpdateEndpoint", "Failed to update endpoint %s/%s: %v", namespace, name, err)
		return fmt.Errorf("update endpoints: %w", err)
	}
	if updated.ResourceVersion != cur.ResourceVersion {
		c.setReplaced(key, cur.ResourceVersion)
	}
	return nil
}

// desiredLabels: the Service's labels, and the headless label when it has
// no cluster IP.
func desiredLabels(svc *corev1.Service) map[string]string {
	out := maps.Clone(svc.Labels)
	if out == nil {
		out = map[string]string{}
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		out[corev1.IsHeadlessService] = ""
	} else {
		delete(out, corev1.IsHeadlessService)
	}
	return out
}

// deleteOrphan removes the Endpoints of a Service that is gone.
func (c *Controller) deleteOrphan(ctx context.Context, namespace, name string) error {
	cur, err := c.endpointsLister.Endpoints(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if untouchable(cur) {
		return nil
	}
	err = c.client.CoreV1().Endpoints(namespace).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cur.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete endpoints: %w", err)
	}
	return nil
}

func (c *Controller) isReplaced(key, rv string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return rv != "" && c.replaced[key] == rv
}

func (c *Controller) setReplaced(key, rv string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if rv == "" {
		delete(c.replaced, key)
	} else {
		c.replaced[key] = rv
	}
}
