// Package benchutil holds what the API benchmarks share: the pool of workers
// that times every call, percentiles, the ConfigMap every benchmark writes, the
// result and its report, and the CPU meter. appliance/e2e/bench and
// appliance/e2e/bench/reference both use it, so that their figures come from
// the same code and compare.
package benchutil

import (
	"flag"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	"github.com/appliance/appliance/appliance"
)

// Workers is the concurrency of every request benchmark and of the etcd floor.
const Workers = 16

// ConfigMap is the object every benchmark writes: a small, typical ConfigMap.
func ConfigMap(name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "bench", "tier": "backend"}},
		Data: map[string]string{
			"config.yaml": "listen: :8080\nlog-level: info\nupstream: http://backend.default.svc.cluster.local:9000\n",
			"feature":     "enabled",
		},
	}
}

// Result is what a pool run measured.
type Result struct {
	Ops     int
	Elapsed time.Duration
	Lat     []time.Duration // sorted
	CPU     CPUUse          // over Elapsed
}

// OpsPerSec is operations completed per second of wall time, all workers together.
func (r Result) OpsPerSec() float64 { return float64(r.Ops) / r.Elapsed.Seconds() }

// Percentile is the p-th (0..1) of sorted latencies, 0 for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

// MS is d in milliseconds.
func MS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Report adds p50-ms, p99-ms, ops/s and the CPU figures (see CPUUse.Report).
func (r Result) Report(b *testing.B) {
	b.ReportMetric(MS(Percentile(r.Lat, 0.50)), "p50-ms")
	b.ReportMetric(MS(Percentile(r.Lat, 0.99)), "p99-ms")
	b.ReportMetric(r.OpsPerSec(), "ops/s")
	r.CPU.Report(b)
}

// Pool runs op once per b.Loop iteration on a fixed pool of Workers goroutines
// and measures each call and the wall time until the last call returned. Any
// error fails the benchmark.
func Pool(b *testing.B, op func(i int) error) Result {
	b.Helper()
	jobs := make(chan int)
	lat := make([][]time.Duration, Workers)
	var (
		wg       sync.WaitGroup
		firstErr atomic.Pointer[error]
	)
	for w := range Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				t0 := time.Now()
				if err := op(i); err != nil {
					firstErr.CompareAndSwap(nil, &err)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	start := time.Now()
	meter := StartCPU()
	n := 0
	for b.Loop() {
		jobs <- n
		n++
	}
	// b.Loop stopped the timer after handing out the last call; the calls still
	// running belong to the measurement too.
	b.StartTimer()
	close(jobs)
	wg.Wait()
	b.StopTimer()
	r := Result{Ops: n, Elapsed: time.Since(start), Lat: slices.Concat(lat...), CPU: meter.Stop()}
	if err := firstErr.Load(); err != nil {
		b.Fatalf("operation failed: %v", *err)
	}
	slices.Sort(r.Lat)
	return r
}

// Setup prepares a benchmark process that runs an appliance in-process: it
// silences klog (the API server logs every request setup at info level) and
// gives the process the GC setting `appliance server` gives itself (GOGC in
// the environment wins, and child processes inherit it). Call it from
// TestMain before m.Run.
func Setup() {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("stderrthreshold", "ERROR")
	klog.SetOutput(io.Discard)
	appliance.TuneGC()
}
