package dns_test

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/appliance/appliance/appliance/controllers/controllerutil/servicetest"
	"github.com/appliance/appliance/appliance/controllers/controllerutil/simtest"
	"github.com/appliance/appliance/appliance/testcluster"
	"github.com/appliance/appliance/dns"
)

// TestIntegration: against a real appliance (etcd, our API server, its
// EndpointSlice controller), a Service and a headless Service resolve
// through our server. No kubelet runs: pods are bound to a registered node
// and their IP and readiness written through pods/status.
func TestIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := testcluster.Start(t)
	const node, ns = "dns-node", "dns-it"
	ctx := context.Background()
	simtest.CreateNode(t, c.Client, node, nil)
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	web := map[string]string{"app": "web"}
	servicetest.CreatePod(t, c.Client, node, ns, "a", "10.42.9.1", true, web, 8080)
	servicetest.CreatePod(t, c.Client, node, ns, "b", "10.42.9.2", true, web, 8080)
	servicetest.CreatePod(t, c.Client, node, ns, "c", "10.42.9.3", false, web, 8080)
	// A StatefulSet-style pod: hostname and subdomain give it a name under
	// the headless Service.
	pet := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pet", Namespace: ns, Labels: web},
		Spec: corev1.PodSpec{NodeName: node, Hostname: "pet-0", Subdomain: "web-hl",
			Containers: []corev1.Container{{Name: "web", Image: "busybox", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
	}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, pet, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	servicetest.SetPodStatus(t, c.Client, ns, "pet", "10.42.9.4", true)

	svc := servicetest.CreateService(t, c.Client, servicetest.Service(ns, "web", web, intstr.FromString("http")))
	hl := servicetest.Service(ns, "web-hl", web, intstr.FromString("http"))
	hl.Spec.ClusterIP = corev1.ClusterIPNone
	servicetest.CreateService(t, c.Client, hl)

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	pc.Close()
	s, err := dns.Start(ctx, dns.Config{Client: c.Client, Listen: []string{"127.0.0.1:0"}, Upstreams: []string{dead},
		Log: servicetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	select {
	case <-s.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("dns not ready within 30s")
	}
	addr := s.Addrs()[0]

	await := func(name string, qtype uint16, want []string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		var got []string
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for time.Now().Before(deadline) {
			m := new(mdns.Msg)
			m.SetQuestion(name, qtype)
			r, err := mdns.Exchange(m, addr)
			if err != nil {
				t.Fatal(err)
			}
			got = nil
			for _, rr := range r.Answer {
				switch v := rr.(type) {
				case *mdns.A:
					got = append(got, v.A.String())
				case *mdns.SRV:
					got = append(got, v.Target)
				case *mdns.PTR:
					got = append(got, v.Ptr)
				}
			}
			slices.Sort(got)
			if slices.Equal(got, want) {
				return
			}
			<-tick.C
		}
		t.Fatalf("%s %s: %q, want %q within 30s", name, mdns.TypeToString[qtype], got, want)
	}
	await("web.dns-it.svc.cluster.local.", mdns.TypeA, []string{svc.Spec.ClusterIP})
	await("web-hl.dns-it.svc.cluster.local.", mdns.TypeA, []string{"10.42.9.1", "10.42.9.2", "10.42.9.4"})
	await("pet-0.web-hl.dns-it.svc.cluster.local.", mdns.TypeA, []string{"10.42.9.4"})
	await("_http._tcp.web-hl.dns-it.svc.cluster.local.", mdns.TypeSRV, []string{
		"10-42-9-1.web-hl.dns-it.svc.cluster.local.", "10-42-9-2.web-hl.dns-it.svc.cluster.local.", "pet-0.web-hl.dns-it.svc.cluster.local."})
	rev, _ := mdns.ReverseAddr(svc.Spec.ClusterIP)
	await(rev, mdns.TypePTR, []string{"web.dns-it.svc.cluster.local."})
	// The default Service the API server makes.
	k, err := c.Client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	await("kubernetes.default.svc.cluster.local.", mdns.TypeA, []string{k.Spec.ClusterIP})

	// Pod c turns ready: it joins the headless answer.
	servicetest.SetPodStatus(t, c.Client, ns, "c", "10.42.9.3", true)
	await("web-hl.dns-it.svc.cluster.local.", mdns.TypeA, []string{"10.42.9.1", "10.42.9.2", "10.42.9.3", "10.42.9.4"})
}
