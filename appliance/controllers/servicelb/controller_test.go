package servicelb_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/controllers/controllerutil/servicetest"
	"github.com/appliance/appliance/appliance/controllers/controllerutil/simtest"
	"github.com/appliance/appliance/appliance/controllers/servicelb"
	"github.com/appliance/appliance/appliance/simulate"
	"github.com/appliance/appliance/appliance/testcluster"
)

func node(name, internal, external string, ready bool, lbls map[string]string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}}
	if internal != "" {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: internal})
	}
	if external != "" {
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeExternalIP, Address: external})
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}
	return n
}

func lb(name string, created int, ports ...int32) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name,
		CreationTimestamp: metav1.NewTime(time.Unix(int64(created), 0))},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
	for _, p := range ports {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: p, Protocol: corev1.ProtocolTCP})
	}
	return s
}

func render(a servicelb.Assignment) string {
	if a.Conflict != "" {
		return "pending: " + a.Conflict
	}
	var ips []string
	for _, in := range a.Ingress {
		ips = append(ips, in.IP)
	}
	return strings.Join(ips, ",")
}

func TestAssign(t *testing.T) {
	nodes := []*corev1.Node{
		node("b", "192.0.2.12", "", true, nil),
		node("a", "192.0.2.11", "", true, nil),
		node("ext", "10.0.0.5", "198.51.100.7", true, nil),
		node("down", "192.0.2.13", "", false, nil),
		node("sim", "10.250.0.1", "", true, map[string]string{simulate.SimulatedLabel: "true"}),
		node("noaddr", "", "", true, nil),
	}
	other := lb("other-class", 0, 80)
	other.Spec.LoadBalancerClass = ptr.To("example.com/metal")
	udp := lb("dns", 5, 53)
	udp.Spec.Ports[0].Protocol = corev1.ProtocolUDP
	dnsTCP := lb("dns-tcp", 6, 53)
	plain := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "plain"}}
	for _, tc := range []struct {
		name     string
		services []*corev1.Service
		nodes    []*corev1.Node
		want     map[string]string
	}{
		{"ready real nodes, external address first, sorted", []*corev1.Service{lb("web", 1, 80)}, nodes,
			map[string]string{"default/web": "192.0.2.11,192.0.2.12,198.51.100.7"}},
		{"oldest keeps the port", []*corev1.Service{lb("new", 2, 80, 443), lb("old", 1, 80)}, nodes,
			map[string]string{"default/old": "192.0.2.11,192.0.2.12,198.51.100.7", "default/new": "pending: port 80/TCP is already used by LoadBalancer service default/old"}},
		{"same number, other protocol", []*corev1.Service{udp, dnsTCP}, nodes,
			map[string]string{"default/dns": "192.0.2.11,192.0.2.12,198.51.100.7", "default/dns-tcp": "192.0.2.11,192.0.2.12,198.51.100.7"}},
		{"no node, no address", []*corev1.Service{lb("web", 1, 80)}, []*corev1.Node{nodes[3]},
			map[string]string{"default/web": "pending: no Ready node has an address"}},
		{"another class is left alone, a plain service gets none", []*corev1.Service{other, plain}, nodes,
			map[string]string{"default/plain": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := servicelb.Assign(tc.services, tc.nodes)
			if len(got) != len(tc.want) {
				t.Errorf("assigned %d services, want %d: %v", len(got), len(tc.want), got)
			}
			for k, want := range tc.want {
				if g := render(got[k]); g != want {
					t.Errorf("%s: %q, want %q", k, g, want)
				}
			}
		})
	}
}

// setAddress gives a node an InternalIP, as its kubelet reports it.
func setAddress(t *testing.T, client kubernetes.Interface, name, ip string) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := client.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}
		_, err = client.CoreV1().Nodes().UpdateStatus(context.Background(), n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestServiceLBIntegration(t *testing.T) {
	c := testcluster.Start(t, testcluster.Without("service-lb"))
	ctx := context.Background()
	simtest.CreateNode(t, c.Client, "lb-a", nil)
	setAddress(t, c.Client, "lb-a", "192.0.2.21")
	factory := informers.NewSharedInformerFactory(c.Client, 0)
	ctl := servicelb.New(c.Client, factory, servicetest.Logger(t))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); ctl.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })

	svcs := c.Client.CoreV1().Services("default")
	create := func(name string) {
		t.Helper()
		_, err := svcs.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Port: 8443, Protocol: corev1.ProtocolTCP}},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	ingress := func(name, want string) {
		t.Helper()
		simtest.Eventually(t, 30*time.Second, fmt.Sprintf("%s has ingress %q", name, want), func() (bool, string) {
			s, err := svcs.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			var ips []string
			for _, in := range s.Status.LoadBalancer.Ingress {
				ips = append(ips, in.IP)
			}
			got := strings.Join(ips, ",")
			return got == want, "ingress " + got
		})
	}

	create("first")
	ingress("first", "192.0.2.21")
	// kubectl shows the address instead of <pending>.
	if out := c.Kubectl(t, "get", "svc", "first"); !strings.Contains(out, "192.0.2.21") {
		t.Errorf("kubectl get svc first:\n%s", out)
	}

	simtest.CreateNode(t, c.Client, "lb-b", nil)
	setAddress(t, c.Client, "lb-b", "192.0.2.22")
	ingress("first", "192.0.2.21,192.0.2.22")

	create("second")
	simtest.Eventually(t, 30*time.Second, "a SyncLoadBalancerFailed event for second", func() (bool, string) {
		evs, err := c.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=second"})
		if err != nil {
			return false, err.Error()
		}
		for _, e := range evs.Items {
			if e.Reason == "SyncLoadBalancerFailed" && strings.Contains(e.Message, "port 8443/TCP is already used by LoadBalancer service default/first") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events", len(evs.Items))
	})
	ingress("second", "")

	if err := svcs.Delete(ctx, "first", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ingress("second", "192.0.2.21,192.0.2.22")

	// A LoadBalancer turned ClusterIP loses its address.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := svcs.Get(ctx, "second", metav1.GetOptions{})
		if err != nil {
			return err
		}
		s.Spec.Type = corev1.ServiceTypeClusterIP
		s.Spec.AllocateLoadBalancerNodePorts = nil
		s.Spec.ExternalTrafficPolicy = ""
		for i := range s.Spec.Ports {
			s.Spec.Ports[i].NodePort = 0
		}
		_, err = svcs.Update(ctx, s, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ingress("second", "")
}
