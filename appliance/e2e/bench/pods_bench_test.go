package bench

// The pod startup benchmark: the real `appliance server` binary with its
// kubelet and its own containerd (root, runc, cgroups; the pod network in a
// network namespace of the benchmark's own), 50 busybox pods from one
// `kubectl apply`, against a floor measured in the same run: the same number
// of raw containerd create+start calls of the same image, through the same
// containerd, at the same arrival times.
//
//	go test -count=1 -run '^$' -bench PodStartup -benchtime 1x ./appliance/e2e/bench/
//
// With APPLIANCE_BENCH_INPROCESS=1 the appliance runs inside the test process
// instead (testcluster.StartWithAgent), so that -cpuprofile and -trace see
// the kubelet; its memory figures then include the benchmark's own.
//
// docs/PERFORMANCE.md ("Pod startup (kubelet)") has the figures.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	containerdclient "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/appliance/appliance/appliance/testcluster"
	"github.com/appliance/appliance/appliance/testcluster/hostproc"
	rtcontainerd "github.com/appliance/appliance/runtime/containerd"
	"github.com/appliance/appliance/runtime/testimage"
)

const (
	// startupPods is the number of pods of the burst scenario (one kubectl
	// apply), and of raw containers in its floor.
	startupPods = 50
	// podNamespace is where the pods go ("default": its service account
	// exists from the start, as on a fresh cluster).
	podNamespace = "default"
	// kubeletNamespace is the kubelet's containerd namespace; floorNamespace
	// the floor's, so the kubelet never sees the floor's containers.
	kubeletNamespace = rtcontainerd.DefaultNamespace
	floorNamespace   = "bench-floor"
	// floorCgroup is the parent cgroup of the floor's containers, removed at
	// the end.
	floorCgroup = "/appliance-bench-floor"
)

// BenchmarkPodStartup applies 50 pods (busybox `sleep 3600`, image present,
// imagePullPolicy Never) with one `kubectl apply -f` of a multi-document
// manifest, and measures each pod from the moment a watch sees it created to
// the moment the watch sees it Running and Ready: Kubernetes' pod startup
// SLI ("schedulable stateless pods, image present, from creation to all
// containers started, as observed by a watch"), with local timestamps in
// place of the second-granular creationTimestamp.
//
// The floor replays the pods' arrival times (each pod's creation offset from
// the first) as raw create+start calls against the same containerd, one
// container with a snapshot of its own and no I/O per pod: what no kubelet in
// front of that containerd can beat. Each b.Loop iteration runs both and then
// deletes everything, waiting until the kubelet has removed every container.
//
// It reports p50-ms / p99-ms (pods) and floor-p50-ms / floor-p99-ms, the
// ratio p50/floor-p50, all-ready-s (kubectl apply started -> last pod
// Running and Ready), the RSS of the appliance process (idle and with 50
// pods), of its containerd child, and the proportional set size (PSS) of the
// per-pod processes: shims, pause, log drivers and the containers.
//
// Two scenarios share the appliance: "pods=50", the burst above, and
// "pods=1", one pod per kubectl apply, which shows a pod's own path from
// creation to Ready with nothing queued in front of it (the burst measures
// mostly queueing on a small machine).
func BenchmarkPodStartup(b *testing.B) {
	pb := startPodBench(b)
	idle := pb.processes()
	for _, n := range []int{startupPods, 1} {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) { benchPodStartup(b, pb, idle, n) })
	}
}

func benchPodStartup(b *testing.B, pb *podBench, idle procUsage, pods int) {
	var podLat, schedLat, kubeletLat, floorLat, pairLat []time.Duration
	var allReady, apply time.Duration
	var running procUsage
	var cpu podCPU
	var floorCPU time.Duration
	runs := 0
	for b.Loop() {
		r := pb.runPods(b, pods)
		podLat = append(podLat, r.lat...)
		schedLat = append(schedLat, r.sched...)
		kubeletLat = append(kubeletLat, r.kubelet...)
		allReady += r.allReady
		apply += r.apply
		running = r.procs
		cpu.add(r.cpu)
		pb.deletePods(b)
		before := pb.cpu.usage()
		lat, started := pb.runFloor(b, r.arrivals, false)
		floorLat = append(floorLat, lat...)
		floorCPU += started - before
		lat, _ = pb.runFloor(b, r.arrivals, true)
		pairLat = append(pairLat, lat...)
		runs++
	}
	for _, l := range [][]time.Duration{podLat, schedLat, kubeletLat, floorLat, pairLat} {
		slices.Sort(l)
	}
	p50, floor50 := percentile(podLat, 0.50), percentile(floorLat, 0.50)
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(percentile(podLat, 0.99)), "p99-ms")
	b.ReportMetric(ms(floor50), "floor-p50-ms")
	b.ReportMetric(ms(percentile(floorLat, 0.99)), "floor-p99-ms")
	b.ReportMetric(float64(p50)/float64(floor50), "p50/floor")
	// Beside the goal's floor: the least a pod needs, two containers.
	b.ReportMetric(ms(percentile(pairLat, 0.50)), "pair-floor-p50-ms")
	b.ReportMetric(float64(p50)/float64(percentile(pairLat, 0.50)), "p50/pair-floor")
	b.ReportMetric(allReady.Seconds()/float64(runs), "all-ready-s")
	b.ReportMetric(mb(idle.appliance.rss), "idle-rss-MB")
	b.ReportMetric(mb(running.appliance.rss), "rss-MB")
	b.ReportMetric(mb(running.containerd.rss), "containerd-rss-MB")
	if pods > 1 {
		// With one pod, its processes share the appliance binary's pages
		// with the appliance alone, and PSS charges them half of it.
		b.ReportMetric(mb(running.perPod().pss)/float64(pods), "per-pod-pss-MB")
	}
	cpu.report(b, runs*pods)
	if floorCPU > 0 {
		b.ReportMetric(floorCPU.Seconds()*1000/float64(runs*pods), "floor-cpu-ms/ctr")
	}
	b.Logf("pods: p50 %s p99 %s (created -> seen bound: p50 %s p99 %s; bound -> Running and Ready: p50 %s p99 %s); kubectl apply %s; all ready %s after apply started (means over %d runs)",
		p50, percentile(podLat, 0.99), percentile(schedLat, 0.5), percentile(schedLat, 0.99),
		percentile(kubeletLat, 0.5), percentile(kubeletLat, 0.99), apply/time.Duration(runs), allReady/time.Duration(runs), runs)
	b.Logf("floor: p50 %s p99 %s; pod-shaped floor (two containers, one shim, shared namespaces): p50 %s p99 %s",
		floor50, percentile(floorLat, 0.99), percentile(pairLat, 0.50), percentile(pairLat, 0.99))
	b.Logf("memory, idle: %s", idle)
	b.Logf("memory, %d pods Running: %s", pods, running)
}

// podBench is one appliance child process with its kubelet, and clients of
// its containerd in the kubelet's namespace and in the floor's.
type podBench struct {
	proc    *testcluster.Process // nil in-process
	pid     int                  // the appliance's process
	kubectl *testcluster.Cluster // only its Kubeconfig: for KubectlCmd
	cs      kubernetes.Interface
	dir     string
	runDir  string
	podsDir string
	kubelet *rtcontainerd.Runtime // namespace "appliance": import, leftovers
	floor   *rtcontainerd.Runtime // namespace "bench-floor"
	img     containerdclient.Image
	cpu     *cpuGroup // the appliance and all it starts; nil in-process
}

// startPodBench starts `appliance server` with its kubelet, the pod network
// in a fresh network namespace and every directory under one temporary
// directory, imports the busybox image into the kubelet's namespace and the
// floor's, and waits until the node is Ready and the default service account
// exists. At the end it deletes the pods, removes every container left,
// stops the appliance with SIGTERM (which stops its containerd), and unmounts
// whatever is still mounted under its directory.
func startPodBench(b *testing.B) *podBench {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Fatal("BenchmarkPodStartup needs root (containerd, runc, network namespaces); CI runs it as root")
	}
	if err := rtcontainerd.CheckBinaries(); err != nil {
		b.Fatal(err)
	}
	if os.Getenv("APPLIANCE_BENCH_INPROCESS") != "" {
		return startPodBenchInProcess(b)
	}
	_, netnsPath := testcluster.NetNS(b)
	// Not b.TempDir: containerd's socket path must stay under 100 bytes.
	dir, err := os.MkdirTemp("", "appl-podbench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			b.Errorf("remove %s: %v", dir, err)
		}
	})
	pb := &podBench{dir: dir, runDir: filepath.Join(dir, "run"), podsDir: filepath.Join(dir, "kubelet")}
	pc := testcluster.NewProcessConfig(b)
	pc.DataDir = filepath.Join(dir, "data")
	pc.AdminKubeconfig = filepath.Join(dir, "admin.kubeconfig")
	pc.Agent = true
	pc.Args = []string{
		"--agent-netns", netnsPath,
		"--kubelet-dir", pb.podsDir,
		"--pod-logs-dir", filepath.Join(dir, "logs"),
		"--run-dir", pb.runDir,
		"--private-registry", filepath.Join(dir, "registries.yaml"),
		"--kubelet-port", "0",
		"--node-ip", "127.0.0.1",
	}
	pb.proc = testcluster.StartProcess(b, pc)
	pb.pid = pb.proc.Cmd.Process.Pid
	// Registered after StartProcess's SIGKILL, so it runs first: a SIGKILL
	// would leave containerd and the pods behind.
	b.Cleanup(pb.cleanup)
	pb.kubectl = &testcluster.Cluster{Kubeconfig: pc.AdminKubeconfig}
	pb.cs = pb.proc.Client

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		n, err := pb.cs.CoreV1().Nodes().Get(ctx, "test-node", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				_, err := pb.cs.CoreV1().ServiceAccounts(podNamespace).Get(ctx, "default", metav1.GetOptions{})
				return err == nil, nil
			}
		}
		return false, nil
	})
	if err != nil {
		b.Fatalf("node Ready with the default service account: %v", err)
	}
	sock := filepath.Join(pb.runDir, "containerd", "containerd.sock")
	pb.kubelet, err = rtcontainerd.Start(ctx, rtcontainerd.Config{Endpoint: sock, Namespace: kubeletNamespace, Log: quietLog})
	if err != nil {
		b.Fatalf("connect to the appliance's containerd: %v", err)
	}
	b.Cleanup(func() { pb.kubelet.Close() })
	pb.cpu = newCPUGroup(b, pb.pid, hostproc.ReadPID(filepath.Join(pb.runDir, "containerd", "containerd.pid")))
	pb.connectFloor(b, ctx, pb.kubelet)
	return pb
}

// startPodBenchInProcess is startPodBench with the appliance in this process.
func startPodBenchInProcess(b *testing.B) *podBench {
	c, _ := testcluster.StartWithAgent(b)
	pb := &podBench{pid: os.Getpid(), kubectl: c, cs: c.Client,
		runDir: c.Config.RunDir, podsDir: c.Config.KubeletDir, kubelet: c.App.Agent().Runtime()}
	// Runs before the kubelet's reset: the floor's containers are not the
	// kubelet's to remove.
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		pb.removeFloorLeftovers(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := pb.cs.CoreV1().ServiceAccounts(podNamespace).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		b.Fatalf("default service account: %v", err)
	}
	pb.connectFloor(b, ctx, nil)
	return pb
}

// connectFloor connects to the kubelet's containerd in the floor's namespace
// and imports the busybox image there, and into the kubelet's namespace
// through kubelet when it is not nil.
func (pb *podBench) connectFloor(b *testing.B, ctx context.Context, kubelet *rtcontainerd.Runtime) {
	b.Helper()
	var err error
	pb.floor, err = rtcontainerd.Start(ctx, rtcontainerd.Config{Endpoint: pb.kubelet.Socket(), Namespace: floorNamespace,
		Snapshotter: pb.kubelet.Snapshotter(), Log: quietLog})
	if err != nil {
		b.Fatalf("connect to the appliance's containerd: %v", err)
	}
	b.Cleanup(func() { pb.floor.Close() })
	tar := testimage.BusyboxTar(b, testcluster.BusyboxImage)
	for _, rt := range []*rtcontainerd.Runtime{kubelet, pb.floor} {
		if rt == nil {
			continue
		}
		f, err := os.Open(tar)
		if err != nil {
			b.Fatal(err)
		}
		_, err = rt.Import(ctx, f)
		f.Close()
		if err != nil {
			b.Fatalf("import busybox into %s: %v", rt.Namespace(), err)
		}
	}
	pb.img, _, err = pb.floor.EnsureImage(ctx, testcluster.BusyboxImage, corev1.PullNever, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
}

// podRun is what one scenario measured.
type podRun struct {
	lat, sched, kubelet []time.Duration // created -> ready, created -> bound, bound -> ready
	arrivals            []time.Duration // each pod's creation, from the first
	apply, allReady     time.Duration
	procs               procUsage // with every pod Running
	cpu                 podCPU
}

func podManifest(pods int) []byte {
	var buf bytes.Buffer
	for i := range pods {
		fmt.Fprintf(&buf, `---
apiVersion: v1
kind: Pod
metadata:
  name: pod-%d
  labels:
    app: startup-bench
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: main
    image: %s
    imagePullPolicy: Never
    command: ["sleep", "3600"]
`, i, testcluster.BusyboxImage)
	}
	return buf.Bytes()
}

// runPods applies the manifest and waits until a watch has seen every pod
// Running and Ready.
func (pb *podBench) runPods(b *testing.B, pods int) podRun {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := watchPods(b, ctx, pb.cs, podNamespace, "pod-", pods, false)
	defer func() { cancel(); <-w.done }()
	cpu := pb.startCPU()
	start := time.Now()
	if out, errOut, err := pb.kubectl.TryKubectl(b, podManifest(pods), "apply", "-f", "-"); err != nil {
		b.Fatalf("kubectl apply: %v\n%s%s", err, out, errOut)
	}
	r := podRun{apply: time.Since(start)}
	select {
	case <-w.allReady:
	case <-time.After(2 * time.Minute):
		b.Fatalf("after 2m: %d of %d pods created, %d bound, %d Running and Ready\n%s",
			w.nCreated.Load(), pods, w.nBound.Load(), w.nReady.Load(), pb.diagnose())
	}
	r.cpu = pb.stopCPU(cpu)
	r.allReady = latest(w.ready).Sub(start)
	first := slices.Min(w.created)
	for i := range pods {
		r.lat = append(r.lat, time.Duration(w.ready[i]-w.created[i]))
		r.sched = append(r.sched, time.Duration(w.bound[i]-w.created[i]))
		r.kubelet = append(r.kubelet, time.Duration(w.ready[i]-w.bound[i]))
		r.arrivals = append(r.arrivals, time.Duration(w.created[i]-first))
	}
	r.procs = pb.processes()
	if n := len(r.procs.byKind[procContainer]); n != pods {
		b.Fatalf("%d pods Running and Ready, but %d container processes under our shims:\n%s", pods, n, r.procs)
	}
	return r
}

// diagnose describes the node and the first pod that is not Ready, for a
// benchmark that timed out.
func (pb *podBench) diagnose() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var b strings.Builder
	if n, err := pb.cs.CoreV1().Nodes().Get(ctx, "test-node", metav1.GetOptions{}); err == nil {
		fmt.Fprintf(&b, "node: taints %v\n", n.Spec.Taints)
		for _, c := range n.Status.Conditions {
			fmt.Fprintf(&b, "  %s=%s %s\n", c.Type, c.Status, c.Message)
		}
	}
	pods, err := pb.cs.CoreV1().Pods(podNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return b.String() + err.Error()
	}
	for _, p := range pods.Items {
		if podReady(&p) {
			continue
		}
		fmt.Fprintf(&b, "pod %s: node %q phase %s conditions %+v containers %+v\n", p.Name, p.Spec.NodeName, p.Status.Phase, p.Status.Conditions, p.Status.ContainerStatuses)
		evs, _ := pb.cs.CoreV1().Events(podNamespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + p.Name})
		if evs != nil {
			for _, e := range evs.Items {
				fmt.Fprintf(&b, "  event %s %s: %s\n", e.Type, e.Reason, e.Message)
			}
		}
		break
	}
	return b.String()
}

// deletePods deletes the pods (their grace period is 0) and waits until they
// are gone from the API, the kubelet has removed every container, and their
// directories are gone.
func (pb *podBench) deletePods(b *testing.B) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := deleteAllPods(ctx, pb.cs); err != nil {
		b.Fatal(err)
	}
	var left string
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := pb.cs.CoreV1().Pods(podNamespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		cs, err := pb.kubelet.Client().Containers(pb.kubelet.WithNamespace(ctx))
		if err != nil {
			return false, nil
		}
		dirs, _ := os.ReadDir(filepath.Join(pb.podsDir, "pods"))
		left = fmt.Sprintf("%d pods, %d containers, %d pod directories", len(pods.Items), len(cs), len(dirs))
		return len(pods.Items) == 0 && len(cs) == 0 && len(dirs) == 0, nil
	})
	if err != nil {
		b.Fatalf("pods deleted, waiting for the kubelet to remove them: %v; left: %s", err, left)
	}
}

func deleteAllPods(ctx context.Context, cs kubernetes.Interface) error {
	pods, err := cs.CoreV1().Pods(podNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	errs := make([]error, len(pods.Items))
	var wg sync.WaitGroup
	for i, p := range pods.Items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := cs.CoreV1().Pods(podNamespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
			if err != nil && !apierrors.IsNotFound(err) {
				errs[i] = fmt.Errorf("delete pod %s: %w", p.Name, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// runFloor creates and starts raw containers at the arrivals' offsets. With
// pair false, one container per arrival (the floor the goal names): a
// latency runs from its create call to the return of its start. With pair
// true, what a pod needs at the least: a first container, then a second
// that shares its shim (the runc shim's group annotation) and its network,
// IPC and UTS namespaces; a latency runs to the second one's start. Then it
// removes them all.
func (pb *podBench) runFloor(b *testing.B, arrivals []time.Duration, pair bool) (lat []time.Duration, cpuStarted time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(pb.floor.WithNamespace(context.Background()), 2*time.Minute)
	defer cancel()
	lat = make([]time.Duration, len(arrivals))
	errs := make([]error, len(arrivals))
	var mu sync.Mutex
	var conts []containerdclient.Container
	var wg sync.WaitGroup
	start := time.Now()
	for i, at := range arrivals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A load generator's schedule, not synchronisation.
			time.Sleep(time.Until(start.Add(at)))
			id := fmt.Sprintf("floor-%d-%d", start.UnixNano()%1e9, i)
			t0 := time.Now()
			c, pid, err := pb.floorContainer(ctx, id, nil)
			if c != nil {
				mu.Lock()
				conts = append(conts, c)
				mu.Unlock()
			}
			if err == nil && pair {
				var c2 containerdclient.Container
				c2, _, err = pb.floorContainer(ctx, id+"-app", oci.Compose(
					oci.WithAnnotations(map[string]string{"io.containerd.runc.v2.group": id}),
					oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: fmt.Sprintf("/proc/%d/ns/net", pid)}),
					oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.IPCNamespace, Path: fmt.Sprintf("/proc/%d/ns/ipc", pid)}),
					oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.UTSNamespace, Path: fmt.Sprintf("/proc/%d/ns/uts", pid)}),
				))
				if c2 != nil {
					mu.Lock()
					conts = append(conts, c2)
					mu.Unlock()
				}
			}
			if err != nil {
				errs[i] = err
				return
			}
			lat[i] = time.Since(t0)
		}()
	}
	wg.Wait()
	cpuStarted = pb.cpu.usage()
	for _, c := range conts {
		wg.Add(1)
		go func() { defer wg.Done(); removeContainer(ctx, c) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		b.Fatalf("floor: %v", err)
	}
	return lat, cpuStarted
}

// floorContainer creates and starts one raw container of the image running
// `sleep 3600`, with a snapshot of its own and no I/O, and returns its
// task's pid. The container is returned whenever it was created.
func (pb *podBench) floorContainer(ctx context.Context, id string, extra oci.SpecOpts) (containerdclient.Container, uint32, error) {
	opts := []oci.SpecOpts{oci.WithImageConfig(pb.img), oci.WithProcessArgs("sleep", "3600"), oci.WithCgroup(filepath.Join(floorCgroup, id))}
	if extra != nil {
		opts = append(opts, extra)
	}
	c, err := pb.floor.Client().NewContainer(ctx, id,
		containerdclient.WithImage(pb.img),
		containerdclient.WithSnapshotter(pb.floor.Snapshotter()),
		containerdclient.WithNewSnapshot(id, pb.img),
		containerdclient.WithRuntime("io.containerd.runc.v2", nil),
		containerdclient.WithNewSpec(opts...),
	)
	if err != nil {
		return nil, 0, err
	}
	task, err := c.NewTask(ctx, cio.NullIO)
	if err != nil {
		return c, 0, err
	}
	if err := task.Start(ctx); err != nil {
		return c, 0, err
	}
	return c, task.Pid(), nil
}

// removeContainer kills a container's task, waits for it, and deletes the
// task, the container and its snapshot.
func removeContainer(ctx context.Context, c containerdclient.Container) {
	if task, err := c.Task(ctx, nil); err == nil {
		if ch, err := task.Wait(ctx); err == nil {
			_ = task.Kill(ctx, syscall.SIGKILL)
			select {
			case <-ch:
			case <-ctx.Done():
			}
		}
		_, _ = task.Delete(ctx, containerdclient.WithProcessKill)
	}
	_ = c.Delete(ctx, containerdclient.WithSnapshotCleanup)
}

// cleanup leaves nothing behind, whatever state a failed run left: the pods
// are deleted and the kubelet given time to remove them, then whatever is
// left in either namespace is removed directly; the appliance is stopped with
// SIGTERM (it stops its containerd; a SIGKILL would not), and anything still
// mounted under the benchmark's directory is unmounted.
func (pb *podBench) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if pb.cs != nil {
		_ = deleteAllPods(ctx, pb.cs)
	}
	if rt := pb.kubelet; rt != nil {
		nctx := rt.WithNamespace(ctx)
		_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			cs, err := rt.Client().Containers(nctx)
			return err == nil && len(cs) == 0, nil
		})
		if cs, err := rt.Client().Containers(nctx); err == nil {
			for _, c := range cs {
				removeContainer(nctx, c)
			}
		}
	}
	pb.removeFloorLeftovers(ctx)
	containerdPID := hostproc.ReadPID(filepath.Join(pb.runDir, "containerd", "containerd.pid"))
	if err := pb.proc.Signal(syscall.SIGTERM); err == nil && !pb.proc.WaitExit(45*time.Second) {
		fmt.Fprintf(os.Stderr, "appliance (pid %d) did not stop within 45s of SIGTERM; killing it\n", pb.proc.Cmd.Process.Pid)
		pb.proc.Kill()
	}
	if containerdPID > 0 && hostproc.Alive(containerdPID) {
		fmt.Fprintf(os.Stderr, "containerd (pid %d) outlived the appliance; killing it\n", containerdPID)
		_ = syscall.Kill(containerdPID, syscall.SIGKILL)
	}
	unmountUnder(pb.dir)
}

// removeFloorLeftovers removes the floor's containers a failed run left, and
// the floor's parent cgroup.
func (pb *podBench) removeFloorLeftovers(ctx context.Context) {
	if pb.floor != nil {
		nctx := pb.floor.WithNamespace(ctx)
		if cs, err := pb.floor.Client().Containers(nctx); err == nil {
			for _, c := range cs {
				removeContainer(nctx, c)
			}
		}
	}
	for _, hier := range cgroupHierarchies() {
		_ = os.Remove(filepath.Join(hier, floorCgroup))
	}
}

// unmountUnder detaches every mount below dir, deepest first.
func unmountUnder(dir string) {
	for _, mp := range hostproc.MountsUnder(dir) {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			fmt.Fprintf(os.Stderr, "unmount %s: %v\n", mp, err)
		}
	}
}

// cgroupHierarchies are the cgroup v1 hierarchies' mount points, or the v2
// root.
func cgroupHierarchies() []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}
	}
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, filepath.Join("/sys/fs/cgroup", e.Name()))
		}
	}
	return out
}

// Processes and their memory.

type procKind int

const (
	procShim procKind = iota
	procPause
	procLogDriver
	procContainer
	numProcKinds
)

var procKindNames = [numProcKinds]string{"shims", "pause", "log drivers", "containers"}

// mem is a sum of resident set sizes and proportional set sizes (each shared
// page divided among the processes that map it), in bytes.
type mem struct {
	n        int
	rss, pss int64
}

func (m *mem) add(o mem) { m.n += o.n; m.rss += o.rss; m.pss += o.pss }

// procUsage is the memory of the appliance process, of its containerd and of
// the per-pod processes under the shims of the kubelet's namespace.
type procUsage struct {
	appliance, containerd mem
	byKind                [numProcKinds][]int // pids
	kinds                 [numProcKinds]mem
}

// perPod is the memory of everything started for the pods.
func (u procUsage) perPod() mem {
	var m mem
	for _, k := range u.kinds {
		m.add(k)
	}
	return m
}

func (u procUsage) String() string {
	parts := []string{
		fmt.Sprintf("appliance RSS %.1f MB", mb(u.appliance.rss)),
		fmt.Sprintf("containerd RSS %.1f MB (PSS %.1f)", mb(u.containerd.rss), mb(u.containerd.pss)),
	}
	for k, m := range u.kinds {
		parts = append(parts, fmt.Sprintf("%d %s PSS %.1f MB (RSS %.1f)", m.n, procKindNames[k], mb(m.pss), mb(m.rss)))
	}
	parts = append(parts, fmt.Sprintf("per-pod processes PSS %.1f MB", mb(u.perPod().pss)))
	return strings.Join(parts, "; ")
}

func mb(bytes int64) float64 { return float64(bytes) / (1 << 20) }

// processes finds the appliance, its containerd, and the shims serving the
// kubelet's namespace with their descendants, classified by what they run.
func (pb *podBench) processes() procUsage {
	var u procUsage
	u.appliance = procMem(pb.pid)
	if pid := hostproc.ReadPID(filepath.Join(pb.runDir, "containerd", "containerd.pid")); pid > 0 {
		u.containerd = procMem(pid)
	}
	sock := filepath.Join(pb.runDir, "containerd", "containerd.sock")
	parent := map[int]int{}
	cmdlines := map[int][]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		_, rest, _ := strings.Cut(string(stat), ") ")
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		parent[pid], _ = strconv.Atoi(f[1])
		raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		cmdlines[pid] = strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
	}
	shims := map[int]bool{}
	for pid, args := range cmdlines {
		if filepath.Base(args[0]) == "containerd-shim-runc-v2" && hasArgPair(args, "-namespace", kubeletNamespace) && hasArgPair(args, "-address", sock) {
			shims[pid] = true
			u.byKind[procShim] = append(u.byKind[procShim], pid)
		}
	}
	for pid, args := range cmdlines {
		if shims[pid] || !underShim(pid, parent, shims) {
			continue
		}
		kind := procContainer
		switch base := filepath.Base(args[0]); {
		case base == "pause":
			kind = procPause
		case strings.Contains(base, "log-driver"):
			kind = procLogDriver
		case base == "runc":
			continue // a create or start in flight
		}
		u.byKind[kind] = append(u.byKind[kind], pid)
	}
	for k, pids := range u.byKind {
		for _, pid := range pids {
			u.kinds[k].add(procMem(pid))
		}
	}
	return u
}

func hasArgPair(args []string, flag, value string) bool {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag && args[i+1] == value {
			return true
		}
	}
	return false
}

func underShim(pid int, parent map[int]int, shims map[int]bool) bool {
	for seen := 0; pid > 1 && seen < 64; seen++ {
		pid = parent[pid]
		if shims[pid] {
			return true
		}
	}
	return false
}

// procMem reads VmRSS from /proc/<pid>/status and Pss from smaps_rollup.
func procMem(pid int) mem {
	m := mem{n: 1}
	m.rss = kbField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
	m.pss = kbField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
	return m
}

func kbField(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

// CPU of the phase from kubectl apply to all Ready: the appliance process,
// its containerd, and the whole machine (everything else included: shims,
// runc, kubectl, this benchmark, and other work on the machine).

type podCPU struct{ wall, appliance, stack, host float64 }

type podCPUStart struct {
	at              time.Time
	appliance, host int64
	stack           time.Duration
}

func (pb *podBench) startCPU() podCPUStart {
	s := podCPUStart{at: time.Now(), appliance: procTicks(pb.pid), stack: pb.cpu.usage()}
	s.host, _ = hostBusyTicks()
	return s
}

func (pb *podBench) stopCPU(s podCPUStart) podCPU {
	host, _ := hostBusyTicks()
	return podCPU{
		wall:      time.Since(s.at).Seconds(),
		appliance: float64(procTicks(pb.pid)-s.appliance) / 100,
		stack:     (pb.cpu.usage() - s.stack).Seconds(),
		host:      float64(host-s.host) / 100,
	}
}

func (c *podCPU) add(o podCPU) {
	c.wall += o.wall
	c.appliance += o.appliance
	c.stack += o.stack
	c.host += o.host
}

// report adds the CPU per pod of the appliance process and of the whole
// stack (the appliance, containerd, shims, runc, pause and log drivers), and
// the cores the whole machine was busy meanwhile (other work included).
func (c podCPU) report(b *testing.B, pods int) {
	b.ReportMetric(c.appliance*1000/float64(pods), "appliance-cpu-ms/pod")
	if c.stack > 0 {
		b.ReportMetric(c.stack*1000/float64(pods), "cpu-ms/pod")
	}
	if c.wall >= 1 {
		b.ReportMetric(c.host/c.wall, "cpu-host-cores")
	}
}

// cpuGroup is a cgroup of the cpuacct controller (v1) or a v2 cgroup that
// holds the appliance and its containerd, so that everything they start
// (shims, runc, the log drivers, the pause processes until runc moves them)
// is counted too, and nothing else on the machine.
type cpuGroup struct{ dir string }

func newCPUGroup(b *testing.B, pids ...int) *cpuGroup {
	b.Helper()
	root := "/sys/fs/cgroup/cpuacct"
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		root = "/sys/fs/cgroup"
	}
	g := &cpuGroup{dir: filepath.Join(root, fmt.Sprintf("appliance-podbench-%d", os.Getpid()))}
	if err := os.Mkdir(g.dir, 0o755); err != nil {
		b.Fatalf("cpu cgroup: %v", err)
	}
	b.Cleanup(func() {
		// Whatever still runs in it (nothing, after a clean stop) goes back
		// to the root, then the group goes.
		if data, err := os.ReadFile(filepath.Join(g.dir, "cgroup.procs")); err == nil {
			for _, pid := range strings.Fields(string(data)) {
				_ = os.WriteFile(filepath.Join(root, "cgroup.procs"), []byte(pid), 0o644)
			}
		}
		if err := os.Remove(g.dir); err != nil {
			b.Errorf("remove cpu cgroup: %v", err)
		}
	})
	for _, pid := range pids {
		if err := os.WriteFile(filepath.Join(g.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			b.Fatalf("move pid %d into the cpu cgroup: %v", pid, err)
		}
	}
	return g
}

// usage is the group's CPU time so far (0 for a nil group).
func (g *cpuGroup) usage() time.Duration {
	if g == nil {
		return 0
	}
	if b, err := os.ReadFile(filepath.Join(g.dir, "cpuacct.usage")); err == nil {
		ns, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return time.Duration(ns)
	}
	return time.Duration(kbField(filepath.Join(g.dir, "cpu.stat"), "usage_usec")) / 1024 * time.Microsecond
}

// procTicks is a process's user+system time in USER_HZ (1/100 s) ticks.
func procTicks(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	// After the command: state ppid pgrp session tty_nr tpgid flags minflt
	// cminflt majflt cmajflt utime stime.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st
}
