package controllerutil

import (
	"log/slog"

	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	esutil "k8s.io/endpointslice/util"
)

// Enqueue adds obj's namespace/name key to queue; a tombstone of a deleted
// object gives the key of the object it stands for.
func Enqueue(queue workqueue.TypedInterface[string], obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		queue.Add(key)
	}
}

// EnqueueHandler queues the key of every object added, updated or deleted.
func EnqueueHandler(queue workqueue.TypedInterface[string]) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { Enqueue(queue, obj) },
		UpdateFunc: func(_, cur any) { Enqueue(queue, cur) },
		DeleteFunc: func(obj any) { Enqueue(queue, obj) },
	}
}

// ServicesOfPodHandler is the pod event handler of a controller keyed by
// Service (EndpointSlice, Endpoints): it queues the Services that select the
// pod before or after the change, when the change can matter to their
// endpoints (the pod's labels, IPs, readiness, hostname, node or deletion),
// as Kubernetes' own controllers decide it through k8s.io/endpointslice/util.
func ServicesOfPodHandler(services corelisters.ServiceLister, queue workqueue.TypedInterface[string], log *slog.Logger) cache.ResourceEventHandlerFuncs {
	changed := func(old, cur any) {
		keys, err := esutil.GetServicesToUpdate(services, esutil.GetPodUpdateProjectionKey(old, cur))
		if err != nil {
			log.Debug("services of pod", "err", err)
			return
		}
		for key := range keys {
			queue.Add(key)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { changed(nil, obj) },
		UpdateFunc: changed,
		DeleteFunc: func(obj any) { changed(obj, nil) },
	}
}
