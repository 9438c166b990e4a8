// Package scheduler places pods on nodes, as kube-scheduler does: it watches
// pending pods whose spec.schedulerName is its own, filters the nodes
// (readiness and cordon, resources, nodeSelector and node affinity, taints,
// host ports, topology spread, inter-pod affinity), scores the ones that fit
// (least allocated with balance, preferred node and pod affinity,
// PreferNoSchedule taints, soft spread), and binds the pod through
// pods/binding. In the pod creation flow it is the step between "etcd stores
// the pod Pending" and "the node's kubelet sees the binding".
//
// When a pod fits nowhere it writes a FailedScheduling event and the
// PodScheduled=False condition in kube-scheduler's words, and parks the pod
// until a node is added or changes or a pod goes away. Higher-priority pods may
// preempt lower-priority ones. The decision itself (Snapshot.Schedule) is pure:
// a snapshot in, a Decision out.
//
// Like every component but the API server, it talks to the API server only
// through client-go, with its own identity.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	schedlisters "k8s.io/client-go/listers/scheduling/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/util/retry"
)

// DefaultSchedulerName is the name pods get in spec.schedulerName by default.
const DefaultSchedulerName = corev1.DefaultSchedulerName

// Config configures a Scheduler.
type Config struct {
	// REST is how the scheduler reaches the API server, with its own identity.
	// A QPS of 0 is raised to 5000 (burst 10000): binding a thousand pods a
	// second needs more than 1000, and client-go's default of 5 would
	// throttle. Events go through a client of their own with the same limits,
	// as kube-scheduler's do, so they never hold back a binding.
	REST *rest.Config
	// Log is the parent logger; the scheduler logs with part=scheduler.
	Log *slog.Logger
	// SchedulerName is the spec.schedulerName this scheduler serves
	// (default "default-scheduler").
	SchedulerName string
	// InitialBackoff and MaxBackoff bound the wait before a failed pod is tried
	// again: it doubles with each attempt (defaults 1 s and 10 s, as
	// kube-scheduler's podInitialBackoffSeconds and podMaxBackoffSeconds).
	InitialBackoff, MaxBackoff time.Duration
	// Parallelism is how many API calls (bindings, status updates, preemptions)
	// run at once (default 64). kube-scheduler binds every pod in a goroutine
	// of its own; a bound keeps a burst of failures from piling up calls.
	Parallelism int
	// HideTaintValues words untolerated taints as "node(s) had untolerated
	// taint(s)", as kube-scheduler does since 1.35, instead of naming the taint.
	HideTaintValues bool
	// LeaderElect makes the scheduler take a Lease in kube-system before it
	// schedules, so several servers can run one each: "kube-scheduler" as
	// kube-scheduler uses, or the scheduler's name for a second scheduler.
	// Identity names this one in the Lease (default: the hostname).
	LeaderElect bool
	Identity    string
}

func (c *Config) applyDefaults() {
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.SchedulerName == "" {
		c.SchedulerName = DefaultSchedulerName
	}
	if c.InitialBackoff == 0 {
		c.InitialBackoff = time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 10 * time.Second
	}
	if c.Parallelism == 0 {
		c.Parallelism = 64
	}
	if c.Identity == "" {
		c.Identity, _ = os.Hostname()
	}
}

// Validate reports what is missing or inconsistent.
func (c Config) Validate() error {
	var errs []error
	if c.REST == nil {
		errs = append(errs, errors.New("REST config is required"))
	}
	if c.InitialBackoff < 0 || c.MaxBackoff < 0 || (c.MaxBackoff > 0 && c.InitialBackoff > c.MaxBackoff) {
		errs = append(errs, fmt.Errorf("backoff: initial %s must be at most max %s", c.InitialBackoff, c.MaxBackoff))
	}
	if c.Parallelism < 0 {
		errs = append(errs, fmt.Errorf("parallelism %d must not be negative", c.Parallelism))
	}
	return errors.Join(errs...)
}

// Scheduler is a running scheduler; see New and Run.
type Scheduler struct {
	cfg         Config
	log         *slog.Logger
	client      kubernetes.Interface
	eventClient kubernetes.Interface

	factory    informers.SharedInformerFactory
	podFactory informers.SharedInformerFactory
	pods       corelisters.PodLister
	pcs        schedlisters.PriorityClassLister
	pvcs       corelisters.PersistentVolumeClaimLister

	cache     *cache
	queue     *queue
	snap      *Snapshot
	snapState snapshotState

	recorder events.EventRecorder
	sem      chan struct{}
	runOnce  sync.Once

	mu      sync.Mutex // guards stopped and wg.Add
	stopped bool
	wg      sync.WaitGroup
}

// New prepares a scheduler; Run starts it.
func New(cfg Config) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("scheduler config: %w", err)
	}
	cfg.applyDefaults()
	rc := rest.CopyConfig(cfg.REST)
	if rc.QPS == 0 {
		rc.QPS, rc.Burst = 5000, 10000
	}
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	if rc.UserAgent == "" {
		rc.UserAgent = "appliance-scheduler"
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("scheduler client: %w", err)
	}
	// Each clientset has its own rate limiter.
	eventClient, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("scheduler event client: %w", err)
	}
	s := &Scheduler{
		cfg:         cfg,
		log:         cfg.Log.With("part", "scheduler"),
		client:      client,
		eventClient: eventClient,
		queue:       newQueue(cfg.InitialBackoff, cfg.MaxBackoff),
		sem:         make(chan struct{}, cfg.Parallelism),
	}
	s.cache = newCache(s.priority)
	s.snap = &Snapshot{HideTaintValues: cfg.HideTaintValues}
	s.factory = informers.NewSharedInformerFactory(client, 0)
	// Finished pods hold no resources: like kube-scheduler, watch only pods that
	// are not Succeeded or Failed, so a pod that finishes leaves the cache.
	s.podFactory = informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = "status.phase!=" + string(corev1.PodSucceeded) + ",status.phase!=" + string(corev1.PodFailed)
	}))
	podInformer := s.podFactory.Core().V1().Pods()
	s.pods = podInformer.Lister()
	s.pcs = s.factory.Scheduling().V1().PriorityClasses().Lister()
	s.pvcs = s.factory.Core().V1().PersistentVolumeClaims().Lister()
	s.snap.Priority = s.priority
	s.snap.Claim = func(ns, name string) (*corev1.PersistentVolumeClaim, bool) {
		pvc, err := s.pvcs.PersistentVolumeClaims(ns).Get(name)
		return pvc, err == nil
	}

	if _, err := podInformer.Informer().AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.onPodAdd(obj.(*corev1.Pod)) },
		UpdateFunc: func(old, obj any) { s.onPodUpdate(old.(*corev1.Pod), obj.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if pod := podOf(obj); pod != nil {
				s.onPodDelete(pod)
			}
		},
	}); err != nil {
		return nil, err
	}
	if _, err := s.factory.Core().V1().Nodes().Informer().AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			s.cache.setNode(obj.(*corev1.Node))
			s.queue.moveAll()
		},
		UpdateFunc: func(old, obj any) {
			o, n := old.(*corev1.Node), obj.(*corev1.Node)
			s.cache.setNode(n)
			if nodeChangedForScheduling(o, n) {
				s.queue.moveAll()
			}
		},
		DeleteFunc: func(obj any) {
			switch n := obj.(type) {
			case *corev1.Node:
				s.cache.removeNode(n.Name)
			case toolscache.DeletedFinalStateUnknown:
				if node, ok := n.Obj.(*corev1.Node); ok {
					s.cache.removeNode(node.Name)
				}
			}
		},
	}); err != nil {
		return nil, err
	}
	if _, err := s.factory.Core().V1().Namespaces().Informer().AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { s.cache.setNamespace(obj.(*corev1.Namespace)) },
		UpdateFunc: func(old, obj any) {
			o, n := old.(*corev1.Namespace), obj.(*corev1.Namespace)
			s.cache.setNamespace(n)
			if !labels.Equals(o.Labels, n.Labels) {
				s.queue.moveAll()
			}
		},
		DeleteFunc: func(obj any) {
			if ns, ok := obj.(*corev1.Namespace); ok {
				s.cache.removeNamespace(ns.Name)
			}
		},
	}); err != nil {
		return nil, err
	}
	if _, err := s.factory.Core().V1().PersistentVolumeClaims().Informer().AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		// A pod waits for its claim to exist: try it again when one appears.
		AddFunc: func(any) { s.queue.moveAll() },
	}); err != nil {
		return nil, err
	}
	s.factory.Scheduling().V1().PriorityClasses().Informer()
	return s, nil
}

// Run schedules until ctx ends; with LeaderElect, only while it holds the
// lease. It returns nil when ctx ends, an error if it could not start or lost
// the lease. A Scheduler runs once.
func (s *Scheduler) Run(ctx context.Context) error {
	err := errors.New("scheduler: Run called twice")
	s.runOnce.Do(func() {
		if !s.cfg.LeaderElect {
			err = s.run(ctx)
			return
		}
		err = s.runElected(ctx)
	})
	return err
}

func (s *Scheduler) runElected(ctx context.Context) error {
	name := "kube-scheduler"
	if s.cfg.SchedulerName != DefaultSchedulerName {
		name = s.cfg.SchedulerName
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: metav1.NamespaceSystem, Name: name},
		Client:     s.client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: s.cfg.Identity},
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The elector runs OnStartedLeading in its own goroutine and does not wait
	// for it: the result comes back on ran.
	ran := make(chan error, 1)
	var lost atomic.Bool
	var mu sync.Mutex
	leading, returned := false, false
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock,
		// kube-scheduler's defaults.
		LeaseDuration:   15 * time.Second,
		RenewDeadline:   10 * time.Second,
		RetryPeriod:     2 * time.Second,
		ReleaseOnCancel: true,
		Name:            name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				mu.Lock()
				if returned {
					mu.Unlock()
					return
				}
				leading = true
				mu.Unlock()
				s.log.Info("leading", "identity", s.cfg.Identity, "lease", metav1.NamespaceSystem+"/"+name)
				ran <- s.run(ctx)
			},
			OnStoppedLeading: func() {
				if ctx.Err() == nil {
					lost.Store(true)
				}
				cancel()
			},
		},
	})
	if err != nil {
		return fmt.Errorf("leader election: %w", err)
	}
	le.Run(ctx)
	mu.Lock()
	returned = true
	wasLeading := leading
	mu.Unlock()
	var runErr error
	if wasLeading {
		runErr = <-ran // wait for the scheduler to stop
	}
	if runErr != nil {
		return runErr
	}
	if lost.Load() {
		return errors.New("scheduler: leader election lost")
	}
	return nil
}

func (s *Scheduler) run(ctx context.Context) error {
	s.log.Info("scheduler starting", "scheduler-name", s.cfg.SchedulerName,
		"initial-backoff", s.cfg.InitialBackoff, "max-backoff", s.cfg.MaxBackoff,
		"parallelism", s.cfg.Parallelism, "hide-taint-values", s.cfg.HideTaintValues,
		"leader-elect", s.cfg.LeaderElect)
	broadcaster := events.NewEventBroadcasterAdapterWithContext(ctx, s.eventClient)
	broadcaster.StartRecordingToSink(ctx.Done())
	defer broadcaster.Shutdown()
	s.recorder = broadcaster.NewRecorder(s.cfg.SchedulerName)

	s.factory.Start(ctx.Done())
	s.podFactory.Start(ctx.Done())
	defer s.factory.Shutdown()
	defer s.podFactory.Shutdown()
	for typ, ok := range s.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return s.syncFailed(ctx, fmt.Errorf("scheduler: %v informer did not sync", typ))
		}
	}
	for typ, ok := range s.podFactory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return s.syncFailed(ctx, fmt.Errorf("scheduler: %v informer did not sync", typ))
		}
	}
	go s.queue.run(ctx.Done())
	go func() {
		<-ctx.Done()
		s.queue.close()
	}()
	for s.scheduleOne(ctx) {
	}
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *Scheduler) syncFailed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// responsible: a pending pod this scheduler should place.
func (s *Scheduler) responsible(pod *corev1.Pod) bool {
	name := pod.Spec.SchedulerName
	if name == "" {
		name = DefaultSchedulerName // what defaulting would have set
	}
	return name == s.cfg.SchedulerName
}

func (s *Scheduler) onPodAdd(pod *corev1.Pod) {
	if pod.Spec.NodeName != "" {
		s.cache.addPod(pod)
		s.cache.nominate(pod, "")
		s.queue.remove(pod.UID)
		return
	}
	if !s.responsible(pod) {
		return
	}
	s.pending(pod, true)
}

func (s *Scheduler) onPodUpdate(old, pod *corev1.Pod) {
	if pod.Spec.NodeName != "" {
		s.cache.addPod(pod)
		if old.Spec.NodeName == "" {
			s.cache.nominate(pod, "")
			s.queue.remove(pod.UID)
			return
		}
		// New labels on a placed pod can satisfy (or stop blocking) affinity.
		if !labels.Equals(old.Labels, pod.Labels) {
			s.queue.moveAll()
		}
		return
	}
	if !s.responsible(pod) {
		return
	}
	if s.cache.isAssumed(pod.UID) {
		// Being bound: an older version of the pod, the binding will follow.
		return
	}
	changed := !reflect.DeepEqual(old.Spec, pod.Spec) || !labels.Equals(old.Labels, pod.Labels) ||
		!reflect.DeepEqual(old.Annotations, pod.Annotations)
	s.pending(pod, changed)
}

// pending handles a pod waiting for a node.
func (s *Scheduler) pending(pod *corev1.Pod, changed bool) {
	s.cache.nominate(pod, pod.Status.NominatedNodeName)
	if pod.DeletionTimestamp != nil {
		s.queue.remove(pod.UID)
		return
	}
	if len(pod.Spec.SchedulingGates) > 0 {
		// Gated pods wait outside the queue until the gates are removed
		// (PodSchedulingReadiness); kubectl shows SchedulingGated.
		s.queue.remove(pod.UID)
		if c := podCondition(pod, corev1.PodScheduled); c == nil || c.Reason != corev1.PodReasonSchedulingGated {
			s.async(func(ctx context.Context) {
				s.setCondition(ctx, pod, corev1.PodReasonSchedulingGated, "Scheduling is blocked due to non-empty scheduling gates", "")
			})
		}
		return
	}
	s.queue.add(pod, s.priority(pod), changed)
}

func (s *Scheduler) onPodDelete(pod *corev1.Pod) {
	s.cache.nominate(pod, "")
	s.queue.remove(pod.UID)
	// Whatever the cache holds for it goes, assumed or bound.
	s.cache.removePod(pod.UID)
	if pod.Spec.NodeName != "" {
		// A pod left its node (deleted, or finished: finished pods drop out
		// of the informer's field selector): its room is free for the pods
		// waiting.
		s.queue.moveAll()
	}
}

func podOf(obj any) *corev1.Pod {
	switch t := obj.(type) {
	case *corev1.Pod:
		return t
	case toolscache.DeletedFinalStateUnknown:
		p, _ := t.Obj.(*corev1.Pod)
		return p
	}
	return nil
}

// nodeChangedForScheduling: the changes that can make a pending pod fit. A
// heartbeat that only refreshes timestamps is not one.
func nodeChangedForScheduling(old, n *corev1.Node) bool {
	if old.Spec.Unschedulable != n.Spec.Unschedulable ||
		!labels.Equals(old.Labels, n.Labels) ||
		!reflect.DeepEqual(old.Spec.Taints, n.Spec.Taints) ||
		!reflect.DeepEqual(newResource(old.Status.Allocatable), newResource(n.Status.Allocatable)) {
		return true
	}
	return readyStatus(old) != readyStatus(n)
}

func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

// Kubernetes' built-in priority classes, which kube-apiserver creates; they are
// resolved here even if they were never created.
var builtinPriorities = map[string]int32{
	"system-cluster-critical": 2000000000,
	"system-node-critical":    2000001000,
}

// priority resolves a pod's priority. Kubernetes' Priority admission writes it
// into spec.priority on create; where that did not happen, the pod's
// PriorityClass (or the global default class) gives it, else 0.
func (s *Scheduler) priority(pod *corev1.Pod) int32 {
	if pod.Spec.Priority != nil {
		return *pod.Spec.Priority
	}
	if name := pod.Spec.PriorityClassName; name != "" {
		if pc, err := s.pcs.Get(name); err == nil {
			return pc.Value
		}
		return builtinPriorities[name]
	}
	pcs, err := s.pcs.List(labels.Everything())
	if err != nil {
		return 0
	}
	for _, pc := range pcs {
		if pc.GlobalDefault {
			return pc.Value
		}
	}
	return 0
}

// async runs an API call on the bounded pool; the scheduling loop waits for a
// free slot, which keeps it from racing ahead of the API server.
func (s *Scheduler) async(f func(ctx context.Context)) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	s.sem <- struct{}{}
	go func() {
		defer func() {
			<-s.sem
			s.wg.Done()
		}()
		// Calls started before shutdown finish on their own deadline.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		f(ctx)
	}()
}

// scheduleOne runs one scheduling cycle; false when the queue is closed.
func (s *Scheduler) scheduleOne(ctx context.Context) bool {
	qp := s.queue.pop()
	if qp == nil {
		return false
	}
	pod, err := s.pods.Pods(qp.pod.Namespace).Get(qp.pod.Name)
	if err != nil || pod.UID != qp.pod.UID || pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil {
		s.queue.done(qp)
		return true
	}
	s.cache.updateSnapshot(s.snap, &s.snapState)
	started := time.Now()
	d := s.snap.Schedule(pod)
	log := s.log.With("pod", pod.Namespace+"/"+pod.Name)
	if d.Node != "" {
		log.Debug("scheduled", "node", d.Node, "evaluated", d.Evaluated, "feasible", d.Feasible, "took", time.Since(started))
		s.cache.assume(pod, d.Node, d.info)
		s.cache.nominate(pod, "")
		s.async(func(ctx context.Context) { s.bind(ctx, qp, pod, d.Node) })
		return true
	}
	log.Debug("unschedulable", "message", d.Message, "nominated-node", d.NominatedNode, "victims", len(d.Victims))
	if d.NominatedNode != "" {
		s.cache.nominate(pod, d.NominatedNode)
	}
	s.async(func(ctx context.Context) {
		if d.NominatedNode != "" {
			s.evict(ctx, pod, d.NominatedNode, d.Victims)
		}
		s.recorder.Eventf(pod, nil, corev1.EventTypeWarning, "FailedScheduling", "Scheduling", "%s", d.Message)
		s.setCondition(ctx, pod, corev1.PodReasonUnschedulable, d.Message, d.NominatedNode)
	})
	s.queue.unschedulableAgain(qp)
	return true
}

// bind writes the binding (pods/binding, with the pod's UID as precondition)
// and the Scheduled event.
func (s *Scheduler) bind(ctx context.Context, qp *qpod, pod *corev1.Pod, node string) {
	b := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}
	err := s.client.CoreV1().Pods(pod.Namespace).Bind(ctx, b, metav1.CreateOptions{})
	if err == nil {
		s.queue.done(qp)
		s.recorder.Eventf(pod, nil, corev1.EventTypeNormal, "Scheduled", "Binding", "Successfully assigned %v/%v to %v", pod.Namespace, pod.Name, node)
		return
	}
	s.cache.forget(pod.UID)
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		// Deleted, bound by someone else, or being deleted: the informer
		// brings the truth.
		s.log.Info("binding rejected", "pod", pod.Namespace+"/"+pod.Name, "node", node, "err", err)
		s.queue.done(qp)
		return
	}
	s.log.Warn("binding failed", "pod", pod.Namespace+"/"+pod.Name, "node", node, "err", err)
	s.recorder.Eventf(pod, nil, corev1.EventTypeWarning, "FailedScheduling", "Scheduling", "Binding rejected: %v", err)
	s.queue.retry(qp)
}

// setCondition records PodScheduled=False with reason and message, and the
// nominated node, unless the pod already says so.
func (s *Scheduler) setCondition(ctx context.Context, pod *corev1.Pod, reason, message, nominated string) {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := s.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cur.UID != pod.UID || cur.Spec.NodeName != "" {
			return nil
		}
		cond := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: reason, Message: message}
		if !setPodCondition(&cur.Status, cond) && (nominated == "" || cur.Status.NominatedNodeName == nominated) {
			return nil
		}
		if nominated != "" {
			cur.Status.NominatedNodeName = nominated
		}
		_, err = s.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
	if err != nil && !apierrors.IsNotFound(err) {
		s.log.Warn("pod condition", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// setPodCondition sets c in status and reports whether anything changed; the
// transition time moves only when the condition's status does.
func setPodCondition(status *corev1.PodStatus, c corev1.PodCondition) bool {
	now := metav1.Now()
	for i := range status.Conditions {
		old := &status.Conditions[i]
		if old.Type != c.Type {
			continue
		}
		if old.Status == c.Status && old.Reason == c.Reason && old.Message == c.Message {
			return false
		}
		c.LastTransitionTime = old.LastTransitionTime
		if old.Status != c.Status {
			c.LastTransitionTime = now
		}
		c.LastProbeTime = old.LastProbeTime
		*old = c
		return true
	}
	c.LastTransitionTime = now
	status.Conditions = append(status.Conditions, c)
	return true
}

// evict deletes the victims preemption chose, as kube-scheduler does: first
// the DisruptionTarget condition that tells their controllers why, then a
// graceful delete, then a Preempted event.
func (s *Scheduler) evict(ctx context.Context, preemptor *corev1.Pod, node string, victims []*corev1.Pod) {
	for _, v := range victims {
		log := s.log.With("pod", v.Namespace+"/"+v.Name, "preemptor", preemptor.Namespace+"/"+preemptor.Name, "node", node)
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := s.client.CoreV1().Pods(v.Namespace).Get(ctx, v.Name, metav1.GetOptions{})
			if err != nil || cur.UID != v.UID {
				return err
			}
			if !setPodCondition(&cur.Status, corev1.PodCondition{
				Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: corev1.PodReasonPreemptionByScheduler,
				Message: s.cfg.SchedulerName + ": preempting to accommodate a higher priority pod",
			}) {
				return nil
			}
			_, err = s.client.CoreV1().Pods(v.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil && !apierrors.IsNotFound(err) {
			log.Warn("preemption: disruption condition", "err", err)
		}
		uid := v.UID
		err = s.client.CoreV1().Pods(v.Namespace).Delete(ctx, v.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			log.Warn("preemption: delete victim", "err", err)
			continue
		}
		log.Info("preempted")
		s.recorder.Eventf(v, preemptor, corev1.EventTypeNormal, "Preempted", "Preempting", "Preempted by pod %v on node %v", preemptor.UID, node)
	}
}
