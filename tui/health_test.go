package tui

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// fakeAPI is an HTTPS server that answers /readyz and the pods list and
// watch the way a real API server would, with answers a test can change.
type fakeAPI struct {
	mu          sync.Mutex
	readyz      int    // status of /readyz
	readyzBody  string // its body
	podsRefused bool   // pods list and watch answer 403
	srv         *httptest.Server
	done        chan struct{}
}

func (f *fakeAPI) set(fn func(*fakeAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func status(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":%q,"reason":%q,"code":%d}`, msg, reason, code)
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	readyz, body, refused := f.readyz, f.readyzBody, f.podsRefused
	f.mu.Unlock()
	switch {
	case r.URL.Path == "/readyz":
		switch readyz {
		case http.StatusUnauthorized:
			status(w, readyz, "Unauthorized", "Unauthorized")
		case http.StatusForbidden:
			status(w, readyz, "Forbidden", `forbidden: User "system:anonymous" cannot get path "/readyz"`)
		default:
			w.WriteHeader(readyz)
			io.WriteString(w, body)
		}
	case r.URL.Path == "/api/v1/pods" && refused:
		status(w, http.StatusForbidden, "Forbidden", `pods is forbidden: User "viewer" cannot list resource "pods" in API group "" at the cluster scope`)
	case r.URL.Path == "/api/v1/pods" && r.URL.Query().Get("sendInitialEvents") == "true":
		// No streaming lists here: the informer falls back to list + watch.
		status(w, http.StatusBadRequest, "BadRequest", "sendInitialEvents is not supported")
	case r.URL.Path == "/api/v1/pods" && r.URL.Query().Get("watch") == "true":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-f.done:
		}
	case r.URL.Path == "/api/v1/pods":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"42"},"items":[]}`)
	default:
		status(w, http.StatusNotFound, "NotFound", "not found")
	}
}

// newFakeAPI starts a fakeAPI and a client that trusts its certificate.
func newFakeAPI(t *testing.T) (*fakeAPI, kubernetes.Interface) {
	f := &fakeAPI{readyz: http.StatusOK, readyzBody: "[+]ping ok\n[+]etcd ok\nreadyz check passed\n", done: make(chan struct{})}
	f.srv = httptest.NewTLSServer(f)
	t.Cleanup(f.srv.Close)
	t.Cleanup(func() { close(f.done) })
	return f, clientFor(t, f.srv.URL, f.srv.Certificate().Raw)
}

func clientFor(t *testing.T, host string, cert []byte) kubernetes.Interface {
	t.Helper()
	rc := &rest.Config{Host: host, Timeout: 5 * time.Second}
	if cert != nil {
		rc.TLSClientConfig.CAData = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert})
	}
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// closedPort is an address nothing listens on.
func closedPort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// TestHealthCmd: the probe tells credentials refused (401, 403) from an
// API server that cannot be reached, and reads /readyz's etcd check.
func TestHealthCmd(t *testing.T) {
	api, client := newFakeAPI(t)
	tests := []struct {
		name          string
		code          int
		body          string
		wantErr       string // prefix of Health.Err
		wantAPI, etcd string
	}{
		{"401", http.StatusUnauthorized, "", "credentials refused", "", ""},
		{"403", http.StatusForbidden, "", "credentials refused", "", ""},
		{"200", http.StatusOK, "[+]ping ok\n[+]etcd ok\nreadyz check passed\n", "", "ok", "ok"},
		{"500, etcd down", http.StatusInternalServerError, "[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed\n", "", "not ready", "etcd failed: reason withheld"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api.set(func(f *fakeAPI) { f.readyz, f.readyzBody = tt.code, tt.body })
			h := HealthCmd(context.Background(), client, fixedNow)().(HealthMsg)
			if !strings.HasPrefix(h.Err, tt.wantErr) || tt.wantErr == "" && h.Err != "" {
				t.Errorf("Err %q, want %q…", h.Err, tt.wantErr)
			}
			if h.APIServer != tt.wantAPI || h.Etcd != tt.etcd {
				t.Errorf("API server %q etcd %q, want %q %q", h.APIServer, h.Etcd, tt.wantAPI, tt.etcd)
			}
		})
	}
	t.Run("client certificate required", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert}
		srv.StartTLS()
		defer srv.Close()
		h := HealthCmd(context.Background(), clientFor(t, srv.URL, srv.Certificate().Raw), fixedNow)().(HealthMsg)
		if !strings.HasPrefix(h.Err, "credentials refused") {
			t.Errorf("Err %q", h.Err)
		}
	})
	t.Run("closed port", func(t *testing.T) {
		c := clientFor(t, "https://"+closedPort(t), nil)
		h := HealthCmd(context.Background(), c, fixedNow)().(HealthMsg)
		if !strings.HasPrefix(h.Err, "API server unreachable") || !strings.Contains(h.Err, "connection refused") {
			t.Errorf("Err %q", h.Err)
		}
	})
}

// TestHealthRetries: after every probe, whatever it found, the console
// probes again after Retry; the status line follows, from credentials
// refused to connected.
func TestHealthRetries(t *testing.T) {
	api, client := newFakeAPI(t)
	api.set(func(f *fakeAPI) { f.readyz = http.StatusUnauthorized })
	m := New(Options{Backend: &fakeBackend{}, Client: client, Server: api.srv.URL, Now: fixedNow, NoColor: true, Retry: time.Millisecond})
	m.Update(windowSize(120, 30))
	status := func() string { return splitLines(ansi.Strip(m.Render()))[1] }

	probe := HealthCmd(m.ctx, client, fixedNow)
	for i, step := range []struct {
		next func(*fakeAPI)
		want string
	}{
		{func(f *fakeAPI) { f.readyz = http.StatusForbidden }, "credentials refused"},
		{func(f *fakeAPI) { f.readyz = http.StatusOK }, "credentials refused"},
		{func(f *fakeAPI) { f.readyz = http.StatusOK }, "● " + api.srv.URL},
	} {
		_, tick := m.Update(probe())
		if s := status(); !strings.Contains(s, step.want) || strings.Contains(step.want, "refused") && !strings.Contains(s, "retrying") {
			t.Fatalf("probe %d: status %q, want %q", i, s, step.want)
		}
		if tick == nil {
			t.Fatalf("probe %d: no retry scheduled", i)
		}
		msg := tick()
		if _, ok := msg.(healthTickMsg); !ok {
			t.Fatalf("probe %d: the retry is %T, not the health tick", i, msg)
		}
		api.set(step.next)
		_, probe = m.Update(msg)
		if probe == nil {
			t.Fatalf("probe %d: the tick did not probe again", i)
		}
	}
}

// TestWatchProblemShown: a resource the console may not list (pods: 403
// while /readyz is fine) is said in the status line and in the empty list
// instead of an empty console that looks connected; it goes when the
// watch works again.
func TestWatchProblemShown(t *testing.T) {
	m := New(Options{Backend: &fakeBackend{}, Server: "https://10.0.0.2:6443", Now: fixedNow, NoColor: true})
	m.Update(windowSize(80, 24))
	m.Update(HealthMsg{APIServer: "ok", Etcd: "ok", At: t0})
	m.Update(BatchMsg{Changes: []Change{{Kind: KindProblem, Key: "pods", Obj: "forbidden"}}})
	keys(m, "4")
	out := ansi.Strip(m.Render())
	if s := splitLines(out)[1]; !strings.Contains(s, "pods: forbidden — retrying") {
		t.Fatalf("status %q", s)
	}
	if !strings.Contains(out, "Cannot list pods: forbidden") {
		t.Fatalf("the pods list does not say why it is empty:\n%s", out)
	}
	keys(m, "2")
	if out := ansi.Strip(m.Render()); !strings.Contains(out, "Cannot list pods: forbidden") {
		t.Fatalf("the flow does not say why it is empty:\n%s", out)
	}
	m.Update(BatchMsg{Changes: []Change{{Kind: KindProblem, Key: "services", Obj: "forbidden"}, {Kind: KindProblem, Key: "events", Obj: "dial tcp: i/o timeout"}}})
	if s := splitLines(ansi.Strip(m.Render()))[1]; !strings.Contains(s, "forbidden: pods, services (+1 more) — retrying") {
		t.Fatalf("status %q", s)
	}
	m.Update(BatchMsg{Changes: []Change{{Kind: KindProblem, Key: "pods", Deleted: true}, {Kind: KindProblem, Key: "services", Deleted: true}, {Kind: KindProblem, Key: "events", Deleted: true}}})
	if s := splitLines(ansi.Strip(m.Render()))[1]; !strings.Contains(s, "● https://10.0.0.2:6443") {
		t.Fatalf("status after recovery %q", s)
	}
}

// TestSourceReportsRefusedList: the informers' list and watch errors reach
// the console as problems, and their recovery clears them.
func TestSourceReportsRefusedList(t *testing.T) {
	api, client := newFakeAPI(t)
	api.set(func(f *fakeAPI) { f.podsRefused = true })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s := NewSource(client, slog.New(slog.DiscardHandler))
	s.start(ctx, map[schema.GroupVersionResource]bool{{Version: "v1", Resource: "pods"}: true})
	store := NewStore()
	next := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			msg, ok := s.NextCmd(ctx)().(BatchMsg)
			if !ok {
				t.Fatalf("never %s; problems %v", what, store.Problems)
			}
			store.Apply(msg.Changes, time.Now())
		}
	}
	next("reported pods forbidden", func() bool { return store.Problems["pods"] == "forbidden" })
	api.set(func(f *fakeAPI) { f.podsRefused = false })
	next("cleared the problem", func() bool { _, ok := store.Problems["pods"]; return !ok })
}

// TestWatchProblem: what the console says of an informer's error.
func TestWatchProblem(t *testing.T) {
	pods := schema.GroupResource{Resource: "pods"}
	tests := []struct {
		name string
		err  error
		want string // "" for an error not worth saying
	}{
		{"forbidden list", fmt.Errorf("failed to list *v1.Pod: %w", apierrors.NewForbidden(pods, "", errors.New(`User "viewer" cannot list resource "pods"`))), "forbidden"},
		{"forbidden to anonymous", fmt.Errorf("failed to list *v1.Pod: %w", apierrors.NewForbidden(pods, "", errors.New(`User "system:anonymous" cannot list resource "pods"`))), "credentials refused (taken as anonymous)"},
		{"client certificate rejected", fmt.Errorf("failed to list *v1.Pod: %w", errors.New(`Get "https://10.0.0.2:6443/api/v1/pods": remote error: tls: bad certificate`)), "credentials refused"},
		{"server certificate not trusted", fmt.Errorf("failed to list *v1.Pod: %w", errors.New(`Get "https://10.0.0.2:6443/api/v1/pods": tls: failed to verify certificate: x509: certificate signed by unknown authority`)), `Get "https://10.0.0.2:6443/api/v1/pods": tls: failed to verify certificate: x509: certificate signed by unknown authority`},
		{"unauthorized", apierrors.NewUnauthorized("Unauthorized"), "credentials refused"},
		{"unreachable", fmt.Errorf("failed to list *v1.Pod: %w", errors.New(`Get "https://10.0.0.2:6443/api/v1/pods": dial tcp 10.0.0.2:6443: connect: connection refused`)), "dial tcp 10.0.0.2:6443: connect: connection refused"},
		{"watch closed", io.EOF, ""},
		{"expired", apierrors.NewResourceExpired("too old resource version"), ""},
		{"gone", apierrors.NewGone("gone"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := watchProblem(tt.err)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("watchProblem = %q, %v; want %q", got, ok, tt.want)
			}
		})
	}
}

// TestRefusedCredentialsWithOpenReadyz: an API server that answers /readyz
// anonymously while it refuses the user's credentials on everything else
// is not shown as connected: the status line and the overview say the
// credentials are refused, however many resources fail and however narrow
// the terminal.
func TestRefusedCredentialsWithOpenReadyz(t *testing.T) {
	for _, w := range []int{80, 160} {
		m := New(Options{Backend: &fakeBackend{}, Server: "https://10.0.0.2:6443", Now: fixedNow, NoColor: true})
		m.Update(windowSize(w, 24))
		m.Update(HealthMsg{APIServer: "ok", Etcd: "ok", At: t0})
		var ch []Change
		for _, gvr := range watched {
			ch = append(ch, Change{Kind: KindProblem, Key: gvr.Resource, Obj: "credentials refused"})
		}
		m.Update(BatchMsg{Changes: ch})
		keys(m, "1")
		out := ansi.Strip(m.Render())
		status := splitLines(out)[1]
		if !strings.Contains(status, "credentials refused") || !strings.Contains(status, "retrying") || strings.Contains(status, "●") {
			t.Errorf("%d wide: status %q", w, status)
		}
		if !strings.Contains(out, "watching            credentials refused") {
			t.Errorf("%d wide: the overview does not say so:\n%s", w, out)
		}
	}
}

// The informers keep objects without managed fields or kubectl's
// last-applied copy (the console shows neither; they are much of an
// object's size), and with every other annotation.
func TestSlimDropsWhatTheConsoleNeverShows(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: "web",
		Annotations: map[string]string{
			lastApplied: strings.Repeat("x", 4096),
			"team":      "blue",
		},
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}},
	}}
	out, err := slim(p)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Pod)
	if len(got.ManagedFields) != 0 {
		t.Errorf("managed fields kept: %v", got.ManagedFields)
	}
	if _, ok := got.Annotations[lastApplied]; ok || got.Annotations["team"] != "blue" || got.Name != "web" {
		t.Errorf("annotations %v, name %q; want only team=blue, name web", got.Annotations, got.Name)
	}
	if _, err := slim(cache.DeletedFinalStateUnknown{Key: "ns/x"}); err != nil {
		t.Errorf("a tombstone: %v", err)
	}
}
