// Package fakekubelet plays the kubelet in controller tests that run against a
// real API server but have no node: it watches pods and reports them Running and
// Ready through pods/status, as a kubelet does once containers start and
// readiness probes pass. Tests choose which pods become ready and how late, to
// drive rollouts step by step (or to stall them).
package fakekubelet

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Config says which pods the fake kubelet starts.
type Config struct {
	// Namespace limits it to one namespace; empty means all.
	Namespace string
	// Ready decides, when a pod is looked at, whether it becomes Running and
	// Ready; nil means every pod. Call Resync after changing what it answers.
	Ready func(*corev1.Pod) bool
	// Delay between a pod's appearance and its readiness (the time a kubelet
	// would take to start it).
	Delay time.Duration
}

// Kubelet is a running fake kubelet.
type Kubelet struct {
	cfg    Config
	client kubernetes.Interface
	lister corelisters.PodLister
	queue  workqueue.TypedRateLimitingInterface[string]
	done   chan struct{}
	once   sync.Once
	cancel context.CancelFunc
}

// Start runs a fake kubelet until ctx ends or Stop is called, and returns once
// its pod cache is synced.
func Start(ctx context.Context, client kubernetes.Interface, cfg Config) *Kubelet {
	ctx, cancel := context.WithCancel(ctx)
	k := &Kubelet{
		cfg: cfg, client: client, cancel: cancel, done: make(chan struct{}),
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](10*time.Millisecond, time.Second)),
	}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(cfg.Namespace))
	pods := factory.Core().V1().Pods()
	k.lister = pods.Lister()
	enqueue := func(obj any) {
		p, ok := obj.(*corev1.Pod)
		if !ok || p.DeletionTimestamp != nil || isReady(p) {
			return
		}
		if key, err := cache.MetaNamespaceKeyFunc(p); err == nil {
			k.queue.AddAfter(key, cfg.Delay)
		}
	}
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, cur any) { enqueue(cur) },
	})
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	go func() {
		defer close(k.done)
		go func() {
			<-ctx.Done()
			k.queue.ShutDown()
		}()
		for k.next(ctx) {
		}
		factory.Shutdown()
	}()
	return k
}

// Stop ends the fake kubelet and waits for it.
func (k *Kubelet) Stop() {
	k.once.Do(k.cancel)
	<-k.done
}

// Resync looks at every pod again (after Ready changed its mind).
func (k *Kubelet) Resync() {
	pods, _ := k.lister.List(labels.Everything())
	for _, p := range pods {
		if key, err := cache.MetaNamespaceKeyFunc(p); err == nil {
			k.queue.Add(key)
		}
	}
}

func (k *Kubelet) next(ctx context.Context) bool {
	key, quit := k.queue.Get()
	if quit {
		return false
	}
	defer k.queue.Done(key)
	if err := k.start(ctx, key); err != nil && ctx.Err() == nil {
		k.queue.AddRateLimited(key)
		return true
	}
	k.queue.Forget(key)
	return true
}

func (k *Kubelet) start(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	p, err := k.lister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if p.DeletionTimestamp != nil || isReady(p) || (k.cfg.Ready != nil && !k.cfg.Ready(p)) {
		return nil
	}
	p = p.DeepCopy()
	now := metav1.Now()
	p.Status.Phase = corev1.PodRunning
	p.Status.StartTime = &now
	p.Status.PodIP = "10.42.0.2"
	p.Status.PodIPs = []corev1.PodIP{{IP: "10.42.0.2"}}
	p.Status.Conditions = nil
	for _, t := range []corev1.PodConditionType{corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{
			Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now,
		})
	}
	p.Status.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: "fake://" + c.Image, ContainerID: "fake://" + string(p.UID) + "/" + c.Name,
			Ready: true, Started: ptrTo(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	_, err = k.client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) && k.gone(ctx, p) {
		return nil
	}
	return err
}

// gone: a conflict because the pod was deleted or replaced is not worth a retry.
func (k *Kubelet) gone(ctx context.Context, p *corev1.Pod) bool {
	cur, err := k.client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
	return apierrors.IsNotFound(err) || (err == nil && (cur.UID != p.UID || cur.DeletionTimestamp != nil))
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func ptrTo[T any](v T) *T { return &v }
