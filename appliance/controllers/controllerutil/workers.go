package controllerutil

import (
	"context"
	"log/slog"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/workqueue"
)

// RunWorkers runs workers goroutines (at least one), each taking keys from
// queue and handing them to process, until ctx ends. It then shuts queue down
// and returns once every worker has finished the key it was on. process is
// responsible for Forget or AddRateLimited; RunWorkers calls Done.
func RunWorkers(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string], workers int, process func(ctx context.Context, key string)) {
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Go(func() {
			for processNext(ctx, queue, process) {
			}
		})
	}
	<-ctx.Done()
	queue.ShutDown()
	wg.Wait()
}

func processNext(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string], process func(ctx context.Context, key string)) bool {
	key, quit := queue.Get()
	if quit {
		return false
	}
	defer queue.Done(key)
	process(ctx, key)
	return true
}

// RetryUpTo handles the outcome of syncing key: a success is forgotten, a
// failure is retried with the queue's backoff until maxRetries, then logged
// and dropped until the next change. kind names the key in the log (e.g.
// "replica-set").
func RetryUpTo(queue workqueue.TypedRateLimitingInterface[string], maxRetries int, log *slog.Logger, kind, key string, err error) {
	switch {
	case err == nil:
		queue.Forget(key)
	case queue.NumRequeues(key) < maxRetries:
		log.Debug("sync failed, retrying", kind, key, "err", err)
		queue.AddRateLimited(key)
	default:
		log.Warn("sync failed, giving up until the next change", kind, key, "err", err)
		queue.Forget(key)
	}
}

// RetryForever handles the outcome of syncing key: a success is forgotten, a
// failure is retried for ever, further and further apart (up to the rate
// limiter's cap), with a warning from the sixth attempt on. kind names the
// key in the log (e.g. "job").
func RetryForever(queue workqueue.TypedRateLimitingInterface[string], log *slog.Logger, kind, key string, err error) {
	if err == nil {
		queue.Forget(key)
		return
	}
	if n := queue.NumRequeues(key); n >= 5 {
		log.Warn("sync failed, retrying", kind, key, "attempts", n+1, "err", err)
	} else {
		log.Debug("sync failed, retrying", kind, key, "err", err)
	}
	queue.AddRateLimited(key)
}

// ResolveControllerRef returns the object get finds under ref's name if it is
// still the one ref points to (same UID), or the zero T (nil) otherwise. The
// caller checks ref's Kind (and APIVersion) first.
func ResolveControllerRef[T metav1.Object](ref *metav1.OwnerReference, get func(name string) (T, error)) T {
	var zero T
	obj, err := get(ref.Name)
	if err != nil || obj.GetUID() != ref.UID {
		return zero
	}
	return obj
}

// Selecting returns the objects of list whose selector (as selectorOf gives
// it) is valid, not empty and matches lbls: those that may want to adopt an
// orphan carrying these labels.
func Selecting[T any](list []T, selectorOf func(T) *metav1.LabelSelector, lbls map[string]string) []T {
	var out []T
	for _, obj := range list {
		sel, err := metav1.LabelSelectorAsSelector(selectorOf(obj))
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(lbls)) {
			continue
		}
		out = append(out, obj)
	}
	return out
}
