package garbagecollector

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
)

// ignoredResources are never collected, as in Kubernetes: Events come and go
// by the thousand and expire on their own. (events.k8s.io Events are the same
// objects as core ones.)
var ignoredResources = map[schema.GroupResource]bool{
	{Group: "", Resource: "events"}:              true,
	{Group: "events.k8s.io", Resource: "events"}: true,
}

// monitor is the informer of one resource.
type monitor struct {
	res      *resourceInfo
	informer cache.SharedIndexInformer
	stop     chan struct{}
}

// monitors keeps one metadata informer per resource that can be listed,
// watched and deleted, following discovery, and the map from kinds to
// resources used to look owners up.
type monitors struct {
	gc *Controller

	mu       sync.Mutex
	byGVR    map[schema.GroupVersionResource]*monitor
	kinds    map[schema.GroupKind]*resourceInfo
	lastSync time.Time
}

func newMonitors(gc *Controller) *monitors {
	return &monitors{gc: gc, byGVR: map[schema.GroupVersionResource]*monitor{}, kinds: map[schema.GroupKind]*resourceInfo{}}
}

func (m *monitors) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byGVR)
}

// deletable picks the resources the collector watches from a discovery answer.
func deletable(lists []*metav1.APIResourceList) (watch []*resourceInfo, kinds map[schema.GroupKind]*resourceInfo) {
	kinds = map[schema.GroupKind]*resourceInfo{}
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range list.APIResources {
			if strings.Contains(r.Name, "/") {
				continue // a subresource
			}
			res := &resourceInfo{gvr: gv.WithResource(r.Name), kind: r.Kind, namespaced: r.Namespaced}
			if slices.Contains(r.Verbs, "get") {
				kinds[schema.GroupKind{Group: gv.Group, Kind: r.Kind}] = res
			}
			if ignoredResources[res.gvr.GroupResource()] {
				continue
			}
			if slices.Contains(r.Verbs, "list") && slices.Contains(r.Verbs, "watch") && slices.Contains(r.Verbs, "delete") {
				watch = append(watch, res)
			}
		}
	}
	return watch, kinds
}

// sync asks discovery for the served resources, starts informers for new ones
// and stops those of resources gone. A partial answer (one API group failing)
// is used for what it has; nothing is stopped on its account.
func (m *monitors) sync(ctx context.Context) error {
	lists, err := discovery.ServerPreferredResources(m.gc.discovery)
	partial := err != nil
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return fmt.Errorf("discovery: %w", err)
	}
	watch, kinds := deletable(lists)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastSync = time.Now()
	for gk, r := range kinds {
		m.kinds[gk] = r
	}
	if !partial {
		for gk := range m.kinds {
			if _, ok := kinds[gk]; !ok {
				delete(m.kinds, gk)
			}
		}
	}
	want := map[schema.GroupVersionResource]bool{}
	for _, r := range watch {
		want[r.gvr] = true
		if _, ok := m.byGVR[r.gvr]; ok {
			continue
		}
		mon, err := m.start(r)
		if err != nil {
			return err
		}
		m.byGVR[r.gvr] = mon
	}
	if !partial {
		for gvr, mon := range m.byGVR {
			if !want[gvr] {
				m.gc.log.Info("resource no longer served, stop watching it", "resource", gvr.String())
				close(mon.stop)
				delete(m.byGVR, gvr)
				// Its objects dropped out of sight; their dependents get checked
				// against the API server, not taken for orphans.
				for _, obj := range mon.informer.GetStore().List() {
					if o, err := meta.Accessor(obj); err == nil {
						m.gc.enqueue(m.gc.graph.remove(o.GetUID(), false))
					}
				}
			}
		}
	}
	return nil
}

// start runs a metadata informer for r that feeds the graph.
func (m *monitors) start(r *resourceInfo) (*monitor, error) {
	inf := metadatainformer.NewFilteredMetadataInformer(m.gc.meta, r.gvr, metav1.NamespaceAll, 0, cache.Indexers{}, nil).Informer()
	// Only identity, owners and deletion state matter here: drop the rest so
	// thousands of objects cost little memory.
	if err := inf.SetTransform(func(obj any) (any, error) {
		if p, ok := obj.(*metav1.PartialObjectMetadata); ok {
			p.ManagedFields, p.Annotations, p.Labels = nil, nil, nil
		}
		return obj, nil
	}); err != nil {
		return nil, err
	}
	gc := m.gc
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { gc.observe(r, obj) },
		UpdateFunc: func(_, obj any) { gc.observe(r, obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if o, err := meta.Accessor(obj); err == nil {
				gc.enqueue(gc.graph.remove(o.GetUID(), true))
			}
		},
	}); err != nil {
		return nil, err
	}
	mon := &monitor{res: r, informer: inf, stop: make(chan struct{})}
	go inf.Run(mon.stop)
	return mon, nil
}

// observe records an added or updated object.
func (c *Controller) observe(r *resourceInfo, obj any) {
	o, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	c.enqueue(c.graph.upsert(&node{
		res:             r,
		namespace:       o.GetNamespace(),
		name:            o.GetName(),
		uid:             o.GetUID(),
		resourceVersion: o.GetResourceVersion(),
		owners:          o.GetOwnerReferences(),
		finalizers:      o.GetFinalizers(),
		deleting:        o.GetDeletionTimestamp() != nil,
	}))
}

// waitSynced waits until every informer has listed its objects.
func (m *monitors) waitSynced(ctx context.Context) bool {
	m.mu.Lock()
	var synced []cache.InformerSynced
	for _, mon := range m.byGVR {
		synced = append(synced, mon.informer.HasSynced)
	}
	m.mu.Unlock()
	return cache.WaitForCacheSync(ctx.Done(), synced...)
}

func (m *monitors) stopAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for gvr, mon := range m.byGVR {
		close(mon.stop)
		delete(m.byGVR, gvr)
	}
}

// resourceFor finds the resource of an owner reference's kind, asking
// discovery again (at most every few seconds) for a kind it does not know,
// such as one a new CustomResourceDefinition just added.
func (m *monitors) resourceFor(ctx context.Context, apiVersion, kind string) (*resourceInfo, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return nil, fmt.Errorf("owner apiVersion %q: %w", apiVersion, err)
	}
	gk := schema.GroupKind{Group: gv.Group, Kind: kind}
	m.mu.Lock()
	r, ok := m.kinds[gk]
	stale := time.Since(m.lastSync) > 5*time.Second
	m.mu.Unlock()
	if ok {
		return r, nil
	}
	if stale {
		if err := m.sync(ctx); err != nil {
			return nil, err
		}
		m.mu.Lock()
		r, ok = m.kinds[gk]
		m.mu.Unlock()
		if ok {
			return r, nil
		}
	}
	return nil, fmt.Errorf("owner kind %s is not served", gk)
}
