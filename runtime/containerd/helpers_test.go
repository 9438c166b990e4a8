package containerd

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"golang.org/x/sys/unix"

	"github.com/appliance/appliance/appliance/testcluster/hostproc"
)

const testNamespace = "appliance-containerd-pkg-test"

// requireContainerd skips unless we are root with containerd, the shim and
// runc installed (the e2e tier).
func requireContainerd(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run containerd")
	}
	if err := CheckBinaries(); err != nil {
		t.Skip(err)
	}
}

type testLogWriter struct{ t testing.TB }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// testConfig is our own containerd in a temp dir. Everything it leaves behind
// is removed by PID and by path at cleanup (registered first, so it runs last).
func testConfig(t *testing.T) Config {
	t.Helper()
	dir := t.TempDir()
	cfg := Config{
		Root:      filepath.Join(dir, "root"),
		State:     filepath.Join(dir, "state"),
		Namespace: testNamespace,
		Log:       testLogger(t),
	}
	t.Cleanup(func() { cleanupLeftovers(t, cfg, dir) })
	return cfg
}

func startTest(t *testing.T, cfg Config) *Runtime {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// cleanupLeftovers kills, by PID, container processes, shims and containerd
// that a failed test left running, then unmounts whatever is mounted under
// dir and removes the runc state of the shims it killed.
func cleanupLeftovers(t *testing.T, cfg Config, dir string) {
	taskDir := filepath.Join(cfg.State, "io.containerd.runtime.v2.task", cfg.Namespace)
	entries, _ := os.ReadDir(taskDir)
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Name())
		if pid := hostproc.ReadPID(filepath.Join(taskDir, e.Name(), "init.pid")); pid > 1 && !processGone(pid) {
			t.Logf("cleanup: killing leftover container process %d of %s", pid, e.Name())
			syscall.Kill(pid, syscall.SIGKILL)
			waitGone(pid, 5*time.Second)
		}
	}
	// Shims name our socket on their command line: "-address <socket>".
	for _, pid := range pidsWithArg(cfg.Socket()) {
		t.Logf("cleanup: killing leftover shim %d", pid)
		syscall.Kill(pid, syscall.SIGKILL)
		waitGone(pid, 5*time.Second)
	}
	r := &Runtime{cfg: cfg}
	if pid := hostproc.ReadPID(r.pidPath()); pid > 1 && r.isOurContainerd(pid) {
		t.Logf("cleanup: killing leftover containerd %d", pid)
		stopPID(pid, 5*time.Second)
	}
	for _, m := range hostproc.MountsUnder(dir) {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
			t.Logf("cleanup: unmount %s: %v", m, err)
		}
	}
	for _, id := range ids {
		os.RemoveAll(filepath.Join("/run/containerd/runc", cfg.Namespace, id))
	}
	os.Remove(filepath.Join("/run/containerd/runc", cfg.Namespace))
	// runc removes a container's cgroups; the namespace's parent cgroups
	// stay, empty. rmdir only succeeds on empty cgroups.
	ctrls, _ := filepath.Glob("/sys/fs/cgroup/*/" + cfg.Namespace)
	for _, c := range ctrls {
		for _, id := range ids {
			os.Remove(filepath.Join(c, id))
		}
		os.Remove(c)
	}
}

// pidsWithArg lists processes with arg on their command line.
func pidsWithArg(arg string) []int {
	procs, _ := os.ReadDir("/proc")
	var out []int
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err != nil {
			continue
		}
		for _, a := range strings.Split(string(b), "\x00") {
			if a == arg {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

func randomID(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// runTask creates a container from image running args and starts its task;
// the container and task are killed and deleted at cleanup.
func runTask(t *testing.T, r *Runtime, image string, args ...string) (client.Container, client.Task, *syncBuffer) {
	t.Helper()
	ctx := r.WithNamespace(context.Background())
	img, err := r.Client().GetImage(ctx, image)
	if err != nil {
		t.Fatalf("GetImage %s: %v", image, err)
	}
	id := randomID("t")
	c, err := r.Client().NewContainer(ctx, id,
		client.WithSnapshotter(r.Snapshotter()),
		client.WithNewSnapshot(id+"-rootfs", img),
		client.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs(args...)))
	if err != nil {
		t.Fatalf("NewContainer: %v", err)
	}
	out := &syncBuffer{}
	task, err := c.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, out, out), cio.WithFIFODir(t.TempDir())))
	if err != nil {
		c.Delete(ctx, client.WithSnapshotCleanup)
		t.Fatalf("NewTask: %v", err)
	}
	t.Cleanup(func() { deleteContainer(t, r, id) })
	if err := task.Start(ctx); err != nil {
		t.Fatalf("task start: %v", err)
	}
	return c, task, out
}

// deleteContainer kills and deletes a container through containerd, looking
// it up again (it may be served by a later containerd than the one that
// created it).
func deleteContainer(t *testing.T, r *Runtime, id string) {
	ctx, cancel := context.WithTimeout(r.WithNamespace(context.Background()), 20*time.Second)
	defer cancel()
	c, err := r.Client().LoadContainer(ctx, id)
	if err != nil {
		return
	}
	if task, err := c.Task(ctx, nil); err == nil {
		if st, err := task.Status(ctx); err == nil && st.Status != client.Stopped {
			ch, err := task.Wait(ctx)
			if err == nil && task.Kill(ctx, syscall.SIGKILL) == nil {
				<-ch
			}
		}
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil {
			t.Logf("cleanup: delete task %s: %v", id, err)
		}
	}
	if err := c.Delete(ctx, client.WithSnapshotCleanup); err != nil {
		t.Logf("cleanup: delete container %s: %v", id, err)
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
