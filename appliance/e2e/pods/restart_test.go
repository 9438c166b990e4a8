package pods

import (
	"bufio"
	"context"
	"encoding/base64"
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
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/appliance/appliance/appliance"
	"github.com/appliance/appliance/appliance/testcluster"
	"github.com/appliance/appliance/appliance/testcluster/hostproc"
	rtcontainerd "github.com/appliance/appliance/runtime/containerd"
	"github.com/appliance/appliance/runtime/testimage"
)

// agentProcess is a child `appliance server` with its kubelet, whose state
// lives under one short temporary directory (containerd's socket path must
// stay under sun_path's 108 bytes).
type agentProcess struct {
	pc      testcluster.ProcessConfig
	dir     string
	node    string // the node netns's name (for `ip netns exec` and httpGet)
	netns   string // its path
	runDir  string
	logsDir string
}

func (a *agentProcess) socket() string {
	return filepath.Join(a.runDir, "containerd", "containerd.sock")
}

// ipamDir is where the pod network keeps one file per allocated IP.
func (a *agentProcess) ipamDir() string {
	return filepath.Join(a.pc.DataDir, "agent", "network")
}

func newAgentProcess(t *testing.T) *agentProcess {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("agent tests need root (containerd, runc, network namespaces); CI runs them as root")
	}
	node, netns := testcluster.NetNS(t)
	dir, err := os.MkdirTemp("", "appl-r-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	a := &agentProcess{dir: dir, node: node, netns: netns,
		runDir: filepath.Join(dir, "run"), logsDir: filepath.Join(dir, "logs")}
	a.pc = testcluster.NewProcessConfig(t)
	a.pc.DataDir = filepath.Join(dir, "data")
	a.pc.Agent = true
	a.pc.Args = []string{
		"--agent-netns", netns,
		"--kubelet-dir", filepath.Join(dir, "kubelet"),
		"--pod-logs-dir", a.logsDir,
		"--run-dir", a.runDir,
		"--kubelet-port", strconv.Itoa(testcluster.FreePorts(t, 1)[0]),
		"--node-ip", "127.0.0.1",
		"--private-registry", filepath.Join(dir, "registries.yaml"),
	}
	// Registered before any child starts, so it runs after every child has
	// been killed (cleanups run last-in first-out).
	t.Cleanup(func() { a.reset(t) })
	return a
}

// start runs the child; agent false runs the same appliance as a control
// plane only (--disable-agent).
func (a *agentProcess) start(t *testing.T, agent bool) (*testcluster.Process, *testcluster.Cluster) {
	t.Helper()
	pc := a.pc
	pc.Agent = agent
	p := testcluster.StartProcess(t, pc)
	// /readyz answers once the API server serves; the kubelet (its
	// containerd, node, pod network and first pod sync) comes after, and the
	// daemon logs "appliance ready" when every part is up.
	pollUntil(t, 90*time.Second, "appliance ready", func() (bool, error) {
		select {
		case <-p.Done():
			return false, fmt.Errorf("exited: %s", p.Cmd.ProcessState)
		default:
		}
		return strings.Contains(p.Output(), `msg="appliance ready"`), nil
	})
	c := &testcluster.Cluster{Kubeconfig: p.Kubeconfig, REST: p.REST, Client: p.Client}
	dumpOnFailure(t, "default", c, p.Done())
	return p, c
}

// reset removes everything the children's kubelet made: it runs the same
// appliance in-process on the same directories (the children are dead by
// now) and resets its kubelet, which removes every container with its
// shim, the pod network namespaces, volumes and the bridge. What still holds
// the directories after that (a shim, containerd, a mount) is a leak: it is
// removed by PID or unmounted, and reported.
func (a *agentProcess) reset(t *testing.T) {
	if _, err := os.Stat(filepath.Join(a.pc.DataDir, "agent")); err == nil {
		cfg := appliance.Defaults()
		cfg.DataDir = a.pc.DataDir
		// The test's temp dirs are gone by now (their cleanups ran first).
		cfg.AdminKubeconfig = filepath.Join(a.dir, "reset.kubeconfig")
		cfg.BindAddress = net.ParseIP("127.0.0.1")
		cfg.NodeName = "test-node"
		cfg.HTTPSPort, cfg.EtcdClientPort, cfg.EtcdPeerPort = a.pc.HTTPSPort, a.pc.EtcdClientPort, a.pc.EtcdPeerPort
		cfg.DisableAgent = false
		cfg.AgentNetNS = a.netns
		cfg.KubeletDir = filepath.Join(a.dir, "kubelet")
		cfg.PodLogsDir = a.logsDir
		cfg.RunDir = a.runDir
		cfg.PrivateRegistry = filepath.Join(a.dir, "registries.yaml")
		cfg.KubeletPort = 0
		cfg.NodeIP = net.ParseIP("127.0.0.1")
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		app, err := appliance.Start(ctx, cfg, log)
		if err != nil {
			t.Errorf("cleanup: start appliance to reset its kubelet: %v", err)
		} else {
			select {
			case <-app.Ready():
				if err := app.Agent().Reset(ctx); err != nil {
					t.Errorf("cleanup: kubelet reset: %v", err)
				}
			case err := <-app.Err():
				t.Errorf("cleanup: appliance to reset its kubelet: %v", err)
			case <-ctx.Done():
				t.Errorf("cleanup: appliance to reset its kubelet not ready")
			}
			app.Close()
		}
		cancel()
	}
	for _, pid := range processesUsing(a.dir) {
		t.Errorf("cleanup: process %d still uses %s after the reset; killing it", pid, a.dir)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, m := range hostproc.MountsUnder(a.dir) {
		t.Errorf("cleanup: %s still mounted after the reset; unmounting", m)
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
}

// processesUsing lists the processes whose command line names a path under
// dir (containerd's --config, a shim's -address).
func processesUsing(dir string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(b), dir+"/") || !hostproc.Alive(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

func pidAlive(pid uint32) bool { return hostproc.Alive(int(pid)) }

// connectContainerd connects to the children's containerd (it outlives a
// kill -9 of the appliance).
func connectContainerd(t *testing.T, sock string) *rtcontainerd.Runtime {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rt, err := rtcontainerd.Start(ctx, rtcontainerd.Config{Endpoint: sock, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("connect to containerd at %s: %v", sock, err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

// podTask is one containerd container of a pod and its task.
type podTask struct {
	id, name, logPath string
	pid               uint32
	status            containerd.ProcessStatus
}

// podTasks lists the containerd containers of the pod with uid (sandbox
// included, named POD) and their tasks.
func podTasks(ctx context.Context, rt *rtcontainerd.Runtime, uid types.UID) ([]podTask, error) {
	ctx = rt.WithNamespace(ctx)
	cs, err := rt.Client().Containers(ctx, fmt.Sprintf(`labels."io.kubernetes.pod.uid"==%s`, uid))
	if err != nil {
		return nil, err
	}
	var out []podTask
	for _, c := range cs {
		labels, err := c.Labels(ctx)
		if err != nil {
			return nil, err
		}
		tk := podTask{id: c.ID(), name: labels["io.kubernetes.container.name"], logPath: labels["appliance.dev/log-path"]}
		t, err := c.Task(ctx, nil)
		switch {
		case errdefs.IsNotFound(err):
		case err != nil:
			return nil, err
		default:
			tk.pid = t.Pid()
			st, err := t.Status(ctx)
			if err != nil {
				return nil, err
			}
			tk.status = st.Status
		}
		out = append(out, tk)
	}
	return out, nil
}

func mustPodTasks(t *testing.T, rt *rtcontainerd.Runtime, uid types.UID) []podTask {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts, err := podTasks(ctx, rt, uid)
	if err != nil {
		t.Fatalf("containers of pod %s: %v", uid, err)
	}
	return ts
}

// runningTasks returns the pod's sandbox and app container tasks by name,
// failing unless each is running.
func runningTasks(t *testing.T, rt *rtcontainerd.Runtime, uid types.UID, names ...string) map[string]podTask {
	t.Helper()
	byName := map[string]podTask{}
	for _, tk := range mustPodTasks(t, rt, uid) {
		byName[tk.name] = tk
	}
	for _, n := range names {
		tk, ok := byName[n]
		if !ok || tk.status != containerd.Running || !pidAlive(tk.pid) {
			t.Fatalf("pod %s: container %s not running: %+v (all: %+v)", uid, n, tk, byName)
		}
	}
	return byName
}

// ipamHolds reports whether the pod network's allocation files give an
// address to the sandbox id (the pod UID), and which.
func ipamHolds(t *testing.T, dir string, uid types.UID) (string, bool) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read IP allocations: %v", err)
	}
	for _, e := range entries {
		if net.ParseIP(e.Name()) == nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err == nil && strings.TrimSpace(string(b)) == string(uid) {
			return e.Name(), true
		}
	}
	return "", false
}

func pollUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s (last error: %v)", what, timeout, last)
	}
}

// TestKill9RestartKeepsPods is the kubelet's restart contract: kill -9 of the
// appliance leaves its pods running (containerd and the shims outlive it, the
// shims keep writing logs); a pod force-deleted from the API while the
// kubelet was down is removed at the next start, its IP released; the other
// keeps the same process, IP and logs, and is reported Running and Ready.
func TestKill9RestartKeepsPods(t *testing.T) {
	a := newAgentProcess(t)
	ctx := context.Background()
	ns := "default"

	p1, c := a.start(t, true)
	out, err := exec.Command(testcluster.Binary(t), "image", "import", "--containerd-socket", a.socket(),
		testimage.BusyboxTar(t, testcluster.BusyboxImage)).CombinedOutput()
	if err != nil {
		t.Fatalf("appliance image import: %v\n%s", err, out)
	}
	testImageCLI(t, a.socket())

	podA := busyboxPod("keep", "sh", "-c",
		"mkdir -p /www; echo served-by-$(hostname) > /www/index.html; httpd -p 8080 -h /www; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.1; done")
	podB := busyboxPod("gone", "sh", "-c",
		"mkdir -p /www; echo served-by-$(hostname) > /www/index.html; exec httpd -f -p 8080 -h /www")
	for _, p := range []*corev1.Pod{podA, podB} {
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	a1 := waitPod(t, c, ns, "keep", "Running and Ready", running)
	b1 := waitPod(t, c, ns, "gone", "Running and Ready", running)
	ipA, ipB := a1.Status.PodIP, b1.Status.PodIP
	for name, ip := range map[string]string{"keep": ipA, "gone": ipB} {
		// Ready without a probe is "started": httpd may still be binding.
		pollUntil(t, 30*time.Second, "pod "+name+" serves on "+ip, func() (bool, error) {
			out, err := httpGet(a.node, "http://"+ip+":8080/")
			return err == nil && strings.TrimSpace(out) == "served-by-"+name, err
		})
	}

	rt := connectContainerd(t, a.socket())
	tasksA := runningTasks(t, rt, a1.UID, "POD", "main")
	tasksB := runningTasks(t, rt, b1.UID, "POD", "main")
	logA := tasksA["main"].logPath
	if logA == "" {
		t.Fatalf("pod keep: container has no log path label: %+v", tasksA["main"])
	}

	// kill -9 of the appliance (its PID only: containerd runs in its own
	// process group and the shims are containerd's).
	if err := p1.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !p1.WaitExit(30 * time.Second) {
		t.Fatal("appliance did not die of SIGKILL")
	}
	before, err := os.Stat(logA)
	if err != nil {
		t.Fatal(err)
	}

	// While it is down: the same tasks run, the pods answer on their IPs, and
	// pod keep's output keeps reaching its log file.
	for uid, want := range map[types.UID]map[string]podTask{a1.UID: tasksA, b1.UID: tasksB} {
		now := runningTasks(t, rt, uid, "POD", "main")
		for n, tk := range want {
			if now[n].pid != tk.pid {
				t.Fatalf("pod %s container %s: pid %d while the appliance is down, was %d", uid, n, now[n].pid, tk.pid)
			}
		}
	}
	for name, ip := range map[string]string{"keep": ipA, "gone": ipB} {
		if out, err := httpGet(a.node, "http://"+ip+":8080/"); err != nil || strings.TrimSpace(out) != "served-by-"+name {
			t.Fatalf("GET %s from the node while the appliance is down: %v: %q", ip, err, out)
		}
	}
	var whileDown string
	pollUntil(t, 30*time.Second, "pod keep writes log lines while the appliance is down", func() (bool, error) {
		line, err := lineAfter(logA, before.Size())
		whileDown = line
		return line != "", err
	})
	t.Logf("written while the appliance was down: %q", whileDown)

	// The control plane alone on the same data: pod gone is force-deleted
	// (grace 0) while no kubelet runs.
	p2, c2 := a.start(t, false)
	if err := c2.Client.CoreV1().Pods(ns).Delete(ctx, "gone", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatalf("force-delete pod gone: %v", err)
	}
	pollUntil(t, 30*time.Second, "pod gone removed from the API", func() (bool, error) {
		_, err := c2.Client.CoreV1().Pods(ns).Get(ctx, "gone", metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
	if err := p2.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !p2.WaitExit(60 * time.Second) {
		t.Fatal("control plane did not stop within 60s of SIGTERM")
	}
	if code := p2.ExitCode(); code != 0 {
		t.Fatalf("control plane exited %d on SIGTERM", code)
	}
	// Nothing removed pod gone's containers yet: only a kubelet may.
	runningTasks(t, rt, b1.UID, "POD", "main")
	rt.Close()

	// The appliance with its kubelet again.
	_, c3 := a.start(t, true)
	rt = connectContainerd(t, a.socket())
	pollUntil(t, 60*time.Second, "pod gone's containers removed from containerd", func() (bool, error) {
		ts, err := podTasks(ctx, rt, b1.UID)
		return err == nil && len(ts) == 0, err
	})
	for n, tk := range tasksB {
		pollUntil(t, 30*time.Second, fmt.Sprintf("pod gone's %s process (pid %d) gone", n, tk.pid), func() (bool, error) {
			return !pidAlive(tk.pid), nil
		})
	}
	if ip, held := ipamHolds(t, a.ipamDir(), b1.UID); held {
		t.Errorf("pod gone's IP %s still allocated after the restart", ip)
	}
	if _, err := os.Stat(filepath.Join(a.runDir, "netns", string(b1.UID))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pod gone's network namespace still at %s (stat: %v)", filepath.Join(a.runDir, "netns", string(b1.UID)), err)
	}
	if out, err := httpGet(a.node, "http://"+ipB+":8080/"); err == nil {
		t.Errorf("pod gone's IP %s still answers after the restart: %q", ipB, out)
	}

	// Pod keep: the same processes, the same IP, Running and Ready, never
	// restarted, and its logs include what it wrote while nobody watched.
	a3 := waitPod(t, c3, ns, "keep", "Running and Ready after the restart", func(p *corev1.Pod) bool {
		if !running(p) || len(p.Status.ContainerStatuses) != 1 {
			return false
		}
		// Node lifecycle may have marked the pod not ready while the node was
		// silent; the restarted kubelet must report it afresh.
		return p.Status.ContainerStatuses[0].Ready
	})
	if a3.Status.PodIP != ipA {
		t.Errorf("pod keep's IP is %s after the restart, was %s", a3.Status.PodIP, ipA)
	}
	if cs := a3.Status.ContainerStatuses[0]; cs.RestartCount != 0 || cs.ContainerID != a1.Status.ContainerStatuses[0].ContainerID || cs.State.Running == nil {
		t.Errorf("pod keep's container after the restart: %+v, before: %+v", cs, a1.Status.ContainerStatuses[0])
	}
	now := runningTasks(t, rt, a1.UID, "POD", "main")
	for n, tk := range tasksA {
		if now[n].pid != tk.pid || now[n].id != tk.id {
			t.Errorf("pod keep's %s is %s pid %d after the restart, was %s pid %d", n, now[n].id, now[n].pid, tk.id, tk.pid)
		}
	}
	if ip, held := ipamHolds(t, a.ipamDir(), a1.UID); !held || ip != ipA {
		t.Errorf("pod keep's IP allocation is %q (held %v), want %s", ip, held, ipA)
	}
	if out, err := httpGet(a.node, "http://"+ipA+":8080/"); err != nil || strings.TrimSpace(out) != "served-by-keep" {
		t.Errorf("GET pod keep after the restart: %v: %q", err, out)
	}
	logs := c3.Kubectl(t, "logs", "keep")
	if !strings.Contains(logs, whileDown+"\n") {
		t.Errorf("kubectl logs keep lacks %q, written while the appliance was down:\n%s", whileDown, lastLines(logs, 10))
	}
	if n := strings.Count(logs, "tick 0\n"); n != 1 {
		t.Errorf("kubectl logs keep has %d 'tick 0' lines: the container restarted", n)
	}
}

// TestRestartStartsHalfStartedContainer: the kubelet stopped after
// creating a container's task but before starting it (kill -9 between the
// two containerd calls). The restarted kubelet starts that instance afresh,
// in place of the created task, instead of leaving the pod waiting forever.
func TestRestartStartsHalfStartedContainer(t *testing.T) {
	a := newAgentProcess(t)
	ctx := context.Background()
	p1, c := a.start(t, true)
	out, err := exec.Command(testcluster.Binary(t), "image", "import", "--containerd-socket", a.socket(),
		testimage.BusyboxTar(t, testcluster.BusyboxImage)).CombinedOutput()
	if err != nil {
		t.Fatalf("appliance image import: %v\n%s", err, out)
	}
	if _, err := c.Client.CoreV1().Pods("default").Create(ctx, busyboxPod("half", "sleep", "3600"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, c, "default", "half", "Running and Ready", running)
	if err := p1.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !p1.WaitExit(30 * time.Second) {
		t.Fatal("appliance did not die of SIGKILL")
	}

	// Make "main" what a kill -9 between NewTask and Start leaves: its
	// container with a created task that never ran.
	rt := connectContainerd(t, a.socket())
	main := runningTasks(t, rt, p.UID, "POD", "main")["main"]
	cctx := rt.WithNamespace(ctx)
	cont, err := rt.Client().LoadContainer(cctx, main.id)
	if err != nil {
		t.Fatal(err)
	}
	task, err := cont.Task(cctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	exited, err := task.Wait(cctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Kill(cctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	if _, err := task.Delete(cctx); err != nil {
		t.Fatal(err)
	}
	created, err := cont.NewTask(cctx, cio.NullIO)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := created.Status(cctx); err != nil || st.Status != containerd.Created {
		t.Fatalf("half-started task: status %v, %v; want created", st.Status, err)
	}

	_, c2 := a.start(t, true)
	waitPod(t, c2, "default", "half", "Running and Ready after the restart, main started again", func(p *corev1.Pod) bool {
		return running(p) && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready
	})
	pollUntil(t, 30*time.Second, "main runs a live process (not the created task)", func() (bool, error) {
		// The kubelet may be replacing the container while we list.
		ts, err := podTasks(ctx, rt, p.UID)
		if err != nil {
			return false, err
		}
		for _, tk := range ts {
			if tk.name == "main" {
				return tk.status == containerd.Running && pidAlive(tk.pid), nil
			}
		}
		return false, nil
	})
}

// dumpOnFailure logs the pods and events of ns when the test has failed, while
// the cluster still serves (it runs before the cluster's own cleanups when
// registered after its start); done, when not nil, closes once it has exited.
func dumpOnFailure(t *testing.T, ns string, c *testcluster.Cluster, done <-chan struct{}) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		select {
		case <-done:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
			for i := range pods.Items {
				p := &pods.Items[i]
				t.Logf("pod %s (uid %s) on %q: %s", p.Name, p.UID, p.Spec.NodeName, statusOf(p))
			}
		}
		if evs, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{}); err == nil {
			for _, e := range evs.Items {
				t.Logf("event %s %s/%s: %s: %s (x%d)", e.LastTimestamp.Format(time.RFC3339), e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message, e.Count)
			}
		}
	})
}

// lineAfter returns the first complete CRI log line's message in path that
// starts after offset, or "".
func lineAfter(path string, offset int64) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return "", err
	}
	r := bufio.NewReader(f)
	if offset > 0 {
		// The rest of the line the offset falls in.
		if _, err := r.ReadString('\n'); err != nil {
			return "", nil
		}
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return "", nil
	}
	// <time> <stream> <P|F> <message>
	parts := strings.SplitN(strings.TrimSuffix(line, "\n"), " ", 4)
	if len(parts) != 4 {
		return "", fmt.Errorf("not a CRI log line: %q", line)
	}
	return parts[3], nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// TestPullFromRegistry pulls a pod's image from an in-process registry over
// plain HTTP, named as a mirror endpoint in registries.yaml, with
// imagePullPolicy Always; a second pod with IfNotPresent then finds it
// already present. A third pod names a registry nothing serves (a closed
// loopback port) whose only way to the image is its mirror in registries.yaml.
func TestPullFromRegistry(t *testing.T) {
	host := testimage.Registry(t, "library/busybox:1")
	image := host + "/library/busybox:1"
	nowhere := fmt.Sprintf("127.0.0.1:%d", testcluster.FreePorts(t, 1)[0])
	// A private registry: the same images behind basic auth, whose
	// credentials only the pods' imagePullSecrets hold.
	private, _ := testimage.Proxy(t, host, "alice", "s3cret")
	registries := fmt.Sprintf("mirrors:\n  %q:\n    endpoint: [\"http://%s\"]\n  %q:\n    endpoint: [\"http://%s\"]\n  %q:\n    endpoint: [\"http://%s\"]\n",
		host, host, nowhere, host, private, private)
	c, _ := testcluster.StartWithAgent(t, func(cfg *appliance.Config) {
		if err := os.WriteFile(cfg.PrivateRegistry, []byte(registries), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	ctx := context.Background()
	ns := "default"
	dumpOnFailure(t, ns, c, nil)

	pulled := busyboxPod("pulled", "sh", "-c", "echo pulled-ok; exec sleep 3600")
	pulled.Spec.Containers[0].Image = image
	pulled.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pulled, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, c, ns, "pulled", "Running and Ready", running)
	if id := p.Status.ContainerStatuses[0].ImageID; id == "" {
		t.Errorf("container status has no imageID: %+v", p.Status.ContainerStatuses[0])
	}
	want := fmt.Sprintf("Successfully pulled image %q", image)
	waitPodEvent(t, c, ns, p.UID, "Pulled", want)

	imgs, err := c.App.Agent().Runtime().ListImages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, i := range imgs {
		found = found || i.Name == image
	}
	if !found {
		t.Errorf("image %s not in containerd after the pull: %+v", image, imgs)
	}
	pollUntil(t, 30*time.Second, "kubectl logs pulled", func() (bool, error) {
		out, _, err := c.TryKubectl(t, nil, "logs", "pulled")
		return strings.Contains(out, "pulled-ok"), err
	})

	again := busyboxPod("present", "sh", "-c", "exec sleep 3600")
	again.Spec.Containers[0].Image = image
	again.Spec.Containers[0].ImagePullPolicy = corev1.PullIfNotPresent
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, again, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p2 := waitPod(t, c, ns, "present", "Running and Ready", running)
	waitPodEvent(t, c, ns, p2.UID, "Pulled", fmt.Sprintf("Container image %q already present on machine", image))

	mirrored := busyboxPod("mirrored", "sh", "-c", "exec sleep 3600")
	mirrored.Spec.Containers[0].Image = nowhere + "/library/busybox:1"
	mirrored.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, mirrored, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p3 := waitPod(t, c, ns, "mirrored", "Running and Ready", running)
	waitPodEvent(t, c, ns, p3.UID, "Pulled", fmt.Sprintf("Successfully pulled image %q", mirrored.Spec.Containers[0].Image))

	// imagePullSecrets: a docker config JSON Secret with the private
	// registry's credentials lets the pod pull; without it, the pull is
	// refused and the pod says ErrImagePull or ImagePullBackOff.
	auth := base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, private, auth))},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	withSecret := busyboxPod("private", "sh", "-c", "exec sleep 3600")
	withSecret.Spec.Containers[0].Image = private + "/library/busybox:1"
	withSecret.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
	withSecret.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
	without := withSecret.DeepCopy()
	without.Name, without.Spec.ImagePullSecrets = "no-credentials", nil
	for _, p := range []*corev1.Pod{withSecret, without} {
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitPod(t, c, ns, "private", "Running and Ready with imagePullSecrets", running)
	denied := waitPod(t, c, ns, "no-credentials", "refused a pull without credentials", func(p *corev1.Pod) bool {
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") {
				return true
			}
		}
		return false
	})
	// The Failed event says why, in containerd's words.
	pollUntil(t, 30*time.Second, "a Failed event saying the pull was denied", func() (bool, error) {
		evs, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(denied.UID) + ",reason=Failed"})
		if err != nil {
			return false, err
		}
		for _, e := range evs.Items {
			if strings.Contains(e.Message, "authorization") || strings.Contains(e.Message, "401") {
				return true, nil
			}
		}
		return false, fmt.Errorf("%d Failed events, none about authorization", len(evs.Items))
	})
}

// waitPodEvent waits for an event of the pod with reason and exactly message.
func waitPodEvent(t *testing.T, c *testcluster.Cluster, ns string, uid types.UID, reason, message string) {
	t.Helper()
	var seen []string
	pollUntil(t, 30*time.Second, fmt.Sprintf("event %s %q", reason, message), func() (bool, error) {
		evs, err := c.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		seen = seen[:0]
		for _, e := range evs.Items {
			if e.InvolvedObject.UID != uid {
				continue
			}
			seen = append(seen, e.Reason+": "+e.Message)
			if e.Reason == reason && e.Message == message {
				return true, nil
			}
		}
		return false, fmt.Errorf("events so far: %q", seen)
	})
}

// testImageCLI: `appliance image ls` and `rm` against the running appliance's
// containerd, as an air-gapped user manages images.
func testImageCLI(t *testing.T, socket string) {
	t.Helper()
	image := func(args ...string) (string, error) {
		out, err := exec.Command(testcluster.Binary(t), append([]string{"image"}, append(args, "--containerd-socket", socket)...)...).CombinedOutput()
		return string(out), err
	}
	const extra = "appliance.test/extra:1"
	if out, err := image("import", testimage.BusyboxTar(t, extra)); err != nil {
		t.Fatalf("image import %s: %v\n%s", extra, err, out)
	}
	out, err := image("ls")
	if err != nil {
		t.Fatalf("image ls: %v\n%s", err, out)
	}
	for _, want := range []string{"IMAGE", "DIGEST", testcluster.BusyboxImage, extra, "sha256:"} {
		if !strings.Contains(out, want) {
			t.Errorf("image ls does not show %q:\n%s", want, out)
		}
	}
	if out, err := image("rm", extra); err != nil || !strings.Contains(out, "removed "+extra) {
		t.Errorf("image rm %s: %v\n%s", extra, err, out)
	}
	if out, err := image("ls"); err != nil || strings.Contains(out, extra) || !strings.Contains(out, testcluster.BusyboxImage) {
		t.Errorf("image ls after rm: %v\n%s", err, out)
	}
	if out, err := image("rm", "appliance.test/nosuch:1"); err == nil || !strings.Contains(out, "nosuch") {
		t.Errorf("image rm of a missing image: err %v, output %q; want a failure naming it", err, out)
	}
}
