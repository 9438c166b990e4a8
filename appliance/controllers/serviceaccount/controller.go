// Package serviceaccount keeps a "default" ServiceAccount in every active
// namespace, as Kubernetes' serviceaccounts-controller does: pods that name no
// service account run as "default", so admission needs it to exist as soon as
// the namespace does, and it comes back if someone deletes it.
package serviceaccount

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// DefaultName is the service account every namespace gets.
const DefaultName = "default"

// Config tunes the controller. The zero value is ready to use.
type Config struct {
	// Names are the service accounts every active namespace gets; empty means
	// just "default", as in Kubernetes.
	Names []string
	// Workers is how many namespaces are synced at once (default 2).
	Workers int
}

func (c *Config) setDefaults() {
	if len(c.Names) == 0 {
		c.Names = []string{DefaultName}
	}
	if c.Workers <= 0 {
		c.Workers = 2
	}
}

// Controller creates the default service accounts.
type Controller struct {
	cfg        Config
	client     kubernetes.Interface
	factory    informers.SharedInformerFactory
	namespaces corelisters.NamespaceLister
	accounts   corelisters.ServiceAccountLister
	synced     []cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]
	log        *slog.Logger
}

// New makes a controller. It registers namespace and service account informers
// on factory; Run starts them (factory.Start is idempotent, so the factory may
// be shared with other controllers).
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, cfg Config, log *slog.Logger) (*Controller, error) {
	cfg.setDefaults()
	c := &Controller{
		cfg:     cfg,
		client:  client,
		factory: factory,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceaccount"}),
		log: log,
	}
	nsInf := factory.Core().V1().Namespaces()
	saInf := factory.Core().V1().ServiceAccounts()
	c.namespaces, c.accounts = nsInf.Lister(), saInf.Lister()
	c.synced = []cache.InformerSynced{nsInf.Informer().HasSynced, saInf.Informer().HasSynced}

	enqueueNS := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.Status.Phase == corev1.NamespaceActive {
			c.queue.Add(ns.Name)
		}
	}
	if _, err := nsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueueNS,
		UpdateFunc: func(_, obj any) { enqueueNS(obj) },
	}); err != nil {
		return nil, err
	}
	// Only a deletion matters: it is what makes a namespace lack its account.
	if _, err := saInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if sa, ok := obj.(*corev1.ServiceAccount); ok && c.wanted(sa.Name) {
				c.queue.Add(sa.Namespace)
			}
		},
	}); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Controller) wanted(name string) bool {
	for _, n := range c.cfg.Names {
		if n == name {
			return true
		}
	}
	return false
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	defer c.queue.ShutDown()
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	c.log.Info("service account controller started", "accounts", c.cfg.Names, "workers", c.cfg.Workers)
	go func() {
		<-ctx.Done()
		c.queue.ShutDown()
	}()
	done := make(chan struct{})
	for range c.cfg.Workers {
		go func() {
			defer func() { done <- struct{}{} }()
			for c.work(ctx) {
			}
		}()
	}
	for range c.cfg.Workers {
		<-done
	}
}

func (c *Controller) work(ctx context.Context) bool {
	ns, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(ns)
	if err := c.sync(ctx, ns); err != nil {
		c.log.Warn("ensure service accounts", "namespace", ns, "err", err)
		c.queue.AddRateLimited(ns)
		return true
	}
	c.queue.Forget(ns)
	return true
}

// sync creates the missing accounts of namespace ns.
func (c *Controller) sync(ctx context.Context, ns string) error {
	namespace, err := c.namespaces.Get(ns)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	// A Terminating namespace refuses new objects (NamespaceLifecycle admission);
	// Kubernetes skips those too.
	if namespace.Status.Phase != corev1.NamespaceActive {
		return nil
	}
	for _, name := range c.cfg.Names {
		if _, err := c.accounts.ServiceAccounts(ns).Get(name); err == nil {
			continue
		} else if !apierrors.IsNotFound(err) {
			return err
		}
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
		_, err := c.client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{})
		switch {
		case err == nil:
			c.log.Info("service account created", "namespace", ns, "service-account", name)
		case apierrors.IsAlreadyExists(err):
			// Our cache lags; the account is there.
		case apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
			// The namespace began terminating after our cache saw it.
		default:
			return fmt.Errorf("create service account %s/%s: %w", ns, name, err)
		}
	}
	return nil
}
