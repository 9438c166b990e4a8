// Package simulate runs hollow nodes: Node objects with Leases and a kubelet
// that only pretends. They let the scheduler, the controllers and the scale
// benchmarks work without containers, and let a user try scheduling rules on
// a laptop, as Kubernetes' kubemark hollow nodes do.
//
// A simulator registers its nodes (labelled appliance.dev/simulated=true,
// Ready, with the configured capacity, labels and taints), renews their Leases
// in kube-node-lease every 10 s, and plays the kubelet's part of the pod
// creation flow: a pod bound to one of its nodes goes Running and Ready after
// StartDelay, with a pod IP unique on the node; a pod of a Job (or with
// restartPolicy Never/OnFailure) completes shortly after; a pod marked for
// deletion is confirmed deleted (grace period 0), as a kubelet does once its
// containers have stopped.
//
// Pods may steer their hollow kubelet with annotations:
//
//	appliance.dev/sim-start-delay: 2s    how long until Running (default Config.StartDelay)
//	appliance.dev/sim-run-duration: 5s   how long a finishing pod runs (default Config.RunDuration)
//	appliance.dev/sim-exit-code: "1"     the exit code it finishes with; non-zero fails a
//	                                     restartPolicy Never pod and restarts an OnFailure one
//	appliance.dev/sim-ready: "false"     Running but never Ready (a failing readiness probe)
//
// One informer watches all pods and keeps those bound to this simulator's
// nodes; timed transitions sit in one delaying queue, and Lease renewals go out
// in one batch per interval, so 500 nodes and 5,000 pods cost no goroutine per
// node or pod.
package simulate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// SimulatedLabel marks simulated nodes; `kubectl delete node -l
// appliance.dev/simulated=true` removes them.
const SimulatedLabel = "appliance.dev/simulated"

// KubeletVersion is what simulated nodes report in status.nodeInfo.
const KubeletVersion = "v1.37.2"

// Annotations a pod can carry to steer its hollow kubelet.
const (
	AnnotationStartDelay  = "appliance.dev/sim-start-delay"
	AnnotationRunDuration = "appliance.dev/sim-run-duration"
	AnnotationExitCode    = "appliance.dev/sim-exit-code"
	AnnotationReady       = "appliance.dev/sim-ready"
)

// Config configures a Simulator.
type Config struct {
	// REST is how the simulator reaches the API server. A QPS of 0 is raised to
	// 1000 (burst 2000) so that thousands of pod updates are not throttled.
	REST *rest.Config
	// Nodes is how many nodes to register (at least 1).
	Nodes int
	// NamePrefix names the nodes NamePrefix0, NamePrefix1, ... (default
	// "sim-node-"). Two simulators in one cluster need different prefixes.
	NamePrefix string
	// Capacity of each node, also its allocatable; missing entries default to
	// cpu 4, memory 8Gi, pods 110, ephemeral-storage 50Gi.
	Capacity corev1.ResourceList
	// Labels and Taints are added to every node.
	Labels map[string]string
	Taints []corev1.Taint
	// StartDelay is how long a bound pod takes to go Running (default 0).
	StartDelay time.Duration
	// RunDuration is how long a finishing pod (a Job's) runs before it
	// completes (default 1 s).
	RunDuration time.Duration
	// LeaseInterval is how often the node Leases are renewed (default 10 s, a
	// kubelet's renewal interval for its 40 s lease).
	LeaseInterval time.Duration
	// StatusInterval is how often node status is posted again even when
	// nothing changed (default 5 min, a kubelet's nodeStatusReportFrequency).
	StatusInterval time.Duration
	// Workers is how many pod updates run at once (default 8).
	Workers int
	// Log is the parent logger; the simulator logs with part=simulate.
	Log *slog.Logger
	// PodInformer, when set, is a pod informer (of all pods) that the caller
	// runs and shares between simulators in one process, so that each pod
	// change is decoded once rather than once per simulator. Unset, the
	// simulator runs its own.
	PodInformer cache.SharedIndexInformer
}

func (c *Config) applyDefaults() {
	if c.NamePrefix == "" {
		c.NamePrefix = "sim-node-"
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("4"),
		corev1.ResourceMemory:           resource.MustParse("8Gi"),
		corev1.ResourcePods:             resource.MustParse("110"),
		corev1.ResourceEphemeralStorage: resource.MustParse("50Gi"),
	}
	for k, v := range c.Capacity {
		capacity[k] = v
	}
	c.Capacity = capacity
	if c.RunDuration == 0 {
		c.RunDuration = time.Second
	}
	if c.LeaseInterval == 0 {
		c.LeaseInterval = 10 * time.Second
	}
	if c.StatusInterval == 0 {
		c.StatusInterval = 5 * time.Minute
	}
	if c.Workers == 0 {
		c.Workers = 8
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// Validate reports what is missing or out of range.
func (c Config) Validate() error {
	var errs []error
	if c.REST == nil {
		errs = append(errs, errors.New("REST config is required"))
	}
	if c.Nodes < 1 {
		errs = append(errs, fmt.Errorf("nodes: %d, want at least 1", c.Nodes))
	}
	if c.StartDelay < 0 || c.RunDuration < 0 || c.LeaseInterval < 0 || c.StatusInterval < 0 {
		errs = append(errs, errors.New("durations must not be negative"))
	}
	if c.Workers < 0 {
		errs = append(errs, fmt.Errorf("workers: %d must not be negative", c.Workers))
	}
	if strings.ToLower(c.NamePrefix) != c.NamePrefix {
		errs = append(errs, fmt.Errorf("name prefix %q: node names are lower case", c.NamePrefix))
	}
	return errors.Join(errs...)
}

// Simulator is a set of running hollow nodes.
type Simulator struct {
	cfg    Config
	log    *slog.Logger
	client kubernetes.Interface

	nodes  map[string]*simNode // fixed after Start
	names  []string
	pods   corelisters.PodLister
	podInf cache.SharedIndexInformer
	queue  workqueue.TypedRateLimitingInterface[string]

	mu     sync.Mutex
	frozen map[string]bool
	first  map[string]time.Time // pod key -> when first seen bound here

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start registers the nodes and their Leases, waits until they are stored and
// the informers have synced, and runs the hollow kubelets until Close. ctx
// bounds the start only. A half-started simulator removes what it registered.
func Start(ctx context.Context, cfg Config) (_ *Simulator, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("simulate config: %w", err)
	}
	cfg.applyDefaults()
	rc := rest.CopyConfig(cfg.REST)
	if rc.QPS == 0 {
		rc.QPS, rc.Burst = 1000, 2000
	}
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	if rc.UserAgent == "" {
		rc.UserAgent = "appliance-simulate"
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("simulate client: %w", err)
	}
	s := &Simulator{
		cfg:    cfg,
		log:    cfg.Log.With("part", "simulate", "prefix", cfg.NamePrefix),
		client: client,
		nodes:  map[string]*simNode{},
		frozen: map[string]bool{},
		first:  map[string]time.Time{},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			// Per-pod backoff only: an overall rate limit would throttle a
			// thousand pods starting at once.
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 5*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "simulate"}),
	}
	s.log.Info("simulator starting", "nodes", cfg.Nodes, "capacity", formatResources(cfg.Capacity),
		"labels", cfg.Labels, "taints", len(cfg.Taints), "start-delay", cfg.StartDelay,
		"run-duration", cfg.RunDuration, "lease-interval", cfg.LeaseInterval, "workers", cfg.Workers)

	for i := range cfg.Nodes {
		name := fmt.Sprintf("%s%d", cfg.NamePrefix, i)
		s.nodes[name] = &simNode{name: name, index: i, ips: newIPPool()}
		s.names = append(s.names, name)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if err := s.register(ctx); err != nil {
		return nil, err
	}

	factory := informers.NewSharedInformerFactory(client, 0)
	s.podInf = cfg.PodInformer
	if s.podInf == nil {
		s.podInf = factory.Core().V1().Pods().Informer()
	}
	s.pods = corelisters.NewPodLister(s.podInf.GetIndexer())
	podHandler, err := s.podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.onPod,
		UpdateFunc: func(_, obj any) { s.onPod(obj) },
		DeleteFunc: s.onPodDelete,
	})
	if err != nil {
		return nil, err
	}
	// Our own nodes, to follow what others write into them: the pod CIDR node
	// IPAM assigns, and fresh resourceVersions for status updates.
	nodeFactory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = SimulatedLabel + "=true"
	}))
	nodeInf := nodeFactory.Core().V1().Nodes().Informer()
	if _, err := nodeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.onNode,
		UpdateFunc: func(_, obj any) { s.onNode(obj) },
	}); err != nil {
		return nil, err
	}
	factory.Start(runCtx.Done())
	nodeFactory.Start(runCtx.Done())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-runCtx.Done()
		_ = s.podInf.RemoveEventHandler(podHandler)
		factory.Shutdown()
		nodeFactory.Shutdown()
	}()
	if !cache.WaitForCacheSync(ctx.Done(), s.podInf.HasSynced, nodeInf.HasSynced) {
		return nil, fmt.Errorf("simulate: pod informer did not sync: %w", context.Cause(ctx))
	}
	for range cfg.Workers {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for s.work(runCtx) {
			}
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.heartbeat(runCtx)
	}()
	return s, nil
}

// Nodes are the names of the simulated nodes.
func (s *Simulator) Nodes() []string { return append([]string(nil), s.names...) }

// Freeze stops the named nodes' hollow kubelets as if they had died: no Lease
// renewals, no status, no pod updates, so the node lifecycle controller sees
// them go silent. Thaw brings them back.
func (s *Simulator) Freeze(names ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		if s.nodes[n] != nil {
			s.frozen[n] = true
		}
	}
}

// Thaw restarts frozen nodes: they renew their Leases, post Ready status and
// catch up on their pods at once.
func (s *Simulator) Thaw(names ...string) {
	s.mu.Lock()
	var thawed []*simNode
	for _, n := range names {
		if s.frozen[n] {
			delete(s.frozen, n)
			thawed = append(thawed, s.nodes[n])
		}
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range thawed {
		if err := s.renewLease(ctx, n); err != nil {
			s.log.Warn("lease", "node", n.name, "err", err)
		}
		if err := s.postStatus(ctx, n); err != nil {
			s.log.Warn("node status", "node", n.name, "err", err)
		}
	}
	for _, obj := range s.podInf.GetStore().List() {
		s.onPod(obj)
	}
}

func (s *Simulator) isFrozen(node string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frozen[node]
}

// Close stops the hollow kubelets and removes the nodes and their Leases. Pods
// bound to the nodes stay, as they do when a Node is deleted in Kubernetes,
// until someone (pod garbage collection, a controller) deletes them. Safe to
// call twice.
func (s *Simulator) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		s.queue.ShutDown()
		s.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		s.unregister(ctx)
		for _, n := range s.nodes {
			n.releaseBlock()
		}
		s.log.Info("simulator stopped", "nodes", len(s.nodes))
	})
}

func formatResources(rl corev1.ResourceList) string {
	var parts []string
	for _, k := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods, corev1.ResourceEphemeralStorage} {
		if q, ok := rl[k]; ok {
			parts = append(parts, string(k)+"="+q.String())
		}
	}
	return strings.Join(parts, ",")
}
