package pods

import (
	"context"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/appliance/appliance/appliance/testcluster"
)

// TestHostNetworkAndTCPProbe: a hostNetwork pod shares the node's network
// namespace (its IP is the node's, its hostname the machine's, the pod
// bridge is among its links), and a pod whose
// tcpSocket readiness probe targets a port nobody listens on never gets Ready
// while one whose port answers does.
func TestHostNetworkAndTCPProbe(t *testing.T) {
	c, _ := testcluster.StartWithAgent(t)
	ctx := context.Background()
	ns := "default"

	host := busyboxPod("hostnet", "sleep", "3600")
	host.Spec.HostNetwork = true
	listening := busyboxPod("listening", "sh", "-c", httpdScript)
	listening.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 1,
		ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}}
	deaf := busyboxPod("deaf", "sleep", "3600")
	deaf.Spec.Containers[0].ReadinessProbe = &corev1.Probe{PeriodSeconds: 1,
		ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9999)}}}
	for _, p := range []*corev1.Pod{host, listening, deaf} {
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	p := waitPod(t, c, ns, "hostnet", "Running", running)
	if p.Status.PodIP != p.Status.HostIP {
		t.Fatalf("hostNetwork pod IP %s, want the node's %s", p.Status.PodIP, p.Status.HostIP)
	}
	// The node's network is the one the pod network is built in (the
	// test's namespace, --agent-netns): its bridge is there.
	if out := c.Kubectl(t, "exec", "hostnet", "--", "cat", "/proc/net/dev"); !strings.Contains(out, "appliance0") {
		t.Fatalf("hostNetwork pod does not see the node's bridge appliance0:\n%s", out)
	}
	want, _ := os.Hostname()
	if got := strings.TrimSpace(c.Kubectl(t, "exec", "hostnet", "--", "hostname")); got != want {
		t.Fatalf("hostname in a hostNetwork pod = %q, want the machine's %q", got, want)
	}

	waitPod(t, c, ns, "listening", "Ready through its tcpSocket probe", running)
	d := waitPod(t, c, ns, "deaf", "Running but not Ready", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 &&
			p.Status.ContainerStatuses[0].State.Running != nil && !p.Status.ContainerStatuses[0].Ready
	})
	for _, cond := range d.Status.Conditions {
		if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
			t.Fatalf("pod with a failing tcpSocket probe is Ready")
		}
	}
	evs, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=deaf,reason=Unhealthy"})
	if err != nil || len(evs.Items) == 0 {
		t.Fatalf("no Unhealthy event for the failing readiness probe: %v", err)
	}
}
