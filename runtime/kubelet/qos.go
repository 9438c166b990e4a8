package kubelet

import (
	"context"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
)

// The kubelet's OOM score adjustments (pkg/kubelet/qos/policy.go), and the
// one containerd's CRI gives the pause container.
const (
	guaranteedOOMScoreAdj = -997
	besteffortOOMScoreAdj = 1000
	sandboxOOMScoreAdj    = -998
)

// oomScoreAdj is the oom_score_adj of a container's processes, as the
// kubelet's GetContainerOOMScoreAdjust computes it: -997 for Guaranteed and
// node-critical pods, 1000 for BestEffort, and for Burstable
// 1000 - 1000*memoryRequest/memCapacity, at least 3 (1000 plus Guaranteed's,
// so a Guaranteed process using all memory still scores lower) and at most
// 999 (below BestEffort). A sidecar (an init container that always
// restarts) scores no higher than the regular container with the smallest
// request. The QoS class is the pod's status.qosClass, as qosCgroup uses it.
// Pod-level resources (spec.resources) are not taken into account.
func oomScoreAdj(pod *corev1.Pod, c *corev1.Container, memCapacity int64) int {
	if pod.Spec.PriorityClassName == "system-node-critical" {
		return guaranteedOOMScoreAdj
	}
	switch pod.Status.QOSClass {
	case corev1.PodQOSGuaranteed:
		return guaranteedOOMScoreAdj
	case corev1.PodQOSBurstable:
	default:
		return besteffortOOMScoreAdj
	}
	if memCapacity <= 0 {
		return besteffortOOMScoreAdj - 1
	}
	adj := 1000 - (1000*c.Resources.Requests.Memory().Value())/memCapacity
	if isSidecar(pod, c) && len(pod.Spec.Containers) > 0 {
		minReq := pod.Spec.Containers[0].Resources.Requests.Memory().Value()
		for _, rc := range pod.Spec.Containers[1:] {
			minReq = min(minReq, rc.Resources.Requests.Memory().Value())
		}
		adj = min(adj, 1000-(1000*minReq)/memCapacity)
	}
	if adj < 1000+guaranteedOOMScoreAdj {
		return 1000 + guaranteedOOMScoreAdj
	}
	if adj >= besteffortOOMScoreAdj {
		return besteffortOOMScoreAdj - 1
	}
	return int(adj)
}

// isSidecar: an init container whose restartPolicy is Always.
func isSidecar(pod *corev1.Pod, c *corev1.Container) bool {
	if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		return false
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == c.Name {
			return true
		}
	}
	return false
}

// withOOMScoreAdj sets the container process's oom_score_adj (runc writes
// it before the process starts); without it, processes inherit the shim's.
// Where the kubelet cannot lower scores (no CAP_SYS_RESOURCE: a rootless or
// nested node), adj is raised to its own score, as containerd's CRI does
// with restrict_oom_score_adj; runc would fail to create the container
// otherwise.
func withOOMScoreAdj(adj int) oci.SpecOpts {
	adj = max(adj, oomScoreAdjFloor())
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Process == nil {
			s.Process = &specs.Process{}
		}
		s.Process.OOMScoreAdj = &adj
		return nil
	}
}

// oomScoreAdjFloor is the lowest oom_score_adj the kubelet can give: no
// limit with CAP_SYS_RESOURCE, else its own (the kernel refuses to lower a
// score below oom_score_adj_min without that capability).
var oomScoreAdjFloor = sync.OnceValue(func() int {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return math.MinInt
	}
	return oomFloor(string(status), func() ([]byte, error) { return os.ReadFile("/proc/self/oom_score_adj") })
})

// capSysResource is CAP_SYS_RESOURCE's bit in /proc/<pid>/status CapEff.
const capSysResource = 24

func oomFloor(status string, ownScore func() ([]byte, error)) int {
	for _, line := range strings.Split(status, "\n") {
		hex, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
		if err != nil || caps&(1<<capSysResource) != 0 {
			return math.MinInt
		}
		b, err := ownScore()
		if err != nil {
			return math.MinInt
		}
		own, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return math.MinInt
		}
		return own
	}
	return math.MinInt
}
