// Package namespace finishes namespace deletion, as Kubernetes' namespace
// controller does: when a namespace is Terminating, it deletes every namespaced
// object in it, waits until none is left, then removes the "kubernetes" finalizer
// through /finalize and deletes the namespace for good.
package namespace

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Controller empties and finalizes terminating namespaces.
type Controller struct {
	client    kubernetes.Interface
	meta      metadata.Interface
	discovery discovery.DiscoveryInterface
	informers informers.SharedInformerFactory
	queue     workqueue.TypedRateLimitingInterface[string]
	log       *slog.Logger
}

// New makes a controller that talks to the API server with cfg.
func New(cfg *rest.Config, log *slog.Logger) (*Controller, error) {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	mc, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	c := &Controller{
		client:    client,
		meta:      mc,
		discovery: client.Discovery(),
		informers: informers.NewSharedInformerFactory(client, 0),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 10*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"}),
		log: log,
	}
	enqueue := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			c.queue.Add(ns.Name)
		}
	}
	_, err = c.informers.Core().V1().Namespaces().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	})
	return c, err
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	defer c.queue.ShutDown()
	c.informers.Start(ctx.Done())
	c.informers.WaitForCacheSync(ctx.Done())
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	for c.work(ctx) {
	}
}

func (c *Controller) work(ctx context.Context) bool {
	name, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(name)
	remaining, err := c.sync(ctx, name)
	switch {
	case err != nil:
		c.log.Warn("namespace deletion", "namespace", name, "err", err)
		c.queue.AddRateLimited(name)
	case remaining > 0:
		// Pods wait for their kubelet; look again soon.
		c.queue.AddAfter(name, time.Second)
	default:
		c.queue.Forget(name)
	}
	return true
}

// sync deletes what is left in namespace name and reports how many objects remain.
func (c *Controller) sync(ctx context.Context, name string) (int, error) {
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if ns.DeletionTimestamp == nil {
		return 0, nil
	}
	if slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		remaining, err := c.deleteContent(ctx, name)
		if err != nil || remaining > 0 {
			return remaining, err
		}
		ns.Spec.Finalizers = slices.DeleteFunc(ns.Spec.Finalizers, func(f corev1.FinalizerName) bool {
			return f == corev1.FinalizerKubernetes
		})
		if ns, err = c.client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{}); err != nil {
			return 0, err
		}
	}
	if len(ns.Spec.Finalizers) == 0 {
		err := c.client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return 0, err
		}
		c.log.Info("namespace deleted", "namespace", name)
	}
	return 0, nil
}

// deleteContent asks every namespaced resource to delete its objects in ns and
// counts what is still there.
func (c *Controller) deleteContent(ctx context.Context, ns string) (int, error) {
	lists, err := c.discovery.ServerPreferredNamespacedResources()
	if err != nil && len(lists) == 0 {
		return 0, fmt.Errorf("discovery: %w", err)
	}
	remaining := 0
	background := metav1.DeletePropagationBackground
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			if !slices.Contains(r.Verbs, "deletecollection") || !slices.Contains(r.Verbs, "list") {
				continue
			}
			res := c.meta.Resource(gv.WithResource(r.Name)).Namespace(ns)
			if err := res.DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &background}, metav1.ListOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return 0, fmt.Errorf("delete %s in %s: %w", r.Name, ns, err)
			}
			left, err := res.List(ctx, metav1.ListOptions{})
			if err != nil {
				return 0, err
			}
			remaining += len(left.Items)
		}
	}
	return remaining, nil
}
