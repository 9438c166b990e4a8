package kubelet

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/appliance/appliance/runtime/logs/driver"
)

// Containers with stdin (or a TTY) get FIFOs instead of the log driver, so that
// `kubectl attach` and `kubectl run -it` can type into them: the kubelet holds the
// stdin FIFO, copies the output into the CRI log and to attached clients. A
// restarted kubelet re-opens the same FIFOs (cio.NewAttach). While the kubelet is
// down, such a container's output waits in the pipe instead of reaching the log.
type attachIO struct {
	mu      sync.Mutex
	stdin   io.WriteCloser
	once    bool // stdinOnce: stdin closes after the first attach ends
	used    bool
	clients map[*attachClient]struct{}
	tty     bool
	closed  chan struct{} // the container's output ended (it exited)
}

type attachClient struct {
	out, err io.Writer
}

// fanout writes a stream to the log and to every attached client.
type fanout struct {
	a      *attachIO
	stream string
	pw     *io.PipeWriter
}

func (f *fanout) Write(b []byte) (int, error) {
	f.a.mu.Lock()
	for c := range f.a.clients {
		w := c.out
		if f.stream == "stderr" && c.err != nil {
			w = c.err
		}
		if w != nil {
			_, _ = w.Write(b)
		}
	}
	f.a.mu.Unlock()
	return f.pw.Write(b)
}

func (k *Kubelet) attachFor(id string) *attachIO {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.attached[id]
}

// interactiveIO builds the task IO of a stdin/TTY container: FIFOs in the run
// dir, output copied into the log file at logPath.
func (k *Kubelet) interactiveIO(id, logPath string, tty, stdinOnce bool) (cio.Opt, *attachIO, func(), error) {
	w, err := driver.Open(driver.Config{Path: logPath, MaxSize: driver.DefaultMaxSize, MaxFiles: driver.DefaultMaxFiles})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("open log %s: %w", logPath, err)
	}
	a := &attachIO{clients: map[*attachClient]struct{}{}, tty: tty, once: stdinOnce, closed: make(chan struct{})}
	inR, inW := io.Pipe()
	a.stdin = inW
	outR, outW := io.Pipe()
	errR, errW := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = w.Copy("stdout", outR) }()
	go func() { defer wg.Done(); _ = w.Copy("stderr", errR) }()
	go func() { wg.Wait(); w.Close() }()
	var closeOnce sync.Once
	done := func() { closeOnce.Do(func() { outW.Close(); errW.Close(); inW.Close(); close(a.closed) }) }
	opt := cio.WithStreams(inR, &fanout{a: a, stream: "stdout", pw: outW}, &fanout{a: a, stream: "stderr", pw: errW})
	k.mu.Lock()
	if k.attached == nil {
		k.attached = map[string]*attachIO{}
	}
	k.attached[id] = a
	k.mu.Unlock()
	return opt, a, done, nil
}

func (k *Kubelet) fifoDir() string { return filepath.Join(k.cfg.RunDir, "fifo") }

// newInteractiveTask starts the task of a stdin/TTY container with FIFOs.
func (k *Kubelet) newInteractiveTask(ctx context.Context, cont containerd.Container, id, logPath string, tty, stdinOnce bool) (containerd.Task, error) {
	streams, _, done, err := k.interactiveIO(id, logPath, tty, stdinOnce)
	if err != nil {
		return nil, err
	}
	opts := []cio.Opt{streams, cio.WithFIFODir(k.fifoDir())}
	if tty {
		opts = append(opts, cio.WithTerminal)
	}
	task, err := cont.NewTask(ctx, cio.NewCreator(opts...))
	if err != nil {
		done()
		k.forgetAttach(id)
		return nil, err
	}
	k.watchInteractive(cont, task, id, done)
	return task, nil
}

// reattach re-opens the FIFOs of a running interactive container after a
// kubelet restart.
func (k *Kubelet) reattach(ctx context.Context, r *record) {
	if k.attachFor(r.id) != nil || r.labels[labelInteractive] == "" || !r.running {
		return
	}
	streams, _, done, err := k.interactiveIO(r.id, r.labels[labelLogPath], r.labels[labelInteractive] == "tty", false)
	if err != nil {
		k.log.Warn("reattach", "container", r.id, "err", err)
		return
	}
	task, err := r.c.Task(ctx, cio.NewAttach(streams))
	if err != nil {
		done()
		k.forgetAttach(r.id)
		k.log.Warn("reattach", "container", r.id, "err", err)
		return
	}
	k.watchInteractive(r.c, task, r.id, done)
}

func (k *Kubelet) watchInteractive(cont containerd.Container, task containerd.Task, id string, done func()) {
	ch, err := task.Wait(k.rt.WithNamespace(k.ctx))
	if err != nil {
		return
	}
	go func() {
		select {
		case <-ch:
			task.IO().Wait()
		case <-k.ctx.Done():
		}
		done()
		k.forgetAttach(id)
	}()
}

func (k *Kubelet) forgetAttach(id string) {
	k.mu.Lock()
	delete(k.attached, id)
	k.mu.Unlock()
}

// attach connects a client to an interactive container until ctx ends or the
// client's input ends (for stdinOnce containers, their stdin closes then).
func (k *Kubelet) attach(ctx context.Context, r *record, in io.Reader, out, errw io.WriteCloser, resize <-chan remotecommand.TerminalSize) error {
	a := k.attachFor(r.id)
	if a == nil {
		return fmt.Errorf("container %s was not started with stdin or tty; attach shows only containers with stdin: true", r.name())
	}
	c := &attachClient{}
	if out != nil {
		c.out = out
	}
	if errw != nil {
		c.err = errw
	}
	a.mu.Lock()
	a.clients[c] = struct{}{}
	a.used = true
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		delete(a.clients, c)
		a.mu.Unlock()
	}()
	nctx := k.rt.WithNamespace(ctx)
	if resize != nil && a.tty {
		if task, err := r.c.Task(nctx, nil); err == nil {
			go func() {
				for sz := range resize {
					_ = task.Resize(nctx, uint32(sz.Width), uint32(sz.Height))
				}
			}()
		}
	}
	if in != nil {
		go func() {
			_, _ = io.Copy(a.stdin, in)
			if a.once {
				a.stdin.Close()
			}
		}()
	}
	// The session lasts until the container's output ends (it exited and its
	// last lines reached us) or the client goes.
	select {
	case <-ctx.Done():
	case <-a.closed:
	}
	return nil
}
