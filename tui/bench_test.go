package tui

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"
)

// scaleChanges is a cluster of 500 nodes and 5,000 pods, fed directly.
func scaleChanges(nodes, pods int) []Change {
	var ch []Change
	for i := range nodes {
		n := fmt.Sprintf("node-%03d", i)
		ch = append(ch, Change{Kind: KindNode, Key: n, Obj: &Node{Name: n, Ready: "Ready", CPUMilli: 8000, MemBytes: 32 << 30, MaxPods: 110}})
		ch = append(ch, Change{Kind: KindLease, Key: "kube-node-lease/" + n, Obj: &Lease{Namespace: "kube-node-lease", Name: n, Renewed: t0, Duration: 40 * time.Second}})
	}
	for i := range pods {
		p := benchPod(i, nodes, 0)
		ch = append(ch, Change{Kind: KindPod, Key: p.Key(), Obj: p})
	}
	for i := range pods / 10 {
		w := &Workload{Kind: "Deployment", Namespace: fmt.Sprintf("ns-%02d", i%20), Name: fmt.Sprintf("app-%04d", i), Desired: 10, Ready: 10}
		ch = append(ch, Change{Kind: w.Kind, Key: w.Key(), Obj: w})
	}
	return ch
}

func benchPod(i, nodes, gen int) *Pod {
	at := t0.Add(-time.Duration(i) * time.Second)
	p := &Pod{Namespace: fmt.Sprintf("ns-%02d", i%20), Name: fmt.Sprintf("app-%04d-%05d", i/10, i), UID: fmt.Sprint("uid-", i),
		Node: fmt.Sprintf("node-%03d", i%nodes), IP: fmt.Sprintf("10.42.%d.%d", i/250, i%250), Phase: "Running", Status: "Running",
		Ready: 1, Total: 1, Restarts: gen, Created: at, ScheduledAt: at.Add(time.Second), SandboxAt: at.Add(2 * time.Second),
		StartedAt: at.Add(3 * time.Second), ReadyAt: at.Add(4 * time.Second), Containers: []string{"app"}, CPUMilli: 100, MemBytes: 64 << 20}
	if gen%2 == 1 {
		p.Status, p.Ready, p.ReadyAt, p.WaitingReason = "CrashLoopBackOff", 0, time.Time{}, "CrashLoopBackOff"
	}
	return p
}

func benchModel(b *testing.B, w, h int) *Model {
	m := New(Options{Backend: &fakeBackend{}, Now: fixedNow})
	m.Update(windowSize(w, h))
	m.Update(BatchMsg{Changes: scaleChanges(500, 5000)})
	return m
}

// reportP99 adds the 99th percentile of the samples as a metric.
func reportP99(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	b.ReportMetric(float64(samples[len(samples)*99/100].Microseconds())/1000, "p99-ms")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
}

// BenchmarkRenderFrame draws one frame of each view with 5,000 pods on 500
// nodes, after the data changed (so rows are rebuilt, as after every batch).
func BenchmarkRenderFrame(b *testing.B) {
	for _, v := range []struct {
		name string
		key  string
	}{{"overview", "1"}, {"flow", "2"}, {"workloads", "3"}, {"pods", "4"}} {
		b.Run(v.name, func(b *testing.B) {
			m := benchModel(b, 160, 48)
			typeKeys(m, v.key)
			var samples []time.Duration
			for b.Loop() {
				start := time.Now()
				m.store.Version++ // data changed: rows rebuild
				m.refresh()
				_ = m.View()
				samples = append(samples, time.Since(start))
			}
			reportP99(b, samples)
		})
	}
}

// BenchmarkUpdateBurst applies a burst of 1,000 pod changes as one batch (as
// the source delivers them) and draws the frame that follows.
func BenchmarkUpdateBurst(b *testing.B) {
	for _, v := range []struct {
		name string
		key  string
	}{{"flow", "2"}, {"pods", "4"}} {
		b.Run(v.name, func(b *testing.B) {
			m := benchModel(b, 160, 48)
			typeKeys(m, v.key)
			gen := 0
			var samples []time.Duration
			for b.Loop() {
				gen++
				burst := make([]Change, 1000)
				for i := range burst {
					p := benchPod((gen*1000+i)%5000, 500, gen)
					burst[i] = Change{Kind: KindPod, Key: p.Key(), Obj: p}
				}
				start := time.Now()
				m.Update(BatchMsg{Changes: burst})
				_ = m.View()
				samples = append(samples, time.Since(start))
			}
			reportP99(b, samples)
		})
	}
}
