package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	clientrc "k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/client-go/util/exec"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/appliance/appliance/runtime/logs"
	"github.com/appliance/appliance/runtime/logs/driver"
	"github.com/appliance/appliance/runtime/server"
)

const apiserverUser = "kube-apiserver-kubelet-client"

// pki is a throwaway CA with a serving certificate and client certificates.
type pki struct {
	caPEM   []byte
	pool    *x509.CertPool
	serving tls.Certificate
	ca      *x509.Certificate
	caKey   *ecdsa.PrivateKey
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &pki{ca: ca, caKey: key, pool: x509.NewCertPool(), caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	p.pool.AddCert(ca)
	certPEM, keyPEM := p.issue(t, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	p.serving, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *pki) issue(t *testing.T, cn string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

// restConfig is a client-go config for the kubelet with a client
// certificate of user cn (none if cn is empty).
func (p *pki) restConfig(t *testing.T, addr, cn string) *rest.Config {
	cfg := &rest.Config{Host: "https://" + addr, TLSClientConfig: rest.TLSClientConfig{CAData: p.caPEM}}
	if cn != "" {
		cfg.CertData, cfg.KeyData = p.issue(t, cn, x509.ExtKeyUsageClientAuth)
	}
	return cfg
}

func (p *pki) httpClient(t *testing.T, addr, cn string) *http.Client {
	t.Helper()
	tr, err := rest.TransportFor(p.restConfig(t, addr, cn))
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: tr}
}

// fakeProvider is the kubelet's side, played by a few commands.
type fakeProvider struct {
	logs    map[string]string // ns/pod/container -> path
	running atomic.Bool
	mu      sync.Mutex
	calls   []string
}

func (f *fakeProvider) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeProvider) LogPath(ns, pod, container string, previous bool) (string, func() bool, error) {
	p, ok := f.logs[ns+"/"+pod+"/"+container]
	if !ok || previous {
		return "", nil, fmt.Errorf("container %s/%s/%s (previous %v): %w", ns, pod, container, previous, server.ErrNotFound)
	}
	return p, f.running.Load, nil
}

func (f *fakeProvider) Exec(ctx context.Context, ns, pod string, uid types.UID, container string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	f.record(fmt.Sprintf("exec %s/%s uid=%s %s %q tty=%v", ns, pod, uid, container, cmd, tty))
	switch cmd[0] {
	case "echo":
		_, err := fmt.Fprintln(out, strings.Join(cmd[1:], " "))
		return err
	case "both":
		fmt.Fprintln(out, "to stdout")
		fmt.Fprintln(errw, "to stderr")
		return nil
	case "exit":
		code, _ := strconv.Atoi(cmd[1])
		fmt.Fprintln(errw, "failing")
		return fmt.Errorf("run %q: %w", cmd, exec.CodeExitError{Err: fmt.Errorf("exit status %d", code), Code: code})
	case "cat":
		_, err := io.Copy(out, in)
		return err
	case "resize":
		var got []string
		for len(got) < 2 {
			select {
			case s, ok := <-resize:
				if !ok {
					return errors.New("resize channel closed early")
				}
				got = append(got, fmt.Sprintf("%dx%d", s.Width, s.Height))
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		_, err := fmt.Fprintln(out, strings.Join(got, " "))
		return err
	case "fail":
		return errors.New("no such container")
	}
	return fmt.Errorf("unknown command %q", cmd)
}

func (f *fakeProvider) Attach(ctx context.Context, ns, pod string, uid types.UID, container string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	f.record(fmt.Sprintf("attach %s/%s %s", ns, pod, container))
	fmt.Fprintln(out, "attached to "+container)
	if in != nil {
		_, err := io.Copy(out, in)
		return err
	}
	return nil
}

func (f *fakeProvider) PortForward(ctx context.Context, ns, pod string, uid types.UID, port int32, stream io.ReadWriteCloser) error {
	f.record(fmt.Sprintf("port-forward %s/%s %d", ns, pod, port))
	defer stream.Close()
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		return err
	}
	defer c.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(c, stream); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(stream, c); done <- struct{}{} }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

type env struct {
	pki  *pki
	srv  *server.Server
	p    *fakeProvider
	addr string
	log  *driver.Writer
}

func start(t *testing.T) *env {
	t.Helper()
	pk := newPKI(t)
	path := logs.Path(logs.PodLogDir(t.TempDir(), "default", "web", "uid-1"), "app", 0)
	w, err := driver.Open(driver.Config{Path: path, MaxSize: 1 << 20, MaxFiles: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	p := &fakeProvider{logs: map[string]string{"default/web/app": path}}
	p.running.Store(true)
	srv, err := server.Start(context.Background(), server.Config{
		Addr:         "127.0.0.1:0",
		TLS:          &tls.Config{Certificates: []tls.Certificate{pk.serving}},
		ClientCAs:    pk.pool,
		AllowedUsers: []string{apiserverUser},
	}, p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &env{pki: pk, srv: srv, p: p, addr: srv.Addr(), log: w}
}

func (e *env) url(path string, q url.Values) *url.URL {
	return &url.URL{Scheme: "https", Host: e.addr, Path: path, RawQuery: q.Encode()}
}

type executorKind struct {
	name string
	new  func(cfg *rest.Config, u *url.URL) (clientrc.Executor, error)
}

var executors = []executorKind{
	{"spdy", func(cfg *rest.Config, u *url.URL) (clientrc.Executor, error) {
		return clientrc.NewSPDYExecutor(cfg, "POST", u)
	}},
	{"websocket", func(cfg *rest.Config, u *url.URL) (clientrc.Executor, error) {
		return clientrc.NewWebSocketExecutor(cfg, "GET", u.String())
	}},
}

func timeoutCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestExec(t *testing.T) {
	e := start(t)
	cfg := e.pki.restConfig(t, e.addr, apiserverUser)
	for _, ex := range executors {
		t.Run(ex.name, func(t *testing.T) {
			run := func(path string, q url.Values, opts clientrc.StreamOptions) (string, string, error) {
				exe, err := ex.new(cfg, e.url(path, q))
				if err != nil {
					t.Fatal(err)
				}
				var out, errb bytes.Buffer
				if opts.Stdout == nil {
					opts.Stdout = &out
				}
				// As kubectl does, the streams opened match the query.
				if opts.Stderr == nil && q.Get("error") == "1" {
					opts.Stderr = &errb
				}
				err = exe.StreamWithContext(timeoutCtx(t), opts)
				return out.String(), errb.String(), err
			}
			std := url.Values{"output": {"1"}, "error": {"1"}}
			with := func(v url.Values, cmd ...string) url.Values {
				q := url.Values{}
				for k, vs := range v {
					q[k] = vs
				}
				q["command"] = cmd
				return q
			}

			out, _, err := run("/exec/default/web/app", with(std, "echo", "hello", "world"), clientrc.StreamOptions{})
			if err != nil || out != "hello world\n" {
				t.Fatalf("echo: %q, %v", out, err)
			}
			out, errs, err := run("/exec/default/web/uid-1/app", with(std, "both"), clientrc.StreamOptions{})
			if err != nil || out != "to stdout\n" || errs != "to stderr\n" {
				t.Fatalf("both: %q %q %v", out, errs, err)
			}
			_, errs, err = run("/exec/default/web/app", with(std, "exit", "42"), clientrc.StreamOptions{})
			var codeErr exec.CodeExitError
			if !errors.As(err, &codeErr) || codeErr.Code != 42 || errs != "failing\n" {
				t.Fatalf("exit 42: want CodeExitError 42, got %T %v (stderr %q)", err, err, errs)
			}
			_, _, err = run("/exec/default/web/app", with(std, "fail"), clientrc.StreamOptions{})
			if err == nil || !strings.Contains(err.Error(), "no such container") || errors.As(err, &codeErr) {
				t.Fatalf("internal error: %v", err)
			}
			// stdin reaches the command, and its EOF ends it.
			out, _, err = run("/exec/default/web/app", with(url.Values{"input": {"1"}, "output": {"1"}}, "cat"),
				clientrc.StreamOptions{Stdin: strings.NewReader("typed in\n")})
			if err != nil || out != "typed in\n" {
				t.Fatalf("cat: %q, %v", out, err)
			}
			// A TTY's sizes arrive in order.
			sizes := &sizeQueue{sizes: []clientrc.TerminalSize{{Width: 80, Height: 24}, {Width: 100, Height: 50}}}
			out, _, err = run("/exec/default/web/app", with(url.Values{"output": {"1"}, "tty": {"1"}}, "resize"),
				clientrc.StreamOptions{Tty: true, TerminalSizeQueue: sizes})
			if err != nil || out != "80x24 100x50\n" {
				t.Fatalf("resize: %q, %v", out, err)
			}
		})
	}
	e.p.mu.Lock()
	defer e.p.mu.Unlock()
	if !strings.Contains(strings.Join(e.p.calls, "\n"), `exec default/web uid=uid-1 app ["both"]`) {
		t.Errorf("the uid route did not pass the uid: %q", e.p.calls)
	}
}

// sizeQueue hands out its sizes, then blocks until the stream ends.
type sizeQueue struct {
	mu    sync.Mutex
	sizes []clientrc.TerminalSize
	done  chan struct{}
}

func (q *sizeQueue) Next() *clientrc.TerminalSize {
	q.mu.Lock()
	if len(q.sizes) > 0 {
		s := q.sizes[0]
		q.sizes = q.sizes[1:]
		q.mu.Unlock()
		return &s
	}
	q.mu.Unlock()
	return nil
}

func TestAttach(t *testing.T) {
	e := start(t)
	cfg := e.pki.restConfig(t, e.addr, apiserverUser)
	for _, ex := range executors {
		t.Run(ex.name, func(t *testing.T) {
			exe, err := ex.new(cfg, e.url("/attach/default/web/app", url.Values{"input": {"1"}, "output": {"1"}, "error": {"1"}}))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = exe.StreamWithContext(timeoutCtx(t), clientrc.StreamOptions{Stdin: strings.NewReader("hi\n"), Stdout: &out, Stderr: io.Discard})
			if err != nil || out.String() != "attached to app\nhi\n" {
				t.Fatalf("attach: %q, %v", out.String(), err)
			}
		})
	}
}

// echoListener is the "pod's" port: it echoes what it reads.
func echoListener(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestPortForward(t *testing.T) {
	e := start(t)
	cfg := e.pki.restConfig(t, e.addr, apiserverUser)
	podPort := echoListener(t)
	u := e.url("/portForward/default/web", nil)
	dialers := []struct {
		name string
		new  func() (httpstream.Dialer, error)
	}{
		{"spdy", func() (httpstream.Dialer, error) {
			tr, upgrader, err := spdy.RoundTripperFor(cfg)
			if err != nil {
				return nil, err
			}
			return spdy.NewDialer(upgrader, &http.Client{Transport: tr}, "POST", u), nil
		}},
		{"websocket tunnel", func() (httpstream.Dialer, error) { return portforward.NewSPDYOverWebsocketDialer(u, cfg) }},
	}
	for _, d := range dialers {
		t.Run(d.name, func(t *testing.T) {
			dialer, err := d.new()
			if err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			ready := make(chan struct{})
			fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(podPort)}, stop, ready, io.Discard, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- fw.ForwardPorts() }()
			t.Cleanup(func() {
				close(stop)
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					t.Error("port forwarder did not stop")
				}
			})
			select {
			case <-ready:
			case err := <-done:
				t.Fatalf("forward: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatal("port forward never ready")
			}
			ports, err := fw.GetPorts()
			if err != nil || len(ports) != 1 {
				t.Fatalf("ports %v, %v", ports, err)
			}
			// Two connections through one forwarding session.
			for i := range 2 {
				c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local))))
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(30 * time.Second))
				msg := fmt.Sprintf("ping %d\n", i)
				if _, err := io.WriteString(c, msg); err != nil {
					t.Fatal(err)
				}
				got, err := bufio.NewReader(c).ReadString('\n')
				c.Close()
				if err != nil || got != msg {
					t.Fatalf("echo through the tunnel: %q, %v", got, err)
				}
			}
		})
	}
}

func TestContainerLogs(t *testing.T) {
	e := start(t)
	write := func(lines ...string) {
		for _, l := range lines {
			if err := e.log.WriteRecord("stdout", true, []byte(l)); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("one", "two", "three")
	if err := e.log.WriteRecord("stderr", true, []byte("warn")); err != nil {
		t.Fatal(err)
	}
	c := e.pki.httpClient(t, e.addr, apiserverUser)
	get := func(path string, q url.Values) (int, string) {
		t.Helper()
		resp, err := c.Get(e.url(path, q).String())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	future := time.Now().Add(time.Hour).Format(time.RFC3339)
	past := time.Now().Add(-time.Hour).Format(time.RFC3339)
	tests := []struct {
		name     string
		path     string
		q        url.Values
		wantCode int
		want     string // body, or a substring for errors
	}{
		{name: "all", path: "/containerLogs/default/web/app", wantCode: 200, want: "one\ntwo\nthree\nwarn\n"},
		{name: "tail", path: "/containerLogs/default/web/app", q: url.Values{"tailLines": {"2"}}, wantCode: 200, want: "three\nwarn\n"},
		{name: "limit", path: "/containerLogs/default/web/app", q: url.Values{"limitBytes": {"5"}}, wantCode: 200, want: "one\nt"},
		{name: "since future", path: "/containerLogs/default/web/app", q: url.Values{"sinceTime": {future}}, wantCode: 200, want: ""},
		{name: "since past", path: "/containerLogs/default/web/app", q: url.Values{"sinceTime": {past}, "tailLines": {"1"}}, wantCode: 200, want: "warn\n"},
		{name: "since seconds", path: "/containerLogs/default/web/app", q: url.Values{"sinceSeconds": {"3600"}, "tailLines": {"1"}}, wantCode: 200, want: "warn\n"},
		{name: "unknown container", path: "/containerLogs/default/web/nope", wantCode: 404, want: "not found"},
		{name: "no previous", path: "/containerLogs/default/web/app", q: url.Values{"previous": {"true"}}, wantCode: 404, want: "not found"},
		{name: "bad number", path: "/containerLogs/default/web/app", q: url.Values{"tailLines": {"many"}}, wantCode: 400, want: "tailLines"},
		{name: "invalid", path: "/containerLogs/default/web/app", q: url.Values{"tailLines": {"-1"}}, wantCode: 422, want: "tailLines must be"},
		{name: "both since", path: "/containerLogs/default/web/app", q: url.Values{"sinceSeconds": {"5"}, "sinceTime": {past}}, wantCode: 422, want: "at most one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(tt.path, tt.q)
			if code != tt.wantCode {
				t.Fatalf("code %d, want %d (body %q)", code, tt.wantCode, body)
			}
			if (code == 200 && body != tt.want) || (code != 200 && !strings.Contains(body, tt.want)) {
				t.Fatalf("body %q, want %q", body, tt.want)
			}
		})
	}

	t.Run("timestamps", func(t *testing.T) {
		_, body := get("/containerLogs/default/web/app", url.Values{"timestamps": {"true"}, "tailLines": {"1"}})
		ts, text, _ := strings.Cut(strings.TrimSuffix(body, "\n"), " ")
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || text != "warn" {
			t.Fatalf("timestamped line %q: %v", body, err)
		}
	})

	t.Run("follow", func(t *testing.T) {
		resp, err := c.Get(e.url("/containerLogs/default/web/app", url.Values{"follow": {"true"}, "tailLines": {"1"}}).String())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		lines := make(chan string)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		next := func() (string, bool) {
			select {
			case l, ok := <-lines:
				return l, ok
			case <-time.After(10 * time.Second):
				t.Fatal("no line in time")
				return "", false
			}
		}
		if l, _ := next(); l != "warn" {
			t.Fatalf("first followed line %q", l)
		}
		write("four")
		if l, _ := next(); l != "four" {
			t.Fatalf("followed line %q", l)
		}
		// The container exits: the stream ends.
		e.p.running.Store(false)
		if l, ok := next(); ok {
			t.Fatalf("stream went on after exit: %q", l)
		}
	})
}

func TestAuthentication(t *testing.T) {
	e := start(t)
	q := url.Values{"command": {"echo", "x"}, "output": {"1"}}
	tests := []struct {
		name     string
		user     string
		wantCode int
	}{
		{name: "no client certificate", user: "", wantCode: http.StatusUnauthorized},
		{name: "user not allowed", user: "mallory", wantCode: http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := e.pki.httpClient(t, e.addr, tt.user)
			for _, path := range []string{"/containerLogs/default/web/app", "/exec/default/web/app", "/portForward/default/web", "/pods"} {
				resp, err := c.Post(e.url(path, q).String(), "text/plain", nil)
				if strings.HasPrefix(path, "/containerLogs") {
					resp, err = c.Get(e.url(path, nil).String())
				}
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tt.wantCode {
					t.Errorf("%s: code %d, want %d", path, resp.StatusCode, tt.wantCode)
				}
			}
			// client-go's exec fails too, and the provider never runs.
			exe, err := clientrc.NewSPDYExecutor(e.pki.restConfig(t, e.addr, tt.user), "POST", e.url("/exec/default/web/app", q))
			if err != nil {
				t.Fatal(err)
			}
			if err := exe.StreamWithContext(timeoutCtx(t), clientrc.StreamOptions{Stdout: io.Discard}); err == nil {
				t.Fatal("exec succeeded without an allowed certificate")
			}
		})
	}
	e.p.mu.Lock()
	if len(e.p.calls) != 0 {
		t.Errorf("provider ran for rejected clients: %q", e.p.calls)
	}
	e.p.mu.Unlock()

	t.Run("certificate from another CA", func(t *testing.T) {
		other := newPKI(t)
		cfg := e.pki.restConfig(t, e.addr, "")
		cfg.CertData, cfg.KeyData = other.issue(t, apiserverUser, x509.ExtKeyUsageClientAuth)
		tr, err := rest.TransportFor(cfg)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := (&http.Client{Transport: tr}).Get(e.url("/containerLogs/default/web/app", nil).String())
		if err == nil {
			resp.Body.Close()
			t.Fatalf("a foreign certificate got %d", resp.StatusCode)
		}
	})

	t.Run("healthz is open", func(t *testing.T) {
		resp, err := e.pki.httpClient(t, e.addr, "").Get(e.url("/healthz", nil).String())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "ok" {
			t.Fatalf("healthz: %d %q", resp.StatusCode, b)
		}
	})
}

func TestCloseEndsStreams(t *testing.T) {
	e := start(t)
	cfg := e.pki.restConfig(t, e.addr, apiserverUser)
	exe, err := clientrc.NewSPDYExecutor(cfg, "POST", e.url("/exec/default/web/app", url.Values{"command": {"cat"}, "input": {"1"}, "output": {"1"}}))
	if err != nil {
		t.Fatal(err)
	}
	stdinR, stdinW := io.Pipe() // never closed by the client
	defer stdinW.Close()
	out := &notifyWriter{wrote: make(chan struct{}, 1)}
	done := make(chan error, 1)
	go func() {
		done <- exe.StreamWithContext(context.Background(), clientrc.StreamOptions{Stdin: stdinR, Stdout: out})
	}()
	if _, err := io.WriteString(stdinW, "x\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-out.wrote: // the stream is up
	case <-time.After(30 * time.Second):
		t.Fatal("stream never carried data")
	}
	if err := e.srv.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close left the exec stream open")
	}
	if err := e.srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

type notifyWriter struct{ wrote chan struct{} }

func (w *notifyWriter) Write(p []byte) (int, error) {
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func TestConfigValidate(t *testing.T) {
	_, err := server.Start(context.Background(), server.Config{}, &fakeProvider{})
	for _, want := range []string{"addr is required", "TLS serving certificate", "client CAs", "allowed user"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("empty config: %v, want %q", err, want)
		}
	}
}
