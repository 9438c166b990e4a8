package scheduler

import (
	"container/heap"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// queue is the scheduling queue, shaped like kube-scheduler's: an active heap
// ordered by priority then arrival (PrioritySort), a backoff heap for pods that
// failed recently, and a pool of unschedulable pods that wait for a cluster
// event (a node added or changed, a pod deleted) that could make them fit.
// Pods leave the pool on such an event, not on a timer; the only timer is a
// five-minute safety flush, as in Kubernetes.
type queue struct {
	mu   sync.Mutex
	cond *sync.Cond

	active        qheap
	backoff       qheap
	unschedulable map[types.UID]*qpod
	inFlight      map[types.UID]*qpod
	all           map[types.UID]*qpod

	initialBackoff, maxBackoff time.Duration
	maxUnschedulable           time.Duration
	now                        func() time.Time

	// cycle counts pops; moveCycle is the cycle of the last cluster event.
	// A pod that fails after an event it may not have seen goes to backoff
	// instead of the unschedulable pool, so the event is not lost.
	cycle, moveCycle int64
	closed           bool
	wake             chan struct{}
}

// qpod is a pod waiting in the queue.
type qpod struct {
	pod       *corev1.Pod
	priority  int32
	added     time.Time // first time queued, for FIFO order within a priority
	attempts  int
	lastTry   time.Time
	parked    time.Time // when it entered the unschedulable pool
	cycle     int64     // the cycle it was popped in
	updated   bool      // changed while in flight
	deleted   bool      // deleted while in flight
	index     int
	whichHeap *qheap
}

type qheap struct {
	items []*qpod
	less  func(a, b *qpod) bool
}

func (h *qheap) Len() int           { return len(h.items) }
func (h *qheap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *qheap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index, h.items[j].index = i, j
}
func (h *qheap) Push(x any) {
	p := x.(*qpod)
	p.index = len(h.items)
	p.whichHeap = h
	h.items = append(h.items, p)
}
func (h *qheap) Pop() any {
	old := h.items
	p := old[len(old)-1]
	h.items = old[:len(old)-1]
	p.whichHeap = nil
	return p
}

func newQueue(initialBackoff, maxBackoff time.Duration) *queue {
	q := &queue{
		unschedulable:    map[types.UID]*qpod{},
		inFlight:         map[types.UID]*qpod{},
		all:              map[types.UID]*qpod{},
		initialBackoff:   initialBackoff,
		maxBackoff:       maxBackoff,
		maxUnschedulable: 5 * time.Minute,
		now:              time.Now,
		wake:             make(chan struct{}, 1),
	}
	q.cond = sync.NewCond(&q.mu)
	q.active.less = func(a, b *qpod) bool {
		if a.priority != b.priority {
			return a.priority > b.priority
		}
		return a.added.Before(b.added)
	}
	q.backoff.less = func(a, b *qpod) bool { return q.backoffEnd(a).Before(q.backoffEnd(b)) }
	return q
}

// backoffEnd: the wait doubles with each failed attempt, from initialBackoff
// up to maxBackoff (1 s and 10 s by default, as kube-scheduler).
func (q *queue) backoffEnd(p *qpod) time.Time {
	if p.attempts == 0 {
		return p.lastTry
	}
	d := q.initialBackoff
	for i := 1; i < p.attempts && d < q.maxBackoff; i++ {
		d *= 2
	}
	return p.lastTry.Add(min(d, q.maxBackoff))
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// add queues a new pending pod, or refreshes one already known. When changed
// is set (the spec or labels changed, not just the status), a pod parked as
// unschedulable goes back to be tried again: the user may have fixed what kept
// it pending.
func (q *queue) add(pod *corev1.Pod, priority int32, changed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if p, ok := q.all[pod.UID]; ok {
		p.pod, p.priority = pod, priority
		switch {
		case q.inFlight[pod.UID] != nil:
			p.updated = p.updated || changed
		case q.unschedulable[pod.UID] != nil && changed:
			delete(q.unschedulable, pod.UID)
			q.requeueLocked(p)
		case p.whichHeap != nil:
			heap.Fix(p.whichHeap, p.index)
		}
		return
	}
	p := &qpod{pod: pod, priority: priority, added: q.now()}
	q.all[pod.UID] = p
	heap.Push(&q.active, p)
	q.cond.Broadcast()
}

// remove forgets a pod that was deleted or bound elsewhere.
func (q *queue) remove(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	p, ok := q.all[uid]
	if !ok {
		return
	}
	if q.inFlight[uid] != nil {
		p.deleted = true
		return
	}
	delete(q.all, uid)
	delete(q.unschedulable, uid)
	if p.whichHeap != nil {
		heap.Remove(p.whichHeap, p.index)
	}
}

// pop blocks until a pod is active or the queue closes (nil).
func (q *queue) pop() *qpod {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.active.Len() == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return nil
	}
	p := heap.Pop(&q.active).(*qpod)
	q.cycle++
	p.cycle = q.cycle
	p.updated = false
	q.inFlight[p.pod.UID] = p
	return p
}

// done ends a pod's stay: it was bound (or is gone).
func (q *queue) done(p *qpod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.inFlight, p.pod.UID)
	delete(q.all, p.pod.UID)
}

// unschedulableAgain parks a pod that fit nowhere, unless a cluster event came
// while it was being scheduled (or the pod itself changed): then it only backs
// off, so that event is not missed.
func (q *queue) unschedulableAgain(p *qpod) {
	q.failed(p, false)
}

// retry puts back a pod whose cycle failed for an error (an API call): it backs
// off and tries again.
func (q *queue) retry(p *qpod) {
	q.failed(p, true)
}

func (q *queue) failed(p *qpod, isError bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.inFlight, p.pod.UID)
	if p.deleted || q.closed {
		delete(q.all, p.pod.UID)
		return
	}
	p.attempts++
	p.lastTry = q.now()
	if isError || p.updated || q.moveCycle >= p.cycle {
		heap.Push(&q.backoff, p)
		q.signal()
		return
	}
	p.parked = p.lastTry
	q.unschedulable[p.pod.UID] = p
}

// moveAll sends every parked pod back to be tried, because something changed
// that could make it fit: to backoff if its wait is not over, else to active.
func (q *queue) moveAll() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveCycle = q.cycle
	if len(q.unschedulable) == 0 {
		return
	}
	for uid, p := range q.unschedulable {
		delete(q.unschedulable, uid)
		q.requeueLocked(p)
	}
}

func (q *queue) requeueLocked(p *qpod) {
	if q.backoffEnd(p).After(q.now()) {
		heap.Push(&q.backoff, p)
		q.signal()
		return
	}
	heap.Push(&q.active, p)
	q.cond.Broadcast()
}

// flush moves pods whose backoff ended to active and pods parked longer than
// maxUnschedulable back to be tried; it returns when the next backoff ends.
func (q *queue) flush() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	for q.backoff.Len() > 0 {
		p := q.backoff.items[0]
		if q.backoffEnd(p).After(now) {
			break
		}
		heap.Pop(&q.backoff)
		heap.Push(&q.active, p)
		q.cond.Broadcast()
	}
	for uid, p := range q.unschedulable {
		if now.Sub(p.parked) >= q.maxUnschedulable {
			delete(q.unschedulable, uid)
			q.requeueLocked(p)
		}
	}
	next := 30 * time.Second
	if q.backoff.Len() > 0 {
		next = min(next, q.backoffEnd(q.backoff.items[0]).Sub(now))
	}
	return max(next, time.Millisecond)
}

// run flushes on time until stop closes.
func (q *queue) run(stop <-chan struct{}) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-stop:
			return
		case <-timer.C:
		case <-q.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		timer.Reset(q.flush())
	}
}

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}

// counts reports the sizes of the active, backoff and unschedulable sets.
func (q *queue) counts() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Len(), q.backoff.Len(), len(q.unschedulable)
}
