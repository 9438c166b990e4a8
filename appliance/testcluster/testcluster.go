// Package testcluster starts a real appliance for tests: embedded etcd and the API
// server in-process on free loopback ports with a temporary data directory, or the
// built binary as a child process (for kill -9 and signal tests). Clients are the
// real ones: client-go and the embedded kubectl (`appliance kubectl`).
package testcluster

import (
	"bytes"
	"context"
	"fmt"
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
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
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
		dir, err := os.MkdirTemp("", "appliance-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "appliance")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = moduleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
