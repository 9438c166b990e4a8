package kubelet

import (
	"testing"

	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// res builds requirements from "cpu=250m,memory=64Mi"-like pairs.
func res(requests, limits map[corev1.ResourceName]string) corev1.ResourceRequirements {
	conv := func(m map[corev1.ResourceName]string) corev1.ResourceList {
		if m == nil {
			return nil
		}
		rl := corev1.ResourceList{}
		for k, v := range m {
			rl[k] = resource.MustParse(v)
		}
		return rl
	}
	return corev1.ResourceRequirements{Requests: conv(requests), Limits: conv(limits)}
}

func TestPodCgroupResources(t *testing.T) {
	cpuMem := func(cpu, mem string) map[corev1.ResourceName]string {
		return map[corev1.ResourceName]string{corev1.ResourceCPU: cpu, corev1.ResourceMemory: mem}
	}
	always := corev1.ContainerRestartPolicyAlways
	pod := func(qos corev1.PodQOSClass, init []corev1.Container, c ...corev1.Container) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{InitContainers: init, Containers: c}, Status: corev1.PodStatus{QOSClass: qos}}
	}
	type want struct {
		shares uint64
		quota  int64 // 0: none
		memory int64 // 0: none
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want want
	}{
		{"BestEffort: least shares, no limits", pod(corev1.PodQOSBestEffort, nil, corev1.Container{Name: "a"}), want{shares: 2}},
		{"no QoS class is BestEffort", pod("", nil, corev1.Container{Name: "a"}), want{shares: 2}},
		{"Guaranteed, two containers: summed", pod(corev1.PodQOSGuaranteed, nil,
			corev1.Container{Name: "a", Resources: res(cpuMem("250m", "64Mi"), cpuMem("250m", "64Mi"))},
			corev1.Container{Name: "b", Resources: res(cpuMem("500m", "32Mi"), cpuMem("500m", "32Mi"))}),
			want{shares: 768, quota: 75000, memory: 96 << 20}},
		{"Burstable, one container without limits: shares only", pod(corev1.PodQOSBurstable, nil,
			corev1.Container{Name: "a", Resources: res(cpuMem("100m", "10Mi"), cpuMem("200m", "20Mi"))},
			corev1.Container{Name: "b", Resources: res(cpuMem("100m", "10Mi"), nil)}),
			want{shares: 204}},
		{"Burstable, cpu limits everywhere, memory not", pod(corev1.PodQOSBurstable, nil,
			corev1.Container{Name: "a", Resources: res(nil, map[corev1.ResourceName]string{corev1.ResourceCPU: "1"})},
			corev1.Container{Name: "b", Resources: res(map[corev1.ResourceName]string{corev1.ResourceCPU: "1m"}, map[corev1.ResourceName]string{corev1.ResourceCPU: "1m"})}),
			want{shares: 2, quota: 100100}},
		{"a tiny limit gets the least quota", pod(corev1.PodQOSGuaranteed, nil,
			corev1.Container{Name: "a", Resources: res(cpuMem("1m", "1Mi"), cpuMem("1m", "1Mi"))}),
			want{shares: 2, quota: 1000, memory: 1 << 20}},
		{"a larger init container sets the pod's size", pod(corev1.PodQOSGuaranteed,
			[]corev1.Container{{Name: "init", Resources: res(cpuMem("2", "1Gi"), cpuMem("2", "1Gi"))}},
			corev1.Container{Name: "a", Resources: res(cpuMem("500m", "64Mi"), cpuMem("500m", "64Mi"))}),
			want{shares: 2048, quota: 200000, memory: 1 << 30}},
		{"a sidecar adds to the containers and to later init containers", pod(corev1.PodQOSGuaranteed,
			[]corev1.Container{
				{Name: "sidecar", RestartPolicy: &always, Resources: res(cpuMem("100m", "16Mi"), cpuMem("100m", "16Mi"))},
				{Name: "init", Resources: res(cpuMem("900m", "100Mi"), cpuMem("900m", "100Mi"))},
			},
			corev1.Container{Name: "a", Resources: res(cpuMem("500m", "64Mi"), cpuMem("500m", "64Mi"))}),
			want{shares: 1024, quota: 100000, memory: 116 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := podCgroupResources(tc.pod)
			got := want{shares: *r.CPU.Shares}
			if r.CPU.Quota != nil {
				got.quota = *r.CPU.Quota
				if *r.CPU.Period != 100000 {
					t.Errorf("period %d, want 100000", *r.CPU.Period)
				}
			}
			if r.Memory != nil {
				got.memory = *r.Memory.Limit
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestQOSCgroupResources(t *testing.T) {
	burstable := func(cpu string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Resources: res(map[corev1.ResourceName]string{corev1.ResourceCPU: cpu}, nil)}}},
			Status: corev1.PodStatus{QOSClass: corev1.PodQOSBurstable, Phase: phase},
		}
	}
	guaranteed := &corev1.Pod{
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Resources: res(map[corev1.ResourceName]string{corev1.ResourceCPU: "1"}, map[corev1.ResourceName]string{corev1.ResourceCPU: "1"})}}},
		Status: corev1.PodStatus{QOSClass: corev1.PodQOSGuaranteed, Phase: corev1.PodRunning},
	}
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1900m"), corev1.ResourceMemory: resource.MustParse("8Gi")}
	shares := func(r *specs.LinuxResources) uint64 { return *r.CPU.Shares }

	root, b, be := qosCgroupResources([]*corev1.Pod{
		burstable("250m", corev1.PodRunning), burstable("500m", corev1.PodPending),
		burstable("4", corev1.PodSucceeded), guaranteed,
	}, alloc)
	if got := shares(root); got != 1945 {
		t.Errorf("kubepods shares %d, want 1945 (1900m allocatable)", got)
	}
	if root.Memory == nil || *root.Memory.Limit != 8<<30 {
		t.Errorf("kubepods memory %+v, want the 8Gi allocatable", root.Memory)
	}
	if got := shares(b); got != 768 {
		t.Errorf("burstable shares %d, want 768 (750m of running and pending Burstable pods; finished and Guaranteed ones not counted)", got)
	}
	if got := shares(be); got != 2 {
		t.Errorf("besteffort shares %d, want 2", got)
	}
	if _, b, _ := qosCgroupResources(nil, alloc); shares(b) != 2 {
		t.Errorf("burstable shares with no Burstable pods %d, want the least, 2", shares(b))
	}
}

// On cgroup v2 (most homelab distributions; this project's CI machine is v1)
// the same settings become cpu.weight, cpu.max and memory.max.
func TestPodCgroupResourcesOnV2(t *testing.T) {
	res250m := res(map[corev1.ResourceName]string{corev1.ResourceCPU: "250m", corev1.ResourceMemory: "64Mi"},
		map[corev1.ResourceName]string{corev1.ResourceCPU: "250m", corev1.ResourceMemory: "64Mi"})
	g := cgroup2.ToResources(podCgroupResources(&corev1.Pod{
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Resources: res250m}}},
		Status: corev1.PodStatus{QOSClass: corev1.PodQOSGuaranteed},
	}))
	// 256 shares weigh less than a default cgroup's 100 (1024 shares) and more
	// than the least, 1 (the exact curve is the library's, as runc's).
	if g.CPU == nil || g.CPU.Weight == nil || *g.CPU.Weight <= 1 || *g.CPU.Weight >= 100 || g.CPU.Max != "25000 100000" {
		t.Errorf("Guaranteed 250m pod on v2: cpu %+v, want a weight between 1 and 100 and max \"25000 100000\"", g.CPU)
	}
	if g.Memory == nil || g.Memory.Max == nil || *g.Memory.Max != 64<<20 {
		t.Errorf("Guaranteed 64Mi pod on v2: memory %+v, want max 67108864", g.Memory)
	}
	_, _, be := qosCgroupResources(nil, corev1.ResourceList{})
	if w := cgroup2.ToResources(be).CPU.Weight; w == nil || *w != 1 {
		t.Errorf("besteffort on v2: cpu.weight %v, want 1 (the least)", w)
	}
}
