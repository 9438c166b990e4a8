package kubelet

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	resourcehelper "k8s.io/component-helpers/resource"
)

// Thresholds are the kubelet's hard eviction thresholds (--eviction-hard):
// below them the node reports pressure and evicts pods.
type Thresholds struct {
	MemoryAvailable        int64   // bytes; memory.available
	NodefsAvailablePercent float64 // nodefs.available, percent of the disk holding the data dir
	PIDAvailablePercent    float64 // pid.available, percent of pid_max
}

// DefaultThresholds are Kubernetes' defaults: memory.available<100Mi,
// nodefs.available<10%, pid.available<5%.
func DefaultThresholds() Thresholds {
	return Thresholds{MemoryAvailable: 100 << 20, NodefsAvailablePercent: 10, PIDAvailablePercent: 5}
}

// ParseThresholds reads the kubelet's --eviction-hard syntax, e.g.
// "memory.available<100Mi,nodefs.available<10%". Signals not named keep their
// default.
func ParseThresholds(s string) (Thresholds, error) {
	t := DefaultThresholds()
	if strings.TrimSpace(s) == "" {
		return t, nil
	}
	for _, part := range strings.Split(s, ",") {
		signal, value, ok := strings.Cut(strings.TrimSpace(part), "<")
		if !ok {
			return t, fmt.Errorf("eviction threshold %q: want signal<quantity", part)
		}
		pct := strings.HasSuffix(value, "%")
		switch signal {
		case "memory.available":
			if pct {
				f, err := percent(value)
				if err != nil {
					return t, fmt.Errorf("eviction threshold %q: %w", part, err)
				}
				t.MemoryAvailable = int64(f / 100 * float64(memTotal()))
				continue
			}
			q, err := resource.ParseQuantity(value)
			if err != nil {
				return t, fmt.Errorf("eviction threshold %q: %w", part, err)
			}
			t.MemoryAvailable = q.Value()
		case "nodefs.available", "pid.available":
			if !pct {
				return t, fmt.Errorf("eviction threshold %q: give %s as a percentage", part, signal)
			}
			f, err := percent(value)
			if err != nil {
				return t, fmt.Errorf("eviction threshold %q: %w", part, err)
			}
			if signal == "nodefs.available" {
				t.NodefsAvailablePercent = f
			} else {
				t.PIDAvailablePercent = f
			}
		default:
			return t, fmt.Errorf("eviction threshold %q: unknown signal %q (memory.available, nodefs.available, pid.available)", part, signal)
		}
	}
	return t, nil
}

func percent(v string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
	if err != nil || f < 0 || f > 100 {
		return 0, fmt.Errorf("%q is not a percentage", v)
	}
	return f, nil
}

// signals are what the node has left.
type signals struct {
	memAvailable  int64
	diskAvailable float64 // percent
	pidAvailable  float64 // percent
}

func readSignals(dataDir string) signals {
	s := signals{memAvailable: math.MaxInt64, diskAvailable: 100, pidAvailable: 100}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				s.memAvailable = kb * 1024
			}
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dataDir, &st); err == nil && st.Blocks > 0 {
		s.diskAvailable = 100 * float64(st.Bavail) / float64(st.Blocks)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/pid_max"); err == nil {
		max, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if entries, err := os.ReadDir("/proc"); err == nil && max > 0 {
			n := 0
			for _, e := range entries {
				if _, err := strconv.Atoi(e.Name()); err == nil {
					n++
				}
			}
			s.pidAvailable = 100 * float64(max-n) / float64(max)
		}
	}
	return s
}

type evictionState struct {
	mu sync.Mutex
	t  Thresholds
}

// SetEvictionThresholds applies new hard eviction thresholds (a config reload).
func (k *Kubelet) SetEvictionThresholds(t Thresholds) {
	k.eviction.mu.Lock()
	k.eviction.t = t
	k.eviction.mu.Unlock()
}

func (k *Kubelet) thresholds() Thresholds {
	k.eviction.mu.Lock()
	defer k.eviction.mu.Unlock()
	return k.eviction.t
}

// pressure reports the node's Memory/Disk/PID pressure against the thresholds.
func (k *Kubelet) pressure() (mem, disk, pid bool) {
	s, t := readSignals(k.cfg.DataDir), k.thresholds()
	return s.memAvailable < t.MemoryAvailable, s.diskAvailable < t.NodefsAvailablePercent, s.pidAvailable < t.PIDAvailablePercent
}

// evictionLoop evicts one pod at a time while memory or disk stays short, as
// the kubelet's eviction manager does: pods using more than they requested
// first, then by priority, then by usage; BestEffort before Burstable before
// Guaranteed.
func (k *Kubelet) evictionLoop(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		mem, disk, _ := k.pressure()
		if !mem && !disk {
			continue
		}
		resource := "memory"
		if !mem {
			resource = "ephemeral-storage"
		}
		if err := k.evictOne(ctx, resource); err != nil && !errors.Is(err, errNothingToEvict) {
			k.log.Warn("eviction", "err", err)
		}
	}
}

var errNothingToEvict = errors.New("no pod to evict")

func (k *Kubelet) evictOne(ctx context.Context, res string) error {
	type cand struct {
		w        *podWorker
		pod      *corev1.Pod
		usage    int64
		exceeds  bool
		priority int32
		qos      int
	}
	var cands []cand
	k.mu.Lock()
	workers := make([]*podWorker, 0, len(k.workers))
	for _, w := range k.workers {
		workers = append(workers, w)
	}
	k.mu.Unlock()
	for _, w := range workers {
		pod, removed := w.snapshot()
		if pod == nil || removed || pod.DeletionTimestamp != nil || isTerminal(pod.Status.Phase) || w.isEvicted() || criticalPod(pod) {
			continue
		}
		usage := k.podMemoryUsage(ctx, pod)
		req := podRequest(pod, corev1.ResourceMemory)
		if res != "memory" {
			usage, req = k.podDiskUsage(pod), podRequest(pod, corev1.ResourceEphemeralStorage)
		}
		prio := int32(0)
		if pod.Spec.Priority != nil {
			prio = *pod.Spec.Priority
		}
		cands = append(cands, cand{w: w, pod: pod, usage: usage, exceeds: usage > req, priority: prio, qos: qosRank(pod)})
	}
	if len(cands) == 0 {
		return errNothingToEvict
	}
	sort.SliceStable(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.exceeds != b.exceeds {
			return a.exceeds
		}
		if a.qos != b.qos {
			return a.qos < b.qos
		}
		if a.priority != b.priority {
			return a.priority < b.priority
		}
		return a.usage > b.usage
	})
	v := cands[0]
	msg := fmt.Sprintf("The node was low on resource: %s. ", res)
	if res == "memory" {
		msg += fmt.Sprintf("Threshold quantity: %s, available: %s. Container usage: %s.",
			resource.NewQuantity(k.thresholds().MemoryAvailable, resource.BinarySI), resource.NewQuantity(readSignals(k.cfg.DataDir).memAvailable, resource.BinarySI),
			resource.NewQuantity(v.usage, resource.BinarySI))
	}
	k.log.Info("evicting pod", "pod", v.pod.Namespace+"/"+v.pod.Name, "resource", res)
	k.rec.Eventf(v.pod, corev1.EventTypeWarning, "Evicted", "%s", msg)
	v.w.evict(msg)
	return nil
}

// criticalPod: system-node-critical and system-cluster-critical pods are never
// evicted for pressure.
func criticalPod(p *corev1.Pod) bool {
	return p.Spec.Priority != nil && *p.Spec.Priority >= 2000000000
}

func qosRank(p *corev1.Pod) int {
	switch p.Status.QOSClass {
	case corev1.PodQOSBestEffort:
		return 0
	case corev1.PodQOSBurstable:
		return 1
	}
	return 2
}

func podRequest(p *corev1.Pod, name corev1.ResourceName) int64 {
	reqs := podutilRequests(p)
	q := reqs[name]
	return q.Value()
}

func (k *Kubelet) podMemoryUsage(ctx context.Context, p *corev1.Pod) int64 {
	var total int64
	for _, base := range []string{"/sys/fs/cgroup/memory", "/sys/fs/cgroup"} {
		dir := filepath.Join(base, qosCgroup(p))
		for _, f := range []string{"memory.usage_in_bytes", "memory.current"} {
			if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
				n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
				total = max(total, n)
			}
		}
		// runc creates no pod-level cgroup: add up the containers'.
		if entries, err := os.ReadDir(dir); err == nil && total == 0 {
			for _, e := range entries {
				for _, f := range []string{"memory.usage_in_bytes", "memory.current"} {
					if b, err := os.ReadFile(filepath.Join(dir, e.Name(), f)); err == nil {
						n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
						total += n
					}
				}
			}
		}
	}
	return total
}

// podDiskUsage is what a pod writes on the node: its logs and emptyDirs.
func (k *Kubelet) podDiskUsage(p *corev1.Pod) int64 {
	var total int64
	for _, dir := range []string{
		filepath.Join(k.cfg.PodLogsDir, p.Namespace+"_"+p.Name+"_"+string(p.UID)),
		filepath.Join(k.cfg.PodsDir, "pods", string(p.UID), "volumes", "kubernetes.io~empty-dir"),
	} {
		_ = filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
			if err == nil && info.Mode().IsRegular() {
				total += info.Size()
			}
			return nil
		})
	}
	return total
}

func podutilRequests(p *corev1.Pod) corev1.ResourceList {
	return resourcehelper.PodRequests(p, resourcehelper.PodResourcesOptions{})
}

// evict marks the pod for eviction; its worker stops it and reports it Failed
// with reason Evicted.
func (w *podWorker) evict(msg string) {
	w.mu.Lock()
	w.evicted = msg
	w.mu.Unlock()
	w.kickNow()
}

func (w *podWorker) isEvicted() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.evicted != ""
}

// finishEviction kills the pod's containers at once (a hard eviction has no
// grace period) and reports it Failed, reason Evicted, with a DisruptionTarget
// condition, as the kubelet does.
func (w *podWorker) finishEviction(ctx context.Context, pod *corev1.Pod, l *cList, msg string) error {
	zero := int64(0)
	p := pod.DeepCopy()
	p.DeletionGracePeriodSeconds = &zero
	w.releaseSandbox(ctx, p, l)
	l, err := w.k.listPod(ctx, pod.UID)
	if err != nil {
		return err
	}
	st := w.computeStatus(pod, l)
	st.Phase, st.Reason, st.Message = corev1.PodFailed, "Evicted", msg
	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue,
		Reason: "TerminationByKubelet", Message: msg})
	return w.writeStatus(ctx, pod, st)
}
