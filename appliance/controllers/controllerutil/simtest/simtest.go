// Package simtest is the controllers' integration tests' stand-in for the
// scheduler and the kubelets: a Sim binds and starts pods in one namespace,
// CreateNode registers a live node, WatchPods checks invariants at every step.
package simtest

import (
	"context"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
)

// Sim plays, for one namespace, what the controllers' integration tests have no
// process for: the scheduler (binds pods through pods/binding to the node that
// target names) and the kubelets (report bound pods Running and Ready through
// pods/status, and confirm graceful deletions of pods on a node by deleting
// them with a zero grace period, as a kubelet does once the containers are
// stopped). ready decides which pods the kubelet starts; nil starts none.
type Sim struct {
	target func(*corev1.Pod) (string, bool)
	client kubernetes.Interface
	lister corelisters.PodLister
	queue  workqueue.TypedRateLimitingInterface[string]
	mu     sync.Mutex
	ready  func(*corev1.Pod) bool
	cancel context.CancelFunc
	done   chan struct{}
}

// Start runs a Sim until the test ends. target picks a pending pod's node
// (false leaves the pod pending).
func Start(t *testing.T, client kubernetes.Interface, ns string, target func(*corev1.Pod) (string, bool), ready func(*corev1.Pod) bool) *Sim {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sim{target: target, ready: ready, client: client, cancel: cancel, done: make(chan struct{}),
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](10*time.Millisecond, time.Second))}
	factory := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(ns))
	pods := factory.Core().V1().Pods()
	s.lister = pods.Lister()
	add := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			s.queue.Add(key)
		}
	}
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: func(_, o any) { add(o) }})
	factory.Start(ctx.Done())
	factory.WaitForCacheSync(ctx.Done())
	go func() {
		defer close(s.done)
		go func() { <-ctx.Done(); s.queue.ShutDown() }()
		for {
			key, quit := s.queue.Get()
			if quit {
				return
			}
			if err := s.handle(ctx, key); err != nil && ctx.Err() == nil {
				s.queue.AddRateLimited(key)
			} else {
				s.queue.Forget(key)
			}
			s.queue.Done(key)
		}
	}()
	t.Cleanup(func() { cancel(); <-s.done; factory.Shutdown() })
	return s
}

// SetReady changes which pods become ready and looks at every pod again.
func (s *Sim) SetReady(fn func(*corev1.Pod) bool) {
	s.mu.Lock()
	s.ready = fn
	s.mu.Unlock()
	pods, _ := s.lister.List(labels.Everything())
	for _, p := range pods {
		s.queue.Add(p.Namespace + "/" + p.Name)
	}
}

func (s *Sim) handle(ctx context.Context, key string) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	pod, err := s.lister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	pods := s.client.CoreV1().Pods(ns)
	switch {
	case pod.DeletionTimestamp != nil:
		if pod.Spec.NodeName == "" {
			return nil
		}
		err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	case pod.Spec.NodeName == "":
		node, ok := s.target(pod)
		if !ok {
			return nil
		}
		err := pods.Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: name, UID: pod.UID},
			Target: corev1.ObjectReference{Kind: "Node", Name: node}}, metav1.CreateOptions{})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	}
	s.mu.Lock()
	ready := s.ready
	s.mu.Unlock()
	if PodReady(pod) || ready == nil || !ready(pod) {
		return nil
	}
	p := pod.DeepCopy()
	now := metav1.Now()
	p.Status.Phase = corev1.PodRunning
	p.Status.StartTime = &now
	p.Status.Conditions = nil
	for _, ct := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: ct, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	p.Status.ContainerStatuses = nil
	for _, c := range p.Spec.Containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: "sim://" + c.Image, Ready: true, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	_, err = pods.UpdateStatus(ctx, p, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil // a newer version of the pod is on its way to the queue
	}
	return err
}

// PodReady reports the pod's Ready condition.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// CreateNode registers a Ready node, as a kubelet does: create, then report
// status (creation ignores the status), and keep its Lease in kube-node-lease
// renewed until the test ends, so the node lifecycle controller of the
// appliance under test sees a live node.
func CreateNode(t *testing.T, client kubernetes.Interface, name string, lbls map[string]string, taints ...corev1.Taint) {
	t.Helper()
	ctx := context.Background()
	if _, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls},
		Spec:       corev1.NodeSpec{Taints: taints},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	// Other controllers (node IPAM) write the node meanwhile: retry.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		n.Status = corev1.NodeStatus{
			Phase:       corev1.NodeRunning,
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}},
			Capacity:    corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110")},
			Allocatable: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110")},
		}
		_, err = client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("node %s status: %v", name, err)
	}
	hbCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		leases := client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](40)}}
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
			if cur, err := leases.Get(hbCtx, name, metav1.GetOptions{}); err == nil {
				cur.Spec = lease.Spec
				_, _ = leases.Update(hbCtx, cur, metav1.UpdateOptions{})
			} else {
				_, _ = leases.Create(hbCtx, lease, metav1.CreateOptions{})
			}
			select {
			case <-hbCtx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		stop()
		<-done
		_ = client.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

// Eventually polls cond every 20 ms until it holds, failing the test after
// timeout with cond's last explanation.
func Eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		ok, why := cond()
		last = why
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s: %s", what, timeout, last)
	}
}

// PodWatch follows the pods of a namespace through one watch, in the order the
// API server (etcd) serialised the changes, and calls observe with the whole
// set after each event: invariants checked there hold at every moment the
// cluster went through, not only at the moments a poll happened to look.
type PodWatch struct {
	stop   context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	broken string
}

// WatchPods starts a PodWatch; it stops when the test ends.
func WatchPods(t *testing.T, client kubernetes.Interface, ns string, selector string, observe func(pods map[string]*corev1.Pod)) *PodWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	list, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	pods := map[string]*corev1.Pod{}
	for i := range list.Items {
		pods[list.Items[i].Name] = &list.Items[i]
	}
	observe(pods)
	w, err := client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: list.ResourceVersion, TimeoutSeconds: ptr.To[int64](600)})
	if err != nil {
		t.Fatalf("watch pods: %v", err)
	}
	pw := &PodWatch{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(pw.done)
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.ResultChan():
				if !ok {
					pw.fail("watch ended early")
					return
				}
				pod, isPod := ev.Object.(*corev1.Pod)
				switch {
				case ev.Type == watch.Error || !isPod:
					pw.fail("watch error: " + string(ev.Type))
					return
				case ev.Type == watch.Deleted:
					delete(pods, pod.Name)
				case ev.Type == watch.Bookmark:
					continue
				default:
					pods[pod.Name] = pod
				}
				observe(pods)
			}
		}
	}()
	t.Cleanup(func() { pw.Stop() })
	return pw
}

func (pw *PodWatch) fail(why string) {
	pw.mu.Lock()
	pw.broken = why
	pw.mu.Unlock()
}

// Stop ends the watch and reports whether it saw everything.
func (pw *PodWatch) Stop() string {
	pw.stop()
	<-pw.done
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return pw.broken
}
