package scheduler

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// BenchmarkSchedule measures one scheduling decision on 500 nodes holding
// 5,000 pods, for plain pods and for pods with anti-affinity and spread, as in
// the benchmark mix. It is the pure part of a cycle: no API calls.
func BenchmarkSchedule(b *testing.B) {
	var nodes []*corev1.Node
	for i := range 500 {
		nodes = append(nodes, mkNode(fmt.Sprintf("n-%03d", i), "32", "128Gi", withLabels("zone", fmt.Sprintf("z%d", i%5))))
	}
	var pods []*corev1.Pod
	for i := range 5000 {
		pods = append(pods, mkPod(fmt.Sprintf("p-%d", i), "100m", "128Mi", on(fmt.Sprintf("n-%03d", i%500)),
			podLabels("app", fmt.Sprintf("app-%d", i%50)), ownedBy(fmt.Sprintf("rs-%d", i%50))))
	}
	cases := []struct {
		name string
		pod  *corev1.Pod
	}{
		{"plain", mkPod("new", "200m", "256Mi")},
		{"replica (default spread)", mkPod("new", "200m", "256Mi", podLabels("app", "app-1"), ownedBy("rs-1"))},
		{"anti-affinity", mkPod("new", "200m", "256Mi", podLabels("app", "app-1"), affinity(&corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{Weight: 10, PodAffinityTerm: term(corev1.LabelHostname, "app", "app-1")}},
		}}))},
		{"zone spread", mkPod("new", "200m", "256Mi", podLabels("app", "app-1"), spread(1, "zone", corev1.DoNotSchedule, "app", "app-1"))},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			s := NewSnapshot(nodes, pods)
			b.ResetTimer()
			for range b.N {
				if d := s.Schedule(bc.pod); d.Node == "" {
					b.Fatal(d.Message)
				}
			}
		})
	}
}
