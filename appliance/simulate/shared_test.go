package simulate_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/appliance/appliance/appliance/simulate"
	"github.com/appliance/appliance/appliance/testcluster"
)

// TestSharedPodInformer: two simulators that share one pod informer each run
// the pods bound to their own nodes, and one closing leaves the other running
// its pods (the informer is the caller's, not the first simulator's).
func TestSharedPodInformer(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := testcluster.Start(t)
	ctx := context.Background()
	podInf := coreinformers.NewPodInformer(c.Client, metav1.NamespaceAll, 0, cache.Indexers{})
	stop := make(chan struct{})
	defer close(stop)
	go podInf.Run(stop)

	start := func(prefix string) *simulate.Simulator {
		sim, err := simulate.Start(ctx, simulate.Config{
			REST: c.REST, Nodes: 1, NamePrefix: prefix, PodInformer: podInf, Log: testLogger(t),
		})
		if err != nil {
			t.Fatal(err)
		}
		return sim
	}
	a, b := start("a-"), start("b-")
	defer b.Close()

	running := func(p *corev1.Pod) bool {
		ready := podCondition(p, corev1.PodReady)
		return p.Status.Phase == corev1.PodRunning && ready != nil && ready.Status == corev1.ConditionTrue
	}
	createPod(t, c.Client, "on-a", corev1.RestartPolicyAlways)
	createPod(t, c.Client, "on-b", corev1.RestartPolicyAlways)
	bind(t, c.Client, "on-a", "a-0")
	bind(t, c.Client, "on-b", "b-0")
	waitPod(t, c.Client, "on-a", running)
	waitPod(t, c.Client, "on-b", running)

	a.Close()
	createPod(t, c.Client, "after", corev1.RestartPolicyAlways)
	bind(t, c.Client, "after", "b-0")
	waitPod(t, c.Client, "after", running)
}
