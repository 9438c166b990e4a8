package daemonset_test

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"testing"

	"github.com/appliance/appliance/appliance/controllers/controllerutil/simtest"
	"github.com/appliance/appliance/appliance/controllers/daemonset"
)

// startSim binds each daemon pod to the node its affinity names and starts
// every pod.
func startSim(t *testing.T, client kubernetes.Interface, ns string) *simtest.Sim {
	t.Helper()
	target := func(p *corev1.Pod) (string, bool) {
		node, err := daemonset.TargetNode(p)
		return node, err == nil
	}
	return simtest.Start(t, client, ns, target, func(*corev1.Pod) bool { return true })
}

var (
	podReady   = simtest.PodReady
	createNode = simtest.CreateNode
	eventually = simtest.Eventually
	watchPods  = simtest.WatchPods
)
