package statefulset_test

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"testing"

	"github.com/appliance/appliance/appliance/controllers/controllerutil/simtest"
)

// startSim binds every pod to node; ready decides which start (nil: none).
func startSim(t *testing.T, client kubernetes.Interface, ns, node string, ready func(*corev1.Pod) bool) *simtest.Sim {
	t.Helper()
	return simtest.Start(t, client, ns, func(*corev1.Pod) (string, bool) { return node, true }, ready)
}

var (
	createNode = simtest.CreateNode
	eventually = simtest.Eventually
	watchPods  = simtest.WatchPods
)
