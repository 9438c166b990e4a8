package netrules_test

import (
	"context"
	"fmt"
	"github.com/appliance/appliance/appliance/testcluster/testlog"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/testcluster"
	"github.com/appliance/appliance/netrules"
)

const (
	syncWait = 15 * time.Second // how long a change may take to reach the rules
	dialWait = 2 * time.Second  // a connection the rules allow
	pollDial = 500 * time.Millisecond
)

func startProxier(t *testing.T, cfg netrules.Config) *netrules.Proxier {
	t.Helper()
	p, err := netrules.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	select {
	case <-p.Ready():
	case <-time.After(30 * time.Second):
		t.Fatalf("proxier not ready within 30s (last error: %v)", p.LastError())
	}
	return p
}

// reachAll connects from nsPath to addr until every backend in want has
// answered; every connection must succeed. It returns who answered.
func reachAll(t *testing.T, nsPath, addr string, want ...string) map[string]int {
	t.Helper()
	eventually(t, syncWait, "first answer from "+addr, func() error { _, err := ask(nsPath, addr, pollDial); return err })
	seen := map[string]int{}
	for i := 0; i < 300; i++ {
		a, err := ask(nsPath, addr, dialWait)
		if err != nil {
			t.Fatalf("connection %d to %s: %v", i, addr, err)
		}
		seen[a.name]++
		all := true
		for _, w := range want {
			all = all && seen[w] > 0
		}
		if all {
			return seen
		}
	}
	t.Fatalf("%s: after 300 connections answered by %v, want all of %v", addr, seen, want)
	return nil
}

// onlyFrom waits until n connections in a row are answered by want.
func onlyFrom(t *testing.T, nsPath, addr, want string, n int) {
	t.Helper()
	eventually(t, syncWait, fmt.Sprintf("%d answers in a row from %s at %s", n, want, addr), func() error {
		for i := 0; i < n; i++ {
			a, err := ask(nsPath, addr, pollDial)
			if err != nil {
				return err
			}
			if a.name != want {
				return fmt.Errorf("answer %d from %q", i, a.name)
			}
		}
		return nil
	})
}

// refusedAtOnce waits for the rules to refuse addr, then checks a fresh
// connection is refused well before any timeout.
func refusedAtOnce(t *testing.T, nsPath, addr string) {
	t.Helper()
	eventually(t, syncWait, addr+" refused", func() error {
		_, err := ask(nsPath, addr, pollDial)
		if !isRefused(err) {
			return fmt.Errorf("got %v", err)
		}
		return nil
	})
	start := time.Now()
	_, err := ask(nsPath, addr, 10*time.Second)
	if took := time.Since(start); !isRefused(err) || took > time.Second {
		t.Errorf("%s: %v after %s, want connection refused at once", addr, err, took)
	}
}

func chainsIn(save string) map[string]bool {
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^:(KUBE-[A-Z0-9-]+) `).FindAllStringSubmatch(save, -1) {
		out[m[1]] = true
	}
	return out
}

// TestProxier drives the proxy through a real API server (etcd and our API
// server in-process) and checks what a user of the Services sees, from
// pods, from the node and from a host outside, in namespaces of its own.
func TestProxier(t *testing.T) {
	requireRoot(t)
	tp := newTopology(t)
	c := testcluster.Start(t, testcluster.APIOnly)
	cfg := netrules.Config{
		Client: c.Client, NodeName: testNode, NodeIPs: []netip.Addr{netip.MustParseAddr(nodeIP)},
		ClusterCIDR: netip.MustParsePrefix("10.42.0.0/16"), NetNS: tp.node.path,
		MinSyncPeriod: 100 * time.Millisecond, SyncPeriod: 5 * time.Second, Log: testlog.Warnings(t),
	}
	p := startProxier(t, cfg)
	if tp.brNetfilter {
		if got := strings.TrimSpace(run(t, "ip", "netns", "exec", tp.node.name, "cat", "/proc/sys/net/bridge/bridge-nf-call-iptables")); got != "1" {
			t.Errorf("bridge-nf-call-iptables = %s in the node's namespace, want 1 (set by the proxy)", got)
		}
	}
	podC, podA, node, outside := tp.pods["c"].path, tp.pods["a"].path, tp.node.path, tp.outside.path
	nodePort := func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }

	cases := []struct {
		name    string
		bridged bool // needs br_netfilter (pod to pod on one bridge)
		run     func(t *testing.T, a *api)
	}{
		{"cluster IP reaches every backend", true, func(t *testing.T, a *api) {
			svc := a.service("web")
			a.endpoints("web", corev1.ProtocolTCP, backend{pod: "a"}, backend{pod: "b"})
			addr := hostPort(svc.Spec.ClusterIP, 80)
			reachAll(t, podC, addr, "a", "b")
			reachAll(t, node, addr, "a", "b")
			// Inside the pod network the backend sees the client's own
			// address.
			if got, err := ask(podC, addr, dialWait); err != nil || got.from != podIPs["c"] {
				t.Errorf("backend saw %+v (%v), want the client %s", got, err, podIPs["c"])
			}
		}},
		{"UDP cluster IP answers", true, func(t *testing.T, a *api) {
			svc := a.service("dns", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = corev1.ProtocolUDP })
			a.endpoints("dns", corev1.ProtocolUDP, backend{pod: "a"}, backend{pod: "b"})
			eventually(t, syncWait, "UDP answer", func() error {
				u := newUDPClient(t, podC, hostPort(svc.Spec.ClusterIP, 80))
				got, err := u.ask(500 * time.Millisecond)
				if err == nil && got.name != "a" && got.name != "b" {
					return fmt.Errorf("answered by %q", got.name)
				}
				return err
			})
		}},
		{"NodePort from outside the cluster", false, func(t *testing.T, a *api) {
			svc := a.service("np", nodePort)
			a.endpoints("np", corev1.ProtocolTCP, backend{pod: "a"}, backend{pod: "b"})
			addr := hostPort(nodeIP, svc.Spec.Ports[0].NodePort)
			reachAll(t, outside, addr, "a", "b")
			// Cluster policy: masqueraded, so the reply comes back here.
			if got, err := ask(outside, addr, dialWait); err != nil || got.from != "10.42.0.1" {
				t.Errorf("backend saw %+v (%v), want the node's bridge address", got, err)
			}
			reachAll(t, podC, addr, "a", "b")
		}},
		{"no endpoints: connection refused at once", false, func(t *testing.T, a *api) {
			svc := a.service("empty", nodePort)
			// A NodePort without rules is refused too (nothing listens on
			// it): wait for the rules first.
			rule := regexp.MustCompile(fmt.Sprintf(`-A KUBE-EXTERNAL-SERVICES -d %s/32 .*"%s/empty:http has no endpoints" .*--dport %d -j REJECT`,
				regexp.QuoteMeta(nodeIP), a.ns, svc.Spec.Ports[0].NodePort))
			eventually(t, syncWait, "REJECT rule", func() error {
				if save := iptablesSave(t, tp.node); !rule.MatchString(save) {
					return fmt.Errorf("no %s in\n%s", rule, save)
				}
				return nil
			})
			refusedAtOnce(t, podC, hostPort(svc.Spec.ClusterIP, 80))
			refusedAtOnce(t, node, hostPort(svc.Spec.ClusterIP, 80))
			refusedAtOnce(t, outside, hostPort(nodeIP, svc.Spec.Ports[0].NodePort))
			// Its first endpoint makes it answer.
			a.endpoints("empty", corev1.ProtocolTCP, backend{pod: "b"})
			onlyFrom(t, podC, hostPort(svc.Spec.ClusterIP, 80), "b", 3)
		}},
		{"a removed endpoint gets no more connections", true, func(t *testing.T, a *api) {
			svc := a.service("shrink")
			a.endpoints("shrink", corev1.ProtocolTCP, backend{pod: "a"}, backend{pod: "b"})
			addr := hostPort(svc.Spec.ClusterIP, 80)
			reachAll(t, podC, addr, "a", "b")
			a.endpoints("shrink", corev1.ProtocolTCP, backend{pod: "a"})
			onlyFrom(t, podC, addr, "a", 30)
		}},
		{"UDP flows to a removed endpoint move to the others", true, func(t *testing.T, a *api) {
			svc := a.service("udp", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = corev1.ProtocolUDP })
			a.endpoints("udp", corev1.ProtocolUDP, backend{pod: "a"}, backend{pod: "b"})
			// One client socket that keeps its port, as a DNS client or a
			// game client does: its conntrack entry stays alive while it
			// sends.
			u := newUDPClient(t, podC, hostPort(svc.Spec.ClusterIP, 80))
			var first answer
			eventually(t, syncWait, "UDP answer", func() error { var err error; first, err = u.ask(300 * time.Millisecond); return err })
			other := map[string]string{"a": "b", "b": "a"}[first.name]
			a.endpoints("udp", corev1.ProtocolUDP, backend{pod: other})
			eventually(t, syncWait, "the same client answered by "+other, func() error {
				got, err := u.ask(300 * time.Millisecond)
				if err == nil && got.name != other {
					return fmt.Errorf("still answered by %q", got.name)
				}
				return err
			})
		}},
		{"externalTrafficPolicy Local", false, func(t *testing.T, a *api) {
			svc := a.service("local", nodePort, func(s *corev1.Service) {
				s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			})
			a.endpoints("local", corev1.ProtocolTCP, backend{pod: "a", node: "node-b"}, backend{pod: "b", node: "node-b"})
			np := hostPort(nodeIP, svc.Spec.Ports[0].NodePort)
			// The cluster IP still reaches the endpoints on other nodes:
			// once it does, the rules are in.
			reachAll(t, node, hostPort(svc.Spec.ClusterIP, 80), "a", "b")
			// No endpoint on this node: external traffic is dropped, the
			// client hears nothing (as kube-proxy does).
			_, err := ask(outside, np, time.Second)
			if err == nil || isRefused(err) {
				t.Errorf("NodePort without a local endpoint: %v, want no answer", err)
			}
			// A local endpoint: it alone answers, and sees the client's
			// own address.
			a.endpoints("local", corev1.ProtocolTCP, backend{pod: "a"}, backend{pod: "b", node: "node-b"})
			onlyFrom(t, outside, np, "a", 10)
			if got, err := ask(outside, np, dialWait); err != nil || got.from != outsideIP {
				t.Errorf("backend saw %+v (%v), want the client's address %s", got, err, outsideIP)
			}
		}},
		{"internalTrafficPolicy Local", true, func(t *testing.T, a *api) {
			svc := a.service("itp", func(s *corev1.Service) {
				s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
			})
			a.endpoints("itp", corev1.ProtocolTCP, backend{pod: "a"}, backend{pod: "b", node: "node-b"})
			onlyFrom(t, podC, hostPort(svc.Spec.ClusterIP, 80), "a", 20)
		}},
		{"session affinity ClientIP", true, func(t *testing.T, a *api) {
			svc := a.service("sticky", func(s *corev1.Service) { s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP })
			a.endpoints("sticky", corev1.ProtocolTCP, backend{pod: "a"}, backend{pod: "b"})
			addr := hostPort(svc.Spec.ClusterIP, 80)
			var first answer
			eventually(t, syncWait, "first answer", func() error { var err error; first, err = ask(podC, addr, pollDial); return err })
			for i := 0; i < 30; i++ {
				got, err := ask(podC, addr, dialWait)
				if err != nil || got.name != first.name {
					t.Fatalf("connection %d: %+v (%v), want the same backend %q", i, got, err, first.name)
				}
			}
		}},
		{"hairpin: a backend reaches itself through its Service", true, func(t *testing.T, a *api) {
			svc := a.service("self")
			a.endpoints("self", corev1.ProtocolTCP, backend{pod: "a"})
			var got answer
			eventually(t, syncWait, "pod a through its own Service", func() error {
				var err error
				got, err = ask(podA, hostPort(svc.Spec.ClusterIP, 80), pollDial)
				return err
			})
			// Masqueraded: the pod sees the node, and its reply goes back
			// through the NAT.
			if got.name != "a" || got.from != "10.42.0.1" {
				t.Errorf("got %+v, want pod a seeing 10.42.0.1", got)
			}
		}},
		{"terminating endpoints serve when none is ready", true, func(t *testing.T, a *api) {
			svc := a.service("drain")
			a.endpoints("drain", corev1.ProtocolTCP, backend{pod: "a", state: "terminating"})
			addr := hostPort(svc.Spec.ClusterIP, 80)
			onlyFrom(t, podC, addr, "a", 5)
			a.endpoints("drain", corev1.ProtocolTCP, backend{pod: "a", state: "terminating"}, backend{pod: "b"})
			onlyFrom(t, podC, addr, "b", 20)
		}},
		{"external and load-balancer IPs", false, func(t *testing.T, a *api) {
			a.service("lb", func(s *corev1.Service) {
				s.Spec.Type = corev1.ServiceTypeLoadBalancer
				s.Spec.ExternalIPs = []string{"203.0.113.10"}
			})
			a.endpoints("lb", corev1.ProtocolTCP, backend{pod: "b"})
			onlyFrom(t, outside, "203.0.113.10:80", "b", 3)
			s, err := a.client.CoreV1().Services(a.ns).Get(context.Background(), "lb", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.11"}}
			if _, err := a.client.CoreV1().Services(a.ns).UpdateStatus(context.Background(), s, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			onlyFrom(t, outside, "203.0.113.11:80", "b", 3)
		}},
		{"a deleted Service's chains are removed", false, func(t *testing.T, a *api) {
			a.service("gone")
			a.endpoints("gone", corev1.ProtocolTCP, backend{pod: "a"})
			name := a.ns + "/gone:http"
			svcC, sepC := "KUBE-SVC-"+netrules.PortProtoHash(name, "tcp"), netrules.EndpointChainName(name, "tcp", podIPs["a"]+":8080")
			eventually(t, syncWait, "chains of "+name, func() error {
				if ch := chainsIn(iptablesSave(t, tp.node)); !ch[svcC] || !ch[sepC] {
					return fmt.Errorf("no %s or %s", svcC, sepC)
				}
				return nil
			})
			a.deleteService("gone")
			eventually(t, syncWait, "chains of "+name+" removed", func() error {
				save := iptablesSave(t, tp.node)
				if ch := chainsIn(save); ch[svcC] || ch[sepC] || strings.Contains(save, name) {
					return fmt.Errorf("still there")
				}
				return nil
			})
		}},
	}
	t.Run("services", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				if tc.bridged && !tp.brNetfilter {
					t.Skip("br_netfilter is not available")
				}
				t.Parallel()
				ns := strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(tc.name), "-"), "-")
				tc.run(t, newAPI(t, c.Client, "nr-"+ns[:min(len(ns), 50)]))
			})
		}
	})
	if t.Failed() {
		return
	}

	// The API server's own Service has rules from its hand-written slice.
	if save := iptablesSave(t, tp.node); !strings.Contains(save, `"default/kubernetes:https cluster IP"`) {
		t.Errorf("no rules for default/kubernetes:\n%s", save)
	}

	t.Run("close leaves the rules, a new proxier adopts them", func(t *testing.T) {
		a := newAPI(t, c.Client, "nr-restart")
		keep := a.service("keep")
		a.endpoints("keep", corev1.ProtocolTCP, backend{pod: "a"})
		a.service("gone")
		a.endpoints("gone", corev1.ProtocolTCP, backend{pod: "b"})
		gone := "KUBE-SVC-" + netrules.PortProtoHash("nr-restart/gone:http", "tcp")
		addr := hostPort(keep.Spec.ClusterIP, 80)
		onlyFrom(t, node, addr, "a", 3)
		eventually(t, syncWait, "chain of gone", func() error {
			if !chainsIn(iptablesSave(t, tp.node))[gone] {
				return fmt.Errorf("no %s", gone)
			}
			return nil
		})
		p.Close()
		p.Close() // twice is fine
		// The daemon is down: Services keep working.
		onlyFrom(t, node, addr, "a", 3)
		a.deleteService("gone")
		p2 := startProxier(t, cfg)
		// The new proxier finds the chains of a Service deleted while it
		// was down, and removes them.
		eventually(t, syncWait, "stale chain removed after restart", func() error {
			if chainsIn(iptablesSave(t, tp.node))[gone] {
				return fmt.Errorf("%s still there", gone)
			}
			return nil
		})
		onlyFrom(t, node, addr, "a", 3)
		// The jumps from the built-in chains exist once each.
		save := iptablesSave(t, tp.node)
		for _, rule := range netrules.JumpRules() {
			if n := strings.Count(save, rule+"\n"); n != 1 {
				t.Errorf("%q: %d times in\n%s", rule, n, save)
			}
		}
		p2.Close()
	})

	t.Run("Cleanup removes every chain and jump", func(t *testing.T) {
		for i := 0; i < 2; i++ { // twice: what is gone is fine
			if err := netrules.Cleanup(tp.node.path); err != nil {
				t.Fatalf("Cleanup #%d: %v", i+1, err)
			}
		}
		if save := iptablesSave(t, tp.node); strings.Contains(save, "KUBE-") {
			t.Errorf("left behind:\n%s", save)
		}
	})
}

// TestSyncFailureKeepsRules: a write iptables-restore refuses changes
// nothing (one transaction), the error and its stderr are reported, and
// the next period retries until it succeeds. The failure here is a real
// one: a user's rule jumps to a chain the proxy wants to delete.
func TestSyncFailureKeepsRules(t *testing.T) {
	requireRoot(t)
	node := newNetNS(t, "node")
	c := testcluster.Start(t, testcluster.APIOnly)
	p := startProxier(t, netrules.Config{Client: c.Client, NodeName: testNode, NetNS: node.path,
		MinSyncPeriod: 50 * time.Millisecond, SyncPeriod: 300 * time.Millisecond, Log: testlog.Warnings(t)})
	a := newAPI(t, c.Client, "nr-fail")
	a.service("one")
	a.endpoints("one", corev1.ProtocolTCP, backend{pod: "a"})
	one := "KUBE-SVC-" + netrules.PortProtoHash("nr-fail/one:http", "tcp")
	eventually(t, syncWait, "chain of one", func() error {
		if !chainsIn(iptablesSave(t, node))[one] {
			return fmt.Errorf("no %s", one)
		}
		return nil
	})
	run(t, "ip", "netns", "exec", node.name, "iptables", "-t", "nat", "-N", "USER-TEST")
	run(t, "ip", "netns", "exec", node.name, "iptables", "-t", "nat", "-A", "USER-TEST", "-j", one)

	a.deleteService("one")
	a.service("two")
	a.endpoints("two", corev1.ProtocolTCP, backend{pod: "b"})
	var failure error
	eventually(t, syncWait, "a failed sync", func() error {
		if failure = p.LastError(); failure == nil {
			return fmt.Errorf("no error yet")
		}
		return nil
	})
	if !strings.Contains(failure.Error(), "iptables-restore") || !strings.Contains(failure.Error(), "line") {
		t.Errorf("error %q does not carry iptables-restore's stderr", failure)
	}
	// All or nothing: one's rules are intact, two has none.
	save := iptablesSave(t, node)
	if !strings.Contains(save, `"nr-fail/one:http cluster IP"`) || strings.Contains(save, "nr-fail/two") {
		t.Errorf("a failed write changed the rules:\n%s", save)
	}
	// The user removes their rule: the next retry succeeds.
	run(t, "ip", "netns", "exec", node.name, "iptables", "-t", "nat", "-F", "USER-TEST")
	run(t, "ip", "netns", "exec", node.name, "iptables", "-t", "nat", "-X", "USER-TEST")
	eventually(t, syncWait, "a successful retry", func() error {
		if err := p.LastError(); err != nil {
			return err
		}
		save := iptablesSave(t, node)
		if chainsIn(save)[one] || !strings.Contains(save, `"nr-fail/two:http cluster IP"`) {
			return fmt.Errorf("rules not updated:\n%s", save)
		}
		return nil
	})
}
