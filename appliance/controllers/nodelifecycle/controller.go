// Package nodelifecycle watches node heartbeats and acts on nodes that stop
// sending them, as Kubernetes' node lifecycle and taint eviction controllers
// do:
//
//   - a node whose Lease (kube-node-lease/<node>) and Ready condition have not
//     been renewed within GracePeriod gets its kubelet conditions set to
//     Unknown ("Kubelet stopped posting node status."), and its pods are marked
//     Ready=False so that endpoints stop sending them traffic;
//   - conditions become NoSchedule taints (not-ready, unreachable,
//     memory-pressure, ..., unschedulable) so the scheduler keeps new pods away;
//   - a node that is not Ready gets the not-ready or unreachable NoExecute taint,
//     at most EvictionRate nodes per second per zone, and none at all while
//     every node is down (then the control plane is the likelier culprit);
//   - pods on a node with NoExecute taints they do not tolerate are evicted
//     (deleted) at once, those tolerating them for tolerationSeconds after that
//     long (admission gives every pod 300 s for not-ready and unreachable);
//   - taints go away when the node reports Ready again.
package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
)

// Config tunes the controller; zero fields take Kubernetes' defaults.
type Config struct {
	// GracePeriod is how long a node may go without renewing its Lease or
	// Ready condition before it is Unknown (--node-monitor-grace-period, 40 s).
	GracePeriod time.Duration
	// StartupGracePeriod applies to nodes that never posted a Ready condition,
	// counted from their creation (--node-startup-grace-period, 60 s).
	StartupGracePeriod time.Duration
	// MonitorPeriod is how often node health is checked
	// (--node-monitor-period, 5 s).
	MonitorPeriod time.Duration
	// EvictionRate is how many nodes per second per zone get a NoExecute
	// taint (--node-eviction-rate, 0.1: the first at once, then one per 10 s).
	EvictionRate float64
	// SecondaryEvictionRate replaces it in a large zone where at least
	// UnhealthyZoneThreshold of the nodes are not ready
	// (--secondary-node-eviction-rate, 0.01).
	SecondaryEvictionRate float64
	// LargeClusterThreshold is the zone size above which the secondary rate
	// applies; smaller disrupted zones stop tainting (50).
	LargeClusterThreshold int
	// UnhealthyZoneThreshold is the share of not-ready nodes (more than two)
	// that makes a zone partially disrupted (0.55).
	UnhealthyZoneThreshold float64
	// EvictionWorkers is how many pods are evicted at once (default 4).
	EvictionWorkers int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.GracePeriod <= 0 {
		c.GracePeriod = 40 * time.Second
	}
	if c.StartupGracePeriod <= 0 {
		c.StartupGracePeriod = 60 * time.Second
	}
	if c.MonitorPeriod <= 0 {
		c.MonitorPeriod = 5 * time.Second
	}
	if c.EvictionRate <= 0 {
		c.EvictionRate = 0.1
	}
	if c.SecondaryEvictionRate <= 0 {
		c.SecondaryEvictionRate = 0.01
	}
	if c.LargeClusterThreshold <= 0 {
		c.LargeClusterThreshold = 50
	}
	if c.UnhealthyZoneThreshold <= 0 {
		c.UnhealthyZoneThreshold = 0.55
	}
	if c.EvictionWorkers <= 0 {
		c.EvictionWorkers = 4
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate applies defaults and checks cfg.
func (c *Config) Validate() error {
	c.setDefaults()
	if c.MonitorPeriod >= c.GracePeriod {
		return fmt.Errorf("monitor period %s must be shorter than the grace period %s", c.MonitorPeriod, c.GracePeriod)
	}
	if c.UnhealthyZoneThreshold > 1 {
		return fmt.Errorf("unhealthy zone threshold %v is above 1", c.UnhealthyZoneThreshold)
	}
	return nil
}

// podNodeIndex indexes pods by spec.nodeName; the name is ours so that a
// shared pod informer never meets another controller's index of that name.
const podNodeIndex = "nodelifecycle/spec.nodeName"

// labelExcludeDisruption keeps a node out of the zone health counts (control
// plane nodes that may be tainted for other reasons), as in Kubernetes.
const labelExcludeDisruption = "node.kubernetes.io/exclude-disruption"

// taintPeriod is how often queued NoExecute taints are applied (Kubernetes'
// nodeEvictionPeriod).
const taintPeriod = 100 * time.Millisecond

// Controller is the node lifecycle and taint eviction controller.
type Controller struct {
	cfg     Config
	client  kubernetes.Interface
	factory informers.SharedInformerFactory
	nodes   corelisters.NodeLister
	leases  coordinationlisters.LeaseLister
	pods    corelisters.PodLister
	podIdx  cache.Indexer
	synced  []cache.InformerSynced
	events  record.EventBroadcaster
	record  record.EventRecorder
	log     *slog.Logger
	now     func() time.Time

	// noSchedule syncs condition taints; evictions syncs pods (by key).
	noSchedule workqueue.TypedRateLimitingInterface[string]
	evictions  workqueue.TypedRateLimitingInterface[string]
	taintClock taintClock

	// Only the monitor goroutine (monitor and taint passes) touches these.
	health       map[string]*health
	podsToRetry  map[string]bool // nodes whose pods could not all be marked not ready
	zones        map[string]zoneState
	taintQueues  map[string]*taintQueue
	allDisrupted bool
}

// New makes a controller; it registers node, lease and pod informers on
// factory, which Run starts (factory.Start is idempotent, so the factory may be
// shared with other controllers).
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, cfg Config, log *slog.Logger) (*Controller, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("node lifecycle: %w", err)
	}
	c := &Controller{
		cfg:     cfg,
		client:  client,
		factory: factory,
		events:  record.NewBroadcaster(),
		log:     log,
		now:     cfg.Now,
		noSchedule: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "node-noschedule-taints"}),
		evictions: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "taint-eviction"}),
		taintClock:  taintClock{seen: map[string]map[string]time.Time{}},
		health:      map[string]*health{},
		podsToRetry: map[string]bool{},
		zones:       map[string]zoneState{},
		taintQueues: map[string]*taintQueue{},
	}
	c.record = c.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "node-controller"})

	nodeInf := factory.Core().V1().Nodes()
	leaseInf := factory.Coordination().V1().Leases()
	podInf := factory.Core().V1().Pods()
	c.nodes, c.leases, c.pods = nodeInf.Lister(), leaseInf.Lister(), podInf.Lister()
	c.synced = []cache.InformerSynced{nodeInf.Informer().HasSynced, leaseInf.Informer().HasSynced, podInf.Informer().HasSynced}
	if err := podInf.Informer().AddIndexers(cache.Indexers{podNodeIndex: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}}); err != nil {
		return nil, err
	}
	c.podIdx = podInf.Informer().GetIndexer()

	if _, err := nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.nodeChanged(obj.(*corev1.Node), true) },
		UpdateFunc: func(_, obj any) { c.nodeChanged(obj.(*corev1.Node), false) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if n, ok := obj.(*corev1.Node); ok {
				c.taintClock.forget(n.Name)
			}
		},
	}); err != nil {
		return nil, err
	}
	podChanged := func(old *corev1.Pod, pod *corev1.Pod) {
		if pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil {
			return
		}
		// Tolerations can only grow (tolerationSeconds aside), and a pod binds
		// once; anything else leaves the eviction decision as it was.
		if old != nil && old.Spec.NodeName == pod.Spec.NodeName && len(old.Spec.Tolerations) == len(pod.Spec.Tolerations) &&
			tolerationSecondsEqual(old.Spec.Tolerations, pod.Spec.Tolerations) {
			return
		}
		if key, err := cache.MetaNamespaceKeyFunc(pod); err == nil {
			c.evictions.Add(key)
		}
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { podChanged(nil, obj.(*corev1.Pod)) },
		UpdateFunc: func(old, obj any) { podChanged(old.(*corev1.Pod), obj.(*corev1.Pod)) },
	}); err != nil {
		return nil, err
	}
	// Leases are read from the lister at each pass; the informer only has to exist.
	_ = leaseInf.Informer()
	return c, nil
}

func tolerationSecondsEqual(a, b []corev1.Toleration) bool {
	for i := range a {
		x, y := a[i].TolerationSeconds, b[i].TolerationSeconds
		if (x == nil) != (y == nil) || (x != nil && *x != *y) {
			return false
		}
	}
	return true
}

// nodeChanged queues the node's condition taints for a check and, when its
// NoExecute taints changed, its pods for an eviction decision.
func (c *Controller) nodeChanged(node *corev1.Node, added bool) {
	c.noSchedule.Add(node.Name)
	if c.taintClock.observe(node, c.now()) || added {
		pods, _ := c.podIdx.ByIndex(podNodeIndex, node.Name)
		for _, obj := range pods {
			if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
				c.evictions.Add(key)
			}
		}
	}
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	defer c.noSchedule.ShutDown()
	defer c.evictions.ShutDown()
	defer c.events.Shutdown()
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	c.log.Info("node lifecycle controller started", "grace-period", c.cfg.GracePeriod,
		"startup-grace-period", c.cfg.StartupGracePeriod, "monitor-period", c.cfg.MonitorPeriod,
		"eviction-rate", c.cfg.EvictionRate)
	go func() {
		<-ctx.Done()
		c.noSchedule.ShutDown()
		c.evictions.ShutDown()
	}()
	var wg sync.WaitGroup
	wg.Go(func() {
		for c.workNoSchedule(ctx) {
		}
	})
	for range c.cfg.EvictionWorkers {
		wg.Go(func() {
			for c.workEviction(ctx) {
			}
		})
	}
	wg.Go(func() { c.monitorLoop(ctx) })
	wg.Wait()
}

func (c *Controller) monitorLoop(ctx context.Context) {
	monitor := time.NewTicker(c.cfg.MonitorPeriod)
	defer monitor.Stop()
	taint := time.NewTicker(taintPeriod)
	defer taint.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-monitor.C:
			c.monitor(ctx)
		case <-taint.C:
			c.taintPass(ctx)
		}
	}
}

func (c *Controller) workNoSchedule(ctx context.Context) bool {
	name, quit := c.noSchedule.Get()
	if quit {
		return false
	}
	defer c.noSchedule.Done(name)
	if err := c.syncNoSchedule(ctx, name); err != nil {
		c.log.Warn("node condition taints", "node", name, "err", err)
		c.noSchedule.AddRateLimited(name)
		return true
	}
	c.noSchedule.Forget(name)
	return true
}

func (c *Controller) workEviction(ctx context.Context) bool {
	key, quit := c.evictions.Get()
	if quit {
		return false
	}
	defer c.evictions.Done(key)
	after, err := c.syncPod(ctx, key)
	switch {
	case err != nil:
		c.log.Warn("taint eviction", "pod", key, "err", err)
		c.evictions.AddRateLimited(key)
	case after > 0:
		c.evictions.Forget(key)
		c.evictions.AddAfter(key, after)
	default:
		c.evictions.Forget(key)
	}
	return true
}

// syncNoSchedule brings the node's condition taints in line with its
// conditions.
func (c *Controller) syncNoSchedule(ctx context.Context, name string) error {
	node, err := c.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	add, remove := noScheduleDiff(node)
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	return c.swapTaints(ctx, name, add, remove)
}

// swapTaints adds and removes taints on the live node, retrying on conflicts.
// NoExecute taints get timeAdded, which eviction deadlines count from.
func (c *Controller) swapTaints(ctx context.Context, name string, add, remove []corev1.Taint) error {
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		node, err := c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.NewTime(c.now())
		stamped := make([]corev1.Taint, len(add))
		for i, t := range add {
			stamped[i] = t
			if t.Effect == corev1.TaintEffectNoExecute {
				stamped[i].TimeAdded = &now
			}
		}
		taints, changed := applyTaints(node.Spec.Taints, stamped, remove)
		if !changed {
			return nil
		}
		before := node.Spec.Taints
		node.Spec.Taints = taints
		if _, err := c.client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{}); err != nil {
			return err
		}
		c.log.Info("node taints changed", "node", name, "added", taintList(taints, before), "removed", taintList(before, taints))
		return nil
	})
}

// taintList names the taints of ts that are not in but.
func taintList(ts, but []corev1.Taint) []string {
	out := []string{}
	for _, t := range ts {
		if !hasTaint(but, t) {
			out = append(out, t.Key+":"+string(t.Effect))
		}
	}
	return out
}

// monitor is one health pass over every node.
func (c *Controller) monitor(ctx context.Context) {
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	seen := map[string]bool{}
	type zoneCount struct{ ready, notReady int }
	counts := map[string]*zoneCount{}
	for _, node := range nodes {
		seen[node.Name] = true
		node, err := c.checkHealth(ctx, node)
		ready := readyStatus(node)
		if err != nil {
			// Most often our cache is a moment behind our own last write: the
			// next pass retries. The node still counts for its zone as last
			// seen, lest one failed write pass for a zone-wide outage.
			if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
				c.log.Warn("update node health", "node", node.Name, "err", err)
			}
		} else {
			c.handleNoExecute(ctx, node, ready)
		}
		if _, excluded := node.Labels[labelExcludeDisruption]; !excluded {
			zc := counts[zoneKey(node)]
			if zc == nil {
				zc = &zoneCount{}
				counts[zoneKey(node)] = zc
			}
			if ready == corev1.ConditionTrue {
				zc.ready++
			} else {
				zc.notReady++
			}
		}
	}
	for name := range c.health {
		if !seen[name] {
			delete(c.health, name)
			delete(c.podsToRetry, name)
			for _, q := range c.taintQueues {
				q.remove(name)
			}
		}
	}
	states := map[string]zoneState{}
	sizes := map[string]int{}
	for zone, zc := range counts {
		states[zone] = computeZoneState(zc.ready, zc.notReady, c.cfg.UnhealthyZoneThreshold)
		sizes[zone] = zc.ready + zc.notReady
	}
	c.handleDisruption(ctx, nodes, states, sizes)
}

// checkHealth marks the node Unknown when its heartbeats stopped, and its pods
// not ready when it just stopped being Ready. It returns the node as it is now.
func (c *Controller) checkHealth(ctx context.Context, node *corev1.Node) (*corev1.Node, error) {
	now := c.now()
	h, ok := c.health[node.Name]
	if !ok {
		h = &health{}
		c.health[node.Name] = h
	}
	lease, err := c.leases.Leases(corev1.NamespaceNodeLease).Get(node.Name)
	if err != nil {
		lease = nil
	}
	grace := observe(h, !ok, node, lease, now, c.cfg.GracePeriod, c.cfg.StartupGracePeriod)
	before := readyStatus(node)
	if now.After(h.probe.Add(grace)) {
		updated := node.DeepCopy()
		if markUnknown(updated, now) {
			updated, err = c.client.CoreV1().Nodes().UpdateStatus(ctx, updated, metav1.UpdateOptions{})
			if err != nil {
				return node, err
			}
			c.log.Info("node stopped posting status", "node", node.Name, "since", h.probe.Round(time.Second), "grace-period", grace)
			node = updated
		}
	}
	after := readyStatus(node)
	if before == corev1.ConditionTrue && after != corev1.ConditionTrue {
		c.record.Eventf(node, corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", node.Name)
		c.podsToRetry[node.Name] = true
	}
	if c.podsToRetry[node.Name] {
		if after == corev1.ConditionTrue {
			delete(c.podsToRetry, node.Name)
		} else if err := c.markPodsNotReady(ctx, node.Name); err != nil {
			c.log.Warn("mark pods not ready", "node", node.Name, "err", err)
		} else {
			delete(c.podsToRetry, node.Name)
		}
	}
	return node, nil
}

func (c *Controller) markPodsNotReady(ctx context.Context, nodeName string) error {
	objs, err := c.podIdx.ByIndex(podNodeIndex, nodeName)
	if err != nil {
		return err
	}
	var errs []error
	for _, obj := range objs {
		pod := obj.(*corev1.Pod).DeepCopy()
		if pod.Spec.NodeName != nodeName || !markPodNotReady(pod, c.now()) {
			continue
		}
		if _, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		c.record.Event(pod, corev1.EventTypeWarning, "NodeNotReady", "Node is not ready")
	}
	return errors.Join(errs...)
}

// handleNoExecute queues a node that is not Ready for its NoExecute taint, swaps
// the taint at once when the kind of trouble changed (not-ready <->
// unreachable), and lifts both when it is Ready again.
func (c *Controller) handleNoExecute(ctx context.Context, node *corev1.Node, ready corev1.ConditionStatus) {
	zone := zoneKey(node)
	q := c.taintQueues[zone]
	if q == nil {
		q = newTaintQueue(c.cfg.EvictionRate)
		if c.allDisrupted {
			q.setRate(0)
		}
		c.taintQueues[zone] = q
	}
	var want, other corev1.Taint
	switch ready {
	case corev1.ConditionTrue:
		q.remove(node.Name)
		c.markReachable(ctx, node)
		return
	case corev1.ConditionFalse:
		want, other = notReadyNoExecute, unreachableNoExecute
	default:
		want, other = unreachableNoExecute, notReadyNoExecute
	}
	switch {
	case hasTaint(node.Spec.Taints, want):
		q.remove(node.Name)
	case hasTaint(node.Spec.Taints, other):
		// Already tainted: the eviction was rate-limited once, not again.
		if err := c.swapTaints(ctx, node.Name, []corev1.Taint{want}, []corev1.Taint{other}); err != nil {
			c.log.Warn("swap node taints", "node", node.Name, "err", err)
		}
	default:
		q.add(node.Name)
	}
}

func (c *Controller) markReachable(ctx context.Context, node *corev1.Node) {
	if !hasTaint(node.Spec.Taints, unreachableNoExecute) && !hasTaint(node.Spec.Taints, notReadyNoExecute) {
		return
	}
	if err := c.swapTaints(ctx, node.Name, nil, []corev1.Taint{unreachableNoExecute, notReadyNoExecute}); err != nil {
		c.log.Warn("remove node taints", "node", node.Name, "err", err)
	}
}

// handleDisruption sets each zone's tainting rate from its state. When every
// zone is fully disrupted, Kubernetes assumes the control plane lost its
// network rather than every node its life: tainting stops and the NoExecute
// taints are lifted; when some node comes back, every node gets a fresh grace
// period before anything else happens.
func (c *Controller) handleDisruption(ctx context.Context, nodes []*corev1.Node, states map[string]zoneState, sizes map[string]int) {
	all := len(states) > 0
	for _, s := range states {
		if s != zoneFullDisruption {
			all = false
		}
	}
	switch {
	case all && !c.allDisrupted:
		c.log.Warn("every node is not ready: pausing evictions (control plane disruption mode)", "nodes", len(nodes))
		c.allDisrupted = true
		for _, q := range c.taintQueues {
			q.setRate(0)
		}
		for _, n := range nodes {
			c.markReachable(ctx, n)
		}
	case !all && c.allDisrupted:
		c.log.Info("some nodes are ready again: resuming evictions")
		c.allDisrupted = false
		now := c.now()
		for _, h := range c.health {
			h.probe = now
		}
	}
	if c.allDisrupted {
		return
	}
	for zone, s := range states {
		if old, ok := c.zones[zone]; ok && old != s {
			c.log.Info("zone state changed", "zone", zone, "from", old, "to", s)
		}
		c.zones[zone] = s
		if q := c.taintQueues[zone]; q != nil {
			q.setRate(taintRate(&c.cfg, s, sizes[zone]))
		}
	}
	for zone := range c.zones {
		if _, ok := states[zone]; !ok {
			delete(c.zones, zone)
		}
	}
}

// taintPass applies the queued NoExecute taints the zones' rates allow.
func (c *Controller) taintPass(ctx context.Context) {
	for _, q := range c.taintQueues {
		for {
			name, ok := q.next()
			if !ok {
				break
			}
			node, err := c.nodes.Get(name)
			if err != nil {
				continue
			}
			var want, other corev1.Taint
			switch readyStatus(node) {
			case corev1.ConditionTrue:
				continue
			case corev1.ConditionFalse:
				want, other = notReadyNoExecute, unreachableNoExecute
			default:
				want, other = unreachableNoExecute, notReadyNoExecute
			}
			if err := c.swapTaints(ctx, name, []corev1.Taint{want}, []corev1.Taint{other}); err != nil {
				c.log.Warn("taint node", "node", name, "err", err)
				q.add(name)
			}
		}
	}
}
