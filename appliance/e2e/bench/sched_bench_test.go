package bench

// Scale benchmarks of the control plane: the scheduler placing pods on
// simulated nodes, and a Deployment from apply to all replicas available.
// By default they run small, so that `make bench-smoke` stays quick; with
// APPLIANCE_BENCH_FULL=1 they run the sizes of docs/PERFORMANCE.md (10,000
// pods on 500 nodes; a 1,000-replica Deployment on 100 nodes):
//
//	APPLIANCE_BENCH_FULL=1 go test -count=1 -run '^$' -bench 'Scheduler|Deployment' -benchtime 1x -timeout 20m ./appliance/e2e/bench/
//
// Each b.Loop iteration is one whole scenario in a namespace of its own; with a
// time -benchtime shorter than one scenario (as the full sizes are), a
// benchmark runs exactly one.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/appliance/appliance/appliance"
	"github.com/appliance/appliance/appliance/scheduler"
	"github.com/appliance/appliance/appliance/simulate"
	"github.com/appliance/appliance/appliance/testcluster"
)

// fullSize: APPLIANCE_BENCH_FULL=1 selects the sizes of docs/PERFORMANCE.md.
func fullSize() bool { return os.Getenv("APPLIANCE_BENCH_FULL") != "" }

// schedSizes is the size of BenchmarkScheduler: nodes, pods per scenario and
// the number of apps (label groups that affinity and spread refer to) they are
// spread over.
func schedSizes() (nodes, pods, apps int) {
	if fullSize() {
		return 500, 10000, 200 // 50 pods per app
	}
	return 50, 500, 50 // 10 pods per app
}

// zones are the simulated nodes' zones, one simulator each, each with its own
// node shape: mixed capacities at no extra cost (every simulator watches all
// pods, so one per zone is the cheapest way to label groups of nodes).
var zones = []struct {
	name, cpu, memory string
}{
	{"zone-a", "4", "16Gi"},
	{"zone-b", "8", "32Gi"},
	{"zone-c", "16", "64Gi"},
	{"zone-d", "8", "16Gi"},
	{"zone-e", "4", "32Gi"},
}

// quietLog drops everything below Error: the scheduler and the simulators log
// every start and stop at Info.
var quietLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

// startZones registers nodes simulated nodes, an equal share in each zone,
// labelled topology.kubernetes.io/zone, and removes them when b ends. The
// zones' simulators share one pod informer, as one kubelet host's would: each
// binding reaches them as one watch event, not five.
func startZones(b *testing.B, c *testcluster.Cluster, nodes int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rc := rest.CopyConfig(c.REST)
	rc.QPS, rc.Burst = -1, 0
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	podInf := coreinformers.NewPodInformer(kubernetes.NewForConfigOrDie(rc), metav1.NamespaceAll, 0, cache.Indexers{})
	stop := make(chan struct{})
	go podInf.Run(stop)
	sims := make([]*simulate.Simulator, len(zones))
	errs := make([]error, len(zones))
	var wg sync.WaitGroup
	for i, z := range zones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sims[i], errs[i] = simulate.Start(ctx, simulate.Config{
				REST:       c.REST,
				Nodes:      nodes / len(zones),
				NamePrefix: z.name + "-node-",
				Labels:     map[string]string{corev1.LabelTopologyZone: z.name},
				Capacity: corev1.ResourceList{
					corev1.ResourceCPU:    resource.MustParse(z.cpu),
					corev1.ResourceMemory: resource.MustParse(z.memory),
				},
				Log:         quietLog,
				PodInformer: podInf,
			})
		}()
	}
	wg.Wait()
	b.Cleanup(func() {
		defer close(stop)
		var wg sync.WaitGroup
		for _, s := range sims {
			if s != nil {
				wg.Add(1)
				go func() { defer wg.Done(); s.Close() }()
			}
		}
		wg.Wait()
	})
	if err := errors.Join(errs...); err != nil {
		b.Fatalf("simulated nodes: %v", err)
	}
}

// benchPod is pod i of a scenario: one of apps label groups (app-0, app-1, ...,
// consecutive pods in different apps), each app one of five kinds:
//
//	40 % plain
//	20 % preferred pod anti-affinity to its own app per node (weight 100)
//	10 % required pod anti-affinity to its own app per node
//	15 % topology spread per node, maxSkew 1, ScheduleAnyway
//	15 % topology spread per zone, maxSkew 1, DoNotSchedule
//
// with requests of 25m to 100m cpu and 64Mi to 256Mi of memory by app.
func benchPod(name, schedulerName string, i, apps int, annotations map[string]string) *corev1.Pod {
	app := i % apps
	appLabel := map[string]string{"app": "app-" + strconv.Itoa(app)}
	sel := &metav1.LabelSelector{MatchLabels: appLabel}
	cpu := []string{"25m", "50m", "100m", "50m"}[(app/20)%4]
	memory := []string{"64Mi", "128Mi", "256Mi"}[(app/20+app)%3]
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: appLabel, Annotations: annotations},
		Spec: corev1.PodSpec{
			SchedulerName: schedulerName,
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "registry.k8s.io/pause:3.10",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU:    resource.MustParse(cpu),
					corev1.ResourceMemory: resource.MustParse(memory),
				}},
			}},
		},
	}
	term := corev1.PodAffinityTerm{LabelSelector: sel, TopologyKey: corev1.LabelHostname}
	switch kind := app % 20; {
	case kind < 8:
	case kind < 12:
		pod.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 100, PodAffinityTerm: term}},
		}}
	case kind < 14:
		pod.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{term},
		}}
	case kind < 17:
		pod.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.ScheduleAnyway, LabelSelector: sel,
		}}
	default:
		pod.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule, LabelSelector: sel,
		}}
	}
	return pod
}

// podWatch follows the pods of one namespace named prefix0..prefix(n-1)
// through a watch and records, for each, when it was first seen created,
// bound to a node, and Running and Ready. Times are UnixNano; 0 is not yet.
type podWatch struct {
	prefix                         string
	created, bound, ready          []int64 // written by the watch goroutine only
	nCreated, nBound, nReady       atomic.Int64
	allCreated, allBound, allReady chan struct{}
	err                            atomic.Pointer[error]
	done                           chan struct{}
}

// watchPods starts following the pods of ns whose names are prefix + index.
// boundOnly watches with the field selector spec.nodeName!= (the pod appears
// when it is bound), which spares the client decoding every create.
func watchPods(b *testing.B, ctx context.Context, cs kubernetes.Interface, ns, prefix string, n int, boundOnly bool) *podWatch {
	b.Helper()
	w := &podWatch{
		prefix:  prefix,
		created: make([]int64, n), bound: make([]int64, n), ready: make([]int64, n),
		allCreated: make(chan struct{}), allBound: make(chan struct{}), allReady: make(chan struct{}),
		done: make(chan struct{}),
	}
	opts := metav1.ListOptions{}
	if boundOnly {
		opts.FieldSelector = "spec.nodeName!="
	}
	list, err := cs.CoreV1().Pods(ns).List(ctx, opts)
	if err != nil {
		b.Fatal(err)
	}
	rv := list.ResourceVersion
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			o := opts
			o.ResourceVersion, o.AllowWatchBookmarks = rv, true
			wi, err := cs.CoreV1().Pods(ns).Watch(ctx, o)
			if err != nil {
				if ctx.Err() == nil {
					w.fail(fmt.Errorf("watch pods: %w", err))
				}
				return
			}
			for ev := range wi.ResultChan() {
				if ev.Type == watch.Error {
					w.fail(fmt.Errorf("watch pods: %v", apierrors.FromObject(ev.Object)))
					wi.Stop()
					return
				}
				pod, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				rv = pod.ResourceVersion
				if ev.Type != watch.Bookmark {
					w.observe(pod, time.Now().UnixNano())
				}
			}
			wi.Stop()
		}
	}()
	return w
}

func (w *podWatch) fail(err error) { w.err.CompareAndSwap(nil, &err) }

func (w *podWatch) observe(pod *corev1.Pod, now int64) {
	i, err := strconv.Atoi(strings.TrimPrefix(pod.Name, w.prefix))
	if err != nil || i < 0 || i >= len(w.bound) || !strings.HasPrefix(pod.Name, w.prefix) {
		return
	}
	w.observeIndex(i, pod, now)
}

// observeIndex records what pod number i has reached.
func (w *podWatch) observeIndex(i int, pod *corev1.Pod, now int64) {
	mark := func(at []int64, count *atomic.Int64, all chan struct{}) {
		if at[i] == 0 {
			at[i] = now
			if count.Add(1) == int64(len(at)) {
				close(all)
			}
		}
	}
	mark(w.created, &w.nCreated, w.allCreated)
	if pod.Spec.NodeName != "" {
		mark(w.bound, &w.nBound, w.allBound)
	}
	if pod.Status.Phase == corev1.PodRunning && podReady(pod) {
		mark(w.ready, &w.nReady, w.allReady)
	}
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// wait waits until all is closed, the watch fails, or timeout passes.
func (w *podWatch) wait(b *testing.B, all chan struct{}, what string, timeout time.Duration) {
	b.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-all:
	case <-w.done:
		select {
		case <-all:
			return
		default:
		}
		if err := w.err.Load(); err != nil {
			b.Fatal(*err)
		}
		b.Fatalf("pod watch ended early")
	case <-timer.C:
		b.Fatalf("after %s: %d of %d pods created, %d bound, %d ready; wanted all %s",
			timeout, w.nCreated.Load(), len(w.bound), w.nBound.Load(), w.nReady.Load(), what)
	}
}

// latest is the last of the times in at, all of which are set.
func latest(at []int64) time.Time { return time.Unix(0, slices.Max(at)) }

// createPods creates pod(i) for i in [0, n) from the 16 workers and records in
// sent when each create was sent. It returns when the last create returned.
func createPods(ctx context.Context, cs kubernetes.Interface, ns string, n int, sent []int64, pod func(i int) *corev1.Pod) error {
	jobs := make(chan int)
	var (
		wg       sync.WaitGroup
		firstErr atomic.Pointer[error]
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				p := pod(i)
				sent[i] = time.Now().UnixNano()
				if _, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
					firstErr.CompareAndSwap(nil, &err)
				}
			}
		}()
	}
	for i := range n {
		if firstErr.Load() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if err := firstErr.Load(); err != nil {
		return fmt.Errorf("create pod: %w", *err)
	}
	return nil
}

// watchClient is a protobuf clientset without client-side rate limiting and
// without a request timeout (which would cut watches).
func watchClient(b *testing.B, c *testcluster.Cluster) kubernetes.Interface {
	b.Helper()
	rc := rest.CopyConfig(c.REST)
	rc.QPS, rc.Burst = -1, 0
	rc.ContentType = runtime.ContentTypeProtobuf
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		b.Fatal(err)
	}
	return cs
}

// runScheduler runs a scheduler of its own name (so that it sees only this
// scenario's pods) with the scheduler package's defaults, the client's rate
// limit included (QPS 5000, burst 10000; bindings and events each have a
// client of their own). The returned stop ends it and waits for it.
func runScheduler(b *testing.B, c *testcluster.Cluster, name string) (stop func()) {
	b.Helper()
	rc := rest.CopyConfig(c.REST)
	rc.QPS, rc.Burst = 0, 0 // the scheduler's defaults
	s, err := scheduler.New(scheduler.Config{REST: rc, Log: quietLog, SchedulerName: name})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				b.Errorf("scheduler %s: %v", name, err)
			}
		})
	}
	b.Cleanup(stop)
	return stop
}

// waitEvents waits until ns holds at least n events (the scheduler's
// Scheduled events, which it writes after each binding), so that a scheduler
// is stopped with nothing left to write, and returns how long that took.
func waitEvents(b *testing.B, cs kubernetes.Interface, ns string, n int, timeout time.Duration) time.Duration {
	b.Helper()
	start := time.Now()
	for {
		list, err := cs.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			b.Fatal(err)
		}
		if len(list.Items) >= n {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			b.Fatalf("%d of %d Scheduled events written after %s", len(list.Items), n, timeout)
		}
		time.Sleep(200 * time.Millisecond) // poll interval
	}
}

// phaseProfile writes a CPU profile of one phase (the scheduling of
// schedule-only) to $APPLIANCE_BENCH_CPUPROFILE, when set; -cpuprofile
// would also cover the creation of the pods beforehand.
func phaseProfile(b *testing.B) (stop func()) {
	path := os.Getenv("APPLIANCE_BENCH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Error(err)
		}
	}
}

// timeoutFor bounds a wait for n pods: far more than any healthy run needs.
func timeoutFor(n int) time.Duration { return time.Minute + time.Duration(n)*20*time.Millisecond }

// BenchmarkScheduler: pods with a mix of requests, pod anti-affinity and
// topology spread (see benchPod) scheduled onto simulated nodes in five zones
// of different node shapes, by a scheduler (appliance/scheduler, its default
// configuration) running in the test process against a real appliance whose
// own scheduler is off. Full size: 10,000 pods per scenario on 500 nodes.
//
//   - schedule-only: the pods are created first, with no scheduler for them;
//     then the scheduler starts, and sched-pods/s is pods / (start -> last pod
//     seen bound). Their hollow kubelets hold them Pending (a start delay of
//     1 h), as kube-scheduler's scheduler_perf runs without kubelets, so only
//     the scheduler and its API calls (binding, Scheduled event) are measured.
//     The scheduler's client rate limits are the package's defaults (QPS
//     5000, burst 10000, for bindings and for events). create-pods/s is how fast
//     the pods were created beforehand; first-bind-ms is from the start to
//     the first binding (informer sync); events-lag-s is from the last
//     binding until all Scheduled events were stored.
//   - end-to-end: the scheduler runs, then the pods are created from 16
//     workers while it schedules and the hollow kubelets start them (no delay).
//     create-pods/s is the creation rate on its own; sched-pods/s is pods /
//     (first create sent -> last pod seen bound); p50/p99-ms is each pod's
//     create sent -> seen bound by a watch; ready-s is until all are Running
//     and Ready.
//
// Each scenario runs in an appliance of its own, on nodes holding no other
// pods.
func BenchmarkScheduler(b *testing.B) {
	nodes, pods, apps := schedSizes()
	run := 0
	// Each scenario gets an appliance and nodes of its own, so that neither
	// sees the other's pods.
	setup := func(b *testing.B) (c *testcluster.Cluster, cs, wcs kubernetes.Interface) {
		c = testcluster.Start(b, testcluster.APIOnly)
		startZones(b, c, nodes)
		return c, client(b, c, runtime.ContentTypeProtobuf), watchClient(b, c)
	}

	b.Run("schedule-only", func(b *testing.B) {
		c, cs, wcs := setup(b)
		var bound, created int
		var schedTime, createTime time.Duration
		var first []time.Duration
		var lag time.Duration
		var cpu cpuUse
		for b.Loop() {
			run++
			ns := namespace(b, cs, "bench-sched")
			sname := fmt.Sprintf("bench-scheduler-%d", run)
			ctx, cancel := context.WithCancel(context.Background())
			w := watchPods(b, ctx, wcs, ns, "p-", pods, true)
			sent := make([]int64, pods)
			idle := map[string]string{simulate.AnnotationStartDelay: "1h"}
			t0 := time.Now()
			if err := createPods(ctx, cs, ns, pods, sent, func(i int) *corev1.Pod {
				return benchPod("p-"+strconv.Itoa(i), sname, i, apps, idle)
			}); err != nil {
				b.Fatal(err)
			}
			createTime += time.Since(t0)
			created += pods
			start := time.Now()
			meter := startCPU()
			stopProfile := phaseProfile(b)
			stop := runScheduler(b, c, sname)
			w.wait(b, w.allBound, "bound", timeoutFor(pods))
			stopProfile()
			cpu.add(meter.stop())
			schedTime += latest(w.bound).Sub(start)
			first = append(first, time.Unix(0, slices.Min(w.bound)).Sub(start))
			bound += pods
			lag = max(lag, time.Since(latest(w.bound))+waitEvents(b, cs, ns, pods, timeoutFor(pods)))
			stop()
			cancel()
			<-w.done
		}
		b.ReportMetric(float64(bound)/schedTime.Seconds(), "sched-pods/s")
		b.ReportMetric(float64(created)/createTime.Seconds(), "create-pods/s")
		b.ReportMetric(ms(slices.Max(first)), "first-bind-ms")
		b.ReportMetric(lag.Seconds(), "events-lag-s")
		cpu.report(b)
		b.ReportMetric(float64(pods), "pods")
		b.ReportMetric(float64(nodes), "nodes")
	})

	b.Run("end-to-end", func(b *testing.B) {
		c, cs, wcs := setup(b)
		var total int
		var schedTime, createTime, readyTime time.Duration
		var lat []time.Duration
		var cpu cpuUse
		for b.Loop() {
			run++
			ns := namespace(b, cs, "bench-e2e")
			sname := fmt.Sprintf("bench-scheduler-%d", run)
			stop := runScheduler(b, c, sname)
			ctx, cancel := context.WithCancel(context.Background())
			// One pod first, to know the scheduler is running.
			pw := watchPods(b, ctx, wcs, ns, "warm-", 1, true)
			if err := createPods(ctx, cs, ns, 1, make([]int64, 1), func(int) *corev1.Pod {
				return benchPod("warm-0", sname, 0, apps, nil)
			}); err != nil {
				b.Fatal(err)
			}
			pw.wait(b, pw.allBound, "bound", time.Minute)

			w := watchPods(b, ctx, wcs, ns, "p-", pods, true)
			sent := make([]int64, pods)
			t0 := time.Now()
			meter := startCPU()
			if err := createPods(ctx, cs, ns, pods, sent, func(i int) *corev1.Pod {
				return benchPod("p-"+strconv.Itoa(i), sname, i, apps, nil)
			}); err != nil {
				b.Fatal(err)
			}
			createTime += time.Since(t0)
			w.wait(b, w.allBound, "bound", timeoutFor(pods))
			schedTime += latest(w.bound).Sub(t0)
			for i := range pods {
				lat = append(lat, time.Duration(w.bound[i]-sent[i]))
			}
			w.wait(b, w.allReady, "Running and Ready", timeoutFor(pods))
			readyTime += latest(w.ready).Sub(t0)
			cpu.add(meter.stop())
			total += pods
			waitEvents(b, cs, ns, pods+1, timeoutFor(pods))
			stop()
			cancel()
			<-w.done
			<-pw.done
		}
		slices.Sort(lat)
		b.ReportMetric(float64(total)/schedTime.Seconds(), "sched-pods/s")
		b.ReportMetric(float64(total)/createTime.Seconds(), "create-pods/s")
		b.ReportMetric(ms(percentile(lat, 0.50)), "p50-ms")
		b.ReportMetric(ms(percentile(lat, 0.99)), "p99-ms")
		b.ReportMetric(readyTime.Seconds()/float64(total/pods), "ready-s")
		cpu.report(b)
		b.ReportMetric(float64(pods), "pods")
		b.ReportMetric(float64(nodes), "nodes")
	})
}

// deploymentSizes is the size of BenchmarkDeployment1000: nodes and replicas.
// Iterations leave their pods behind; the small size's 20 nodes hold 2,200, so
// that a -benchtime of several seconds (40-odd iterations) still fits.
func deploymentSizes() (nodes, replicas int) {
	if fullSize() {
		return 100, 1000
	}
	return 20, 50
}

// BenchmarkDeployment1000: a Deployment of 1,000 replicas (full size) applied
// with client-go to an appliance running its whole control plane as `appliance
// server --simulate-nodes 100` does (every controller, the scheduler, 100
// simulated nodes with their defaults and no start delay). available-s is from
// the create until the Deployment reports all replicas available; created-s,
// bound-s and ready-s are until the last pod was seen created, bound, and
// Running and Ready by a watch on the namespace's pods.
func BenchmarkDeployment1000(b *testing.B) {
	nodes, replicas := deploymentSizes()
	c := testcluster.Start(b, func(cfg *appliance.Config) { cfg.SimulateNodes = nodes })
	cs := client(b, c, runtime.ContentTypeProtobuf)
	wcs := watchClient(b, c)

	// The whole control plane is up (leader elected, nodes Ready) once a
	// one-replica Deployment is available.
	ns := namespace(b, cs, "bench-deploy-warmup")
	waitAvailable(b, cs, wcs, ns, deployment("warmup", 1), 2*time.Minute)

	var total int
	var avail, created, bound, ready time.Duration
	var cpu cpuUse
	for b.Loop() {
		ns := namespace(b, cs, "bench-deploy")
		ctx, cancel := context.WithCancel(context.Background())
		d := deployment("web", replicas)
		w := watchPodsByLabel(b, ctx, wcs, ns, replicas)
		t0 := time.Now()
		meter := startCPU()
		avail += waitAvailable(b, cs, wcs, ns, d, timeoutFor(replicas)+time.Minute)
		cpu.add(meter.stop())
		w.wait(b, w.allReady, "Running and Ready", time.Minute)
		created += latest(w.created).Sub(t0)
		bound += latest(w.bound).Sub(t0)
		ready += latest(w.ready).Sub(t0)
		total += replicas
		cancel()
		<-w.done
	}
	runs := float64(total / replicas)
	b.ReportMetric(avail.Seconds()/runs, "available-s")
	b.ReportMetric(float64(total)/avail.Seconds(), "pods/s")
	b.ReportMetric(created.Seconds()/runs, "created-s")
	b.ReportMetric(bound.Seconds()/runs, "bound-s")
	b.ReportMetric(ready.Seconds()/runs, "ready-s")
	cpu.report(b)
	b.ReportMetric(float64(replicas), "replicas")
	b.ReportMetric(float64(nodes), "nodes")
}

func deployment(name string, replicas int) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	n := int32(replicas)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &n,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "web",
					Image: "registry.k8s.io/pause:3.10",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("10m"),
						corev1.ResourceMemory: resource.MustParse("32Mi"),
					}},
				}}},
			},
		},
	}
}

// waitAvailable creates d in ns and waits until its status reports every
// replica available for its generation; it returns the time from the create.
func waitAvailable(b *testing.B, cs, wcs kubernetes.Interface, ns string, d *appsv1.Deployment, timeout time.Duration) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	list, err := wcs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	rv := list.ResourceVersion
	var last appsv1.DeploymentStatus
	for {
		wi, err := wcs.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
		if err != nil {
			b.Fatalf("deployment %s/%s: %v (last status %+v)", ns, d.Name, err, last)
		}
		for ev := range wi.ResultChan() {
			if ev.Type == watch.Error {
				b.Fatalf("watch deployment: %v", apierrors.FromObject(ev.Object))
			}
			got, ok := ev.Object.(*appsv1.Deployment)
			if !ok {
				continue
			}
			rv = got.ResourceVersion
			if ev.Type == watch.Bookmark || got.Name != d.Name {
				continue
			}
			last = got.Status
			if got.Status.ObservedGeneration >= got.Generation && got.Status.AvailableReplicas == *d.Spec.Replicas &&
				got.Status.UpdatedReplicas == *d.Spec.Replicas && got.Status.Replicas == *d.Spec.Replicas {
				wi.Stop()
				return time.Since(t0)
			}
		}
		wi.Stop()
		if ctx.Err() != nil {
			b.Fatalf("deployment %s/%s not available within %s: replicas %d, updated %d, ready %d, available %d",
				ns, d.Name, timeout, last.Replicas, last.UpdatedReplicas, last.ReadyReplicas, last.AvailableReplicas)
		}
	}
}

// watchPodsByLabel follows the n pods of a Deployment, whose names are not
// known in advance: each new pod gets the next index.
func watchPodsByLabel(b *testing.B, ctx context.Context, cs kubernetes.Interface, ns string, n int) *podWatch {
	b.Helper()
	names := map[string]int{}
	w := &podWatch{
		created: make([]int64, n), bound: make([]int64, n), ready: make([]int64, n),
		allCreated: make(chan struct{}), allBound: make(chan struct{}), allReady: make(chan struct{}),
		done: make(chan struct{}),
	}
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	rv := list.ResourceVersion
	go func() {
		defer close(w.done)
		for ctx.Err() == nil {
			wi, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true})
			if err != nil {
				if ctx.Err() == nil {
					w.fail(fmt.Errorf("watch pods: %w", err))
				}
				return
			}
			for ev := range wi.ResultChan() {
				if ev.Type == watch.Error {
					w.fail(fmt.Errorf("watch pods: %v", apierrors.FromObject(ev.Object)))
					wi.Stop()
					return
				}
				pod, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				rv = pod.ResourceVersion
				if ev.Type == watch.Bookmark {
					continue
				}
				i, seen := names[pod.Name]
				if !seen {
					if len(names) == n {
						w.fail(fmt.Errorf("more than %d pods (%s)", n, pod.Name))
						continue
					}
					i = len(names)
					names[pod.Name] = i
				}
				w.observeIndex(i, pod, time.Now().UnixNano())
			}
			wi.Stop()
		}
	}()
	return w
}
