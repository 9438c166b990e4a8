package kubelet

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
	"k8s.io/utils/ptr"
)

// cpuSamples turn cumulative CPU time into a rate (usageNanoCores), from the
// previous reading of the same node or container.
type cpuSamples struct {
	mu   sync.Mutex
	last map[string]cpuSample
}

type cpuSample struct {
	at time.Time
	ns uint64
}

func (s *cpuSamples) rate(key string, at time.Time, ns uint64) *uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		s.last = map[string]cpuSample{}
	}
	prev, ok := s.last[key]
	s.last[key] = cpuSample{at: at, ns: ns}
	if !ok || !at.After(prev.at) || ns < prev.ns {
		return nil
	}
	return ptr.To(uint64(float64(ns-prev.ns) / at.Sub(prev.at).Seconds()))
}

// Summary is the kubelet's /stats/summary: node and per-container CPU and
// memory from the kernel (/proc, cgroups), and the node's filesystem.
func (s *streams) Summary(ctx context.Context) (*statsv1alpha1.Summary, error) {
	k := s.k
	now := time.Now()
	mt := metav1.NewTime(now)
	node := statsv1alpha1.NodeStats{NodeName: k.cfg.NodeName, StartTime: metav1.NewTime(k.startedAt)}
	if ns, ok := nodeCPU(); ok {
		node.CPU = &statsv1alpha1.CPUStats{Time: mt, UsageCoreNanoSeconds: ptr.To(ns), UsageNanoCores: k.cpu.rate("node", now, ns)}
	}
	sig := readSignals(k.cfg.DataDir)
	total := uint64(memTotal())
	avail := uint64(max(sig.memAvailable, 0))
	node.Memory = &statsv1alpha1.MemoryStats{Time: mt, AvailableBytes: ptr.To(avail), UsageBytes: ptr.To(total - min(avail, total)), WorkingSetBytes: ptr.To(total - min(avail, total))}
	var st syscall.Statfs_t
	if err := syscall.Statfs(k.cfg.DataDir, &st); err == nil {
		capB, availB := st.Blocks*uint64(st.Bsize), st.Bavail*uint64(st.Bsize)
		node.Fs = &statsv1alpha1.FsStats{Time: mt, CapacityBytes: ptr.To(capB), AvailableBytes: ptr.To(availB), UsedBytes: ptr.To(capB - availB)}
	}
	sum := &statsv1alpha1.Summary{Node: node}

	k.mu.Lock()
	workers := make([]*podWorker, 0, len(k.workers))
	for _, w := range k.workers {
		workers = append(workers, w)
	}
	k.mu.Unlock()
	for _, w := range workers {
		pod, removed := w.snapshot()
		if pod == nil || removed {
			continue
		}
		l, err := k.listPod(ctx, pod.UID)
		if err != nil {
			continue
		}
		ps := statsv1alpha1.PodStats{
			PodRef:    statsv1alpha1.PodReference{Name: pod.Name, Namespace: pod.Namespace, UID: string(pod.UID)},
			StartTime: metav1.NewTime(w.startTime),
		}
		var podCPU, podMem, podWS uint64
		var podRate uint64
		for name, rs := range l.containers {
			r := rs[0]
			if !r.running {
				continue
			}
			cs := statsv1alpha1.ContainerStats{Name: name, StartTime: metav1.NewTime(r.started)}
			cg := r.labels[labelCgroup]
			if ns, ok := cgroupCPU(cg); ok {
				rate := k.cpu.rate(r.id, now, ns)
				cs.CPU = &statsv1alpha1.CPUStats{Time: mt, UsageCoreNanoSeconds: ptr.To(ns), UsageNanoCores: rate}
				podCPU += ns
				if rate != nil {
					podRate += *rate
				}
			}
			if usage, ws, ok := cgroupMemory(cg); ok {
				cs.Memory = &statsv1alpha1.MemoryStats{Time: mt, UsageBytes: ptr.To(usage), WorkingSetBytes: ptr.To(ws)}
				podMem += usage
				podWS += ws
			}
			ps.Containers = append(ps.Containers, cs)
		}
		ps.CPU = &statsv1alpha1.CPUStats{Time: mt, UsageCoreNanoSeconds: ptr.To(podCPU), UsageNanoCores: ptr.To(podRate)}
		ps.Memory = &statsv1alpha1.MemoryStats{Time: mt, UsageBytes: ptr.To(podMem), WorkingSetBytes: ptr.To(podWS)}
		sum.Pods = append(sum.Pods, ps)
	}
	return sum, nil
}

// nodeCPU is the CPU time the node spent busy, from /proc/stat (in USER_HZ
// ticks of 10 ms).
func nodeCPU() (uint64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, false
	}
	var busy uint64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseUint(v, 10, 64)
		busy += n
	}
	return busy * uint64(10*time.Millisecond), true
}

// cgroupCPU is a container's cumulative CPU time in nanoseconds (cgroup v1
// cpuacct.usage, or v2 cpu.stat usage_usec).
func cgroupCPU(cg string) (uint64, bool) {
	if cg == "" {
		return 0, false
	}
	if b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/cpuacct", cg, "cpuacct.usage")); err == nil {
		n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		return n, err == nil
	}
	if v, ok := statValue(filepath.Join("/sys/fs/cgroup", cg, "cpu.stat"), "usage_usec"); ok {
		return v * 1000, true
	}
	return 0, false
}

// cgroupMemory is a container's memory usage and working set (usage minus
// inactive file pages), as cAdvisor computes it.
func cgroupMemory(cg string) (usage, workingSet uint64, ok bool) {
	if cg == "" {
		return 0, 0, false
	}
	for _, c := range []struct{ usage, stat, inactive string }{
		{filepath.Join("/sys/fs/cgroup/memory", cg, "memory.usage_in_bytes"), filepath.Join("/sys/fs/cgroup/memory", cg, "memory.stat"), "total_inactive_file"},
		{filepath.Join("/sys/fs/cgroup", cg, "memory.current"), filepath.Join("/sys/fs/cgroup", cg, "memory.stat"), "inactive_file"},
	} {
		b, err := os.ReadFile(c.usage)
		if err != nil {
			continue
		}
		u, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			continue
		}
		inactive, _ := statValue(c.stat, c.inactive)
		return u, u - min(inactive, u), true
	}
	return 0, 0, false
}

func statValue(path, key string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+" "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
