package controllerutil

import (
	"sync"
	"time"
)

// ExpectationsTTL is how long unfulfilled expectations hold a controller back.
// After it, the controller syncs anyway: a watch event may have been lost, and
// Kubernetes' controllers use the same five minutes.
const ExpectationsTTL = 5 * time.Minute

// Expectations records, per controller key (namespace/name), the pod creations
// and deletions a controller has issued but its informer has not yet observed.
// While some are outstanding the controller must not act on its cache again:
// the cache would still lack the new pods (or still hold the deleted ones) and
// the controller would create or delete a second time. Deletions are tracked by
// pod key, so that a pod seen first with a deletionTimestamp and later as gone is
// counted once, as Kubernetes' UIDTrackingControllerExpectations does.
type Expectations struct {
	mu    sync.Mutex
	items map[string]*expectation
	// Now is the clock; tests replace it.
	Now func() time.Time
}

type expectation struct {
	adds     int
	deleting map[string]struct{}
	at       time.Time
}

// NewExpectations makes an empty set of expectations.
func NewExpectations() *Expectations {
	return &Expectations{items: map[string]*expectation{}, Now: time.Now}
}

// ExpectCreations records that n pods are about to be created for key,
// replacing whatever was expected before.
func (e *Expectations) ExpectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.items[key] = &expectation{adds: n, at: e.Now()}
}

// ExpectDeletions records that the pods with podKeys are about to be deleted
// for key, replacing whatever was expected before.
func (e *Expectations) ExpectDeletions(key string, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	set := make(map[string]struct{}, len(podKeys))
	for _, k := range podKeys {
		set[k] = struct{}{}
	}
	e.items[key] = &expectation{deleting: set, at: e.Now()}
}

// CreationObserved lowers the expected creations of key by one: the informer
// has seen a new pod, or a create that was expected was never attempted.
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.items[key]; ok && x.adds > 0 {
		x.adds--
	}
}

// DeletionObserved marks podKey as deleted for key, once.
func (e *Expectations) DeletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.items[key]; ok {
		delete(x.deleting, podKey)
	}
}

// Satisfied reports whether the controller for key may act on its cache: nothing
// is outstanding, nothing was ever recorded, or the record has expired.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.items[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && len(x.deleting) == 0 {
		return true
	}
	return e.Now().Sub(x.at) > ExpectationsTTL
}

// Delete forgets key (its controller object is gone).
func (e *Expectations) Delete(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.items, key)
}
