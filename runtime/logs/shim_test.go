package logs_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/appliance/appliance/runtime/logs"
	"github.com/appliance/appliance/runtime/logs/driver"
)

// TestMain plays the log driver when the shim starts this test binary
// through a symlink named appliance-log-driver, as runtime/reexec does for
// the appliance binary.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "appliance-log-driver" {
		os.Exit(driver.Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// testContainerd is a private containerd (own root, state, socket; no CRI).
type testContainerd struct {
	dir, sock, config string
	cmd               *exec.Cmd
	exited            chan struct{}
}

func startContainerd(t *testing.T, c *testContainerd) {
	t.Helper()
	if c.config == "" {
		c.sock = filepath.Join(c.dir, "c.sock")
		c.config = filepath.Join(c.dir, "config.toml")
		cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = %q
[ttrpc]
  address = %q
`, filepath.Join(c.dir, "root"), filepath.Join(c.dir, "state"), c.sock, c.sock+".ttrpc")
		if err := os.WriteFile(c.config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A socket left by a killed containerd must not pass for the new one.
	if err := os.Remove(c.sock); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	c.cmd = exec.Command("containerd", "--config", c.config)
	c.cmd.Stderr = &stderr
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start containerd: %v", err)
	}
	c.exited = make(chan struct{})
	cmd, exited := c.cmd, c.exited
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { c.kill(t) })
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(c.sock); err == nil {
			return
		}
		select {
		case <-exited:
			t.Fatalf("containerd exited: %s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd socket never appeared: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond) // polling for the socket
	}
}

// kill ends containerd with SIGKILL, by PID.
func (c *testContainerd) kill(t *testing.T) {
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Kill()
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		t.Error("containerd did not die")
	}
}

// TestShimRunsDriver runs a container through a real containerd and shim
// with the driver as its logging binary, kills containerd with SIGKILL
// while the container writes, and checks the lines keep reaching the file.
func TestShimRunsDriver(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for containerd")
	}
	for _, bin := range []string{"containerd", "containerd-shim-runc-v2", "runc", "busybox"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s: %v", bin, err)
		}
	}
	busybox, _ := exec.LookPath("busybox")
	dir, err := os.MkdirTemp("", "ld")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	// The driver: this test binary behind the symlink name.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "appliance-log-driver")
	if err := os.Symlink(self, link); err != nil {
		t.Fatal(err)
	}
	// A root filesystem with busybox only.
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(filepath.Join(rootfs, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"proc", "dev", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	ctd := &testContainerd{dir: dir}
	startContainerd(t, ctd)
	ctx := namespaces.WithNamespace(context.Background(), "appliance-test")
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	client, err := containerd.New(ctd.sock)
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("logs-%d", os.Getpid())
	script := `i=0; while [ $i -lt 600 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); /bin/busybox usleep 20000; done`
	ctr, err := client.NewContainer(ctx, id, containerd.WithNewSpec(
		oci.WithRootFSPath(rootfs),
		oci.WithProcessArgs("/bin/busybox", "sh", "-c", script),
		oci.WithEnv([]string{"PATH=/bin"}),
	))
	if err != nil {
		t.Fatalf("create container: %v", err)
	}
	logPath := logs.Path(logs.PodLogDir(filepath.Join(dir, "pods"), "default", "web", "u1"), "app", 0)
	task, err := ctr.NewTask(ctx, cio.BinaryIO(link, driver.Args(logPath, 1<<20, 3)))
	if err != nil {
		t.Fatalf("create task: %v", err)
	}
	cleanup := func(c *containerd.Client) {
		cctx, ccancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), "appliance-test"), 30*time.Second)
		defer ccancel()
		if c == nil {
			return
		}
		defer c.Close()
		ctr, err := c.LoadContainer(cctx, id)
		if err != nil {
			t.Errorf("cleanup: load container: %v", err)
			return
		}
		task, err := ctr.Task(cctx, nil)
		if err != nil {
			t.Errorf("cleanup: load task: %v", err)
		} else if _, err := task.Delete(cctx, containerd.WithProcessKill); err != nil {
			t.Errorf("cleanup: delete task: %v", err)
		}
		if err := ctr.Delete(cctx); err != nil {
			t.Errorf("cleanup: delete container: %v", err)
		}
	}
	if err := task.Start(ctx); err != nil {
		cleanup(client)
		t.Fatalf("start task: %v", err)
	}

	count := func(prefix string) int {
		b, _ := os.ReadFile(logPath)
		return strings.Count(string(b), prefix)
	}
	waitCount := func(prefix string, n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for count(prefix) < n {
			if time.Now().After(deadline) {
				t.Fatalf("log has %d %q records, want %d", count(prefix), prefix, n)
			}
			time.Sleep(20 * time.Millisecond) // polling the file
		}
	}
	waitCount(" stdout F out ", 5)
	waitCount(" stderr F err ", 5)

	// containerd dies (the appliance's would with it); the shim and the
	// driver go on.
	client.Close()
	ctd.kill(t)
	before := count(" stdout F out ")
	waitCount(" stdout F out ", before+10)

	// Back up, the task is found again and cleaned up.
	startContainerd(t, ctd)
	client, err = containerd.New(ctd.sock)
	if err != nil {
		t.Fatal(err)
	}
	cleanup(client)

	// Every record is well formed, and reads back through Read.
	var out, errb bytes.Buffer
	if err := logs.Read(context.Background(), logPath, logs.ReadOptions{TailLines: ptr(4)}, &out, &errb, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String()+errb.String(), "out ") && !strings.HasPrefix(out.String()+errb.String(), "err ") {
		t.Fatalf("tail: stdout %q stderr %q", out.String(), errb.String())
	}
	b, _ := os.ReadFile(logPath)
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if _, err := logs.ParseRecord([]byte(l)); err != nil {
			t.Fatalf("bad record: %v", err)
		}
	}
}
