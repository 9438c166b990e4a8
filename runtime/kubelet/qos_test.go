package kubelet

import (
	"fmt"
	"math"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestOOMScoreAdj(t *testing.T) {
	const gi = int64(1 << 30)
	capacity := 10 * gi
	mem := func(q string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(q)}}
	}
	always := corev1.ContainerRestartPolicyAlways
	pod := func(qos corev1.PodQOSClass, c ...corev1.Container) *corev1.Pod {
		return &corev1.Pod{Spec: corev1.PodSpec{Containers: c}, Status: corev1.PodStatus{QOSClass: qos}}
	}
	for _, tc := range []struct {
		name     string
		pod      *corev1.Pod
		c        int // index in Containers, or -1-i for InitContainers[i]
		capacity int64
		want     int
	}{
		{"Guaranteed", pod(corev1.PodQOSGuaranteed, corev1.Container{Name: "a", Resources: mem("1Gi")}), 0, capacity, -997},
		{"BestEffort", pod(corev1.PodQOSBestEffort, corev1.Container{Name: "a"}), 0, capacity, 1000},
		{"no QoS class is BestEffort, as its cgroup", pod("", corev1.Container{Name: "a"}), 0, capacity, 1000},
		{"node-critical Burstable", func() *corev1.Pod {
			p := pod(corev1.PodQOSBurstable, corev1.Container{Name: "a", Resources: mem("1Mi")})
			p.Spec.PriorityClassName = "system-node-critical"
			return p
		}(), 0, capacity, -997},
		{"Burstable 10% of memory", pod(corev1.PodQOSBurstable, corev1.Container{Name: "a", Resources: mem("1Gi")}), 0, capacity, 900},
		{"Burstable 50% of memory", pod(corev1.PodQOSBurstable, corev1.Container{Name: "a", Resources: mem("5Gi")}), 0, capacity, 500},
		{"Burstable without memory request: clamped to 999", pod(corev1.PodQOSBurstable, corev1.Container{Name: "a"}), 0, capacity, 999},
		{"Burstable tiny request: clamped to 999", pod(corev1.PodQOSBurstable, corev1.Container{Name: "a", Resources: mem("1Mi")}), 0, capacity, 999},
		{"Burstable 99.9% of memory: clamped to 3", pod(corev1.PodQOSBurstable, corev1.Container{Name: "a", Resources: mem("10220Mi")}), 0, capacity, 3},
		{"Burstable all memory: clamped to 3", pod(corev1.PodQOSBurstable, corev1.Container{Name: "a", Resources: mem("10Gi")}), 0, capacity, 3},
		{"Burstable request above capacity: clamped to 3", pod(corev1.PodQOSBurstable, corev1.Container{Name: "a", Resources: mem("20Gi")}), 0, capacity, 3},
		{"Burstable, second container", pod(corev1.PodQOSBurstable, corev1.Container{Name: "a", Resources: mem("1Gi")}, corev1.Container{Name: "b", Resources: mem("2Gi")}), 1, capacity, 800},
		{"Burstable, unknown capacity", pod(corev1.PodQOSBurstable, corev1.Container{Name: "a", Resources: mem("1Gi")}), 0, 0, 999},
		{"sidecar scores no higher than the smallest regular request", func() *corev1.Pod {
			p := pod(corev1.PodQOSBurstable, corev1.Container{Name: "a", Resources: mem("2Gi")}, corev1.Container{Name: "b", Resources: mem("3Gi")})
			p.Spec.InitContainers = []corev1.Container{{Name: "side", RestartPolicy: &always}}
			return p
		}(), -1, capacity, 800},
		{"sidecar with a larger request keeps its own", func() *corev1.Pod {
			p := pod(corev1.PodQOSBurstable, corev1.Container{Name: "a", Resources: mem("1Gi")})
			p.Spec.InitContainers = []corev1.Container{{Name: "side", RestartPolicy: &always, Resources: mem("4Gi")}}
			return p
		}(), -1, capacity, 600},
		{"plain init container", func() *corev1.Pod {
			p := pod(corev1.PodQOSBurstable, corev1.Container{Name: "a", Resources: mem("2Gi")})
			p.Spec.InitContainers = []corev1.Container{{Name: "init"}}
			return p
		}(), -1, capacity, 999},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := func() *corev1.Container {
				if tc.c < 0 {
					return &tc.pod.Spec.InitContainers[-1-tc.c]
				}
				return &tc.pod.Spec.Containers[tc.c]
			}()
			if got := oomScoreAdj(tc.pod, c, tc.capacity); got != tc.want {
				t.Errorf("oomScoreAdj = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestOOMFloor(t *testing.T) {
	own := func(s string) func() ([]byte, error) { return func() ([]byte, error) { return []byte(s), nil } }
	const status = "Name:\tappliance\nCapInh:\t0000000000000000\nCapPrm:\t%s\nCapEff:\t%s\n"
	for _, tc := range []struct {
		name, caps, own string
		want            int
	}{
		{"all capabilities: no floor", "000001ffffffffff", "0\n", math.MinInt},
		{"without CAP_SYS_RESOURCE: own score", "000001fffeffffff", "0\n", 0},
		{"without CAP_SYS_RESOURCE, raised score", "00000000a80425fb", "200\n", 200},
		{"unreadable CapEff: no floor", "zz", "0\n", math.MinInt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := oomFloor(fmt.Sprintf(status, tc.caps, tc.caps), own(tc.own)); got != tc.want {
				t.Errorf("oomFloor = %d, want %d", got, tc.want)
			}
		})
	}
}
