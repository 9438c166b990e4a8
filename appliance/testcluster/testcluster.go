// Package testcluster starts a real appliance for tests: embedded etcd and the API
// server in-process on free loopback ports with a temporary data directory, or the
// built binary as a child process (for kill -9 and signal tests). Clients are the
// real ones: client-go and the embedded kubectl (`appliance kubectl`).
package testcluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/appliance/appliance/appliance/testcluster/testlog"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/appliance/appliance/appliance"
)

// Cluster is an appliance under test.
type Cluster struct {
	Config     appliance.Config
	Kubeconfig string
	REST       *rest.Config
	Client     kubernetes.Interface
	App        *appliance.Appliance
}

// Start runs an appliance in-process and stops it when the test ends. mutate may
// adjust the configuration first.
func Start(t testing.TB, mutate ...func(*appliance.Config)) *Cluster {
	t.Helper()
	cfg := NewConfig(t)
	for _, m := range mutate {
		m(&cfg)
	}
	level := slog.LevelWarn
	if os.Getenv("APPLIANCE_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(testlog.Writer{T: t}, &slog.HandlerOptions{Level: level}))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	app, err := appliance.Start(ctx, cfg, log)
	if err != nil {
		t.Fatalf("start appliance: %v", err)
	}
	t.Cleanup(app.Close)
	select {
	case <-app.Ready():
	case err := <-app.Err():
		t.Fatalf("appliance failed: %v", err)
	case <-ctx.Done():
		t.Fatalf("appliance not ready within 60s")
	}
	c := &Cluster{Config: cfg, Kubeconfig: cfg.AdminKubeconfig, App: app}
	c.REST = RESTConfig(t, cfg.AdminKubeconfig)
	c.Client = kubernetes.NewForConfigOrDie(c.REST)
	return c
}

// NewConfig is a configuration on free loopback ports under t.TempDir().
func NewConfig(t testing.TB) appliance.Config {
	dir := t.TempDir()
	cfg := appliance.Defaults()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.AdminKubeconfig = filepath.Join(dir, "admin.kubeconfig")
	cfg.BindAddress = net.ParseIP("127.0.0.1")
	cfg.NodeName = "test-node"
	// The kubelet needs root and containerd; tests that want it turn it on
	// (see Agent).
	cfg.DisableAgent = true
	ports := FreePorts(t, 3)
	cfg.HTTPSPort, cfg.EtcdClientPort, cfg.EtcdPeerPort = ports[0], ports[1], ports[2]
	return cfg
}

// RESTConfig loads a kubeconfig for client-go.
func RESTConfig(t testing.TB, kubeconfig string) *rest.Config {
	t.Helper()
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	rc.QPS, rc.Burst = 1000, 2000
	return rc
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// Kubectl runs `appliance kubectl` with the cluster's admin kubeconfig and returns
// its stdout; a non-zero exit fails the test with stderr.
func (c *Cluster) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := c.TryKubectl(t, nil, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// TryKubectl is Kubectl that returns the error; stdin, when not nil, is fed to it.
func (c *Cluster) TryKubectl(t testing.TB, stdin []byte, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := c.KubectlCmd(t, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// KubectlCmd prepares `appliance kubectl args...` against the cluster.
func (c *Cluster) KubectlCmd(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(Binary(t), append([]string{"kubectl", "--kubeconfig", c.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=", "HOME="+filepath.Dir(c.Kubeconfig))
	return cmd
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds the appliance binary once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		// Built into a temporary directory, then kept under a name taken from
		// its content, so test packages share identical builds instead of
		// leaving a copy each.
		dir, err := os.MkdirTemp("", "appliance-build-")
		if err != nil {
			buildErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "appliance")
		flags, err := exec.Command(filepath.Join(moduleRoot(), "hack", "ldflags.sh")).Output()
		if err != nil {
			buildErr = fmt.Errorf("hack/ldflags.sh: %w", err)
			return
		}
		cmd := exec.Command("go", "build", "-ldflags", strings.TrimSpace(string(flags)), "-o", out, ".")
		cmd.Dir = moduleRoot()
		if msg, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, msg)
			return
		}
		binPath, buildErr = keepByContent(out)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// keptBinaryTTL: kept binaries unused for this long are removed, so that a
// machine that builds many trees does not fill its disk (each is ~200 MB).
// It is far longer than any test process holds on to its binary.
const keptBinaryTTL = 2 * time.Hour

// keepByContent moves the file at path to /tmp/appliance-bin/<sha256 prefix>
// (or finds it there already, and marks it used now) and returns the new path.
// It removes the binaries there that no test used for keptBinaryTTL.
func keepByContent(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(os.TempDir(), "appliance-bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	dst := filepath.Join(dir, hex.EncodeToString(h.Sum(nil))[:16])
	defer pruneKeptBinaries(dir, dst)
	if _, err := os.Stat(dst); err == nil {
		now := time.Now()
		return dst, os.Chtimes(dst, now, now)
	}
	return dst, os.Rename(path, dst)
}

// pruneKeptBinaries removes the binaries in dir, other than keep, last used
// more than keptBinaryTTL ago.
func pruneKeptBinaries(dir, keep string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if info, err := e.Info(); err == nil && p != keep && time.Since(info.ModTime()) > keptBinaryTTL {
			os.Remove(p)
		}
	}
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// ProcessConfig says where a child `appliance server` keeps its state and where it
// listens. Starting twice with the same ProcessConfig restarts the same appliance.
type ProcessConfig struct {
	DataDir         string
	AdminKubeconfig string
	HTTPSPort       int
	EtcdClientPort  int
	EtcdPeerPort    int
	// Agent runs the kubelet too (root, containerd); without it the child is
	// started with --disable-agent.
	Agent bool
	// ResolvConf is the agent's --resolv-conf (LoopbackResolvConf: the
	// cluster DNS forwards nothing off the machine).
	ResolvConf string
	// Args are extra command-line arguments after the ones above.
	Args []string
	// Env is extra environment (KEY=value); APPLIANCE_* variables of the test's
	// own environment are never passed on.
	Env []string
}

// NewProcessConfig is a ProcessConfig on free loopback ports under t.TempDir().
func NewProcessConfig(t testing.TB) ProcessConfig {
	t.Helper()
	dir := t.TempDir()
	ports := FreePorts(t, 3)
	return ProcessConfig{
		DataDir:         filepath.Join(dir, "data"),
		AdminKubeconfig: filepath.Join(dir, "admin.kubeconfig"),
		HTTPSPort:       ports[0],
		EtcdClientPort:  ports[1],
		EtcdPeerPort:    ports[2],
		ResolvConf:      LoopbackResolvConf(t, dir),
	}
}

// ServerArgs is the `appliance server ...` command line for pc.
func (pc ProcessConfig) ServerArgs() []string {
	args := []string{"server",
		"--data-dir", pc.DataDir,
		"--admin-kubeconfig", pc.AdminKubeconfig,
		"--bind-address", "127.0.0.1",
		"--https-port", fmt.Sprint(pc.HTTPSPort),
		"--etcd-client-port", fmt.Sprint(pc.EtcdClientPort),
		"--etcd-peer-port", fmt.Sprint(pc.EtcdPeerPort),
		"--node-name", "test-node",
	}
	if !pc.Agent {
		args = append(args, "--disable-agent")
	} else {
		// As WithAgent: shared build machines have little free disk; pc.Args
		// come after, so a test can still set its own.
		args = append(args, "--eviction-hard", "nodefs.available<1%",
			"--image-gc-high-threshold", "100", "--image-gc-low-threshold", "99")
		if pc.ResolvConf != "" {
			args = append(args, "--resolv-conf", pc.ResolvConf)
		}
	}
	return append(args, pc.Args...)
}

// ProcessEnv is the environment of a child appliance: the test's own, without
// APPLIANCE_* variables, plus extra.
func ProcessEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "APPLIANCE_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// Process is an `appliance server` running as a child process.
type Process struct {
	Cmd        *exec.Cmd
	Config     ProcessConfig
	Kubeconfig string
	REST       *rest.Config
	Client     kubernetes.Interface

	output *lockedBuffer
	done   chan struct{}
}

// StartProcess runs `appliance server` (the binary from Binary) as a child process
// with pc's data directory and ports, and returns once /readyz answers ok with the
// admin kubeconfig's credentials. The process is killed (SIGKILL, by PID) when the
// test ends unless it has already exited; its output is logged if the test failed.
func StartProcess(t testing.TB, pc ProcessConfig) *Process {
	t.Helper()
	p := &Process{Config: pc, Kubeconfig: pc.AdminKubeconfig, output: &lockedBuffer{}, done: make(chan struct{})}
	p.Cmd = exec.Command(Binary(t), pc.ServerArgs()...)
	p.Cmd.Env = ProcessEnv(pc.Env...)
	p.Cmd.Stdout, p.Cmd.Stderr = p.output, p.output
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start appliance server: %v", err)
	}
	go func() {
		_ = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("appliance server (pid %d) output:\n%s", p.Cmd.Process.Pid, p.Output())
		}
	})
	if err := p.WaitReady(60 * time.Second); err != nil {
		t.Fatalf("appliance server (pid %d): %v", p.Cmd.Process.Pid, err) // the cleanup logs its output
	}
	p.REST = RESTConfig(t, pc.AdminKubeconfig)
	p.Client = kubernetes.NewForConfigOrDie(p.REST)
	return p
}

// WaitReady polls /readyz with the admin kubeconfig until it answers "ok", the
// process exits, or timeout passes.
func (p *Process) WaitReady(timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = p.readyz(); last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited before ready (%s)", p.Cmd.ProcessState)
		case <-deadline.C:
			return fmt.Errorf("not ready within %s: %v", timeout, last)
		case <-tick.C:
		}
	}
}

func (p *Process) readyz() error {
	if _, err := os.Stat(p.Config.AdminKubeconfig); err != nil {
		return err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", p.Config.AdminKubeconfig)
	if err != nil {
		return err
	}
	rc.Timeout = 2 * time.Second
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return err
	}
	if string(body) != "ok" {
		return fmt.Errorf("/readyz: %s", body)
	}
	return nil
}

// Done closes when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitCode is the exit code once Done is closed (-1 if a signal killed it).
func (p *Process) ExitCode() int {
	<-p.done
	return p.Cmd.ProcessState.ExitCode()
}

// Signal sends sig to the process (by PID).
func (p *Process) Signal(sig os.Signal) error { return p.Cmd.Process.Signal(sig) }

// WaitExit waits up to timeout for the process to exit and reports whether it did.
func (p *Process) WaitExit(timeout time.Duration) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.done:
		return true
	case <-timer.C:
		return false
	}
}

// Kill sends SIGKILL (by PID) unless the process has exited, and waits for it.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.Cmd.Process.Kill()
	<-p.done
}

// Output is everything the process wrote to stdout and stderr so far.
func (p *Process) Output() string { return p.output.String() }

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Without turns off the named built-in controllers, for a test that runs its own
// copy of them (with its own clock or settings).
func Without(controllers ...string) func(*appliance.Config) {
	return func(c *appliance.Config) {
		for _, name := range controllers {
			c.Controllers = append(c.Controllers, "-"+name)
		}
	}
}

// APIOnly runs only the controllers every API user relies on (namespace
// deletion, garbage collection, default service accounts): no workload
// controller creates pods behind the back of a test of the API itself.
func APIOnly(c *appliance.Config) {
	c.Controllers = []string{"namespace", "garbage-collector", "serviceaccount"}
	c.DisableScheduler = true
}
