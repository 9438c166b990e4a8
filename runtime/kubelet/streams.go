package kubelet

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/appliance/appliance/runtime/logs"
	"github.com/appliance/appliance/runtime/network"
	"github.com/appliance/appliance/runtime/server"
)

// streams implements the kubelet endpoint's Provider: logs, exec, attach and
// port-forward against the pods this kubelet runs.
type streams struct{ k *Kubelet }

func (s *streams) find(namespace, name string, uid types.UID) (*podWorker, *corev1.Pod, error) {
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	for _, w := range s.k.workers {
		w.mu.Lock()
		p := w.pod
		w.mu.Unlock()
		if p != nil && p.Namespace == namespace && p.Name == name && (uid == "" || p.UID == uid) {
			return w, p.DeepCopy(), nil
		}
	}
	return nil, nil, fmt.Errorf("pod %s/%s: %w", namespace, name, server.ErrNotFound)
}

func (s *streams) container(ctx context.Context, namespace, name string, uid types.UID, container string) (*corev1.Pod, *record, *cList, error) {
	_, pod, err := s.find(namespace, name, uid)
	if err != nil {
		return nil, nil, nil, err
	}
	l, err := s.k.listPod(ctx, pod.UID)
	if err != nil {
		return nil, nil, nil, err
	}
	r := l.latest(container)
	if r == nil {
		return pod, nil, l, fmt.Errorf("container %q in pod %s/%s is waiting to start: %w", container, namespace, name, server.ErrNotFound)
	}
	return pod, r, l, nil
}

// previousInstance is the instance `kubectl logs --previous` shows: the one
// the pod's status names as the container's last termination, as in the
// kubelet. While a container waits in CrashLoopBackOff that is the newest
// instance, which has exited; once it runs again, the one before. Before the
// status says, the newest exited instance behind the current one.
func previousInstance(pod *corev1.Pod, container string, rs []*record) *record {
	for _, cs := range append(slices.Clone(pod.Status.InitContainerStatuses), pod.Status.ContainerStatuses...) {
		if cs.Name != container || cs.LastTerminationState.Terminated == nil {
			continue
		}
		id := strings.TrimPrefix(cs.LastTerminationState.Terminated.ContainerID, "containerd://")
		for _, r := range rs {
			if r.id == id {
				return r
			}
		}
	}
	if len(rs) > 1 && rs[1].exited {
		return rs[1]
	}
	return nil
}

func (s *streams) LogPath(namespace, name, container string, previous bool) (string, func() bool, error) {
	ctx, cancel := context.WithTimeout(s.k.ctx, 10*time.Second)
	defer cancel()
	pod, r, l, err := s.container(ctx, namespace, name, "", container)
	if err != nil {
		return "", nil, err
	}
	if previous {
		if p := previousInstance(pod, container, l.containers[container]); p != nil {
			return p.labels[labelLogPath], func() bool { return false }, nil
		}
		return "", nil, fmt.Errorf("previous terminated container %q in pod %q not found: %w", container, name, server.ErrNotFound)
	}
	id := r.id
	var gone atomic.Bool
	if !r.running {
		gone.Store(true)
	}
	running := func() bool {
		if gone.Load() {
			return false
		}
		ctx := s.k.rt.WithNamespace(s.k.ctx)
		c, err := s.k.rt.Client().LoadContainer(ctx, id)
		if err != nil {
			gone.Store(true)
			return false
		}
		t, err := c.Task(ctx, nil)
		if err != nil {
			gone.Store(true)
			return false
		}
		st, err := t.Status(ctx)
		if err != nil || st.Status == containerd.Stopped {
			gone.Store(true)
			return false
		}
		return true
	}
	return r.labels[labelLogPath], running, nil
}

func (s *streams) Exec(ctx context.Context, namespace, name string, uid types.UID, container string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	_, r, _, err := s.container(ctx, namespace, name, uid, container)
	if err != nil {
		return err
	}
	if !r.running {
		return fmt.Errorf("container %q is not running", container)
	}
	code, err := s.k.execIn(ctx, r, cmd, in, out, errw, tty, resize)
	if err != nil {
		return err
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with non-zero exit code: %d", code), Code: int(code)}
	}
	return nil
}

// Attach connects to a container's own stdio. Containers started with stdin
// or a TTY have their streams held by the kubelet; for the others, attach shows
// their output as it is written (from the log), and input is refused.
func (s *streams) Attach(ctx context.Context, namespace, name string, uid types.UID, container string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	_, r, _, err := s.container(ctx, namespace, name, uid, container)
	if err != nil {
		return err
	}
	if !r.running {
		return fmt.Errorf("cannot attach to container %q: it is not running", container)
	}
	if s.k.attachFor(r.id) != nil {
		return s.k.attach(ctx, r, in, out, errw, resize)
	}
	if in != nil {
		return fmt.Errorf("container %q was not started with stdin: true; attach can only show its output", container)
	}
	path, running, err := s.LogPath(namespace, name, container, false)
	if err != nil {
		return err
	}
	if out == nil {
		out = nopCloser{io.Discard}
	}
	if errw == nil {
		errw = out
	}
	zero := int64(0)
	return logs.Read(ctx, path, logs.ReadOptions{Follow: true, TailLines: &zero}, out, errw, running)
}

func (s *streams) PortForward(ctx context.Context, namespace, name string, uid types.UID, port int32, stream io.ReadWriteCloser) error {
	_, pod, err := s.find(namespace, name, uid)
	if err != nil {
		return err
	}
	var conn net.Conn
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port)))
	if pod.Spec.HostNetwork {
		conn, err = network.DialInNetNS(ctx, s.k.cfg.NodeNetNS, "tcp", addr)
	} else {
		conn, err = network.DialInNetNS(ctx, filepath.Join(s.k.cfg.RunDir, "netns", string(pod.UID)), "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("failed to connect to localhost:%d inside namespace of pod %s/%s: %w", port, namespace, name, err)
	}
	defer conn.Close()
	errc := make(chan error, 2)
	go func() { _, err := io.Copy(conn, stream); errc <- err }()
	go func() { _, err := io.Copy(stream, conn); errc <- err }()
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	return err
}

var execSeq atomic.Uint64

// execIn runs a process in a running container and returns its exit code.
func (k *Kubelet) execIn(ctx context.Context, r *record, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) (uint32, error) {
	ctx = k.rt.WithNamespace(ctx)
	task, err := r.c.Task(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("container %s is not running: %w", r.name(), err)
	}
	spec, err := r.c.Spec(ctx)
	if err != nil {
		return 0, err
	}
	proc := *spec.Process
	proc.Args = cmd
	proc.Terminal = tty
	if proc.Cwd == "" {
		proc.Cwd = "/"
	}
	id := fmt.Sprintf("exec-%d-%d", time.Now().UnixNano()%1e6, execSeq.Add(1))
	fifoDir := filepath.Join(k.cfg.RunDir, "fifo")
	if err := os.MkdirAll(fifoDir, 0o700); err != nil {
		return 0, err
	}
	var stdout, stderr io.Writer = io.Discard, io.Discard
	if out != nil {
		stdout = out
	}
	if errw != nil {
		stderr = errw
	}
	var stdin *stdinCloser
	var inR io.Reader
	if in != nil {
		stdin = &stdinCloser{r: in}
		inR = stdin
	}
	opts := []cio.Opt{cio.WithStreams(inR, stdout, stderr), cio.WithFIFODir(fifoDir)}
	if tty {
		opts = append(opts, cio.WithTerminal)
	}
	p, err := task.Exec(ctx, id, &proc, cio.NewCreator(opts...))
	if err != nil {
		return 0, fmt.Errorf("exec in %s: %w", r.name(), err)
	}
	if stdin != nil {
		// The client's EOF must reach the process (`kubectl exec -i ... cat`).
		stdin.setCloser(func() { _ = p.CloseIO(ctx, containerd.WithStdinCloser) })
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := p.Delete(dctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			k.log.Debug("delete exec process", "err", err)
		}
	}()
	ch, err := p.Wait(ctx)
	if err != nil {
		return 0, err
	}
	if err := p.Start(ctx); err != nil {
		return 0, fmt.Errorf("exec %q in %s: %w", cmd, r.name(), err)
	}
	if tty && resize != nil {
		go func() {
			for sz := range resize {
				_ = p.Resize(ctx, uint32(sz.Width), uint32(sz.Height))
			}
		}()
	}
	select {
	case st := <-ch:
		p.IO().Wait()
		code, _, err := st.Result()
		return code, err
	case <-ctx.Done():
		_ = p.Kill(context.WithoutCancel(ctx), syscall.SIGKILL)
		return 0, ctx.Err()
	}
}

// stdinCloser closes the process's stdin once the client's input ends.
type stdinCloser struct {
	r      io.Reader
	mu     sync.Mutex
	closer func()
	eof    bool
}

func (s *stdinCloser) setCloser(f func()) {
	s.mu.Lock()
	s.closer = f
	eof := s.eof
	s.mu.Unlock()
	if eof {
		f()
	}
}

func (s *stdinCloser) Read(b []byte) (int, error) {
	n, err := s.r.Read(b)
	if err == io.EOF {
		s.mu.Lock()
		s.eof = true
		f := s.closer
		s.mu.Unlock()
		if f != nil {
			f()
		}
	}
	return n, err
}
