package containerd

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/typeurl/v2"
	"golang.org/x/sys/unix"

	"github.com/appliance/appliance/appliance/testcluster/hostproc"
	"github.com/appliance/appliance/runtime/testimage"
)

func importBusybox(t *testing.T, r *Runtime, name string) {
	t.Helper()
	f, err := os.Open(testimage.BusyboxTar(t, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names, err := r.Import(context.Background(), f)
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	if len(names) != 1 || names[0] != name {
		t.Fatalf("Import names = %v, want [%s]", names, name)
	}
}

func TestImportListRunRemove(t *testing.T) {
	requireContainerd(t)
	r := startTest(t, testConfig(t))
	ctx := context.Background()

	v, err := r.Version(ctx)
	if err != nil || !strings.HasPrefix(v, "containerd://1.") {
		t.Fatalf("Version = %q, %v; want containerd://1.x", v, err)
	}
	if r.Snapshotter() != "overlayfs" {
		t.Errorf("Snapshotter = %q on %s, want overlayfs", r.Snapshotter(), r.cfg.Root)
	}

	const name = "appliance.test/busybox:1"
	importBusybox(t, r, name)
	// docker save format, with a short name normalised as docker would.
	f, err := os.Open(testimage.BusyboxDockerTar(t, "busybox:docker"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names, err := r.Import(ctx, f)
	if err != nil || len(names) != 1 || names[0] != "docker.io/library/busybox:docker" {
		t.Fatalf("Import docker tar = %v, %v; want [docker.io/library/busybox:docker]", names, err)
	}

	imgs, err := r.ListImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]Image{}
	for _, i := range imgs {
		found[i.Name] = i
	}
	got, ok := found[name]
	if !ok || !strings.HasPrefix(got.Digest, "sha256:") || got.Size < 500_000 {
		t.Fatalf("ListImages = %+v; want %s with a digest and the busybox layer's size", imgs, name)
	}

	t.Run("echo", func(t *testing.T) {
		_, task, out := runTask(t, r, name, "sh", "-c", "echo hello from $(hostname); exit 3")
		code := waitExit(t, r, task)
		if code != 3 {
			t.Errorf("exit code = %d, want 3", code)
		}
		eventually(t, 5*time.Second, "output", func() bool { return strings.Contains(out.String(), "hello from") })
	})
	// What the kubelet needs beyond create/start, against the 1.6 daemon
	// through the v2 client: exec in a running task, and exit events.
	t.Run("exec and exit event", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(r.WithNamespace(context.Background()), 30*time.Second)
		defer cancel()
		events, errs := r.Client().Subscribe(ctx, `topic=="/tasks/exit"`)
		c, task, _ := runTask(t, r, name, "sleep", "1000")
		spec, err := c.Spec(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ps := *spec.Process
		ps.Args = []string{"sh", "-c", "echo exec-ok; exit 4"}
		out := &syncBuffer{}
		p, err := task.Exec(ctx, "probe", &ps, cio.NewCreator(cio.WithStreams(nil, out, out), cio.WithFIFODir(t.TempDir())))
		if err != nil {
			t.Fatalf("Exec: %v", err)
		}
		ch, err := p.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(ctx); err != nil {
			t.Fatalf("exec start: %v", err)
		}
		st := <-ch
		if code, _, _ := st.Result(); code != 4 {
			t.Errorf("exec exit code = %d, want 4", code)
		}
		// The output is still being copied out of its FIFO when the exit
		// arrives; Delete closes the FIFOs, so wait for the copy first (as the
		// kubelet's exec does). Under load it was lost.
		p.IO().Wait()
		p.Delete(ctx)
		eventually(t, 5*time.Second, "exec output", func() bool { return strings.Contains(out.String(), "exec-ok") })
		if err := task.Kill(ctx, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for {
			select {
			case env := <-events:
				ev, err := typeurl.UnmarshalAny(env.Event)
				if err != nil {
					t.Fatal(err)
				}
				if exit, ok := ev.(*apievents.TaskExit); ok && exit.ContainerID == c.ID() && exit.ID == c.ID() {
					if exit.ExitStatus != 137 {
						t.Errorf("exit status = %d, want 137 (SIGKILL)", exit.ExitStatus)
					}
					return
				}
			case err := <-errs:
				t.Fatalf("event subscription: %v", err)
			}
		}
	})
	t.Run("docker tar image runs", func(t *testing.T) {
		_, task, out := runTask(t, r, "docker.io/library/busybox:docker", "cat", "/etc/passwd")
		if code := waitExit(t, r, task); code != 0 {
			t.Errorf("exit code = %d, want 0", code)
		}
		eventually(t, 5*time.Second, "output", func() bool { return strings.Contains(out.String(), "root:x:0:0") })
	})

	if err := r.RemoveImage(ctx, "busybox:docker"); err != nil {
		t.Fatalf("RemoveImage by short name: %v", err)
	}
	if err := r.RemoveImage(ctx, "busybox:docker"); !errors.Is(err, ErrImageNotFound) {
		t.Fatalf("RemoveImage twice = %v, want ErrImageNotFound", err)
	}
	imgs, _ = r.ListImages(ctx)
	if len(imgs) != 1 || imgs[0].Name != name {
		t.Fatalf("after remove ListImages = %+v, want only %s", imgs, name)
	}

	// A second Start on the same state must not steal a live socket that its
	// pid file does not account for.
	if err := os.Remove(r.pidPath()); err != nil {
		t.Fatal(err)
	}
	if _, err := Start(ctx, r.cfg); err == nil || !strings.Contains(err.Error(), "already serves") {
		t.Fatalf("second Start on a live socket = %v, want a refusal", err)
	}
	if _, err := r.Version(ctx); err != nil {
		t.Fatalf("first containerd disturbed by the refused Start: %v", err)
	}

	// The CLI's way in: an existing endpoint, the snapshotter read from the
	// namespace label our own containerd set.
	ext, err := Start(ctx, Config{Endpoint: "unix://" + r.Socket(), Namespace: r.Namespace(), Log: testLogger(t)})
	if err != nil {
		t.Fatalf("connect to existing: %v", err)
	}
	defer ext.Close()
	if ext.Snapshotter() != r.Snapshotter() {
		t.Errorf("existing endpoint snapshotter = %q, want %q from the namespace label", ext.Snapshotter(), r.Snapshotter())
	}
	if imgs, err := ext.ListImages(ctx); err != nil || len(imgs) != 1 {
		t.Errorf("ListImages through the existing endpoint = %+v, %v", imgs, err)
	}
	// Image GC measures the disk where the existing containerd keeps its
	// layers: its snapshotter's root, which introspection reports.
	var measured string
	ext.diskUsage = func(p string) (int, error) { measured = p; return 0, nil }
	if err := ext.GCImages(ctx, func(string) bool { return true }, 85, 80); err != nil {
		t.Fatalf("image GC through the existing endpoint: %v", err)
	}
	if want := filepath.Join(r.cfg.Root, "io.containerd.snapshotter.v1."+r.Snapshotter()); measured != want {
		t.Errorf("image GC of an existing containerd measured %q, want its snapshotter root %q", measured, want)
	}
	if err := ext.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Version(ctx); err != nil {
		t.Fatalf("closing an existing-endpoint runtime stopped containerd: %v", err)
	}
}

func waitExit(t *testing.T, r *Runtime, task client.Task) uint32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(r.WithNamespace(context.Background()), 30*time.Second)
	defer cancel()
	ch, err := task.Wait(ctx)
	if err != nil {
		t.Fatalf("task wait: %v", err)
	}
	select {
	case st := <-ch:
		code, _, err := st.Result()
		if err != nil {
			t.Fatalf("task result: %v", err)
		}
		return code
	case <-ctx.Done():
		t.Fatal("task did not exit within 30s")
	}
	return 0
}

// Containers keep running when the appliance stops containerd (Close), when
// the appliance is killed -9 (containerd orphaned: the next Start stops it by
// its pid file) and when containerd itself dies (the supervisor restarts it).
func TestContainersSurviveRestarts(t *testing.T) {
	requireContainerd(t)
	cfg := testConfig(t)
	r1 := startTest(t, cfg)
	const name = "appliance.test/busybox:1"
	importBusybox(t, r1, name)
	c, task, _ := runTask(t, r1, name, "sleep", "1000")
	initPID := int(task.Pid())
	id := c.ID()
	pid1 := r1.PID()

	checkRunning := func(t *testing.T, r *Runtime) {
		t.Helper()
		if processGone(initPID) {
			t.Fatalf("container process %d died", initPID)
		}
		ctx := r.WithNamespace(context.Background())
		c, err := r.Client().LoadContainer(ctx, id)
		if err != nil {
			t.Fatalf("LoadContainer after restart: %v", err)
		}
		task, err := c.Task(ctx, nil)
		if err != nil {
			t.Fatalf("Task after restart: %v", err)
		}
		st, err := task.Status(ctx)
		if err != nil || st.Status != client.Running || int(task.Pid()) != initPID {
			t.Fatalf("task status = %+v pid %d, %v; want running pid %d", st, task.Pid(), err, initPID)
		}
	}

	// Close stops containerd, not the container.
	if err := r1.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := r1.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if !processGone(pid1) {
		t.Fatalf("containerd %d still running after Close", pid1)
	}
	if processGone(initPID) {
		t.Fatal("Close killed the container")
	}
	r2 := startTest(t, cfg)
	checkRunning(t, r2)

	// kill -9 of the appliance: containerd is left running; the next Start
	// finds it by the pid file and replaces it.
	pid2 := r2.PID()
	r2.abandon()
	if processGone(pid2) {
		t.Fatal("abandon stopped containerd")
	}
	r3 := startTest(t, cfg)
	if !processGone(pid2) {
		t.Fatalf("orphaned containerd %d still running after a new Start", pid2)
	}
	if r3.PID() == pid2 {
		t.Fatal("Start reused the orphan's pid")
	}
	checkRunning(t, r3)

	// containerd dies: the supervisor restarts it, the client reconnects.
	pid3 := r3.PID()
	if err := syscall.Kill(pid3, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "containerd restarted", func() bool {
		p := r3.PID()
		if p == pid3 || p == 0 {
			return false
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := r3.Version(ctx)
		return err == nil
	})
	checkRunning(t, r3)
	deleteContainer(t, r3, id)
	if !processGone(initPID) {
		t.Errorf("container process %d survived its deletion", initPID)
	}
	if pgid, err := unix.Getpgid(r3.PID()); err != nil || pgid != r3.PID() {
		t.Errorf("containerd pgid = %d, %v; want its own group %d", pgid, err, r3.PID())
	}
}

func TestCheckBinariesNamesMissing(t *testing.T) {
	dir := t.TempDir()
	for _, b := range []string{"containerd", "containerd-shim-runc-v2"} {
		if err := os.WriteFile(filepath.Join(dir, b), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
	err := CheckBinaries()
	if !errors.Is(err, ErrMissingBinaries) {
		t.Fatalf("CheckBinaries = %v, want ErrMissingBinaries", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "runc not found") || strings.Contains(msg, "containerd,") || !strings.Contains(msg, "apt-get install containerd runc") {
		t.Fatalf("CheckBinaries message %q: want only runc named, with the install hint", msg)
	}
}

func TestValidate(t *testing.T) {
	long := "/" + strings.Repeat("x", 100)
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"own ok", Config{Root: "/var/lib/a/containerd", State: "/run/a/containerd"}, ""},
		{"existing ok", Config{Endpoint: "unix:///run/containerd/containerd.sock"}, ""},
		{"relative root", Config{Root: "data", State: "/run/x"}, `root "data"`},
		{"no state", Config{Root: "/data"}, `state ""`},
		{"long socket", Config{Root: "/data", State: long}, "socket path"},
		{"same dirs", Config{Root: "/data", State: "/data"}, "must differ"},
		{"bad snapshotter", Config{Root: "/a", State: "/b", Snapshotter: "zfs"}, `snapshotter "zfs"`},
		{"tcp endpoint", Config{Endpoint: "tcp://1.2.3.4:5"}, "only unix sockets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				if tt.cfg.Namespace != DefaultNamespace {
					t.Errorf("Namespace = %q, want default", tt.cfg.Namespace)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestConnectExistingAbsentSocket(t *testing.T) {
	_, err := Start(context.Background(), Config{Endpoint: filepath.Join(t.TempDir(), "nope.sock")})
	if !errors.Is(err, ErrNotRunning) || !strings.Contains(err.Error(), "is the appliance running?") {
		t.Fatalf("Start = %v, want ErrNotRunning", err)
	}
}

// Root on an overlay mount cannot host overlay's upper dir: native it is.
func TestSnapshotterFallsBackToNative(t *testing.T) {
	requireContainerd(t)
	dir := t.TempDir()
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	merged := filepath.Join(dir, "merged")
	opts := "lowerdir=" + filepath.Join(dir, "lower") + ",upperdir=" + filepath.Join(dir, "upper") + ",workdir=" + filepath.Join(dir, "work")
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		t.Skipf("cannot mount overlay here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(merged, unix.MNT_DETACH) })
	r := &Runtime{cfg: Config{Root: filepath.Join(merged, "root")}, log: testLogger(t)}
	if got := r.chooseSnapshotter(); got != "native" {
		t.Fatalf("snapshotter on an overlay root = %q, want native", got)
	}
	r.cfg.Root = filepath.Join(dir, "root")
	if got := r.chooseSnapshotter(); got != "overlayfs" {
		t.Fatalf("snapshotter on %s = %q, want overlayfs", dir, got)
	}
}

// TestHelperAppliance plays an appliance process for TestOrphanedContainerd:
// it starts our containerd and waits to be killed.
func TestHelperAppliance(t *testing.T) {
	dir := os.Getenv("APPLIANCE_CONTAINERD_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process only")
	}
	r, err := Start(context.Background(), Config{Root: dir + "/root", State: dir + "/state", Namespace: testNamespace})
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("ready\n")
	// Killed by the test long before this; the timeout only bounds a stray.
	time.Sleep(time.Minute)
	r.Close()
}

// A Ctrl-C to the appliance's process group, or kill -9, ends the appliance
// but not its containerd (own process group); the next appliance finds the
// orphan through the pid file and stops it by PID before starting its own.
func TestOrphanedContainerd(t *testing.T) {
	requireContainerd(t)
	cfg := testConfig(t)
	dir := filepath.Dir(cfg.Root)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAppliance$", "-test.v")
	cmd.Env = append(os.Environ(), "APPLIANCE_CONTAINERD_HELPER_DIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a terminal's foreground group
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
				io.Copy(io.Discard, out)
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("helper appliance exited before its containerd was ready")
		}
	case <-time.After(time.Minute):
		t.Fatal("helper appliance not ready within a minute")
	}
	r0 := &Runtime{cfg: cfg}
	orphan := hostproc.ReadPID(r0.pidPath())
	if orphan <= 1 || !r0.isOurContainerd(orphan) {
		t.Fatalf("pid file names %d, not our containerd", orphan)
	}

	// Ctrl-C as a terminal sends it: to the whole foreground process group.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if processGone(orphan) {
		t.Fatal("Ctrl-C to the appliance's group killed its containerd")
	}

	r := startTest(t, cfg)
	if !processGone(orphan) {
		t.Fatalf("orphaned containerd %d still running after a new Start", orphan)
	}
	if r.PID() == orphan || r.PID() == 0 {
		t.Fatalf("new containerd pid %d", r.PID())
	}
	if _, err := r.Version(context.Background()); err != nil {
		t.Fatal(err)
	}
}
