package kubelet

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// watchPods lists then watches the pods bound to this node; each pod gets a
// worker that syncs it whenever it, its containers or its sources change. Once
// the first list is in, containers of pods that no longer exist (deleted while
// the kubelet was down) are removed.
func (k *Kubelet) watchPods(ctx context.Context) error {
	f := informers.NewSharedInformerFactoryWithOptions(k.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", k.cfg.NodeName).String()
	}))
	inf := f.Core().V1().Pods().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.podChanged(obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { k.podChanged(obj.(*corev1.Pod)) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				k.podRemoved(p)
			}
		},
	})
	if err != nil {
		return err
	}
	f.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return fmt.Errorf("kubelet: pod cache did not sync")
	}
	k.mu.Lock()
	k.podStore = inf.GetStore()
	k.mu.Unlock()
	live := map[types.UID]bool{}
	for _, obj := range inf.GetStore().List() {
		live[obj.(*corev1.Pod).UID] = true
	}
	if err := k.removeOrphans(ctx, live); err != nil {
		k.log.Warn("remove containers of deleted pods", "err", err)
	}
	k.wg.Add(1)
	go func() { defer k.wg.Done(); k.housekeeping(ctx, inf.GetStore()) }()
	return nil
}

func (k *Kubelet) podChanged(p *corev1.Pod) {
	k.mu.Lock()
	w := k.workers[p.UID]
	if w == nil {
		if k.ctx.Err() != nil {
			k.mu.Unlock()
			return
		}
		w = newPodWorker(k, p)
		k.workers[p.UID] = w
		k.wg.Add(1)
		go func() { defer k.wg.Done(); w.run() }()
	}
	k.mu.Unlock()
	w.update(p)
}

// podRemoved: the pod is gone from the API (force-deleted, or deleted by us once
// its containers stopped). Whatever still runs is stopped at once.
func (k *Kubelet) podRemoved(p *corev1.Pod) {
	k.mu.Lock()
	w := k.workers[p.UID]
	k.mu.Unlock()
	if w != nil {
		w.markRemoved()
	}
}

func (k *Kubelet) workerFor(uid types.UID) *podWorker {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.workers[uid]
}

func (k *Kubelet) forgetWorker(uid types.UID) {
	k.mu.Lock()
	delete(k.workers, uid)
	k.mu.Unlock()
}

// onSourceChange resyncs the pods of a namespace whose ConfigMap or Secret
// changed, so their volumes follow.
func (k *Kubelet) onSourceChange(namespace string) {
	k.mu.Lock()
	var ws []*podWorker
	for _, w := range k.workers {
		if w.namespace == namespace {
			ws = append(ws, w)
		}
	}
	k.mu.Unlock()
	for _, w := range ws {
		w.kickNow()
	}
}

// housekeeping resyncs every pod periodically (probes and backoffs kick their
// own workers; this is the safety net) and collects unused images.
func (k *Kubelet) housekeeping(ctx context.Context, store cache.Store) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		k.mu.Lock()
		for _, w := range k.workers {
			w.kickNow()
		}
		k.mu.Unlock()
		k.collectImages(ctx, store)
	}
}

// podWorker serialises the syncs of one pod.
type podWorker struct {
	k         *Kubelet
	uid       types.UID
	namespace string
	kick      chan struct{}
	done      chan struct{}
	stopOnce  sync.Once

	mu      sync.Mutex
	pod     *corev1.Pod
	removed bool
	evicted string // eviction message, once evicted

	// state kept between syncs (all touched only by the worker goroutine, or
	// under mu where noted)
	startTime    time.Time
	podIP        string
	backoff      map[string]*backoff // per container name: CrashLoopBackOff
	pullBackoff  map[string]*backoff // per container name: ImagePullBackOff
	waiting      map[string]corev1.ContainerStateWaiting
	probes       map[string]*prober // per containerd id
	lastStatus   *corev1.PodStatus
	timer        *time.Timer
	timerAt      time.Time
	sandboxReady bool
}

func newPodWorker(k *Kubelet, p *corev1.Pod) *podWorker {
	return &podWorker{
		k: k, uid: p.UID, namespace: p.Namespace,
		kick: make(chan struct{}, 1), done: make(chan struct{}),
		backoff: map[string]*backoff{}, pullBackoff: map[string]*backoff{},
		waiting: map[string]corev1.ContainerStateWaiting{}, probes: map[string]*prober{},
	}
}

func (w *podWorker) update(p *corev1.Pod) {
	w.mu.Lock()
	// The informer's event for our own status write carries the object the
	// write returned, already adopted: nothing new to sync.
	echo := w.pod != nil && w.pod.UID == p.UID && w.pod.ResourceVersion == p.ResourceVersion
	if !echo {
		w.pod = p.DeepCopy()
	}
	w.mu.Unlock()
	if !echo {
		w.kickNow()
	}
}

// adopt makes the pod the API server returned for our status write the
// worker's copy, unless a newer one came in meanwhile (its resourceVersion is
// none of bases): the next sync starts from what is stored instead of a stale
// copy (which would write the same status again, and conflict).
func (w *podWorker) adopt(p *corev1.Pod, bases ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pod != nil && w.pod.UID == p.UID && slices.Contains(bases, w.pod.ResourceVersion) {
		w.pod = p
	}
}

func (w *podWorker) markRemoved() {
	w.mu.Lock()
	w.removed = true
	w.mu.Unlock()
	w.kickNow()
}

func (w *podWorker) kickNow() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// kickAfter schedules a sync (backoff expiry, retry). The earliest pending
// deadline wins: that sync schedules the later ones again.
func (w *podWorker) kickAfter(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	at := time.Now().Add(d)
	if w.timer != nil && time.Now().Before(w.timerAt) && !at.Before(w.timerAt) {
		return
	}
	if w.timer != nil {
		w.timer.Stop()
	}
	w.timerAt = at
	w.timer = time.AfterFunc(d, w.kickNow)
}

func (w *podWorker) stop() {
	w.stopOnce.Do(func() { close(w.done) })
}

func (w *podWorker) snapshot() (*corev1.Pod, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod.DeepCopy(), w.removed
}

func (w *podWorker) run() {
	defer w.stopProbes()
	for {
		select {
		case <-w.done:
			return
		case <-w.k.ctx.Done():
			return
		case <-w.kick:
		}
		pod, removed := w.snapshot()
		finished, err := w.sync(w.k.ctx, pod, removed)
		if err != nil && w.k.ctx.Err() == nil {
			w.k.log.Warn("sync pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
			w.kickAfter(2 * time.Second)
		}
		if finished {
			w.k.forgetWorker(w.uid)
			return
		}
	}
}

func (w *podWorker) stopProbes() {
	for id, p := range w.probes {
		p.stop()
		delete(w.probes, id)
	}
}

// backoff is the kubelet's restart backoff: 10 s doubling up to 5 min, reset
// when 10 minutes pass between two failures (flowcontrol.Backoff's expiry).
type backoff struct {
	delay    time.Duration
	until    time.Time
	last     time.Time // the failure the delay was last advanced for
	reported string    // the container instance whose back-off was reported
}

const (
	backoffInitial = 10 * time.Second
	backoffMax     = 5 * time.Minute
)

func (b *backoff) next(now time.Time) time.Duration {
	if b.delay == 0 || b.expired(now) {
		b.delay = backoffInitial
	} else {
		b.delay *= 2
		if b.delay > backoffMax {
			b.delay = backoffMax
		}
	}
	b.last = now
	b.until = now.Add(b.delay)
	return b.delay
}

func (b *backoff) expired(now time.Time) bool {
	return !b.last.IsZero() && now.Sub(b.last) > 2*backoffMax
}

// cList is the pod's containerd containers, by kind and container name.
type cList struct {
	sandbox    *record
	containers map[string][]*record // newest first
	// stale: containers were stopped or removed since the list was made.
	stale bool
}

func (l *cList) latest(name string) *record {
	if rs := l.containers[name]; len(rs) > 0 {
		return rs[0]
	}
	return nil
}
