package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/plugins/snapshots/overlay/overlayutils"
	"github.com/containerd/errdefs"
	clog "github.com/containerd/log"
	"github.com/sirupsen/logrus"
	lslog "github.com/sirupsen/logrus/hooks/slog"
	"golang.org/x/sync/singleflight"
)

const (
	readyTimeout   = 30 * time.Second
	connectTimeout = 10 * time.Second
	maxLogSize     = 10 << 20
	stopTimeout    = 5 * time.Second
	maxBackoff     = 30 * time.Second
)

// Runtime is a connection to containerd, and, when we started it, the
// supervisor of our own containerd child.
type Runtime struct {
	cfg         Config
	log         *slog.Logger
	client      *client.Client
	snapshotter string
	extRoot     string // an existing containerd's image root, found once (imageRoot)
	registries  *registries
	own         bool
	clientLog   *clog.Entry
	pulls       singleflight.Group

	mu       sync.Mutex
	stopped  bool
	running  bool // supervise was started; done will close
	cmd      *exec.Cmd
	exited   chan struct{} // closed when cmd has been reaped
	stop     chan struct{} // closed by Close (or abandon) to end supervision
	done     chan struct{} // closed when the supervisor has returned
	once     sync.Once
	closeErr error

	// diskUsage reports the used percentage of the filesystem holding path;
	// statfs unless a test replaces it.
	diskUsage func(path string) (int, error)
}

// Start connects to containerd: the existing one at cfg.Endpoint, or our own
// child, which it configures, starts, waits for and then supervises
// (restarting it when it dies) until Close.
func Start(ctx context.Context, cfg Config) (_ *Runtime, retErr error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("containerd config: %w", err)
	}
	regs, err := loadRegistries(cfg.RegistriesFile)
	if err != nil {
		return nil, err
	}
	regs.noDefault = cfg.DisableDefaultEndpoint
	r := &Runtime{
		cfg:        cfg,
		log:        cfg.Log.With("part", "containerd"),
		registries: regs,
		own:        cfg.Endpoint == "",
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		diskUsage:  statfsUsage,
	}
	r.clientLog = newClientLog(r.log)
	defer func() {
		if retErr != nil {
			r.Close()
		}
	}()
	if !r.own {
		if err := r.connectExisting(ctx); err != nil {
			return nil, err
		}
		return r, nil
	}
	if err := r.startOwn(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Runtime) connectExisting(ctx context.Context) error {
	sock := r.cfg.Socket()
	if _, err := os.Stat(sock); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNotRunning, sock, err)
	}
	c, err := client.New(sock, client.WithDefaultNamespace(r.cfg.Namespace))
	if err != nil {
		return fmt.Errorf("connect to containerd at %s: %w", sock, err)
	}
	r.client = c
	if err := r.waitServing(ctx, nil, connectTimeout); err != nil {
		return err
	}
	r.snapshotter = r.cfg.Snapshotter
	if r.snapshotter == "" {
		// Our own containerd records its choice on the namespace (the label the
		// client itself honours), so `appliance image` unpacks where the kubelet does.
		labels, err := c.NamespaceService().Labels(ctx, r.cfg.Namespace)
		if err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("read namespace %q labels: %w", r.cfg.Namespace, err)
		}
		r.snapshotter = labels[defaults.DefaultSnapshotterNSLabel]
	}
	if r.snapshotter == "" {
		r.snapshotter = DefaultSnapshotter
	}
	r.log.Info("connected to existing containerd", "socket", sock, "namespace", r.cfg.Namespace, "snapshotter", r.snapshotter)
	return nil
}

func (r *Runtime) startOwn(ctx context.Context) error {
	if err := CheckBinaries(); err != nil {
		return err
	}
	for _, d := range []string{r.cfg.Root, r.cfg.State} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return fmt.Errorf("create containerd dir: %w", err)
		}
	}
	r.snapshotter = r.chooseSnapshotter()
	if err := os.WriteFile(r.configPath(), []byte(r.configTOML()), 0o600); err != nil {
		return fmt.Errorf("write containerd config: %w", err)
	}
	if err := r.stopLeftover(); err != nil {
		return err
	}
	sock := r.cfg.Socket()
	if conn, err := net.DialTimeout("unix", sock, time.Second); err == nil {
		conn.Close()
		return fmt.Errorf("something already serves %s and it is not the containerd our pid file names: stop it, or use it as the endpoint", sock)
	}
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	c, err := client.New(sock, client.WithDefaultNamespace(r.cfg.Namespace))
	if err != nil {
		return fmt.Errorf("containerd client for %s: %w", sock, err)
	}
	r.client = c
	exited, err := r.launch()
	if err != nil {
		return err
	}
	if err := r.waitServing(ctx, exited, readyTimeout); err != nil {
		return err
	}
	if err := r.labelNamespace(ctx); err != nil {
		return err
	}
	r.log.Info("containerd started", "pid", r.PID(), "root", r.cfg.Root, "state", r.cfg.State,
		"socket", sock, "namespace", r.cfg.Namespace, "snapshotter", r.snapshotter,
		"registries-file", r.cfg.RegistriesFile, "disable-default-endpoint", r.cfg.DisableDefaultEndpoint, "log", r.logPath())
	r.mu.Lock()
	r.running = true
	r.mu.Unlock()
	go r.supervise()
	return nil
}

// chooseSnapshotter keeps overlayfs unless overlay cannot be mounted on
// Root's filesystem (overlay or some network filesystems as the upper dir),
// in which case native is the fallback, as containerd's own check decides.
func (r *Runtime) chooseSnapshotter() string {
	if r.cfg.Snapshotter == "native" {
		return "native"
	}
	dir := filepath.Join(r.cfg.Root, "io.containerd.snapshotter.v1.overlayfs")
	if err := overlayutils.Supported(dir); err != nil {
		r.log.Warn("overlayfs not usable on the containerd root, falling back to the native snapshotter (slower, uses more disk)",
			"root", r.cfg.Root, "err", err)
		return "native"
	}
	return "overlayfs"
}

func (r *Runtime) configPath() string { return filepath.Join(r.cfg.State, "config.toml") }
func (r *Runtime) pidPath() string    { return filepath.Join(r.cfg.State, "containerd.pid") }
func (r *Runtime) logPath() string    { return filepath.Join(r.cfg.Root, "containerd.log") }

// configTOML is a version 2 config (the format containerd 1.6 reads) with
// only what the kubelet uses: no CRI, no exotic snapshotters, no tracing, no
// debug or metrics listeners, so it starts in a fraction of a second. The
// legacy io.containerd.runtime.v1.linux stays: 1.6's tasks service refuses to
// load without it ("no plugins registered for io.containerd.runtime.v1").
func (r *Runtime) configTOML() string {
	q := strconv.Quote
	return fmt.Sprintf(`# Generated by appliance at every start; edits are overwritten.
version = 2
root = %s
state = %s
oom_score = -999
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = %s

[ttrpc]
  address = %s

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %s
`, q(r.cfg.Root), q(r.cfg.State), q(r.cfg.Socket()), q(r.cfg.Socket()+".ttrpc"), q(filepath.Join(r.cfg.Root, "opt")))
}

// launch starts a containerd child and returns a channel closed when it exits.
func (r *Runtime) launch() (<-chan struct{}, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return nil, errors.New("containerd runtime closed")
	}
	// Rotated at a start once above maxLogSize, one generation kept
	// (containerd.log.1), so a crash loop's log stays readable.
	if st, err := os.Stat(r.logPath()); err == nil && st.Size() > maxLogSize {
		os.Rename(r.logPath(), r.logPath()+".1")
	}
	logf, err := os.OpenFile(r.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open containerd log: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command("containerd", "--config", r.configPath())
	// A log file, not a pipe to us: if the appliance dies, writes to a pipe
	// would kill containerd with SIGPIPE. Its own process group keeps a
	// Ctrl-C to the appliance from reaching it; Close stops it by PID.
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	if err := os.WriteFile(r.pidPath(), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		r.log.Warn("write containerd pid file", "err", err)
	}
	exited := make(chan struct{})
	r.cmd, r.exited = cmd, exited
	go func() {
		err := cmd.Wait()
		r.log.Debug("containerd exited", "pid", cmd.Process.Pid, "err", err)
		close(exited)
	}()
	return exited, nil
}

// waitServing waits until containerd answers, the child exits (exited), or
// the deadline passes.
func (r *Runtime) waitServing(ctx context.Context, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		cctx, ccancel := context.WithTimeout(ctx, 250*time.Millisecond)
		_, err := r.client.Version(cctx)
		ccancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("containerd exited before answering (see %s): %s", r.logPath(), r.logTail())
		case <-ctx.Done():
			if !r.own {
				return fmt.Errorf("containerd at %s did not answer within %s (is the appliance running?): %w", r.cfg.Socket(), timeout, err)
			}
			return fmt.Errorf("containerd at %s did not answer within %s (see %s): %w", r.cfg.Socket(), timeout, r.logPath(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *Runtime) logTail() string {
	b, err := os.ReadFile(r.logPath())
	if err != nil {
		return err.Error()
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// labelNamespace creates our namespace and records the snapshotter on it;
// the client uses that label whenever no snapshotter is named.
func (r *Runtime) labelNamespace(ctx context.Context) error {
	ns := r.client.NamespaceService()
	err := ns.Create(ctx, r.cfg.Namespace, map[string]string{defaults.DefaultSnapshotterNSLabel: r.snapshotter})
	if errdefs.IsAlreadyExists(err) {
		err = ns.SetLabel(ctx, r.cfg.Namespace, defaults.DefaultSnapshotterNSLabel, r.snapshotter)
	}
	if err != nil {
		return fmt.Errorf("containerd namespace %q: %w", r.cfg.Namespace, err)
	}
	return nil
}

// supervise restarts containerd when it dies, with a backoff from 1 s to 30 s.
// Shims and containers survive a containerd restart; the new daemon finds them
// again in its state dir.
func (r *Runtime) supervise() {
	defer close(r.done)
	stopCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-r.stop
		cancel()
	}()
	backoff := time.Second
	for {
		r.mu.Lock()
		exited := r.exited
		r.mu.Unlock()
		select {
		case <-r.stop:
			return
		case <-exited:
		}
		r.log.Warn("containerd exited unexpectedly, restarting", "backoff", backoff, "log", r.logPath())
		select {
		case <-r.stop:
			return
		case <-time.After(backoff):
		}
		ex, err := r.launch()
		if err == nil {
			err = r.waitServing(stopCtx, ex, readyTimeout)
		}
		if err != nil {
			r.log.Error("restart containerd", "err", err)
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		r.log.Info("containerd restarted", "pid", r.PID())
		backoff = time.Second
	}
}

// PID is the PID of the containerd child this Runtime started and supervises
// (0 when it uses an existing containerd).
func (r *Runtime) PID() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

// stopLeftover stops a containerd that a previous appliance process left
// running (it was killed with -9): found by the pid file and stopped by that
// PID, and only if the process really is containerd with our config. Its
// shims keep running; the containerd we start next finds them.
func (r *Runtime) stopLeftover() error {
	b, err := os.ReadFile(r.pidPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read containerd pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		r.log.Warn("ignoring malformed containerd pid file", "path", r.pidPath())
		return nil
	}
	if !r.isOurContainerd(pid) {
		return nil
	}
	r.log.Info("stopping containerd left running by a previous appliance process", "pid", pid)
	if err := stopPID(pid, stopTimeout); err != nil {
		return fmt.Errorf("stop leftover containerd (pid %d): %w", pid, err)
	}
	return nil
}

func (r *Runtime) isOurContainerd(pid int) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || processGone(pid) {
		return false
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(args) < 3 || filepath.Base(args[0]) != "containerd" {
		return false
	}
	for i := 1; i+1 < len(args); i++ {
		if (args[i] == "--config" || args[i] == "-c") && args[i+1] == r.configPath() {
			return true
		}
	}
	return false
}

// stopPID sends SIGTERM, then SIGKILL after timeout, and waits until the
// process is gone (reaped, or a zombie of someone else's).
func stopPID(pid int, timeout time.Duration) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	if waitGone(pid, timeout) {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	if !waitGone(pid, timeout) {
		return fmt.Errorf("process %d still running after SIGKILL", pid)
	}
	return nil
}

func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if processGone(pid) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return processGone(pid)
}

// processGone: no such process, or a zombie waiting for its parent.
func processGone(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// state is the field after "(comm)"; comm may contain spaces.
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] == 'Z' || stat[i+2] == 'X'
	}
	return false
}

// Client is the containerd client (namespace set by default).
func (r *Runtime) Client() *client.Client { return r.client }

// WithNamespace returns ctx carrying our containerd namespace, and our
// logger for the containerd client's own logging (the resolver's "trying next
// host", unpack progress): its info goes to debug, warnings and errors stay.
func (r *Runtime) WithNamespace(ctx context.Context) context.Context {
	ctx = namespaces.WithNamespace(ctx, r.cfg.Namespace)
	if r.clientLog != nil {
		ctx = clog.WithLogger(ctx, r.clientLog)
	}
	return ctx
}

func newClientLog(log *slog.Logger) *clog.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	l.SetLevel(logrus.DebugLevel)
	l.AddHook(lslog.NewHook(log.With("from", "containerd-client"), &lslog.HookOptions{
		LevelMapper: func(lv logrus.Level) slog.Level {
			switch {
			case lv <= logrus.ErrorLevel:
				return slog.LevelError
			case lv == logrus.WarnLevel:
				return slog.LevelWarn
			}
			return slog.LevelDebug
		},
	}))
	return logrus.NewEntry(l)
}

// Namespace is the containerd namespace in use.
func (r *Runtime) Namespace() string { return r.cfg.Namespace }

// Snapshotter is the snapshotter images are unpacked into and containers use.
func (r *Runtime) Snapshotter() string { return r.snapshotter }

// Socket is the containerd socket in use.
func (r *Runtime) Socket() string { return r.cfg.Socket() }

// Version is the runtime version as the Node reports it
// (nodeInfo.containerRuntimeVersion), e.g. "containerd://1.6.20".
func (r *Runtime) Version(ctx context.Context) (string, error) {
	v, err := r.client.Version(ctx)
	if err != nil {
		return "", fmt.Errorf("containerd version: %w", err)
	}
	return "containerd://" + v.Version, nil
}

// Close stops our own containerd (SIGTERM, SIGKILL after 5 s) but not the
// shims and containers, which the next Start finds again. It is idempotent.
func (r *Runtime) Close() error {
	r.once.Do(func() {
		r.mu.Lock()
		r.stopped = true
		cmd, exited, running := r.cmd, r.exited, r.running
		r.mu.Unlock()
		select {
		case <-r.stop:
		default:
			close(r.stop)
		}
		if running {
			<-r.done
		}
		if cmd != nil {
			r.closeErr = stopChild(cmd, exited)
			os.Remove(r.pidPath())
			r.log.Info("containerd stopped", "pid", cmd.Process.Pid)
		}
		if r.client != nil {
			r.client.Close()
		}
	})
	return r.closeErr
}

func stopChild(cmd *exec.Cmd, exited <-chan struct{}) error {
	select {
	case <-exited:
		return nil
	default:
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return nil
	case <-time.After(stopTimeout):
	}
	cmd.Process.Kill()
	select {
	case <-exited:
		return nil
	case <-time.After(stopTimeout):
		return fmt.Errorf("containerd (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
	}
}

// abandon ends supervision and forgets the child without stopping it, as if
// the appliance had been killed with -9 (tests).
func (r *Runtime) abandon() {
	r.mu.Lock()
	r.stopped = true
	r.cmd = nil
	r.mu.Unlock()
	close(r.stop)
	<-r.done
	r.Close()
}
