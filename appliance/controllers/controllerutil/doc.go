// Package controllerutil holds what the workload controllers share, each piece
// following the Kubernetes controller it comes from (k8s.io/kubernetes
// pkg/controller):
//
//   - Expectations: a controller remembers how many pods it has just asked for
//     (or asked to delete) and waits until its informer has seen them, so that a
//     stale cache never makes it create or delete twice.
//   - Claim: adoption and release through ControllerRef. An orphan that matches
//     the selector is adopted, an owned object that stopped matching is released;
//     objects controlled by someone else are left alone.
//   - SlowStartBatch: creations in batches of 1, 2, 4, ... so that a quota or an
//     admission error stops after one failure instead of a thousand.
//   - Pod helpers: active, ready, available (readiness held for minReadySeconds).
//   - NewRecorder: Events as `kubectl describe` shows them.
//   - RunWorkers, RetryUpTo, RetryForever: the worker loop over a rate-limited
//     queue and the two retry policies the controllers use.
//   - ResolveControllerRef, Selecting: the owner a ControllerRef points to
//     (same UID), and the objects whose selector matches an orphan's labels.
//   - Enqueue, EnqueueHandler, ServicesOfPodHandler: event handlers that
//     queue an object's key, or the Services selecting a changed pod (the
//     EndpointSlice and Endpoints controllers).
package controllerutil
