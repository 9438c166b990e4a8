package kubelet

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// The pod cgroup hierarchy, as the kubelet's QoS and pod container managers
// lay it out (cgroupfs driver):
//
//	/kubepods                    cpu shares and memory limit of the node's allocatable
//	/kubepods/burstable          cpu shares of every Burstable pod's cpu requests
//	/kubepods/besteffort         the least cpu shares (2): it only gets idle CPU
//	/kubepods[/qos]/pod<uid>     the pod's requests as shares; its limits when
//	                             every container declares one
//	.../pod<uid>/<container>     each container's own (runc sets it, spec.go)
const (
	minShares   = 2
	maxShares   = 262144
	quotaPeriod = 100000 // µs, the CFS period the kubelet uses
	minQuota    = 1000
)

// milliCPUToShares converts a CPU request to cpu.shares as the kubelet does.
func milliCPUToShares(milli int64) uint64 {
	if milli == 0 {
		return minShares
	}
	return uint64(min(max(milli*1024/1000, minShares), maxShares))
}

// milliCPUToQuota converts a CPU limit to a CFS quota for quotaPeriod.
func milliCPUToQuota(milli int64) int64 {
	return max(milli*quotaPeriod/1000, minQuota)
}

// podAmount is the pod's total of one resource (requests or limits) as the
// scheduler and the kubelet count it: its containers and restartable init
// containers (sidecars) together, or the largest init container with the
// sidecars started before it, whichever is more: in millicores for cpu, in
// bytes otherwise. declared says whether every container gave a value.
func podAmount(pod *corev1.Pod, name corev1.ResourceName, limits bool) (amount int64, declared bool) {
	declared = true
	get := func(c *corev1.Container) int64 {
		rl := c.Resources.Requests
		if limits {
			rl = c.Resources.Limits
		}
		q, ok := rl[name]
		if !ok || q.IsZero() {
			declared = false
			return 0
		}
		if name == corev1.ResourceCPU {
			return q.MilliValue()
		}
		return q.Value()
	}
	var sum, sidecars, initMax int64
	for i := range pod.Spec.Containers {
		sum += get(&pod.Spec.Containers[i])
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		v := get(c)
		if isSidecar(pod, c) {
			sidecars += v
			continue
		}
		initMax = max(initMax, v+sidecars)
	}
	return max(sum+sidecars, initMax), declared
}

// podCgroupResources is what the kubelet sets on pod<uid>: the requests as
// cpu shares (the least for BestEffort), and for Guaranteed pods and Burstable
// ones whose every container has a limit, the summed limits as a CFS quota and
// a memory limit, so that the pod as a whole never exceeds what it declared.
func podCgroupResources(pod *corev1.Pod) *specs.LinuxResources {
	cpuReq, _ := podAmount(pod, corev1.ResourceCPU, false)
	shares := milliCPUToShares(cpuReq)
	if pod.Status.QOSClass == corev1.PodQOSBestEffort || pod.Status.QOSClass == "" {
		shares = minShares
	}
	res := &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &shares}}
	if pod.Status.QOSClass == corev1.PodQOSBestEffort || pod.Status.QOSClass == "" {
		return res
	}
	if cpuLim, ok := podAmount(pod, corev1.ResourceCPU, true); ok {
		quota, period := milliCPUToQuota(cpuLim), uint64(quotaPeriod)
		res.CPU.Quota, res.CPU.Period = &quota, &period
	}
	if memLim, ok := podAmount(pod, corev1.ResourceMemory, true); ok {
		res.Memory = &specs.LinuxMemory{Limit: &memLim}
	}
	return res
}

// qosCgroupResources is what the kubelet sets on /kubepods and its QoS
// classes: the node's allocatable CPU and memory at the top, the sum of the
// running Burstable pods' cpu requests on burstable, the least on besteffort.
func qosCgroupResources(pods []*corev1.Pod, allocatable corev1.ResourceList) (root, burstable, besteffort *specs.LinuxResources) {
	rootShares := milliCPUToShares(allocatable.Cpu().MilliValue())
	root = &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &rootShares}}
	if mem := allocatable.Memory().Value(); mem > 0 {
		root.Memory = &specs.LinuxMemory{Limit: &mem}
	}
	var burstableMilli int64
	for _, p := range pods {
		if p.Status.QOSClass != corev1.PodQOSBurstable || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		milli, _ := podAmount(p, corev1.ResourceCPU, false)
		burstableMilli += milli
	}
	bShares, beShares := milliCPUToShares(burstableMilli), uint64(minShares)
	return root, &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &bShares}}, &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: &beShares}}
}

// ensurePodCgroup creates (or updates) the QoS cgroups and the pod's cgroup
// with their limits before the pod's sandbox starts in it.
func (k *Kubelet) ensurePodCgroup(pod *corev1.Pod) error {
	if err := k.updateQOSCgroups(pod); err != nil {
		return err
	}
	return setCgroup(qosCgroup(pod), podCgroupResources(pod))
}

// updateQOSCgroups sets /kubepods and its QoS classes from the pods the
// kubelet runs; extra is a pod about to start that the informer may not
// count yet.
func (k *Kubelet) updateQOSCgroups(extra *corev1.Pod) error {
	k.qosMu.Lock()
	defer k.qosMu.Unlock()
	k.mu.Lock()
	store := k.podStore
	k.mu.Unlock()
	var pods []*corev1.Pod
	if store != nil {
		for _, obj := range store.List() {
			if p := obj.(*corev1.Pod); extra == nil || p.UID != extra.UID {
				pods = append(pods, p)
			}
		}
	}
	if extra != nil {
		pods = append(pods, extra)
	}
	root, burstable, besteffort := qosCgroupResources(pods, k.allocatable())
	// Each write costs a few syscalls per controller; most pods change
	// nothing here, so only what changed since the last update is written.
	for _, c := range []struct {
		path string
		res  *specs.LinuxResources
	}{{"/kubepods", root}, {"/kubepods/burstable", burstable}, {"/kubepods/besteffort", besteffort}} {
		if k.qosWritten[c.path] != nil && reflect.DeepEqual(k.qosWritten[c.path], c.res) {
			continue
		}
		if err := setCgroup(c.path, c.res); err != nil {
			return err
		}
		if k.qosWritten == nil {
			k.qosWritten = map[string]*specs.LinuxResources{}
		}
		k.qosWritten[c.path] = c.res
	}
	return nil
}

// setCgroup creates the cgroup at path (below the cgroup root) in the cpu and
// memory controllers and writes res to it, on cgroup v1 or v2.
func setCgroup(path string, res *specs.LinuxResources) error {
	if cgroups.Mode() == cgroups.Unified {
		if _, err := cgroup2.NewManager("/sys/fs/cgroup", path, cgroup2.ToResources(res)); err != nil {
			return fmt.Errorf("cgroup %s: %w", path, err)
		}
		return nil
	}
	_, err := cgroup1.New(cgroup1.StaticPath(path), res, cgroup1.WithHierarchy(cpuAndMemory))
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", path, err)
	}
	return nil
}

// cpuAndMemory narrows the v1 hierarchies to the two that carry pod and QoS
// limits; runc creates the containers' cgroups in all of them.
func cpuAndMemory() ([]cgroup1.Subsystem, error) {
	all, err := cgroup1.Default()
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(s cgroup1.Subsystem) bool {
		return s.Name() != cgroup1.Cpu && s.Name() != cgroup1.Memory
	}), nil
}

// removePodCgroups removes the pod's cgroup (kubepods[/qos]/pod<uid>) in every
// hierarchy once its containers are gone, as the kubelet's pod container
// manager does: runc removes only the containers' own cgroups, so without this
// every pod leaves empty directories behind. A cgroup still in use stays
// (rmdir fails with EBUSY).
func removePodCgroups(uid types.UID) {
	roots := []string{"/sys/fs/cgroup"}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		roots, _ = filepath.Glob("/sys/fs/cgroup/*") // v1: a hierarchy per controller
	}
	for _, root := range roots {
		for _, qos := range []string{"", "burstable", "besteffort"} {
			_ = os.Remove(filepath.Join(root, "kubepods", qos, "pod"+string(uid)))
		}
	}
}
