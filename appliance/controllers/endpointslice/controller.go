// Package endpointslice is the EndpointSlice controller, as kube-controller-manager
// runs it: for every Service with a selector it keeps discovery.k8s.io/v1
// EndpointSlices listing the selected pods that have an IP. In the flow of a
// request it is the step between "a pod is Ready" and "traffic reaches it":
// the service proxy (iptables rules) and cluster DNS read these slices.
//
// The slice arithmetic is Kubernetes' own: k8s.io/endpointslice's Reconciler
// (the code kube-controller-manager runs) turns a Service, its pods and the
// existing slices into the fewest creates, updates and deletes, so a slice
// that did not change is not written. What it computes per pod:
//   - addresses of the slice's family (IPv4 and/or IPv6, from the Service's
//     ipFamilies), at most 100 endpoints per slice;
//   - conditions: ready = Ready and not terminating (always true with
//     publishNotReadyAddresses), serving = Ready even while terminating,
//     terminating = deletionTimestamp set; Succeeded and Failed pods are left out;
//   - nodeName, zone (the node's topology.kubernetes.io/zone), targetRef, and
//     hostname when spec.hostname is set and spec.subdomain names the Service;
//   - ports resolved per pod from targetPort (a named port is looked up in the
//     pod's containers), pods whose ports differ going into different slices.
//
// This package holds the loop around it: informers, a queue keyed by Service,
// the event handlers that map pods and slices back to Services, and two
// choices of ours:
//   - a Service that loses its selector (or turns ExternalName) loses the
//     slices this controller made for it; Kubernetes leaves them behind, stale,
//     which keeps kube-proxy sending traffic to pods the Service no longer
//     selects. Slices managed by anyone else are never touched;
//   - a managed slice changed by someone else is synced again. The
//     controller tells its own writes from others' by metadata.generation,
//     which the API server moves as Kubernetes' does; a slice without one
//     (generation 0) is always looked at (a sync that finds nothing to do
//     writes nothing).
//
// Slices of a deleted Service are removed by the garbage collector through
// their controller ownerReference.
package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	esreconciler "k8s.io/endpointslice"
	esutil "k8s.io/endpointslice/util"

	"github.com/appliance/appliance/appliance/controllers/controllerutil"
)

const (
	// ControllerName is the endpointslice.kubernetes.io/managed-by value of
	// the slices this controller owns, Kubernetes' own.
	ControllerName = "endpointslice-controller.k8s.io"
	// Component is the event source shown by `kubectl describe`.
	Component = "endpointslice-controller"
	// MaxEndpointsPerSlice is kube-controller-manager's default
	// (--max-endpoints-per-slice).
	MaxEndpointsPerSlice = 100
	// maxRetries: a Service whose sync failed this many times in a row waits
	// for its next change (Kubernetes: 15).
	maxRetries = 15
	// sliceChangeDelay: a change of a slice is looked at after this delay, so
	// a burst of them (our own writes among them) is one sync (Kubernetes'
	// endpointSliceChangeMinSyncDelay).
	sliceChangeDelay = time.Second
)

// errStaleCache: the slice cache does not yet show what this controller wrote
// or deleted; the sync is retried rather than acting on old data.
var errStaleCache = errors.New("endpointslice informer cache is out of date")

// Controller keeps Services' EndpointSlices.
type Controller struct {
	client        kubernetes.Interface
	factory       informers.SharedInformerFactory
	serviceLister corelisters.ServiceLister
	podLister     corelisters.PodLister
	sliceLister   discoverylisters.EndpointSliceLister
	nodeLister    corelisters.NodeLister
	synced        []cache.InformerSynced
	queue         workqueue.TypedRateLimitingInterface[string]
	// tracker remembers the slices written or deleted per Service, to spot a
	// stale cache and to tell our own changes from others'.
	tracker    *esutil.EndpointSliceTracker
	triggers   *esutil.TriggerTimeTracker
	reconciler *esreconciler.Reconciler
	recorder   record.EventRecorder
	log        *slog.Logger
	klog       logr.Logger
}

// New makes an EndpointSlice controller on factory's Service, Pod, Node and
// EndpointSlice informers. Call it before factory.Start so the informers are
// registered; Run starts them anyway.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	if log == nil {
		log = slog.Default()
	}
	services := factory.Core().V1().Services()
	pods := factory.Core().V1().Pods()
	nodes := factory.Core().V1().Nodes()
	slices := factory.Discovery().V1().EndpointSlices()
	c := &Controller{
		client:        client,
		factory:       factory,
		serviceLister: services.Lister(),
		podLister:     pods.Lister(),
		sliceLister:   slices.Lister(),
		nodeLister:    nodes.Lister(),
		synced: []cache.InformerSynced{services.Informer().HasSynced, pods.Informer().HasSynced,
			nodes.Informer().HasSynced, slices.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "endpointslice"}),
		tracker:  esutil.NewEndpointSliceTracker(),
		triggers: esutil.NewTriggerTimeTracker(),
		log:      log,
		klog:     logr.FromSlogHandler(log.Handler()),
	}
	c.recorder = &record.FakeRecorder{}
	c.reconciler = c.newReconciler(c.recorder)
	_, _ = services.Informer().AddEventHandler(controllerutil.EnqueueHandler(c.queue))
	_, _ = pods.Informer().AddEventHandler(controllerutil.ServicesOfPodHandler(c.serviceLister, c.queue, log))
	_, _ = slices.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addSlice,
		UpdateFunc: c.updateSlice,
		DeleteFunc: c.deleteSlice,
	})
	return c
}

func (c *Controller) newReconciler(recorder record.EventRecorder) *esreconciler.Reconciler {
	// No topology cache: the deprecated topology-aware-hints annotation is
	// not served; trafficDistribution (PreferClose, PreferSameZone,
	// PreferSameNode) is, as the reconciler handles it without one.
	return esreconciler.NewReconciler(c.client, c.nodeLister, MaxEndpointsPerSlice, c.tracker, nil,
		recorder, ControllerName, esreconciler.WithPreferSameTrafficDistributionEnabled(true))
}

// Run syncs Services with workers goroutines until ctx ends. It starts the
// factory's informers (a no-op for those already started) and waits for their
// caches first.
func (c *Controller) Run(ctx context.Context, workers int) {
	defer c.queue.ShutDown()
	recorder, stop := controllerutil.NewRecorder(c.client, Component, c.log)
	defer stop()
	c.recorder = recorder
	c.reconciler = c.newReconciler(recorder)
	c.log.Info("starting", "workers", workers, "max-endpoints-per-slice", MaxEndpointsPerSlice)
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	controllerutil.RunWorkers(ctx, c.queue, workers, func(ctx context.Context, key string) {
		err := c.sync(ctx, key)
		if err != nil {
			c.recordFailure(key, err)
		}
		controllerutil.RetryUpTo(c.queue, maxRetries, c.log, "service", key, err)
	})
}

func (c *Controller) managed(s *discoveryv1.EndpointSlice) bool {
	return s.Labels[discoveryv1.LabelManagedBy] == ControllerName
}

// ownChange: the tracker knows this generation of the slice, so this
// controller wrote it. Generation 0 proves nothing.
func (c *Controller) ownChange(s *discoveryv1.EndpointSlice) bool {
	return s.Generation != 0 && !c.tracker.ShouldSync(s)
}

func (c *Controller) enqueueSlice(s *discoveryv1.EndpointSlice) {
	if key, err := esreconciler.ServiceControllerKey(s); err == nil {
		c.queue.AddAfter(key, sliceChangeDelay)
	}
}

func (c *Controller) addSlice(obj any) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if ok && c.managed(s) && !c.ownChange(s) {
		c.enqueueSlice(s)
	}
}

func (c *Controller) updateSlice(old, cur any) {
	o, n := old.(*discoveryv1.EndpointSlice), cur.(*discoveryv1.EndpointSlice)
	if o.ResourceVersion == n.ResourceVersion {
		return // periodic resync
	}
	if o.Labels[discoveryv1.LabelServiceName] != n.Labels[discoveryv1.LabelServiceName] {
		// Moved to another Service by hand: both must be looked at.
		c.enqueueSlice(o)
		c.enqueueSlice(n)
		return
	}
	if c.managed(o) != c.managed(n) || (c.managed(n) && !c.ownChange(n)) {
		c.enqueueSlice(n)
	}
}

func (c *Controller) deleteSlice(obj any) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		tomb, isTomb := obj.(cache.DeletedFinalStateUnknown)
		if !isTomb {
			return
		}
		if s, ok = tomb.Obj.(*discoveryv1.EndpointSlice); !ok {
			return
		}
	}
	if !c.managed(s) {
		return
	}
	// A deletion we asked for is expected; any other (a user's, or one the
	// tracker never heard of after a restart) may leave the Service short.
	if expected := c.tracker.Has(s) && c.tracker.HandleDeletion(s); !expected {
		c.enqueueSlice(s)
	}
}

// sync brings one Service's managed EndpointSlices in line with its pods.
func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.serviceLister.Services(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		// Its slices go with it: the garbage collector follows their
		// ownerReference.
		c.triggers.DeleteService(namespace, name)
		c.reconciler.DeleteService(namespace, name)
		c.tracker.DeleteService(namespace, name)
		return nil
	}
	if err != nil {
		return err
	}
	slices, err := c.managedSlices(svc)
	if err != nil {
		return err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Selector == nil {
		// Such a Service gets its endpoints from elsewhere (the user's
		// slices); ours, from when it had a selector, no longer apply.
		return c.deleteSlices(ctx, slices)
	}
	if c.tracker.StaleSlices(svc, slices) {
		return errStaleCache
	}
	pods, err := c.podLister.Pods(namespace).List(labels.Set(svc.Spec.Selector).AsSelectorPreValidated())
	if err != nil {
		return err
	}
	// Computed on every sync, so the tracker sees every state even when
	// nothing is written.
	trigger := c.triggers.ComputeEndpointLastChangeTriggerTime(namespace, svc, pods)
	return c.reconciler.Reconcile(c.klog, svc, pods, slices, trigger)
}

// managedSlices lists the Service's slices that this controller manages and
// that are not already being deleted.
func (c *Controller) managedSlices(svc *corev1.Service) ([]*discoveryv1.EndpointSlice, error) {
	sel := labels.Set{discoveryv1.LabelServiceName: svc.Name, discoveryv1.LabelManagedBy: ControllerName}.AsSelectorPreValidated()
	all, err := c.sliceLister.EndpointSlices(svc.Namespace).List(sel)
	if err != nil {
		return nil, err
	}
	out := make([]*discoveryv1.EndpointSlice, 0, len(all))
	for _, s := range all {
		if s.DeletionTimestamp == nil {
			out = append(out, s)
		}
	}
	return out, nil
}

func (c *Controller) deleteSlices(ctx context.Context, slices []*discoveryv1.EndpointSlice) error {
	var errs []error
	for _, s := range slices {
		err := c.client.DiscoveryV1().EndpointSlices(s.Namespace).Delete(ctx, s.Name,
			metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
		switch {
		case err == nil:
			c.tracker.ExpectDeletion(s)
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			// Gone already, or replaced by another object of that name.
		default:
			errs = append(errs, fmt.Errorf("delete EndpointSlice %s/%s: %w", s.Namespace, s.Name, err))
		}
	}
	return errors.Join(errs...)
}

// recordFailure tells the Service's users, as Kubernetes does, that its
// slices could not be written. A stale cache is not worth an event.
func (c *Controller) recordFailure(key string, err error) {
	if errors.Is(err, errStaleCache) {
		return
	}
	namespace, name, kerr := cache.SplitMetaNamespaceKey(key)
	if kerr != nil {
		return
	}
	svc, gerr := c.serviceLister.Services(namespace).Get(name)
	if gerr != nil {
		return
	}
	c.recorder.Eventf(svc, corev1.EventTypeWarning, "FailedToUpdateEndpointSlices",
		"Error updating Endpoint Slices for Service %s/%s: %v", namespace, name, err)
}
