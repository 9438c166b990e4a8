package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	gwebsocket "github.com/gorilla/websocket"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clientpf "k8s.io/client-go/tools/portforward"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"
	utilexec "k8s.io/utils/exec"
)

// Provider runs the streams; the kubelet implements it.
type Provider interface {
	// LogPath is the log file of a container (of its previous start if
	// previous) and whether it still runs. An unknown pod or container, or
	// no previous start, is an error wrapping ErrNotFound.
	LogPath(namespace, pod, container string, previous bool) (path string, running func() bool, err error)
	// Exec runs cmd in the container. For a command that exits non-zero it
	// returns an error satisfying k8s.io/utils/exec.ExitError, such as
	// k8s.io/client-go/util/exec.CodeExitError (wrapping it is fine): the
	// client then gets the exit code. in, out and errw are nil when the
	// client did not ask for them; resize is nil without a TTY.
	Exec(ctx context.Context, namespace, pod string, uid types.UID, container string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error
	// Attach connects to the container's own stdio until it exits or ctx ends.
	Attach(ctx context.Context, namespace, pod string, uid types.UID, container string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error
	// PortForward copies between stream and port in the pod's network
	// namespace, until either side closes.
	PortForward(ctx context.Context, namespace, pod string, uid types.UID, port int32, stream io.ReadWriteCloser) error
}

// streamFunc runs one exec or attach once the streams are open.
type streamFunc func(ctx context.Context, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error

func (s *Server) exec(w http.ResponseWriter, r *http.Request) {
	ns, pod, uid, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("uid"), r.PathValue("container")
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		http.Error(w, "exec: the command parameter is required", http.StatusBadRequest)
		return
	}
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.log.Info("exec", "namespace", ns, "pod", pod, "container", container, "command", cmd, "tty", opts.TTY)
	run := func(ctx context.Context, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
		return exitError(s.p.Exec(ctx, ns, pod, types.UID(uid), container, cmd, in, out, errw, tty, resize))
	}
	if wsstream.IsWebSocketRequestWithStreamCloseProtocol(r) {
		s.serveWebSocketV5(w, r, opts, run)
		return
	}
	remotecommand.ServeExec(w, r, execAdapter(run), pod, uid, container, cmd, opts, StreamIdleTimeout, StreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

func (s *Server) attach(w http.ResponseWriter, r *http.Request) {
	ns, pod, uid, container := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("uid"), r.PathValue("container")
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.log.Info("attach", "namespace", ns, "pod", pod, "container", container, "tty", opts.TTY)
	run := func(ctx context.Context, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
		return s.p.Attach(ctx, ns, pod, types.UID(uid), container, in, out, errw, tty, resize)
	}
	if wsstream.IsWebSocketRequestWithStreamCloseProtocol(r) {
		s.serveWebSocketV5(w, r, opts, run)
		return
	}
	remotecommand.ServeAttach(w, r, attachAdapter(run), pod, uid, container, opts, StreamIdleTimeout, StreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

func (s *Server) portForward(w http.ResponseWriter, r *http.Request) {
	ns, pod, uid := r.PathValue("namespace"), r.PathValue("pod"), r.PathValue("uid")
	s.log.Info("port-forward", "namespace", ns, "pod", pod)
	pf := portForwardAdapter(func(ctx context.Context, port int32, stream io.ReadWriteCloser) error {
		return s.p.PortForward(ctx, ns, pod, types.UID(uid), port, stream)
	})
	if wsstream.IsWebSocketRequestWithTunnelingProtocol(r) {
		s.serveTunnel(w, r, func(w http.ResponseWriter, r *http.Request) {
			portforward.ServePortForward(w, r, pf, pod, uid, &portforward.V4Options{}, StreamIdleTimeout, StreamCreationTimeout, portforward.SupportedProtocols)
		})
		return
	}
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	portforward.ServePortForward(w, r, pf, pod, uid, opts, StreamIdleTimeout, StreamCreationTimeout, portforward.SupportedProtocols)
}

// exitError unwraps an exit error so the streaming library, which asserts
// the type rather than using errors.As, reports the exit code.
func exitError(err error) error {
	var ee utilexec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return ee
	}
	return err
}

type execAdapter streamFunc

func (f execAdapter) ExecInContainer(ctx context.Context, _ string, _ string, _ string, _ []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	return f(ctx, in, out, errw, tty, resize)
}

type attachAdapter streamFunc

func (f attachAdapter) AttachContainer(ctx context.Context, _ string, _ string, _ string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	return f(ctx, in, out, errw, tty, resize)
}

type portForwardAdapter func(ctx context.Context, port int32, stream io.ReadWriteCloser) error

func (f portForwardAdapter) PortForward(ctx context.Context, _ string, _ string, port int32, stream io.ReadWriteCloser) error {
	return f(ctx, port, stream)
}

// Channels of the v5.channel.k8s.io protocol.
const (
	chanStdin = iota
	chanStdout
	chanStderr
	chanError
	chanResize
)

// writeStatusDeadline bounds writing the final status.
const writeStatusDeadline = 10 * time.Second

// serveWebSocketV5 runs exec or attach over WebSocket with the
// v5.channel.k8s.io protocol (client-go's NewWebSocketExecutor), as the API
// server's stream translator does: one channel per stream, the error
// channel carrying a metav1.Status, 255 closing a channel (stdin's EOF).
func (s *Server) serveWebSocketV5(w http.ResponseWriter, r *http.Request, opts *remotecommand.Options, run streamFunc) {
	channels := []wsstream.ChannelType{
		chanStdin:  ignoreUnless(opts.Stdin, wsstream.ReadChannel),
		chanStdout: ignoreUnless(opts.Stdout, wsstream.WriteChannel),
		chanStderr: ignoreUnless(opts.Stderr, wsstream.WriteChannel),
		chanError:  wsstream.WriteChannel,
		chanResize: wsstream.ReadChannel,
	}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		remotecommand.StreamProtocolV5Name: {Binary: true, Channels: channels},
	})
	conn.SetIdleTimeout(StreamIdleTimeout)
	_, streams, err := conn.Open(w, r)
	if err != nil {
		s.log.Debug("websocket upgrade failed", "err", err)
		return
	}
	defer conn.Close()
	// An empty message on the lowest writable channel tells the client the
	// streams are open.
	switch {
	case opts.Stdout:
		_, err = streams[chanStdout].Write(nil)
	case opts.Stderr:
		_, err = streams[chanStderr].Write(nil)
	default:
		_, err = streams[chanError].Write(nil)
	}
	if err != nil {
		return
	}
	ctx := r.Context()
	var in io.Reader
	var out, errw io.WriteCloser
	if opts.Stdin {
		in = streams[chanStdin]
	}
	if opts.Stdout {
		out = streams[chanStdout]
	}
	if opts.Stderr {
		errw = streams[chanStderr]
	}
	var resize chan remotecommand.TerminalSize
	if opts.TTY {
		resize = make(chan remotecommand.TerminalSize)
		go decodeResizes(ctx, streams[chanResize], resize)
	}
	status := statusOf(run(ctx, in, out, errw, opts.TTY, resize))
	b, err := json.Marshal(status)
	if err != nil {
		return
	}
	conn.SetWriteDeadline(writeStatusDeadline)
	if _, err := streams[chanError].Write(b); err != nil {
		s.log.Debug("write stream status", "err", err)
	}
}

func ignoreUnless(want bool, t wsstream.ChannelType) wsstream.ChannelType {
	if want {
		return t
	}
	return wsstream.IgnoreChannel
}

// decodeResizes reads JSON terminal sizes until the stream or ctx ends.
func decodeResizes(ctx context.Context, r io.Reader, ch chan<- remotecommand.TerminalSize) {
	defer close(ch)
	dec := json.NewDecoder(r)
	for {
		var size remotecommand.TerminalSize
		if err := dec.Decode(&size); err != nil {
			return
		}
		select {
		case ch <- size:
		case <-ctx.Done():
			return
		}
	}
}

// statusOf is the status the remote command protocols end with: success,
// a non-zero exit code, or an internal error.
func statusOf(err error) metav1.Status {
	if err == nil {
		return metav1.Status{Status: metav1.StatusSuccess}
	}
	var ee utilexec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return metav1.Status{
			Status: metav1.StatusFailure,
			Reason: remotecommand.NonZeroExitCodeReason,
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{
				Type:    remotecommand.ExitCodeCauseType,
				Message: fmt.Sprint(ee.ExitStatus()),
			}}},
			Message: fmt.Sprintf("command terminated with non-zero exit code: %v", ee),
		}
	}
	return metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusInternalServerError,
		Reason:  metav1.StatusReasonInternalError,
		Message: fmt.Sprintf("Internal error occurred: %v", err),
		Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Message: err.Error()}}},
	}
}

// serveTunnel serves SPDY tunnelled through WebSocket (client-go's
// NewSPDYOverWebsocketDialer, kubectl port-forward since 1.30): the
// WebSocket carries the SPDY bytes, so the SPDY handler runs unchanged on a
// request rewritten as a SPDY upgrade and a writer whose hijacked
// connection is the WebSocket.
func (s *Server) serveTunnel(w http.ResponseWriter, r *http.Request, spdyHandler http.HandlerFunc) {
	var protocols, spdyProtocols []string
	for _, p := range gwebsocket.Subprotocols(r) {
		if len(p) > len(portforward.WebsocketsSPDYTunnelingPrefix) && p[:len(portforward.WebsocketsSPDYTunnelingPrefix)] == portforward.WebsocketsSPDYTunnelingPrefix {
			protocols = append(protocols, p)
			spdyProtocols = append(spdyProtocols, p[len(portforward.WebsocketsSPDYTunnelingPrefix):])
		}
	}
	req := r.Clone(r.Context())
	for _, h := range []string{"Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Protocol", "Sec-Websocket-Extensions"} {
		req.Header.Del(h)
	}
	req.Method = http.MethodPost
	req.Body = http.NoBody
	req.Header.Set(httpstream.HeaderConnection, httpstream.HeaderUpgrade)
	req.Header.Set(httpstream.HeaderUpgrade, spdy.HeaderSpdy31)
	req.Header.Del(httpstream.HeaderProtocolVersion)
	for _, p := range spdyProtocols {
		req.Header.Add(httpstream.HeaderProtocolVersion, p)
	}
	tw := &tunnelWriter{
		w: w, r: r, header: http.Header{},
		upgrader: gwebsocket.Upgrader{
			Subprotocols: protocols,
			// The API server or a client with a certificate, not a browser.
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
	spdyHandler(tw, req)
	if tw.conn != nil {
		// The SPDY side has finished: close the tunnel.
		_ = tw.conn.Close()
	}
}

// tunnelWriter plays the ResponseWriter for the SPDY handler: the 101 it
// writes becomes the WebSocket handshake, Hijack returns the WebSocket as a
// net.Conn, and any other answer passes through.
type tunnelWriter struct {
	w        http.ResponseWriter
	r        *http.Request
	header   http.Header
	upgrader gwebsocket.Upgrader
	conn     net.Conn
	wrote    bool
}

func (t *tunnelWriter) Header() http.Header { return t.header }

func (t *tunnelWriter) WriteHeader(code int) {
	if t.wrote {
		return
	}
	t.wrote = true
	if code != http.StatusSwitchingProtocols {
		for k, v := range t.header {
			t.w.Header()[k] = v
		}
		t.w.WriteHeader(code)
		return
	}
	ws, err := t.upgrader.Upgrade(t.w, t.r, nil) // answers the client itself on failure
	if err != nil {
		return
	}
	t.conn = clientpf.NewTunnelingConnection("kubelet-server", ws)
}

func (t *tunnelWriter) Write(p []byte) (int, error) {
	if !t.wrote {
		t.WriteHeader(http.StatusOK)
	}
	if t.conn != nil {
		return 0, http.ErrHijacked
	}
	return t.w.Write(p)
}

func (t *tunnelWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if t.conn == nil {
		return nil, nil, errors.New("websocket tunnel: upgrade failed")
	}
	return t.conn, bufio.NewReadWriter(bufio.NewReader(t.conn), bufio.NewWriter(t.conn)), nil
}
