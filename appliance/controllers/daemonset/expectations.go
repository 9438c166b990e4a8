package daemonset

import (
	"sync"
	"time"
)

// expectationsTTL: after this long unobserved expectations are given up on (a
// watch event may have been lost); Kubernetes' controllers use five minutes.
const expectationsTTL = 5 * time.Minute

// expectations records, per DaemonSet key, the pod creations and deletions the
// controller has issued but its informer has not yet shown. While any are
// outstanding the DaemonSet is not managed again from the cache, which would
// still lack the new pods (or still hold the deleted ones) and make the
// controller create or delete a second time: Kubernetes' ControllerExpectations.
//
// Unlike controllerutil.Expectations, creations and deletions are set together
// (one sync of a DaemonSet may do both, as Kubernetes' SetExpectations allows),
// and deletions are tracked by pod key so that a pod seen first with a
// deletionTimestamp and later gone counts once.
type expectations struct {
	mu    sync.Mutex
	items map[string]*expectation
	now   func() time.Time
}

type expectation struct {
	adds int
	dels map[string]struct{}
	at   time.Time
}

func newExpectations() *expectations {
	return &expectations{items: map[string]*expectation{}, now: time.Now}
}

// expect replaces what is expected for key: adds creations and the deletion of
// the pods with podKeys.
func (e *expectations) expect(key string, adds int, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	dels := make(map[string]struct{}, len(podKeys))
	for _, k := range podKeys {
		dels[k] = struct{}{}
	}
	e.items[key] = &expectation{adds: adds, dels: dels, at: e.now()}
}

// creationObserved lowers the expected creations of key by n: the informer saw
// a new pod, or a creation was given up (failed or skipped).
func (e *expectations) creationObserved(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.items[key]; ok {
		x.adds = max(x.adds-n, 0)
	}
}

// deletionObserved marks the pod podKey as deleted for key.
func (e *expectations) deletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.items[key]; ok {
		delete(x.dels, podKey)
	}
}

// satisfied: nothing outstanding, nothing ever recorded, or the record expired.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.items[key]
	if !ok || (x.adds <= 0 && len(x.dels) == 0) {
		return true
	}
	return e.now().Sub(x.at) > expectationsTTL
}

// forget drops key (its DaemonSet is gone).
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.items, key)
}
