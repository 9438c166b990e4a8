package scheduler

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// fakeClock drives the queue's backoff without waiting.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestQueue() (*queue, *fakeClock) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	q := newQueue(time.Second, 10*time.Second)
	q.now = clk.now
	return q, clk
}

func popName(t *testing.T, q *queue) (*qpod, string) {
	t.Helper()
	done := make(chan *qpod, 1)
	go func() { done <- q.pop() }()
	select {
	case p := <-done:
		if p == nil {
			return nil, ""
		}
		return p, p.pod.Name
	case <-time.After(5 * time.Second):
		q.close()
		t.Fatal("pop blocked")
		return nil, ""
	}
}

func TestQueue(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, q *queue, clk *fakeClock)
	}{
		{
			name: "priority first, then arrival",
			run: func(t *testing.T, q *queue, clk *fakeClock) {
				q.add(mkPod("low", "", ""), 1, false)
				clk.advance(time.Millisecond)
				q.add(mkPod("high", "", ""), 100, false)
				clk.advance(time.Millisecond)
				q.add(mkPod("low2", "", ""), 1, false)
				for _, want := range []string{"high", "low", "low2"} {
					if _, got := popName(t, q); got != want {
						t.Fatalf("popped %q, want %q", got, want)
					}
				}
			},
		},
		{
			name: "an unschedulable pod waits for a cluster event, not a timer",
			run: func(t *testing.T, q *queue, clk *fakeClock) {
				q.add(mkPod("p", "", ""), 0, false)
				p, _ := popName(t, q)
				q.unschedulableAgain(p)
				clk.advance(time.Minute)
				q.flush()
				if a, b, u := q.counts(); a != 0 || b != 0 || u != 1 {
					t.Fatalf("active/backoff/unschedulable = %d/%d/%d, want 0/0/1", a, b, u)
				}
				q.moveAll()
				if a, _, _ := q.counts(); a != 1 {
					t.Fatalf("after moveAll: active = %d, want 1", a)
				}
			},
		},
		{
			name: "moved during its backoff, a pod waits the backoff out",
			run: func(t *testing.T, q *queue, clk *fakeClock) {
				q.add(mkPod("p", "", ""), 0, false)
				p, _ := popName(t, q)
				q.unschedulableAgain(p)
				q.moveAll()
				if a, b, _ := q.counts(); a != 0 || b != 1 {
					t.Fatalf("active/backoff = %d/%d, want 0/1", a, b)
				}
				clk.advance(999 * time.Millisecond)
				q.flush()
				if a, _, _ := q.counts(); a != 0 {
					t.Fatal("left backoff early")
				}
				clk.advance(time.Millisecond)
				q.flush()
				if a, _, _ := q.counts(); a != 1 {
					t.Fatal("still in backoff after 1s")
				}
			},
		},
		{
			name: "backoff doubles up to the maximum",
			run: func(t *testing.T, q *queue, clk *fakeClock) {
				p := &qpod{pod: mkPod("p", "", ""), lastTry: clk.now()}
				for attempts, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 9: 10 * time.Second} {
					p.attempts = attempts
					if got := q.backoffEnd(p).Sub(clk.now()); got != want {
						t.Errorf("attempt %d: backoff %s, want %s", attempts, got, want)
					}
				}
			},
		},
		{
			name: "an event during the cycle is not lost",
			run: func(t *testing.T, q *queue, clk *fakeClock) {
				q.add(mkPod("p", "", ""), 0, false)
				p, _ := popName(t, q)
				q.moveAll() // a node appeared while p was being scheduled
				q.unschedulableAgain(p)
				if _, b, u := q.counts(); b != 1 || u != 0 {
					t.Fatalf("backoff/unschedulable = %d/%d, want 1/0", b, u)
				}
			},
		},
		{
			name: "a changed pod is tried again, a status-only update is not",
			run: func(t *testing.T, q *queue, clk *fakeClock) {
				pod := mkPod("p", "", "")
				q.add(pod, 0, false)
				p, _ := popName(t, q)
				q.unschedulableAgain(p)
				q.add(pod, 0, false)
				if _, _, u := q.counts(); u != 1 {
					t.Fatal("status-only update moved the pod")
				}
				q.add(pod, 0, true)
				if _, _, u := q.counts(); u != 0 {
					t.Fatal("changed pod stayed parked")
				}
			},
		},
		{
			name: "deleted while in flight",
			run: func(t *testing.T, q *queue, clk *fakeClock) {
				pod := mkPod("p", "", "")
				q.add(pod, 0, false)
				p, _ := popName(t, q)
				q.remove(pod.UID)
				q.unschedulableAgain(p)
				if a, b, u := q.counts(); a+b+u != 0 || len(q.all) != 0 {
					t.Fatalf("deleted pod still queued: %d/%d/%d", a, b, u)
				}
			},
		},
		{
			name: "parked pods are retried after five minutes anyway",
			run: func(t *testing.T, q *queue, clk *fakeClock) {
				q.add(mkPod("p", "", ""), 0, false)
				p, _ := popName(t, q)
				q.unschedulableAgain(p)
				clk.advance(5 * time.Minute)
				q.flush()
				if a, _, _ := q.counts(); a != 1 {
					t.Fatal("not flushed")
				}
			},
		},
		{
			name: "close wakes pop",
			run: func(t *testing.T, q *queue, clk *fakeClock) {
				got := make(chan *qpod, 1)
				go func() { got <- q.pop() }()
				q.close() // whether pop is already waiting or not, it must return
				select {
				case p := <-got:
					if p != nil {
						t.Fatal("pop returned a pod after close")
					}
				case <-time.After(5 * time.Second):
					t.Fatal("pop still blocked after close")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, clk := newTestQueue()
			tt.run(t, q, clk)
		})
	}
}

// TestCacheSnapshot: the snapshot copies only what changed, and assumed pods
// count at once.
func TestCacheSnapshot(t *testing.T) {
	c := newCache(func(*corev1.Pod) int32 { return 0 })
	c.setNode(mkNode("a", "2", "4Gi"))
	c.setNode(mkNode("b", "2", "4Gi"))
	s, st := &Snapshot{}, &snapshotState{}
	c.updateSnapshot(s, st)
	if len(s.Nodes) != 2 || s.Nodes[0].Name() != "a" {
		t.Fatalf("nodes %v", s.Nodes)
	}
	bBefore := s.Node("b")

	pod := mkPod("p", "2", "")
	c.assume(pod, "a", nil)
	c.updateSnapshot(s, st)
	if d := s.Schedule(mkPod("q", "2", "")); d.Node != "b" {
		t.Fatalf("assumed pod not counted: %q %s", d.Node, d.Message)
	}
	if s.Node("b") != bBefore {
		t.Error("unchanged node was copied again")
	}
	if s.Nodes[0] != s.Node("a") {
		t.Error("sorted list not updated in place")
	}

	c.forget(pod.UID)
	c.updateSnapshot(s, st)
	if len(s.Node("a").Pods) != 0 {
		t.Error("forgotten pod still there")
	}

	bound := pod.DeepCopy()
	bound.Spec.NodeName = "a"
	c.assume(pod, "a", nil)
	c.addPod(bound) // the informer confirms
	if c.isAssumed(pod.UID) {
		t.Error("still assumed after confirmation")
	}
	c.forget(pod.UID) // a late failure must not drop a confirmed pod
	c.updateSnapshot(s, st)
	if len(s.Node("a").Pods) != 1 {
		t.Error("confirmed pod dropped")
	}

	c.removeNode("b")
	c.setNode(mkNode("c", "2", "4Gi"))
	c.updateSnapshot(s, st)
	if len(s.Nodes) != 2 || s.Node("b") != nil || s.Node("c") == nil {
		t.Errorf("node set not rebuilt: %d nodes", len(s.Nodes))
	}
}
