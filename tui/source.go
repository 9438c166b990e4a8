package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	tea "charm.land/bubbletea/v2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
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
	// problems are the resources whose informer fails to list or watch.
	problems map[string]problem
}

// problem is why an informer fails, and the resource version it had synced
// to then: once that moves, a list or watch worked again.
type problem struct{ why, rv string }

// NewSource prepares a source; nothing runs before Start.
func NewSource(client kubernetes.Interface, log *slog.Logger) *Source {
	return &Source{client: client, log: log, signal: make(chan struct{}, 1), problems: map[string]problem{}}
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
	f := informers.NewSharedInformerFactoryWithOptions(s.client, 0, informers.WithTransform(slim))
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
	infs := map[string]cache.SharedIndexInformer{}
	for _, gvr := range watched {
		if !served[gvr] {
			continue
		}
		inf, err := f.ForResource(gvr)
		if err != nil {
			continue
		}
		informer, res := inf.Informer(), gvr.Resource
		if _, err := informer.AddEventHandler(h); err != nil {
			s.log.Warn("informer", "resource", res, "err", err)
		}
		// A list or watch the server refuses (403 on pods while /readyz
		// answers) would otherwise leave an empty view that looks fine.
		if err := informer.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
			s.watchFailed(res, informer, err)
		}); err != nil {
			s.log.Warn("informer", "resource", res, "err", err)
		}
		infs[res] = informer
	}
	f.Start(ctx.Done())
	go s.watchRecoveries(ctx, infs, time.Second)
}

// slim drops what the console never shows from the objects its informers
// keep: managed fields and kubectl's last-applied copy, often the larger
// part of an object. Describe and YAML fetch the whole object afresh.
func slim(obj any) (any, error) {
	if m, err := apimeta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a[lastApplied] != "" {
			kept := make(map[string]string, len(a)-1)
			for k, v := range a {
				if k != lastApplied {
					kept[k] = v
				}
			}
			m.SetAnnotations(kept)
		}
	}
	return obj, nil
}

const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// watchFailed notes why an informer's list or watch failed, once per
// reason; the informer retries on its own with a back-off.
func (s *Source) watchFailed(res string, inf cache.SharedIndexInformer, err error) {
	why, ok := watchProblem(err)
	if !ok {
		return
	}
	s.mu.Lock()
	p, had := s.problems[res]
	if had && p.why == why {
		s.mu.Unlock()
		return
	}
	if !had {
		p.rv = inf.LastSyncResourceVersion()
	}
	p.why = why
	s.problems[res] = p
	s.mu.Unlock()
	s.log.Debug("watch", "resource", res, "err", err)
	s.pushChange(Change{Kind: KindProblem, Key: res, Obj: why})
}

// watchRecoveries clears a problem once its informer synced again: a list
// or a watch event moves its resource version.
func (s *Source) watchRecoveries(ctx context.Context, infs map[string]cache.SharedIndexInformer, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var fixed []string
		s.mu.Lock()
		for res, p := range s.problems {
			if inf := infs[res]; inf != nil && inf.LastSyncResourceVersion() != p.rv {
				delete(s.problems, res)
				fixed = append(fixed, res)
			}
		}
		s.mu.Unlock()
		for _, res := range fixed {
			s.pushChange(Change{Kind: KindProblem, Key: res, Deleted: true})
		}
	}
}

// watchProblem says what a user should read of an informer's error, or
// false for the ends of watches that are routine (the server closed it, or
// the resource version expired and the informer lists again).
func watchProblem(err error) (string, bool) {
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		apierrors.IsResourceExpired(err), apierrors.IsGone(err):
		return "", false
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), `"system:anonymous"`):
		// The server took the request as anonymous: it did not accept the
		// credentials the kubeconfig gave (or there were none).
		return "credentials refused (taken as anonymous)", true
	case apierrors.IsForbidden(err):
		return "forbidden", true
	case apierrors.IsUnauthorized(err), clientCertRefused(err):
		return "credentials refused", true
	}
	msg := shortErr(err)
	// "failed to list *v1.Pod: ..." says the kind twice.
	if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "failed to ") {
		msg = rest
	}
	return msg, true
}

func (s *Source) push(o any, deleted bool) {
	c, ok := Convert(o, deleted)
	if !ok {
		return
	}
	s.pushChange(c)
}

func (s *Source) pushChange(c Change) {
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
		case clientCertRefused(err):
			h.Err = "credentials refused: the API server rejected the client certificate (" + shortErr(err) + ")"
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

// clientCertRefused reports a TLS alert by which the server refused the
// client certificate. (x509 errors about the server's certificate are the
// client refusing the server, not this.)
func clientCertRefused(err error) bool {
	msg := err.Error()
	for _, alert := range []string{"bad certificate", "unknown certificate authority", "certificate required",
		"unsupported certificate", "certificate revoked", "expired certificate", "unknown certificate", "access denied"} {
		if strings.Contains(msg, "remote error: tls: "+alert) {
			return true
		}
	}
	return false
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
