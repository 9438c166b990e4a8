// Package server is the kubelet's HTTPS endpoint (port 10250 by default),
// the one the API server proxies `kubectl logs`, `exec`, `attach` and
// `port-forward` to. Routes and answers follow the kubelet's
// (pkg/kubelet/server): /containerLogs, /exec, /attach, /portForward and
// /healthz. Streams speak both protocols clients use: SPDY (through
// k8s.io/cri-streaming, as the CRI streaming server does) and WebSocket, with
// the v5.channel.k8s.io protocol for exec and attach and SPDY tunnelled over
// WebSocket for port-forward (what client-go and kubectl use since 1.30).
//
// Only clients with a certificate signed by ClientCAs whose common name is in
// AllowedUsers get in (the API server's kubelet-client certificate);
// /healthz is open.
package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// ErrNotFound is what a Provider wraps when the pod or container is unknown;
// the client gets 404.
var ErrNotFound = errors.New("not found")

// Timeouts of the streaming connections, the kubelet's defaults.
const (
	// StreamIdleTimeout closes a stream with no traffic
	// (streamingConnectionIdleTimeout).
	StreamIdleTimeout = 4 * time.Hour
	// StreamCreationTimeout bounds how long a client takes to open the
	// streams it asked for.
	StreamCreationTimeout = 30 * time.Second
)

// Config configures the endpoint.
type Config struct {
	// Addr to listen on, e.g. ":10250" or "127.0.0.1:0".
	Addr string
	// TLS holds the serving certificate. Client authentication settings in
	// it are replaced by ClientCAs.
	TLS *tls.Config
	// ClientCAs verify client certificates.
	ClientCAs *x509.CertPool
	// AllowedUsers are the client certificate common names let in.
	AllowedUsers []string
	// Log is the part's logger; nil means slog.Default().
	Log *slog.Logger
}

// Validate reports what is missing.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("addr is required"))
	}
	if c.TLS == nil || (len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil && c.TLS.GetConfigForClient == nil) {
		errs = append(errs, errors.New("a TLS serving certificate is required"))
	}
	if c.ClientCAs == nil {
		errs = append(errs, errors.New("client CAs are required"))
	}
	if len(c.AllowedUsers) == 0 {
		errs = append(errs, errors.New("at least one allowed user is required"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kubelet server config: %w", err)
	}
	return nil
}

// Server is a running endpoint.
type Server struct {
	cfg    Config
	p      Provider
	log    *slog.Logger
	ln     net.Listener
	srv    *http.Server
	cancel context.CancelFunc
	served chan struct{}

	mu        sync.Mutex
	hijacked  map[net.Conn]struct{}
	closeOnce sync.Once
	closeErr  error
}

// Start listens on cfg.Addr and serves until ctx ends or Close.
func Start(ctx context.Context, cfg Config, p Provider) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if p == nil {
		return nil, errors.New("kubelet server: a provider is required")
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default().With("part", "kubelet-server")
	}
	tlsCfg := cfg.TLS.Clone()
	tlsCfg.ClientCAs = cfg.ClientCAs
	// Verified if given, so that a missing certificate gets a 401 rather
	// than a failed handshake, and /healthz stays open.
	tlsCfg.ClientAuth = tls.VerifyClientCertIfGiven
	if tlsCfg.MinVersion == 0 {
		tlsCfg.MinVersion = tls.VersionTLS12
	}
	// Upgrades (SPDY, WebSocket) need HTTP/1.1.
	tlsCfg.NextProtos = []string{"http/1.1"}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("kubelet server: listen on %s: %w", cfg.Addr, err)
	}
	base, cancel := context.WithCancel(ctx)
	s := &Server{cfg: cfg, p: p, log: log, ln: ln, cancel: cancel, served: make(chan struct{}), hijacked: map[net.Conn]struct{}{}}
	s.srv = &http.Server{
		Handler:           s.routes(),
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnState:         s.trackConn,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(s.served)
		if err := s.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serve", "err", err)
		}
	}()
	go func() {
		<-base.Done()
		_ = s.Close()
	}()
	log.Info("kubelet server started", "addr", ln.Addr().String(), "allowed-users", cfg.AllowedUsers)
	return s, nil
}

// Addr is the address listened on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server and ends every stream. Safe to call twice.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.closeErr = s.srv.Close()
		// Upgraded connections are no longer the http.Server's.
		s.mu.Lock()
		for c := range s.hijacked {
			_ = c.Close()
		}
		s.hijacked = nil
		s.mu.Unlock()
		<-s.served
	})
	return s.closeErr
}

// trackConn remembers upgraded connections so Close can end them.
func (s *Server) trackConn(c net.Conn, state http.ConnState) {
	if state != http.StateHijacked {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hijacked == nil { // closed already
		_ = c.Close()
		return
	}
	s.hijacked[c] = struct{}{}
}

type connKey struct{}

// forgetConn drops the request's connection from the hijacked set once its
// stream is over.
func (s *Server) forgetConn(r *http.Request) {
	c, ok := r.Context().Value(connKey{}).(net.Conn)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.hijacked, c)
}

// routes are the kubelet's.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	mux.Handle("GET /containerLogs/{namespace}/{pod}/{container}", s.auth(http.HandlerFunc(s.containerLogs)))
	mux.Handle("/exec/{namespace}/{pod}/{container}", s.auth(s.getPost(s.exec)))
	mux.Handle("/exec/{namespace}/{pod}/{uid}/{container}", s.auth(s.getPost(s.exec)))
	mux.Handle("/attach/{namespace}/{pod}/{container}", s.auth(s.getPost(s.attach)))
	mux.Handle("/attach/{namespace}/{pod}/{uid}/{container}", s.auth(s.getPost(s.attach)))
	mux.Handle("/portForward/{namespace}/{pod}", s.auth(s.getPost(s.portForward)))
	mux.Handle("/portForward/{namespace}/{pod}/{uid}", s.auth(s.getPost(s.portForward)))
	mux.Handle("GET /stats/summary", s.auth(http.HandlerFunc(s.statsSummary)))
	// Everything else needs a client too, then is 404.
	mux.Handle("/", s.auth(http.NotFoundHandler()))
	return mux
}

func (s *Server) getPost(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, fmt.Sprintf("method %s not allowed", r.Method), http.StatusMethodNotAllowed)
			return
		}
		defer s.forgetConn(r)
		h(w, r)
	})
}

// auth lets in verified client certificates whose CN is allowed: 401 with
// no certificate, 403 for any other user, as the kubelet answers.
func (s *Server) auth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		user := r.TLS.PeerCertificates[0].Subject.CommonName
		if !slices.Contains(s.cfg.AllowedUsers, user) {
			s.log.Warn("forbidden", "user", user, "path", r.URL.Path)
			http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=%s, path=%s)", user, verbOf(r), r.URL.Path), http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func verbOf(r *http.Request) string {
	switch r.Method {
	case http.MethodPost:
		return "create"
	case http.MethodGet:
		return "get"
	default:
		return r.Method
	}
}
