// Package bench measures the appliance's API server over real HTTPS (client-go,
// client certificates) against an in-process appliance whose embedded etcd fsyncs
// to disk, and the floor under it: raw etcd puts of the same size to the same etcd.
//
//	go test -count=1 -run '^$' -bench . -benchtime 5s ./appliance/e2e/bench/
//
// Every benchmark reports p50-ms and p99-ms (latency of one operation) and ops/s
// (operations completed per second of wall time, all workers together), and
// cpu-self-cores and cpu-other-cores: the cores this process (appliance and
// clients) and the rest of the machine used meanwhile.
//
// sched_bench_test.go has the scale benchmarks of the control plane: the
// scheduler placing pods on simulated nodes, and a Deployment from create to
// all replicas available. They run small unless APPLIANCE_BENCH_FULL=1.
//
// docs/PERFORMANCE.md has the figures and the commands.
package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/appliance/appliance/appliance/e2e/bench/benchutil"
	"github.com/appliance/appliance/appliance/testcluster"
)

const (
	// workers is the concurrency of every request benchmark and of the etcd floor.
	workers = benchutil.Workers
	// watchers is the number of concurrent watches in BenchmarkWatchFanout.
	watchers = 1000
	// listSize is the number of objects BenchmarkList lists.
	listSize = 100
)

func TestMain(m *testing.M) {
	benchutil.Setup()

	code := m.Run()
	shared.tb.cleanup()
	os.Exit(code)
}

// shared is one appliance for every benchmark, so that BenchmarkEtcdPutFloor puts
// to the very etcd that served BenchmarkCreate.
var shared struct {
	once sync.Once
	tb   mainTB
	c    *testcluster.Cluster
	err  error

	createOpsPerSec float64 // BenchmarkCreate/protobuf, for the floor ratio
	valueSize       int     // bytes of a stored ConfigMap like those of BenchmarkCreate
	runs            atomic.Int64
}

func cluster(b *testing.B) *testcluster.Cluster {
	b.Helper()
	shared.once.Do(func() {
		defer func() {
			if r := recover(); r != nil {
				f, ok := r.(fatal)
				if !ok {
					panic(r)
				}
				shared.err = f
			}
		}()
		shared.c = testcluster.Start(&shared.tb, testcluster.APIOnly)
		warmUp(shared.c)
	})
	if shared.err != nil {
		b.Fatalf("start appliance: %v", shared.err)
	}
	return shared.c
}

// warmUp creates some ConfigMaps from every worker before the first benchmark, so
// that connections, caches and the heap are in their steady state for all of them.
func warmUp(c *testcluster.Cluster) {
	rc := rest.CopyConfig(c.REST)
	rc.QPS, rc.Burst = -1, 0
	rc.ContentType = runtime.ContentTypeProtobuf
	cs := kubernetes.NewForConfigOrDie(rc)
	ctx := context.Background()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench-warmup"}}, metav1.CreateOptions{}); err != nil {
		panic(fatal("warm-up: " + err.Error()))
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				name := fmt.Sprintf("cm-%d-%d", w, i)
				_, _ = cs.CoreV1().ConfigMaps("bench-warmup").Create(ctx, configMap(name), metav1.CreateOptions{})
				_, _ = cs.CoreV1().ConfigMaps("bench-warmup").Get(ctx, name, metav1.GetOptions{})
			}
		}()
	}
	wg.Wait()
}

// client is a clientset without client-side rate limiting, speaking contentType.
func client(b *testing.B, c *testcluster.Cluster, contentType string) kubernetes.Interface {
	b.Helper()
	rc := rest.CopyConfig(c.REST)
	rc.QPS, rc.Burst = -1, 0
	rc.ContentType = contentType
	rc.Timeout = time.Minute
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		b.Fatal(err)
	}
	return cs
}

// namespace creates a namespace of its own for one benchmark run.
func namespace(b *testing.B, cs kubernetes.Interface, prefix string) string {
	b.Helper()
	name := fmt.Sprintf("%s-%d", prefix, shared.runs.Add(1))
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		b.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

// The pool, the ConfigMap, percentiles and the result are shared with the
// reference benchmark (appliance/e2e/bench/reference) through benchutil.
var (
	configMap  = benchutil.ConfigMap
	pool       = benchutil.Pool
	percentile = benchutil.Percentile
	ms         = benchutil.MS
)

// BenchmarkCreate: ConfigMap creates from 16 workers, in protobuf (what
// controllers and client-go programs configured for it send) and JSON (kubectl's
// and most SDKs' encoding).
func BenchmarkCreate(b *testing.B) {
	c := cluster(b)
	for _, ct := range []struct{ name, contentType string }{
		{"protobuf", runtime.ContentTypeProtobuf},
		{"json", runtime.ContentTypeJSON},
	} {
		b.Run(ct.name, func(b *testing.B) {
			cs := client(b, c, ct.contentType)
			ns := namespace(b, cs, "bench-create")
			cms := cs.CoreV1().ConfigMaps(ns)
			r := pool(b, func(i int) error {
				_, err := cms.Create(context.Background(), configMap("cm-"+strconv.Itoa(i)), metav1.CreateOptions{})
				return err
			})
			r.Report(b)
			if ct.contentType == runtime.ContentTypeProtobuf {
				shared.createOpsPerSec = r.OpsPerSec()
				shared.valueSize = storedSize(b, c, ns, "cm-0")
			}
		})
	}
}

// BenchmarkGet: Get of one ConfigMap by name (a consistent read: the generic
// registry reads it from etcd).
func BenchmarkGet(b *testing.B) {
	c := cluster(b)
	cs := client(b, c, runtime.ContentTypeProtobuf)
	ns := namespace(b, cs, "bench-get")
	cms := cs.CoreV1().ConfigMaps(ns)
	if _, err := cms.Create(context.Background(), configMap("target"), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	pool(b, func(int) error {
		_, err := cms.Get(context.Background(), "target", metav1.GetOptions{})
		return err
	}).Report(b)
}

// BenchmarkList: a List of a namespace holding 100 ConfigMaps (a consistent list).
func BenchmarkList(b *testing.B) {
	c := cluster(b)
	cs := client(b, c, runtime.ContentTypeProtobuf)
	ns := namespace(b, cs, "bench-list")
	cms := cs.CoreV1().ConfigMaps(ns)
	for i := range listSize {
		if _, err := cms.Create(context.Background(), configMap("cm-"+strconv.Itoa(i)), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	pool(b, func(int) error {
		list, err := cms.List(context.Background(), metav1.ListOptions{})
		if err == nil && len(list.Items) != listSize {
			err = fmt.Errorf("listed %d ConfigMaps, want %d", len(list.Items), listSize)
		}
		return err
	}).Report(b)
}

// BenchmarkWatchFanout: 1,000 concurrent watches of one namespace; every
// iteration creates one ConfigMap, and every watcher must receive every one of
// them, in order (a watcher that misses one, or whose watch ends early, fails the
// benchmark). The watches are spread over 20 HTTP/2 connections (the server allows
// 100 streams per connection). Latency is from just before the create is sent to
// the watcher having decoded the event; ops/s is events per second (each delivered
// 1,000 times), measured until the last watcher had the last event;
// deliveries/s is ops/s x 1,000.
func BenchmarkWatchFanout(b *testing.B) {
	c := cluster(b)
	cs := client(b, c, runtime.ContentTypeProtobuf)
	ns := namespace(b, cs, "bench-fanout")
	list, err := cs.CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	const conns = 20
	clients := make([]kubernetes.Interface, conns)
	for i := range clients {
		rc := rest.CopyConfig(c.REST)
		rc.QPS, rc.Burst = -1, 0
		rc.ContentType = runtime.ContentTypeProtobuf
		// A transport of its own (client-go shares one per TLS configuration).
		tlsCfg, err := rest.TLSConfigFor(rc)
		if err != nil {
			b.Fatal(err)
		}
		rc.TLSClientConfig = rest.TLSClientConfig{}
		rc.Transport = &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true}
		if clients[i], err = kubernetes.NewForConfig(rc); err != nil {
			b.Fatal(err)
		}
	}

	type watcher struct {
		got  int
		lat  []time.Duration
		miss error
	}
	ws := make([]*watcher, watchers)
	var done sync.WaitGroup
	for i := range ws {
		w, err := clients[i%conns].CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
		if err != nil {
			b.Fatalf("watch %d: %v", i, err)
		}
		ws[i] = &watcher{}
		done.Add(1)
		go func(me *watcher) {
			defer done.Done()
			defer w.Stop()
			for ev := range w.ResultChan() {
				if ev.Type != watch.Added {
					me.miss = fmt.Errorf("event %s %v", ev.Type, ev.Object)
					return
				}
				cm := ev.Object.(*corev1.ConfigMap)
				if cm.Name == "end" {
					return
				}
				if cm.Name != "ev-"+strconv.Itoa(me.got) {
					me.miss = fmt.Errorf("got %s, want ev-%d", cm.Name, me.got)
					return
				}
				sent, _ := strconv.ParseInt(cm.Annotations["sent"], 10, 64)
				me.lat = append(me.lat, time.Since(time.Unix(0, sent)))
				me.got++
			}
			me.miss = errors.New("watch ended early")
		}(ws[i])
	}

	cms := cs.CoreV1().ConfigMaps(ns)
	create := func(name string) {
		cm := configMap(name)
		cm.Annotations = map[string]string{"sent": strconv.FormatInt(time.Now().UnixNano(), 10)}
		if _, err := cms.Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
			b.Fatalf("create %s: %v", name, err)
		}
	}
	start := time.Now()
	meter := startCPU()
	n := 0
	for b.Loop() {
		create("ev-" + strconv.Itoa(n))
		n++
	}
	b.StartTimer() // until every watcher has every event
	create("end")
	finished := make(chan struct{})
	go func() { done.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(2 * time.Minute):
		cancel()
		<-finished
	}
	elapsed := time.Since(start)
	cpu := meter.stop()
	b.StopTimer()
	var lat []time.Duration
	missed := 0
	for i, w := range ws {
		if w.miss != nil || w.got != n {
			if missed == 0 {
				b.Errorf("watcher %d: %d of %d events: %v", i, w.got, n, w.miss)
			}
			missed++
		}
		lat = append(lat, w.lat...)
	}
	if missed > 0 {
		b.Fatalf("%d of %d watchers missed events", missed, watchers)
	}
	slices.Sort(lat)
	r := benchutil.Result{Ops: n, Elapsed: elapsed, Lat: lat, CPU: benchutil.CPUUse(cpu)}
	r.Report(b)
	b.ReportMetric(r.OpsPerSec()*watchers, "deliveries/s")
}

// BenchmarkEtcdPutFloor: raw puts to the appliance's own etcd, of values the size
// of the ConfigMaps BenchmarkCreate stored (their protobuf encoding), from the
// same 16 workers, each to a new key as a create is, through a clientv3 client
// over TLS with the API server's etcd client certificate (grpc) and through the
// in-process client the API server uses (in-process). No API server can create
// faster than this; api/etcd is BenchmarkCreate/protobuf's ops/s divided by
// each one's.
func BenchmarkEtcdPutFloor(b *testing.B) {
	c := cluster(b)
	if shared.valueSize == 0 {
		cs := client(b, c, runtime.ContentTypeProtobuf)
		ns := namespace(b, cs, "bench-floor")
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(context.Background(), configMap("cm-0"), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		shared.valueSize = storedSize(b, c, ns, "cm-0")
	}
	// grpc: an etcd client over TLS, as any program outside the appliance
	// puts. in-process: the client the API server itself stores through,
	// calling the member directly; the least a put can cost here.
	for _, fc := range []struct {
		name string
		cli  func(b *testing.B) *clientv3.Client
	}{
		{"grpc", func(b *testing.B) *clientv3.Client { return c.EtcdClient(b) }},
		{"in-process", func(*testing.B) *clientv3.Client { return c.App.EtcdInProcess() }},
	} {
		b.Run(fc.name, func(b *testing.B) {
			cli := fc.cli(b)
			value := string(make([]byte, shared.valueSize))
			prefix := fmt.Sprintf("/bench-floor/%d/", shared.runs.Add(1))
			r := pool(b, func(i int) error {
				_, err := cli.Put(context.Background(), prefix+strconv.Itoa(i), value)
				return err
			})
			r.Report(b)
			b.ReportMetric(float64(shared.valueSize), "value-bytes")
			if shared.createOpsPerSec > 0 {
				b.ReportMetric(shared.createOpsPerSec/r.OpsPerSec(), "api/etcd")
			}
		})
	}
}

// storedSize is the size of a ConfigMap's value in etcd: what the API server wrote.
func storedSize(b *testing.B, c *testcluster.Cluster, ns, name string) int {
	b.Helper()
	cli := c.EtcdClient(b)
	resp, err := cli.Get(context.Background(), "/registry/core/configmaps/"+ns+"/"+name)
	if err != nil {
		b.Fatal(err)
	}
	if len(resp.Kvs) != 1 {
		b.Fatalf("configmap %s/%s not in etcd", ns, name)
	}
	return len(resp.Kvs[0].Value)
}

// fatal is how mainTB stops testcluster.Start.
type fatal string

func (f fatal) Error() string { return string(f) }

// mainTB is the testing.TB the shared appliance lives in: it outlives every
// benchmark and is cleaned up by TestMain. It implements what testcluster.Start
// uses; the embedded (nil) interface only supplies testing.TB's unexported method.
type mainTB struct {
	testing.TB
	mu       sync.Mutex
	cleanups []func()
}

func (m *mainTB) Helper()         {}
func (m *mainTB) Name() string    { return "bench" }
func (m *mainTB) Failed() bool    { return false }
func (m *mainTB) Log(args ...any) { fmt.Fprintln(os.Stderr, args...) }
func (m *mainTB) Logf(f string, args ...any) {
	fmt.Fprintf(os.Stderr, f+"\n", args...)
}
func (m *mainTB) Error(args ...any)            { panic(fatal(fmt.Sprint(args...))) }
func (m *mainTB) Errorf(f string, args ...any) { panic(fatal(fmt.Sprintf(f, args...))) }
func (m *mainTB) Fatal(args ...any)            { panic(fatal(fmt.Sprint(args...))) }
func (m *mainTB) Fatalf(f string, args ...any) { panic(fatal(fmt.Sprintf(f, args...))) }
func (m *mainTB) FailNow()                     { panic(fatal("FailNow")) }

func (m *mainTB) Cleanup(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cleanups = append(m.cleanups, f)
}

func (m *mainTB) TempDir() string {
	dir, err := os.MkdirTemp("", "appliance-bench-")
	if err != nil {
		panic(fatal(err.Error()))
	}
	m.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// cleanup runs the cleanups, last registered first, as testing does.
func (m *mainTB) cleanup() {
	m.mu.Lock()
	fs := m.cleanups
	m.cleanups = nil
	m.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}
