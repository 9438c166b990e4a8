// Package garbagecollector deletes objects whose owners are gone, as
// Kubernetes' garbage collector does, following metadata.ownerReferences
// across every resource the API server serves:
//
//   - background: an object none of whose owners exists any more is deleted;
//     if some owners remain, references to the missing ones are dropped;
//   - foreground: an owner carrying the foregroundDeletion finalizer and a
//     deletionTimestamp has its dependents deleted (in the foreground too when
//     they have dependents of their own); once no dependent with
//     blockOwnerDeletion is left, the finalizer is removed and the API server
//     deletes the owner;
//   - orphan: an owner carrying the orphan finalizer has its reference removed
//     from every dependent, then the finalizer is removed.
//
// The API server records those finalizers from a delete's propagationPolicy;
// this controller does the rest. Objects are watched through metadata-only
// informers (names, UIDs, owners, finalizers: never whole objects), kept in a
// graph that indexes dependents by owner UID, and acted on when an event makes
// a decision possible, never by rescanning.
package garbagecollector

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"
)

// Config tunes the garbage collector; zero fields take defaults.
type Config struct {
	// Workers is how many objects are checked and deleted at once (default 10;
	// Kubernetes' --concurrent-gc-syncs is 20).
	Workers int
	// OrphanWorkers is how many owners have their dependents orphaned at once
	// (default 2).
	OrphanWorkers int
	// ResyncPeriod is how often discovery is asked for new resources, such as
	// those of a new CustomResourceDefinition (default 30 s, as Kubernetes).
	ResyncPeriod time.Duration
}

func (c *Config) setDefaults() {
	if c.Workers <= 0 {
		c.Workers = 10
	}
	if c.OrphanWorkers <= 0 {
		c.OrphanWorkers = 2
	}
	if c.ResyncPeriod <= 0 {
		c.ResyncPeriod = 30 * time.Second
	}
}

// Controller is the garbage collector.
type Controller struct {
	cfg       Config
	meta      metadata.Interface
	discovery discovery.DiscoveryInterface
	log       *slog.Logger
	graph     *graph
	monitors  *monitors

	attemptToDelete workqueue.TypedRateLimitingInterface[types.UID]
	attemptToOrphan workqueue.TypedRateLimitingInterface[types.UID]

	warnedMu sync.Mutex
	warned   map[types.UID]bool // dependents with an unresolvable reference, logged once
}

// New makes a garbage collector that talks to the API server with rc.
func New(rc *rest.Config, cfg Config, log *slog.Logger) (*Controller, error) {
	mc, err := metadata.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("garbage collector: %w", err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("garbage collector: %w", err)
	}
	return NewWithClients(mc, dc, cfg, log), nil
}

// NewWithClients makes a garbage collector from existing clients.
func NewWithClients(mc metadata.Interface, dc discovery.DiscoveryInterface, cfg Config, log *slog.Logger) *Controller {
	cfg.setDefaults()
	limiter := func() workqueue.TypedRateLimiter[types.UID] {
		return workqueue.NewTypedItemExponentialFailureRateLimiter[types.UID](50*time.Millisecond, 60*time.Second)
	}
	c := &Controller{
		cfg:       cfg,
		meta:      mc,
		discovery: dc,
		log:       log,
		graph:     newGraph(),
		attemptToDelete: workqueue.NewTypedRateLimitingQueueWithConfig(limiter(),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "garbage-collector-attempt-to-delete"}),
		attemptToOrphan: workqueue.NewTypedRateLimitingQueueWithConfig(limiter(),
			workqueue.TypedRateLimitingQueueConfig[types.UID]{Name: "garbage-collector-attempt-to-orphan"}),
		warned: map[types.UID]bool{},
	}
	c.monitors = newMonitors(c)
	return c
}

// Run works until ctx ends. Workers start once every resource's objects have
// been listed, so that no owner is taken for absent just because its resource
// was listed later (Kubernetes waits for the same reason).
func (c *Controller) Run(ctx context.Context) {
	defer c.attemptToDelete.ShutDown()
	defer c.attemptToOrphan.ShutDown()
	defer c.monitors.stopAll()
	for {
		err := c.monitors.sync(ctx)
		if err == nil {
			break
		}
		c.log.Warn("discover resources", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	if !c.monitors.waitSynced(ctx) {
		return
	}
	c.log.Info("garbage collector started", "resources", c.monitors.count(), "objects", c.objectCount(),
		"workers", c.cfg.Workers)
	go func() {
		<-ctx.Done()
		c.attemptToDelete.ShutDown()
		c.attemptToOrphan.ShutDown()
	}()
	var wg sync.WaitGroup
	for range c.cfg.Workers {
		wg.Go(func() {
			for c.workDelete(ctx) {
			}
		})
	}
	for range c.cfg.OrphanWorkers {
		wg.Go(func() {
			for c.workOrphan(ctx) {
			}
		})
	}
	wg.Go(func() {
		t := time.NewTicker(c.cfg.ResyncPeriod)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := c.monitors.sync(ctx); err != nil {
					c.log.Warn("discover resources", "err", err)
				}
			}
		}
	})
	wg.Wait()
}

func (c *Controller) objectCount() int {
	c.graph.mu.Lock()
	defer c.graph.mu.Unlock()
	return len(c.graph.nodes)
}

// enqueue hands an event's work to the workers.
func (c *Controller) enqueue(w work) {
	for _, uid := range w.attemptToDelete {
		c.attemptToDelete.Add(uid)
	}
	for _, uid := range w.attemptToOrphan {
		c.attemptToOrphan.Add(uid)
	}
}

func (c *Controller) workDelete(ctx context.Context) bool {
	uid, quit := c.attemptToDelete.Get()
	if quit {
		return false
	}
	defer c.attemptToDelete.Done(uid)
	if err := c.attemptDelete(ctx, uid); err != nil {
		c.logRetry(c.attemptToDelete.NumRequeues(uid), "attempt to delete", uid, err)
		c.attemptToDelete.AddRateLimited(uid)
		return true
	}
	c.attemptToDelete.Forget(uid)
	return true
}

func (c *Controller) workOrphan(ctx context.Context) bool {
	uid, quit := c.attemptToOrphan.Get()
	if quit {
		return false
	}
	defer c.attemptToOrphan.Done(uid)
	if err := c.orphanDependents(ctx, uid); err != nil {
		c.logRetry(c.attemptToOrphan.NumRequeues(uid), "orphan dependents", uid, err)
		c.attemptToOrphan.AddRateLimited(uid)
		return true
	}
	c.attemptToOrphan.Forget(uid)
	return true
}

// logRetry logs a failed attempt quietly at first: most failures are a cache
// a moment behind (a conflict, a failed patch test) and pass on retry.
func (c *Controller) logRetry(requeues int, what string, uid types.UID, err error) {
	if requeues >= 5 {
		c.log.Warn(what, "uid", uid, "retries", requeues, "err", err)
		return
	}
	c.log.Debug(what, "uid", uid, "err", err)
}
