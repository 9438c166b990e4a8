package netrules

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// Fixtures: a Service with one port and a slice of endpoints, changed by
// small mutators so each case says only what it is about.

const testNode = "node-a"

func testService(name string, mutate ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: "10.43.0.10", ClusterIPs: []string{"10.43.0.10"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
		},
	}
	for _, m := range mutate {
		m(s)
	}
	return s
}

// ep is an endpoint of a test slice: ip, node, and conditions ("" ready;
// "notready"; "terminating" = serving and terminating; "gone" = neither).
type ep struct{ ip, node, state string }

func testSlice(svc, name string, port int32, eps ...ep) *discoveryv1.EndpointSlice {
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "ns", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(port), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}
	for _, e := range eps {
		c := discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}
		switch e.state {
		case "notready":
			c.Ready, c.Serving = ptr.To(false), ptr.To(false)
		case "terminating":
			c.Ready, c.Terminating = ptr.To(false), ptr.To(true)
		case "gone":
			c.Ready, c.Serving, c.Terminating = ptr.To(false), ptr.To(false), ptr.To(true)
		}
		node := e.node
		if node == "" {
			node = testNode
		}
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{e.ip}, NodeName: ptr.To(node), Conditions: c})
	}
	return sl
}

func snapshot(objs ...any) Snapshot {
	s := Snapshot{
		NodeName:    testNode,
		NodeIPs:     []netip.Addr{netip.MustParseAddr("192.0.2.1")},
		ClusterCIDR: netip.MustParsePrefix("10.42.0.0/16"),
	}
	for _, o := range objs {
		switch v := o.(type) {
		case *corev1.Service:
			s.Services = append(s.Services, v)
		case *discoveryv1.EndpointSlice:
			s.EndpointSlices = append(s.EndpointSlices, v)
		default:
			panic(fmt.Sprintf("snapshot: %T", o))
		}
	}
	return s
}

// Chain names of ns/<svc>:http over TCP, as kube-proxy names them.
func svcChain(svc string) string { return prefixSVC + portProtoHash("ns/"+svc+":http", "tcp") }
func svlChain(svc string) string { return prefixSVL + portProtoHash("ns/"+svc+":http", "tcp") }
func extChain(svc string) string { return prefixEXT + portProtoHash("ns/"+svc+":http", "tcp") }
func sepChain(svc, addr string) string {
	return endpointChainName("ns/"+svc+":http", "tcp", addr)
}

// TestRenderClusterIP pins the whole output for the common case, so the
// format (what `iptables-save` shows a user) changes only on purpose.
func TestRenderClusterIP(t *testing.T) {
	got := string(Render(snapshot(testService("web"), testSlice("web", "web-1", 8080, ep{ip: "10.42.0.3"}, ep{ip: "10.42.0.2"}))).Text())
	svc, a, b := svcChain("web"), sepChain("web", "10.42.0.2:8080"), sepChain("web", "10.42.0.3:8080")
	want := `*nat
:KUBE-SERVICES - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-MARK-MASQ - [0:0]
:` + svc + ` - [0:0]
:` + a + ` - [0:0]
:` + b + ` - [0:0]
-A KUBE-SERVICES -m comment --comment "ns/web:http cluster IP" -m tcp -p tcp -d 10.43.0.10 --dport 80 -j ` + svc + `
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 192.0.2.1 -j KUBE-NODEPORTS
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A ` + svc + ` -m comment --comment "ns/web:http cluster IP" -m tcp -p tcp -d 10.43.0.10 --dport 80 ! -s 10.42.0.0/16 -j KUBE-MARK-MASQ
-A ` + svc + ` -m comment --comment "ns/web:http -> 10.42.0.2:8080" -m statistic --mode random --probability 0.5000000000 -j ` + a + `
-A ` + svc + ` -m comment --comment "ns/web:http -> 10.42.0.3:8080" -j ` + b + `
-A ` + a + ` -m comment --comment ns/web:http -s 10.42.0.2 -j KUBE-MARK-MASQ
-A ` + a + ` -m comment --comment ns/web:http -m tcp -p tcp -j DNAT --to-destination 10.42.0.2:8080
-A ` + b + ` -m comment --comment ns/web:http -s 10.42.0.3 -j KUBE-MARK-MASQ
-A ` + b + ` -m comment --comment ns/web:http -m tcp -p tcp -j DNAT --to-destination 10.42.0.3:8080
COMMIT
*filter
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
`
	if got != want {
		t.Errorf("rules differ\ngot:\n%s\nwant:\n%s", got, want)
	}
}

// TestKubeProxyNames: chain names are kube-proxy's for the same service
// port and endpoint (values from kube-proxy's own tests).
func TestKubeProxyNames(t *testing.T) {
	if got := prefixSVC + portProtoHash("ns1/svc1:p80", "tcp"); got != "KUBE-SVC-XPGD46QRK7WJZT7O" {
		t.Errorf("service chain %s", got)
	}
	if got := endpointChainName("ns1/svc1:p80", "tcp", "10.180.0.1:80"); got != "KUBE-SEP-SXIVWICOYRO3J4NJ" {
		t.Errorf("endpoint chain %s", got)
	}
}

func TestRender(t *testing.T) {
	local := func(s *corev1.Service) {
		s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
	}
	nodePort := func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.Ports[0].NodePort = 30080
	}
	extLocal := func(s *corev1.Service) {
		nodePort(s)
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}
	for _, tc := range []struct {
		name    string
		snap    Snapshot
		want    []string // lines (or parts of lines) that must be there
		notWant []string // substrings that must not be anywhere
		skipped []string // Skipped entries, as strings
	}{
		{
			name: "four endpoints: probabilities 1/4, 1/3, 1/2, then the rest",
			snap: snapshot(testService("web"), testSlice("web", "web-1", 80,
				ep{ip: "10.42.0.2"}, ep{ip: "10.42.0.3"}, ep{ip: "10.42.0.4"}, ep{ip: "10.42.0.5"})),
			want: []string{
				`--comment "ns/web:http -> 10.42.0.2:80" -m statistic --mode random --probability 0.2500000000 -j`,
				`--comment "ns/web:http -> 10.42.0.3:80" -m statistic --mode random --probability 0.3333333333 -j`,
				`--comment "ns/web:http -> 10.42.0.4:80" -m statistic --mode random --probability 0.5000000000 -j`,
				"-A " + svcChain("web") + ` -m comment --comment "ns/web:http -> 10.42.0.5:80" -j ` + sepChain("web", "10.42.0.5:80"),
			},
		},
		{
			name: "no endpoints: refused in the filter table, no nat chain",
			snap: snapshot(testService("web", nodePort, func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"203.0.113.7"} })),
			want: []string{
				`-A KUBE-SERVICES -m comment --comment "ns/web:http has no endpoints" -m tcp -p tcp -d 10.43.0.10 --dport 80 -j REJECT`,
				`-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns/web:http has no endpoints" -m tcp -p tcp -d 203.0.113.7 --dport 80 -j REJECT`,
				`-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns/web:http has no endpoints" -m tcp -p tcp -d 192.0.2.1 --dport 30080 -j REJECT`,
			},
			notWant: []string{"KUBE-SVC-", "KUBE-EXT-", "KUBE-SEP-", "DNAT"},
		},
		{
			name: "a port whose slice has no such port name has no endpoints",
			snap: snapshot(testService("web", func(s *corev1.Service) { s.Spec.Ports[0].Name = "https" }), testSlice("web", "web-1", 8080, ep{ip: "10.42.0.2"})),
			want: []string{`--comment "ns/web:https has no endpoints"`},
		},
		{
			name: "named target port: each slice carries its own number",
			snap: snapshot(testService("web"),
				testSlice("web", "web-1", 8080, ep{ip: "10.42.0.2"}),
				testSlice("web", "web-2", 9090, ep{ip: "10.42.0.3"})),
			want: []string{"--to-destination 10.42.0.2:8080", "--to-destination 10.42.0.3:9090"},
		},
		{
			name: "two ports, each to its own slice port",
			snap: snapshot(
				testService("web", func(s *corev1.Service) {
					s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP})
				}),
				func() *discoveryv1.EndpointSlice {
					sl := testSlice("web", "web-1", 8080, ep{ip: "10.42.0.2"})
					sl.Ports = append(sl.Ports, discoveryv1.EndpointPort{Name: ptr.To("dns"), Port: ptr.To[int32](5353), Protocol: ptr.To(corev1.ProtocolUDP)})
					return sl
				}()),
			want: []string{
				`--comment "ns/web:dns cluster IP" -m udp -p udp -d 10.43.0.10 --dport 53 -j ` + prefixSVC + portProtoHash("ns/web:dns", "udp"),
				"-m udp -p udp -j DNAT --to-destination 10.42.0.2:5353",
				"-m tcp -p tcp -j DNAT --to-destination 10.42.0.2:8080",
			},
		},
		{
			name:    "not ready endpoints get no traffic",
			snap:    snapshot(testService("web"), testSlice("web", "web-1", 80, ep{ip: "10.42.0.2"}, ep{ip: "10.42.0.3", state: "notready"})),
			want:    []string{"--to-destination 10.42.0.2:80"},
			notWant: []string{"10.42.0.3"},
		},
		{
			name: "no ready endpoint: the serving terminating ones take the traffic",
			snap: snapshot(testService("web"), testSlice("web", "web-1", 80,
				ep{ip: "10.42.0.2", state: "terminating"}, ep{ip: "10.42.0.3", state: "gone"}, ep{ip: "10.42.0.4", state: "notready"})),
			want:    []string{"--to-destination 10.42.0.2:80"},
			notWant: []string{"10.42.0.3", "10.42.0.4", "REJECT"},
		},
		{
			name:    "a ready endpoint wins over terminating ones",
			snap:    snapshot(testService("web"), testSlice("web", "web-1", 80, ep{ip: "10.42.0.2", state: "terminating"}, ep{ip: "10.42.0.3"})),
			want:    []string{"--to-destination 10.42.0.3:80"},
			notWant: []string{"10.42.0.2"},
		},
		{
			name: "only endpoints neither ready nor serving: refused",
			snap: snapshot(testService("web"), testSlice("web", "web-1", 80, ep{ip: "10.42.0.2", state: "gone"})),
			want: []string{`"ns/web:http has no endpoints"`},
		},
		{
			name: "conditions left out count as ready (as the API documents nil)",
			snap: snapshot(testService("web"), func() *discoveryv1.EndpointSlice {
				sl := testSlice("web", "web-1", 80, ep{ip: "10.42.0.2"})
				sl.Endpoints[0].Conditions = discoveryv1.EndpointConditions{}
				return sl
			}()),
			want: []string{"--to-destination 10.42.0.2:80"},
		},
		{
			name:    "the same endpoint in two slices is one endpoint",
			snap:    snapshot(testService("web"), testSlice("web", "web-1", 80, ep{ip: "10.42.0.2"}), testSlice("web", "web-2", 80, ep{ip: "10.42.0.2", state: "notready"})),
			want:    []string{"-A " + svcChain("web") + ` -m comment --comment "ns/web:http -> 10.42.0.2:80" -j ` + sepChain("web", "10.42.0.2:80")},
			notWant: []string{"statistic"},
		},
		{
			name: "ExternalName, headless and other proxies' Services get no rules",
			snap: snapshot(
				testService("ext", func(s *corev1.Service) {
					s.Spec.Type, s.Spec.ExternalName, s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ServiceTypeExternalName, "example.org", "", nil
				}),
				testService("hl", func(s *corev1.Service) {
					s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
				}),
				testService("other", func(s *corev1.Service) { s.Labels = map[string]string{LabelServiceProxyName: "someone-else"} }),
				testSlice("ext", "ext-1", 80, ep{ip: "10.42.0.2"}),
				testSlice("hl", "hl-1", 80, ep{ip: "10.42.0.3"}),
				testSlice("other", "other-1", 80, ep{ip: "10.42.0.4"})),
			notWant: []string{"ns/ext", "ns/hl", "ns/other", "10.43.0.10"},
		},
		{
			name: "a Service without a selector and a hand-written slice (default/kubernetes)",
			snap: func() Snapshot {
				svc := testService("kubernetes", func(s *corev1.Service) {
					s.Namespace, s.Spec.ClusterIP, s.Spec.ClusterIPs = "default", "10.43.0.1", []string{"10.43.0.1"}
					s.Spec.Ports[0] = corev1.ServicePort{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}
				})
				sl := testSlice("kubernetes", "kubernetes", 6443, ep{ip: "192.0.2.1"})
				sl.Namespace, sl.Ports[0].Name = "default", ptr.To("https")
				sl.Endpoints[0].NodeName = nil
				return snapshot(svc, sl)
			}(),
			want: []string{
				`-A KUBE-SERVICES -m comment --comment "default/kubernetes:https cluster IP" -m tcp -p tcp -d 10.43.0.1 --dport 443 -j KUBE-SVC-`,
				"-m tcp -p tcp -j DNAT --to-destination 192.0.2.1:6443",
			},
		},
		{
			name: "IPv6 is left out: slices, cluster IPs, external IPs",
			snap: snapshot(
				testService("v6", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "fd00::10", []string{"fd00::10"} }),
				testService("dual", func(s *corev1.Service) {
					s.Spec.ClusterIPs = []string{"fd00::11", "10.43.0.11"}
					s.Spec.ClusterIP = "fd00::11"
					s.Spec.ExternalIPs = []string{"2001:db8::1", "203.0.113.9"}
				}),
				testSlice("dual", "dual-4", 80, ep{ip: "10.42.0.2"}),
				func() *discoveryv1.EndpointSlice {
					sl := testSlice("dual", "dual-6", 80, ep{ip: "fd00:42::2"})
					sl.AddressType = discoveryv1.AddressTypeIPv6
					return sl
				}()),
			want:    []string{`"ns/dual:http cluster IP" -m tcp -p tcp -d 10.43.0.11 --dport 80`, `"ns/dual:http external IP" -m tcp -p tcp -d 203.0.113.9 --dport 80`},
			notWant: []string{"fd00", "2001:db8", "ns/v6"},
		},
		{
			name: "a Service with an unparsable external IP is skipped, the others are written",
			snap: snapshot(
				testService("bad", func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"999.1.1.1"} }),
				testService("good", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.43.0.12", []string{"10.43.0.12"} }),
				testSlice("bad", "bad-1", 80, ep{ip: "10.42.0.2"}),
				testSlice("good", "good-1", 80, ep{ip: "10.42.0.3"})),
			want:    []string{`"ns/good:http cluster IP" -m tcp -p tcp -d 10.43.0.12 --dport 80`, "--to-destination 10.42.0.3:80"},
			notWant: []string{"ns/bad", "999.1.1.1", "10.42.0.2"},
			skipped: []string{`Service ns/bad: external IP "999.1.1.1" does not parse`},
		},
		{
			name: "unparsable cluster and load-balancer IPs skip their Service",
			snap: snapshot(
				testService("badcip", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.43.0.300", []string{"10.43.0.300"} }),
				testService("badlb", func(s *corev1.Service) {
					s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "lb.example"}}
				}),
				testSlice("badcip", "badcip-1", 80, ep{ip: "10.42.0.2"}),
				testSlice("badlb", "badlb-1", 80, ep{ip: "10.42.0.2"})),
			notWant: []string{"ns/badcip", "ns/badlb"},
			skipped: []string{`Service ns/badcip: cluster IP "10.43.0.300" does not parse`, `Service ns/badlb: load-balancer IP "lb.example" does not parse`},
		},
		{
			name: "a slice with an unparsable address is skipped, the Service's other slices are used",
			snap: snapshot(testService("web"),
				testSlice("web", "web-bad", 80, ep{ip: "10.42.0.2"}, ep{ip: "10.42.0.999"}),
				testSlice("web", "web-good", 80, ep{ip: "10.42.0.3"})),
			want:    []string{"--to-destination 10.42.0.3:80"},
			notWant: []string{"10.42.0.2"},
			skipped: []string{`EndpointSlice ns/web-bad: endpoint address "10.42.0.999" is not an IPv4 address`},
		},
		{
			name: "SCTP when the kernel has it",
			snap: snapshot(testService("sctp", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = corev1.ProtocolSCTP }),
				func() *discoveryv1.EndpointSlice {
					sl := testSlice("sctp", "sctp-1", 80, ep{ip: "10.42.0.2"})
					sl.Ports[0].Protocol = ptr.To(corev1.ProtocolSCTP)
					return sl
				}()),
			want: []string{`"ns/sctp:http cluster IP" -m sctp -p sctp -d 10.43.0.10 --dport 80`, "-m sctp -p sctp -j DNAT --to-destination 10.42.0.2:80"},
		},
		{
			name: "SCTP skipped without kernel support, the other ports are written",
			snap: func() Snapshot {
				s := snapshot(testService("mixed", func(s *corev1.Service) {
					s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "sig", Port: 9, Protocol: corev1.ProtocolSCTP})
				}), testSlice("mixed", "mixed-1", 80, ep{ip: "10.42.0.2"}))
				s.SkipSCTP = true
				return s
			}(),
			want:    []string{"-m tcp -p tcp -j DNAT --to-destination 10.42.0.2:80"},
			notWant: []string{"sctp"},
			skipped: []string{"Service ns/mixed: port sig: SCTP is not supported by this kernel"},
		},
		{
			name: "names that would break the restore input are skipped",
			snap: snapshot(
				testService("web", func(s *corev1.Service) {
					s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "x\n-A INPUT -j ACCEPT", Port: 81, Protocol: corev1.ProtocolTCP},
						corev1.ServicePort{Name: "zero", Port: 0, Protocol: corev1.ProtocolTCP})
				}),
				testService(`bad"name`, func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.43.0.11", []string{"10.43.0.11"} }),
				testSlice("web", "web-1", 80, ep{ip: "10.42.0.2"})),
			want:    []string{"--to-destination 10.42.0.2:80"},
			notWant: []string{"INPUT", "ACCEPT -", "10.43.0.11", "zero"},
			skipped: []string{
				`Service ns/bad"name: namespace or name is not a DNS name`,
				`Service ns/web: port "x\n-A INPUT -j ACCEPT" (81, node port 0) is not valid`,
				`Service ns/web: port "zero" (0, node port 0) is not valid`,
			},
		},
		{
			name:    "an unknown protocol is skipped",
			snap:    snapshot(testService("icmp", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "ICMP" })),
			notWant: []string{"ns/icmp"},
			skipped: []string{`Service ns/icmp: port http: unknown protocol "ICMP"`},
		},
		{
			name: "session affinity: recent checks first, the endpoint chain records the client",
			snap: snapshot(testService("web", func(s *corev1.Service) {
				s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
				s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](60)}}
			}), testSlice("web", "web-1", 80, ep{ip: "10.42.0.2"}, ep{ip: "10.42.0.3"})),
			want: []string{
				"-A " + svcChain("web") + ` -m comment --comment "ns/web:http -> 10.42.0.2:80" -m recent --name ` + sepChain("web", "10.42.0.2:80") + " --rcheck --seconds 60 --reap -j " + sepChain("web", "10.42.0.2:80"),
				"-A " + sepChain("web", "10.42.0.3:80") + " -m comment --comment ns/web:http -m recent --name " + sepChain("web", "10.42.0.3:80") + " --set -m tcp -p tcp -j DNAT --to-destination 10.42.0.3:80",
			},
		},
		{
			name: "session affinity without a timeout: 3 hours",
			snap: snapshot(testService("web", func(s *corev1.Service) { s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP }),
				testSlice("web", "web-1", 80, ep{ip: "10.42.0.2"})),
			want: []string{"--rcheck --seconds 10800 --reap"},
		},
		{
			name: "hairpin: an endpoint reaching itself is masqueraded",
			snap: snapshot(testService("web"), testSlice("web", "web-1", 80, ep{ip: "10.42.0.2"})),
			want: []string{"-A " + sepChain("web", "10.42.0.2:80") + " -m comment --comment ns/web:http -s 10.42.0.2 -j KUBE-MARK-MASQ"},
		},
		{
			name: "without a cluster CIDR, off-cluster ClusterIP traffic is not masqueraded",
			snap: func() Snapshot {
				s := snapshot(testService("web"), testSlice("web", "web-1", 80, ep{ip: "10.42.0.2"}))
				s.ClusterCIDR = netip.Prefix{}
				return s
			}(),
			notWant: []string{"! -s"},
		},
		{
			name: "internalTrafficPolicy Local: only local endpoints, in KUBE-SVL",
			snap: snapshot(testService("web", local), testSlice("web", "web-1", 80, ep{ip: "10.42.0.2"}, ep{ip: "10.42.1.2", node: "node-b"})),
			want: []string{
				`-A KUBE-SERVICES -m comment --comment "ns/web:http cluster IP" -m tcp -p tcp -d 10.43.0.10 --dport 80 -j ` + svlChain("web"),
				"-A " + svlChain("web") + ` -m comment --comment "ns/web:http -> 10.42.0.2:80" -j ` + sepChain("web", "10.42.0.2:80"),
			},
			notWant: []string{"10.42.1.2", svcChain("web")},
		},
		{
			name: "internalTrafficPolicy Local without a local endpoint: dropped",
			snap: snapshot(testService("web", local), testSlice("web", "web-1", 80, ep{ip: "10.42.1.2", node: "node-b"})),
			want: []string{`-A KUBE-SERVICES -m comment --comment "ns/web:http has no local endpoints" -m tcp -p tcp -d 10.43.0.10 --dport 80 -j DROP`},
		},
		{
			name: "NodePort with the Cluster policy: masqueraded, to all endpoints",
			snap: snapshot(testService("web", nodePort), testSlice("web", "web-1", 80, ep{ip: "10.42.0.2"}, ep{ip: "10.42.1.2", node: "node-b"})),
			want: []string{
				"-A KUBE-NODEPORTS -m comment --comment ns/web:http -m tcp -p tcp --dport 30080 -j " + extChain("web"),
				"-A " + extChain("web") + ` -m comment --comment "masquerade traffic for ns/web:http external destinations" -j KUBE-MARK-MASQ`,
				"-A " + extChain("web") + " -j " + svcChain("web"),
				"--to-destination 10.42.1.2:80",
			},
		},
		{
			name: "externalTrafficPolicy Local: the client's address kept, local endpoints only",
			snap: snapshot(testService("web", extLocal), testSlice("web", "web-1", 80, ep{ip: "10.42.0.2"}, ep{ip: "10.42.1.2", node: "node-b"})),
			want: []string{
				"-A " + extChain("web") + ` -m comment --comment "pod traffic for ns/web:http external destinations" -s 10.42.0.0/16 -j ` + svcChain("web"),
				"-A " + extChain("web") + ` -m comment --comment "masquerade LOCAL traffic for ns/web:http external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
				"-A " + extChain("web") + ` -m comment --comment "route LOCAL traffic for ns/web:http external destinations" -m addrtype --src-type LOCAL -j ` + svcChain("web"),
				"-A " + extChain("web") + " -j " + svlChain("web"),
				"-A " + svlChain("web") + ` -m comment --comment "ns/web:http -> 10.42.0.2:80" -j ` + sepChain("web", "10.42.0.2:80"),
				// The cluster IP still reaches every endpoint.
				"-A " + svcChain("web") + ` -m comment --comment "ns/web:http -> 10.42.1.2:80" -j ` + sepChain("web", "10.42.1.2:80"),
			},
			notWant: []string{"masquerade traffic for", "DROP"},
		},
		{
			name: "externalTrafficPolicy Local without a local endpoint: external traffic dropped",
			snap: snapshot(testService("web", extLocal, func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"203.0.113.7"} }),
				testSlice("web", "web-1", 80, ep{ip: "10.42.1.2", node: "node-b"})),
			want: []string{
				`-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns/web:http has no local endpoints" -m tcp -p tcp -d 192.0.2.1 --dport 30080 -j DROP`,
				`-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns/web:http has no local endpoints" -m tcp -p tcp -d 203.0.113.7 --dport 80 -j DROP`,
				// Pods and the node itself still get through KUBE-EXT.
				"-A KUBE-NODEPORTS -m comment --comment ns/web:http -m tcp -p tcp --dport 30080 -j " + extChain("web"),
				`"pod traffic for ns/web:http external destinations" -s 10.42.0.0/16 -j ` + svcChain("web"),
				`-A KUBE-SERVICES -m comment --comment "ns/web:http cluster IP" -m tcp -p tcp -d 10.43.0.10 --dport 80 -j ` + svcChain("web"),
			},
			notWant: []string{svlChain("web"), "REJECT"},
		},
		{
			name: "load-balancer IPs, but not those in Proxy mode",
			snap: snapshot(testService("web", nodePort, func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeLoadBalancer
				s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.20"}, {IP: "203.0.113.21", IPMode: ptr.To(corev1.LoadBalancerIPModeProxy)}, {Hostname: "lb.example"}}
			}), testSlice("web", "web-1", 80, ep{ip: "10.42.0.2"})),
			want:    []string{`-A KUBE-SERVICES -m comment --comment "ns/web:http loadbalancer IP" -m tcp -p tcp -d 203.0.113.20 --dport 80 -j ` + extChain("web")},
			notWant: []string{"203.0.113.21"},
		},
		{
			name: "NodePorts answer on every node IP, IPv4 only, after all services",
			snap: func() Snapshot {
				s := snapshot(testService("web", nodePort), testSlice("web", "web-1", 80, ep{ip: "10.42.0.2"}))
				s.NodeIPs = append(s.NodeIPs, netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("2001:db8::1"))
				return s
			}(),
			want: []string{
				`-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 192.0.2.1 -j KUBE-NODEPORTS`,
				`-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -d 198.51.100.1 -j KUBE-NODEPORTS`,
			},
			notWant: []string{"2001:db8"},
		},
		{
			name: "no node IP: NodePorts on every local address but loopback, as kube-proxy's default",
			snap: func() Snapshot {
				s := snapshot(testService("web", nodePort), testSlice("web", "web-1", 80, ep{ip: "10.42.0.2"}),
					testService("idle", nodePort, func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30081 }))
				s.NodeIPs = nil
				return s
			}(),
			want: []string{
				`-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS`,
				"-A KUBE-NODEPORTS -m comment --comment ns/web:http -m tcp -p tcp --dport 30080 -j " + extChain("web"),
				`-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns/idle:http has no endpoints" -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -m tcp -p tcp --dport 30081 -j REJECT`,
			},
			notWant: []string{"-d 192.0.2.1"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Render(tc.snap)
			text := string(r.Text())
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("missing %q in\n%s", w, text)
				}
			}
			for _, nw := range tc.notWant {
				if strings.Contains(text, nw) {
					t.Errorf("unexpected %q in\n%s", nw, text)
				}
			}
			var skipped []string
			for _, s := range r.Skipped {
				skipped = append(skipped, s.String())
			}
			if !slices.Equal(skipped, tc.skipped) {
				t.Errorf("skipped %q, want %q", skipped, tc.skipped)
			}
			checkWellFormed(t, text)
		})
	}
}

// checkWellFormed: every chain jumped to or written is declared in its
// table, every declared per-service chain has rules, and the KUBE-SERVICES
// nodeports rule comes last (what iptables-restore would refuse, or what
// would make rules silently miss).
func checkWellFormed(t *testing.T, text string) {
	t.Helper()
	declared := map[string]bool{}
	written := map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "*"):
			declared = map[string]bool{}
			written = map[string]bool{}
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			declared[name] = true
		case strings.HasPrefix(line, "-A "):
			f := strings.Fields(line)
			if !declared[f[1]] {
				t.Errorf("rule in undeclared chain: %s", line)
			}
			written[f[1]] = true
			if i := slices.Index(f, "-j"); i >= 0 && strings.HasPrefix(f[i+1], "KUBE-") && !declared[f[i+1]] {
				t.Errorf("jump to undeclared chain: %s", line)
			}
		case line == "COMMIT":
			for n := range declared {
				if isPerServiceChain(n) && !written[n] {
					t.Errorf("empty per-service chain %s", n)
				}
			}
		}
	}
	nat := natTable(text)
	var svcRules []string
	for _, line := range strings.Split(nat, "\n") {
		if strings.HasPrefix(line, "-A KUBE-SERVICES ") {
			svcRules = append(svcRules, line)
		}
	}
	seenNodePorts := false
	for _, l := range svcRules {
		if strings.Contains(l, "-j KUBE-NODEPORTS") {
			seenNodePorts = true
		} else if seenNodePorts {
			t.Errorf("a service rule after the nodeports rule: %s", l)
		}
	}
}

// natTable is the nat table's part of restore input.
func natTable(text string) string {
	nat := text[strings.Index(text, "*nat"):]
	return nat[:strings.Index(nat, "COMMIT")]
}

// TestRenderDeterministic: the order of the informers' lists does not
// change the text (a change of text is what triggers a write).
func TestRenderDeterministic(t *testing.T) {
	var objs []any
	for i := range 20 {
		name := fmt.Sprintf("svc-%02d", i)
		objs = append(objs, testService(name, func(s *corev1.Service) {
			s.Spec.ClusterIP = fmt.Sprintf("10.43.1.%d", i+1)
			s.Spec.ClusterIPs = []string{s.Spec.ClusterIP}
		}), testSlice(name, name+"-a", 80, ep{ip: fmt.Sprintf("10.42.0.%d", i+10)}, ep{ip: fmt.Sprintf("10.42.1.%d", i+10)}),
			testSlice(name, name+"-b", 80, ep{ip: fmt.Sprintf("10.42.2.%d", i+10)}))
	}
	want := Render(snapshot(objs...)).Text()
	for range 10 {
		rand.Shuffle(len(objs), func(i, j int) { objs[i], objs[j] = objs[j], objs[i] })
		s := snapshot(objs...)
		for _, sl := range s.EndpointSlices {
			rand.Shuffle(len(sl.Endpoints), func(i, j int) { sl.Endpoints[i], sl.Endpoints[j] = sl.Endpoints[j], sl.Endpoints[i] })
		}
		if got := Render(s).Text(); string(got) != string(want) {
			t.Fatalf("text depends on input order:\n%s\nvs\n%s", got, want)
		}
	}
}

// TestRestoreInput: a full sync names every chain; a partial one only the
// fixed chains and the per-service chains that changed; chains gone from
// the rules are flushed and deleted in the same transaction.
func TestRestoreInput(t *testing.T) {
	before := Render(snapshot(testService("a"), testService("b", func(s *corev1.Service) {
		s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.43.0.11", []string{"10.43.0.11"}
	}),
		testSlice("a", "a-1", 80, ep{ip: "10.42.0.2"}), testSlice("b", "b-1", 80, ep{ip: "10.42.0.3"})))
	written := map[string]string{}
	known := map[string]bool{}
	for _, c := range before.nat {
		if isPerServiceChain(c.name) {
			written[c.name] = c.rules.String()
			known[c.name] = true
		}
	}
	// b moves to another endpoint; a stays.
	after := Render(snapshot(testService("a"), testService("b", func(s *corev1.Service) {
		s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.43.0.11", []string{"10.43.0.11"}
	}),
		testSlice("a", "a-1", 80, ep{ip: "10.42.0.2"}), testSlice("b", "b-1", 80, ep{ip: "10.42.0.4"})))
	known["KUBE-SEP-LEFTOVER0000000"] = true // found by iptables-save after a restart

	full := string(restoreInput(after, written, known, true))
	for _, line := range strings.Split(string(after.Text()), "\n") {
		if !strings.Contains(full, line+"\n") {
			t.Errorf("full sync lacks %q", line)
		}
	}

	partial := string(restoreInput(after, written, known, false))
	for _, c := range []string{svcChain("a"), sepChain("a", "10.42.0.2:80")} {
		if strings.Contains(partial, ":"+c) || strings.Contains(partial, "-A "+c) {
			t.Errorf("partial sync rewrites the unchanged chain %s:\n%s", c, partial)
		}
	}
	for _, want := range []string{
		":" + svcChain("b") + " - [0:0]", ":" + sepChain("b", "10.42.0.4:80") + " - [0:0]",
		":KUBE-SERVICES - [0:0]", "-A KUBE-SERVICES -m comment --comment \"ns/a:http cluster IP\"",
		":" + sepChain("b", "10.42.0.3:80") + " - [0:0]", "-X " + sepChain("b", "10.42.0.3:80") + "\n",
		"-X KUBE-SEP-LEFTOVER0000000\n",
	} {
		if !strings.Contains(partial, want) {
			t.Errorf("partial sync lacks %q:\n%s", want, partial)
		}
	}
	// The stale deletions come after the rules, before COMMIT.
	nat := natTable(partial)
	if i, j := strings.Index(nat, "-X "), strings.LastIndex(nat, "-A "); i < j {
		t.Errorf("a chain is deleted before the rules are written:\n%s", nat)
	}
}

func TestStaleConntrack(t *testing.T) {
	udp := func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.Ports[0].Protocol = corev1.ProtocolUDP
		s.Spec.Ports[0].NodePort = 30053
		s.Spec.ExternalIPs = []string{"203.0.113.7"}
	}
	udpSlice := func(ips ...string) *discoveryv1.EndpointSlice {
		var eps []ep
		for _, ip := range ips {
			eps = append(eps, ep{ip: ip})
		}
		sl := testSlice("dns", "dns-1", 53, eps...)
		sl.Ports[0].Protocol = ptr.To(corev1.ProtocolUDP)
		return sl
	}
	strs := func(fs []conntrackFilter) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.String())
		}
		return out
	}
	web := []any{testService("web", func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.43.0.11", []string{"10.43.0.11"} }),
		testSlice("web", "web-1", 80, ep{ip: "10.42.0.9"})}
	noEndpoints := Render(snapshot(append(web, testService("dns", udp))...))
	two := Render(snapshot(append(web, testService("dns", udp), udpSlice("10.42.0.2", "10.42.0.3"))...))
	one := Render(snapshot(append(web, testService("dns", udp), udpSlice("10.42.0.2"))...))
	untranslated := []string{"10.43.0.10:80<-untranslated", "192.0.2.1:30053<-untranslated", "203.0.113.7:80<-untranslated"}
	for _, tc := range []struct {
		name     string
		old, cur *Rules
		want     []string
	}{
		{"an endpoint removed: its flows", two, one, []string{"10.43.0.10:80<-10.42.0.3", "192.0.2.1:30053<-10.42.0.3", "203.0.113.7:80<-10.42.0.3"}},
		{"first endpoints: the untranslated flows", noEndpoints, two, untranslated},
		{"first write of this process: the untranslated flows", nil, two, untranslated},
		{"the Service deleted: all its endpoints' flows", one, Render(snapshot(web...)), []string{"10.43.0.10:80<-10.42.0.2", "192.0.2.1:30053<-10.42.0.2", "203.0.113.7:80<-10.42.0.2"}},
		{"nothing changed", one, one, nil},
		{"TCP services need nothing", noEndpoints, noEndpoints, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strs(staleConntrack(tc.old, tc.cur)); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestConntrackFilterMatch(t *testing.T) {
	flow := func(dst, replySrc string, proto uint8) *netlink.ConntrackFlow {
		f := &netlink.ConntrackFlow{}
		f.Forward = netlink.IPTuple{Protocol: proto, SrcIP: net.ParseIP("10.42.0.4"), DstIP: net.ParseIP(dst), SrcPort: 40000, DstPort: 53}
		f.Reverse = netlink.IPTuple{Protocol: proto, SrcIP: net.ParseIP(replySrc), DstIP: net.ParseIP("10.42.0.4"), SrcPort: 5353, DstPort: 40000}
		return f
	}
	svc := dst{netip.MustParseAddr("10.43.0.10"), 53}
	removed := conntrackFilter{dst: svc, endpoint: netip.MustParseAddr("10.42.0.3")}
	untranslated := conntrackFilter{dst: svc}
	for _, tc := range []struct {
		name   string
		filter conntrackFilter
		flow   *netlink.ConntrackFlow
		want   bool
	}{
		{"flow to the removed endpoint", removed, flow("10.43.0.10", "10.42.0.3", unix.IPPROTO_UDP), true},
		{"flow to another endpoint", removed, flow("10.43.0.10", "10.42.0.2", unix.IPPROTO_UDP), false},
		{"TCP flow", removed, flow("10.43.0.10", "10.42.0.3", unix.IPPROTO_TCP), false},
		{"flow to another address", removed, flow("10.43.0.11", "10.42.0.3", unix.IPPROTO_UDP), false},
		{"untranslated flow", untranslated, flow("10.43.0.10", "10.43.0.10", unix.IPPROTO_UDP), true},
		{"translated flow kept", untranslated, flow("10.43.0.10", "10.42.0.2", unix.IPPROTO_UDP), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.filter.MatchConntrackFlow(tc.flow); got != tc.want {
				t.Errorf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Client: nil, NodeName: "n"}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"client required", ok, "client is required"},
		{"node name required", Config{}, "node name is required"},
		{"IPv6 cluster CIDR", Config{ClusterCIDR: netip.MustParsePrefix("fd00::/64")}, "only IPv4"},
		{"invalid node IP", Config{NodeIPs: []netip.Addr{{}}}, "node IP is not a valid address"},
		{"negative period", Config{SyncPeriod: -1}, "must not be negative"},
		{"min above full", Config{MinSyncPeriod: 2e9, SyncPeriod: 1e9}, "longer than the sync period"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}
