package tui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// frame is how long the source gathers informer changes into one message: a
// burst of a thousand pod updates is one render, not a thousand.
const frame = 50 * time.Millisecond

// Source watches the cluster with client-go informers and hands the changes
// to the program in batches (BatchMsg), plus the API server's health
// (HealthMsg).
type Source struct {
	client kubernetes.Interface
	log    *slog.Logger

	mu      sync.Mutex
	pending []Change
	signal  chan struct{}
	started bool
}

// NewSource prepares a source; nothing runs before Start.
func NewSource(client kubernetes.Interface, log *slog.Logger) *Source {
	return &Source{client: client, log: log, signal: make(chan struct{}, 1)}
}

// watched are the resources the console informs itself about. A cluster that
// does not serve one (an old or trimmed API server) simply lacks that part.
var watched = []schema.GroupVersionResource{
	{Version: "v1", Resource: "pods"},
	{Version: "v1", Resource: "nodes"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "namespaces"},
	{Version: "v1", Resource: "events"},
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Group: "apps", Version: "v1", Resource: "replicasets"},
	{Group: "apps", Version: "v1", Resource: "statefulsets"},
	{Group: "apps", Version: "v1", Resource: "daemonsets"},
	{Group: "batch", Version: "v1", Resource: "jobs"},
	{Group: "batch", Version: "v1", Resource: "cronjobs"},
	{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
	{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"},
	{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"},
}

// StartCmd discovers which of the watched resources the server has and starts
// informers for them; until discovery answers it retries (the health probe
// reports why it fails). The informers live until ctx ends.
func (s *Source) StartCmd(ctx context.Context) tea.Cmd {
	return func() tea.Msg {
		for {
			served, err := s.served()
			if err == nil {
				s.start(ctx, served)
				return nil
			}
			s.log.Debug("discovery", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(2 * time.Second):
			}
		}
	}
}

func (s *Source) served() (map[schema.GroupVersionResource]bool, error) {
	_, lists, err := s.client.Discovery().ServerGroupsAndResources()
	if err != nil && len(lists) == 0 {
		return nil, err
	}
	served := map[schema.GroupVersionResource]bool{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			served[gv.WithResource(r.Name)] = true
		}
	}
	return served, nil
}

func (s *Source) start(ctx context.Context, served map[schema.GroupVersionResource]bool) {
	f := informers.NewSharedInformerFactory(s.client, 0)
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { s.push(o, false) },
		UpdateFunc: func(_, o any) { s.push(o, false) },
		DeleteFunc: func(o any) {
			if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
				o = d.Obj
			}
			s.push(o, true)
		},
	}
	for _, gvr := range watched {
		if !served[gvr] {
			continue
		}
		inf, err := f.ForResource(gvr)
		if err != nil {
			continue
		}
		if _, err := inf.Informer().AddEventHandler(h); err != nil {
			s.log.Warn("informer", "resource", gvr.Resource, "err", err)
		}
	}
	f.Start(ctx.Done())
}

func (s *Source) push(o any, deleted bool) {
	c, ok := Convert(o, deleted)
	if !ok {
		return
	}
	c.At = time.Now()
	s.mu.Lock()
	s.pending = append(s.pending, c)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// NextCmd waits for changes, gathers what arrives within one frame, and
// returns them as one BatchMsg. The model issues it again after each batch.
func (s *Source) NextCmd(ctx context.Context) tea.Cmd {
	return func() tea.Msg {
		select {
		case <-ctx.Done():
			return nil
		case <-s.signal:
		}
		select {
		case <-ctx.Done():
		case <-time.After(frame):
		}
		s.mu.Lock()
		batch := s.pending
		s.pending = nil
		s.mu.Unlock()
		return BatchMsg{Changes: batch}
	}
}

// HealthCmd probes /readyz (and its etcd check) once.
func HealthCmd(ctx context.Context, client kubernetes.Interface, now func() time.Time) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		h := Health{At: now()}
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").Param("verbose", "true").DoRaw(ctx)
		switch {
		case err == nil:
			h.APIServer, h.Etcd = "ok", "ok"
			for _, line := range strings.Split(string(body), "\n") {
				if strings.HasPrefix(line, "[-]etcd") {
					h.Etcd = strings.TrimPrefix(line, "[-]")
				}
			}
		case apierrors.IsUnauthorized(err) || apierrors.IsForbidden(err):
			h.Err = "credentials refused: " + err.Error()
		case isHTTPStatus(err, http.StatusInternalServerError):
			// /readyz answers 500 with the failing checks when not ready.
			h.APIServer = "not ready"
			h.Etcd = "ok"
			for _, line := range strings.Split(string(body), "\n") {
				if strings.HasPrefix(line, "[-]etcd") {
					h.Etcd = strings.TrimPrefix(line, "[-]")
				}
			}
		default:
			h.Err = "API server unreachable: " + shortErr(err)
		}
		return HealthMsg(h)
	}
}

func isHTTPStatus(err error, code int32) bool {
	var st apierrors.APIStatus
	return errors.As(err, &st) && st.Status().Code == code
}

func shortErr(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": dial tcp"); i >= 0 {
		msg = msg[i+2:]
	}
	return fmt.Sprint(msg)
}
