package pods

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"os/exec"

	"github.com/appliance/appliance/appliance"
	"github.com/appliance/appliance/appliance/testcluster"
	rtnetwork "github.com/appliance/appliance/runtime/network"
)

// upstreamDNS plays the machine's resolver on 127.0.0.1 (UDP), answering
// outside.example. with a documentation address that nothing dials.
func upstreamDNS(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		if q := r.Question[0]; strings.EqualFold(q.Name, "outside.example.") && q.Qtype == mdns.TypeA {
			m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.ParseIP("192.0.2.10")})
		} else {
			m.Rcode = mdns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte(fmt.Sprintf("nameserver [127.0.0.1]:%d\n", pc.LocalAddr().(*net.UDPAddr).Port)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// holdPort53 plays a DNS server of the node's own (Pi-hole, dnsmasq) that
// holds port 53 of every address, UDP and TCP, in the node's namespace:
// the cluster DNS must start and answer beside it.
func holdPort53(t *testing.T, netnsPath string) {
	t.Helper()
	err := rtnetwork.InNetNS(netnsPath, func() error {
		pc, err := net.ListenPacket("udp4", "0.0.0.0:53")
		if err != nil {
			return err
		}
		t.Cleanup(func() { pc.Close() })
		ln, err := net.Listen("tcp4", "0.0.0.0:53")
		if err != nil {
			return err
		}
		t.Cleanup(func() { ln.Close() })
		return nil
	})
	if err != nil {
		t.Fatalf("hold port 53 in the node namespace: %v", err)
	}
}

// TestServicesAndDNS: a Deployment behind a Service is reached from a pod by
// the Service's name (cluster DNS through the kube-dns Service) and through
// its ClusterIP, across both replicas; a NodePort answers on the node; names
// outside the cluster are forwarded to the node's resolver. A DNS server of
// the node's own holds port 53 throughout.
func TestServicesAndDNS(t *testing.T) {
	resolv := upstreamDNS(t)
	c, node := testcluster.StartWithAgent(t, func(cfg *appliance.Config) {
		cfg.ResolvConf = resolv
		holdPort53(t, cfg.AgentNetNS)
	})
	ctx := context.Background()
	ns := "default"
	labels := map[string]string{"app": "web"}
	if _, err := c.Client.AppsV1().Deployments(ns).Create(ctx, httpdDeployment(2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc, err := c.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: labels,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	headless, err := c.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web-pods"},
		Spec: corev1.ServiceSpec{
			ClusterIP: corev1.ClusterIPNone,
			Selector:  labels,
			Ports:     []corev1.ServicePort{{Name: "http", Port: 8080}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	client := busyboxPod("client", "sleep", "3600")
	// A hostNetwork pod that still wants cluster names (an ingress
	// controller's setting): its queries leave from the node itself (the
	// test's node namespace).
	hostClient := busyboxPod("hostclient", "sleep", "3600")
	hostClient.Spec.HostNetwork = true
	hostClient.Spec.DNSPolicy = corev1.DNSClusterFirstWithHostNet
	for _, p := range []*corev1.Pod{client, hostClient} {
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitPod(t, c, ns, "client", "Running", running)
	waitPod(t, c, ns, "hostclient", "Running", running)

	// Both replicas ready behind the Service.
	var podIPs []string
	pollUntil(t, 120*time.Second, "two ready endpoints for web", func() (bool, error) {
		list, err := c.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
		if err != nil {
			return false, nil
		}
		podIPs = podIPs[:0]
		for _, s := range list.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready {
					podIPs = append(podIPs, e.Addresses...)
				}
			}
		}
		return len(podIPs) == 2, nil
	})

	// The node's LAN: a veth to a namespace of the test's own playing a
	// machine on it (198.51.100.254), with the node's default route through
	// it, as a real node has one. The node's LAN address is neither its
	// InternalIP nor the pod gateway.
	lan, _ := testcluster.NetNS(t)
	for _, args := range [][]string{
		{"-n", node, "link", "add", "uplink", "type", "veth", "peer", "name", "downlink", "netns", lan},
		{"-n", node, "addr", "add", "198.51.100.1/24", "dev", "uplink"},
		{"-n", node, "link", "set", "uplink", "up"},
		{"-n", lan, "addr", "add", "198.51.100.254/24", "dev", "downlink"},
		{"-n", lan, "link", "set", "downlink", "up"},
		{"-n", node, "route", "add", "default", "via", "198.51.100.254"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}

	inPod := func(args ...string) (string, error) {
		out, stderr, err := c.TryKubectl(t, nil, append([]string{"exec", "client", "--"}, args...)...)
		return out + stderr, err
	}

	t.Run("kube-dns", func(t *testing.T) {
		dnsSvc, err := c.Client.CoreV1().Services("kube-system").Get(ctx, "kube-dns", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the cluster DNS service: %v", err)
		}
		if dnsSvc.Spec.ClusterIP != c.Config.ClusterDNS.String() {
			t.Fatalf("kube-dns clusterIP %s, want %s", dnsSvc.Spec.ClusterIP, c.Config.ClusterDNS)
		}
	})

	t.Run("name resolves to the ClusterIP", func(t *testing.T) {
		// The pod's resolv.conf names 10.43.0.10 and the namespace's search
		// path, so the short name works.
		var out string
		pollUntil(t, 30*time.Second, "nslookup web from the pod", func() (bool, error) {
			out, _ = inPod("nslookup", "web")
			return strings.Contains(out, svc.Spec.ClusterIP), fmt.Errorf("%s", out)
		})
		if !strings.Contains(out, "web.default.svc.cluster.local") {
			t.Errorf("nslookup web:\n%s\nwant the full name web.default.svc.cluster.local", out)
		}
	})

	t.Run("from a hostNetwork pod too (ClusterFirstWithHostNet)", func(t *testing.T) {
		pollUntil(t, 30*time.Second, "nslookup web from the hostNetwork pod", func() (bool, error) {
			out, stderr, _ := c.TryKubectl(t, nil, "exec", "hostclient", "--", "nslookup", "web.default.svc.cluster.local")
			return strings.Contains(out, svc.Spec.ClusterIP), fmt.Errorf("%s%s", out, stderr)
		})
	})

	t.Run("headless name resolves to the pods", func(t *testing.T) {
		var out string
		pollUntil(t, 30*time.Second, "nslookup web-pods lists both pod IPs", func() (bool, error) {
			out, _ = inPod("nslookup", headless.Name+".default.svc.cluster.local")
			return strings.Contains(out, podIPs[0]) && strings.Contains(out, podIPs[1]), fmt.Errorf("%s", out)
		})
	})

	t.Run("by name through the ClusterIP to both replicas", func(t *testing.T) {
		seen := map[string]bool{}
		re := regexp.MustCompile(`served-by-web-[a-z0-9-]+`)
		pollUntil(t, 60*time.Second, "both replicas answer http://web", func() (bool, error) {
			// busybox-static's wget crashes (SIGSEGV) on Debian 12; nc speaks
			// the HTTP request instead, resolving the name the same way.
			out, err := inPod("sh", "-c", `printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 web 80`)
			if err != nil {
				return false, fmt.Errorf("%v: %s (seen %v)", err, out, seen)
			}
			if m := re.FindString(out); m != "" {
				seen[m] = true
			}
			return len(seen) == 2, nil
		})
	})

	t.Run("a pod reaches itself through its service (hairpin)", func(t *testing.T) {
		list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil || len(list.Items) == 0 {
			t.Fatalf("web pods: %v", err)
		}
		self := list.Items[0].Name
		pollUntil(t, 60*time.Second, self+" answers itself through http://web", func() (bool, error) {
			out, stderr, err := c.TryKubectl(t, nil, "exec", self, "--", "sh", "-c", `printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 3 web 80`)
			return err == nil && strings.Contains(out, "served-by-"+self), fmt.Errorf("%v: %s%s", err, out, stderr)
		})
	})

	t.Run("NodePort on the node and from the LAN", func(t *testing.T) {
		port := svc.Spec.Ports[0].NodePort
		for _, from := range []struct{ netns, addr string }{{node, "10.42.0.1"}, {lan, "198.51.100.1"}} {
			pollUntil(t, 30*time.Second, fmt.Sprintf("node port %d answers at %s from %s", port, from.addr, from.netns), func() (bool, error) {
				out, err := httpGet(from.netns, fmt.Sprintf("http://%s:%d/", from.addr, port))
				return err == nil && strings.HasPrefix(out, "served-by-web-"), fmt.Errorf("%v: %s", err, out)
			})
		}
	})

	t.Run("names outside the cluster are forwarded", func(t *testing.T) {
		var out string
		pollUntil(t, 30*time.Second, "nslookup outside.example from the pod", func() (bool, error) {
			out, _ = inPod("nslookup", "outside.example")
			return strings.Contains(out, "192.0.2.10"), fmt.Errorf("%s", out)
		})
		if out, err := inPod("nslookup", "missing.example"); err == nil {
			t.Errorf("nslookup missing.example succeeded:\n%s", out)
		}
	})

	t.Run("a service without endpoints refuses at once", func(t *testing.T) {
		// Traffic to a ClusterIP nobody serves follows the default route
		// and meets the REJECT rule on its way.
		empty, err := c.Client.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "nobody"},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "nobody"},
				Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		pollUntil(t, 30*time.Second, "connection refused for a service without endpoints", func() (bool, error) {
			out, err := inPod("sh", "-c", "nc -w 5 "+empty.Spec.ClusterIP+" 80 </dev/null")
			return err != nil && strings.Contains(out, "refused"), fmt.Errorf("%v: %s", err, out)
		})
	})
}
