// Package nodeipam gives every Node a pod CIDR, as kube-controller-manager's
// node IPAM controller does with its range allocator: a subnet of NodeMaskSize
// bits (a /24 by default) out of the cluster CIDR, written to spec.podCIDR and
// spec.podCIDRs, never the same subnet to two nodes, and returned to the pool
// when the node is deleted. The pod network on each node hands pod IPs out of
// that subnet.
//
// The used set lives in memory; on start it is rebuilt from the nodes that
// already carry a CIDR before any new one is handed out, so a restart never
// hands out a subnet twice.
package nodeipam

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

// Config says what to hand out.
type Config struct {
	// ClusterCIDR is the range pod CIDRs are cut from (k3s and the appliance
	// default to 10.42.0.0/16).
	ClusterCIDR netip.Prefix
	// NodeMaskSize is the prefix length of each node's CIDR: 24 by default for
	// IPv4 and 64 for IPv6, as in Kubernetes. At most 2^16 node CIDRs fit.
	NodeMaskSize int
}

// Validate applies the default NodeMaskSize and checks cfg.
func (c *Config) Validate() error {
	if c.NodeMaskSize == 0 {
		c.NodeMaskSize = 24
		if c.ClusterCIDR.IsValid() && c.ClusterCIDR.Addr().Is6() {
			c.NodeMaskSize = 64
		}
	}
	_, err := newCIDRSet(c.ClusterCIDR, c.NodeMaskSize)
	return err
}

// Controller allocates node pod CIDRs.
type Controller struct {
	cfg     Config
	client  kubernetes.Interface
	factory informers.SharedInformerFactory
	nodes   corelisters.NodeLister
	synced  cache.InformerSynced
	queue   workqueue.TypedRateLimitingInterface[string]
	events  record.EventBroadcaster
	record  record.EventRecorder
	log     *slog.Logger

	// Only the single worker touches these.
	set    *cidrSet
	held   map[string]netip.Prefix // node name -> the CIDR it holds in set
	owners map[int]string          // subnet index -> node holding it
}

// New makes a controller; it registers a node informer on factory, which Run
// starts (factory.Start is idempotent, so the factory may be shared).
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, cfg Config, log *slog.Logger) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("node ipam: %w", err)
	}
	set, _ := newCIDRSet(cfg.ClusterCIDR, cfg.NodeMaskSize)
	c := &Controller{
		cfg:     cfg,
		client:  client,
		factory: factory,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "nodeipam"}),
		events: record.NewBroadcaster(),
		log:    log,
		set:    set,
		held:   map[string]netip.Prefix{},
		owners: map[int]string{},
	}
	c.record = c.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "node-ipam-controller"})
	inf := factory.Core().V1().Nodes()
	c.nodes, c.synced = inf.Lister(), inf.Informer().HasSynced
	enqueue := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		if n, ok := obj.(*corev1.Node); ok {
			c.queue.Add(n.Name)
		}
	}
	_, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(old, obj any) {
			if nodeCIDR(old.(*corev1.Node)) != nodeCIDR(obj.(*corev1.Node)) {
				enqueue(obj)
			}
		},
		DeleteFunc: enqueue,
	})
	return c, err
}

// Run works until ctx ends. One worker: allocation is a read-modify-write of
// the in-memory set.
func (c *Controller) Run(ctx context.Context) {
	defer c.queue.ShutDown()
	defer c.events.Shutdown()
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return
	}
	// Rebuild the used set from every node before the first allocation.
	nodes, _ := c.nodes.List(labels.Everything())
	for _, n := range nodes {
		c.occupy(n)
	}
	c.log.Info("node ipam started", "cluster-cidr", c.cfg.ClusterCIDR, "node-mask-size", c.cfg.NodeMaskSize,
		"nodes", len(nodes), "cidrs-used", c.set.count, "cidrs-total", c.set.size())
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
	if err := c.sync(ctx, name); err != nil {
		c.log.Warn("allocate pod cidr", "node", name, "err", err)
		c.queue.AddRateLimited(name)
		return true
	}
	c.queue.Forget(name)
	return true
}

// nodeCIDR is the node's CIDR of the cluster's family, as written: podCIDRs
// first, podCIDR for nodes written by old clients.
func nodeCIDR(n *corev1.Node) string {
	if len(n.Spec.PodCIDRs) > 0 {
		return n.Spec.PodCIDRs[0]
	}
	return n.Spec.PodCIDR
}

func (c *Controller) sync(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		c.release(name)
		return nil
	}
	if err != nil {
		return err
	}
	if nodeCIDR(node) != "" {
		c.occupy(node)
		return nil
	}
	// A node whose CIDR we handed out but whose update our cache has not yet
	// seen keeps that CIDR.
	if p, ok := c.held[name]; ok {
		return c.patch(ctx, node, p)
	}
	p, err := c.set.allocate()
	if err != nil {
		c.record.Eventf(node, corev1.EventTypeNormal, "CIDRNotAvailable", "Node %s status is now: CIDRNotAvailable", name)
		return fmt.Errorf("%w (%s, /%d per node)", err, c.cfg.ClusterCIDR, c.cfg.NodeMaskSize)
	}
	c.hold(name, p)
	if err := c.patch(ctx, node, p); err != nil {
		c.release(name)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	c.log.Info("pod cidr allocated", "node", name, "pod-cidr", p)
	return nil
}

// patch writes p to the node. The resourceVersion makes it conditional, so a
// CIDR written meanwhile by someone else is never overwritten (409, retried).
func (c *Controller) patch(ctx context.Context, node *corev1.Node, p netip.Prefix) error {
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": node.ResourceVersion},
		"spec":     map[string]any{"podCIDR": p.String(), "podCIDRs": []string{p.String()}},
	})
	if err != nil {
		return err
	}
	_, err = c.client.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, body, metav1.PatchOptions{})
	return err
}

// occupy records the CIDR a node already carries.
func (c *Controller) occupy(node *corev1.Node) {
	s := nodeCIDR(node)
	if s == "" {
		return
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		c.log.Warn("node has an invalid pod cidr", "node", node.Name, "pod-cidr", s)
		return
	}
	if held, ok := c.held[node.Name]; ok && held == p.Masked() {
		return
	}
	c.release(node.Name)
	if _, _, ok := c.set.indices(p); !ok {
		// Set by hand outside our range: the node keeps it, we do not track it.
		c.log.Warn("node pod cidr is outside the cluster cidr", "node", node.Name, "pod-cidr", p, "cluster-cidr", c.cfg.ClusterCIDR)
		return
	}
	c.hold(node.Name, p.Masked())
}

func (c *Controller) hold(name string, p netip.Prefix) {
	first, last, _ := c.set.indices(p)
	for i := first; i <= last; i++ {
		if other, ok := c.owners[i]; ok && other != name {
			// Written by hand twice: the first holder keeps it in our books.
			c.log.Warn("pod cidr used by two nodes", "pod-cidr", c.set.subnet(i), "node", name, "other-node", other)
			continue
		}
		c.owners[i] = name
		c.set.set(i, true)
	}
	c.held[name] = p
}

// release returns the node's CIDR, unless another node claims it too.
func (c *Controller) release(name string) {
	p, ok := c.held[name]
	if !ok {
		return
	}
	delete(c.held, name)
	first, last, _ := c.set.indices(p)
	for i := first; i <= last; i++ {
		if c.owners[i] == name {
			delete(c.owners, i)
			c.set.set(i, false)
		}
	}
	c.log.Info("pod cidr released", "node", name, "pod-cidr", p)
}
