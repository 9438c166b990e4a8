package controllerutil

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/workqueue"
)

func newTestQueue() workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, time.Millisecond))
}

func TestRunWorkers(t *testing.T) {
	q := newTestQueue()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	seen := map[string]int{}
	for _, k := range []string{"a", "b", "c"} {
		q.Add(k)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		RunWorkers(ctx, q, 0, func(_ context.Context, key string) {
			mu.Lock()
			seen[key]++
			if len(seen) == 3 {
				cancel()
			}
			mu.Unlock()
			q.Forget(key)
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("RunWorkers did not return after ctx ended")
	}
	if len(seen) != 3 || !q.ShuttingDown() {
		t.Fatalf("seen %v, shutting down %v", seen, q.ShuttingDown())
	}
}

func TestRetry(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	boom := errors.New("boom")

	q := newTestQueue()
	defer q.ShutDown()
	RetryUpTo(q, 2, log, "thing", "k", boom)
	RetryUpTo(q, 2, log, "thing", "k", boom)
	if n := q.NumRequeues("k"); n != 2 {
		t.Fatalf("requeues = %d, want 2", n)
	}
	RetryUpTo(q, 2, log, "thing", "k", boom) // gives up
	if n := q.NumRequeues("k"); n != 0 {
		t.Fatalf("requeues after giving up = %d, want 0", n)
	}

	for range 7 {
		RetryForever(q, log, "thing", "f", boom)
	}
	if n := q.NumRequeues("f"); n != 7 {
		t.Fatalf("requeues = %d, want 7", n)
	}
	RetryForever(q, log, "thing", "f", nil)
	if n := q.NumRequeues("f"); n != 0 {
		t.Fatalf("requeues after success = %d, want 0", n)
	}
}

func TestResolveControllerRef(t *testing.T) {
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs", UID: "u1"}}
	get := func(name string) (*appsv1.ReplicaSet, error) {
		if name == rs.Name {
			return rs, nil
		}
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "replicasets"}, name)
	}
	if got := ResolveControllerRef(&metav1.OwnerReference{Name: "rs", UID: "u1"}, get); got != rs {
		t.Fatalf("got %v, want rs", got)
	}
	if got := ResolveControllerRef(&metav1.OwnerReference{Name: "rs", UID: "u2"}, get); got != nil {
		t.Fatalf("other UID: got %v, want nil", got)
	}
	if got := ResolveControllerRef(&metav1.OwnerReference{Name: "gone", UID: "u1"}, get); got != nil {
		t.Fatalf("missing: got %v, want nil", got)
	}
}

func TestSelecting(t *testing.T) {
	mk := func(name string, sel *metav1.LabelSelector) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: appsv1.ReplicaSetSpec{Selector: sel}}
	}
	list := []*appsv1.ReplicaSet{
		mk("match", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "a"}}),
		mk("other", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "b"}}),
		mk("empty", &metav1.LabelSelector{}),
		mk("invalid", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "bogus"}}}),
	}
	got := Selecting(list, func(rs *appsv1.ReplicaSet) *metav1.LabelSelector { return rs.Spec.Selector }, map[string]string{"app": "a"})
	if len(got) != 1 || got[0].Name != "match" {
		t.Fatalf("got %v, want [match]", got)
	}
	if got := Selecting(list[1:], func(rs *appsv1.ReplicaSet) *metav1.LabelSelector { return rs.Spec.Selector }, map[string]string{"app": "a"}); got != nil {
		t.Fatalf("got %v, want nil", got)
	}
}
