package dns

import (
	"context"
	"fmt"
	"github.com/appliance/appliance/appliance/testcluster/testlog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// fakeCluster is a fake clientset whose watches are known to have started,
// so objects created after waitWatches reach the informers (the fake's
// tracker only sends events to watches that exist).
type fakeCluster struct {
	*fake.Clientset
	watches chan string
}

func newFakeCluster(objs ...runtime.Object) *fakeCluster {
	c := &fakeCluster{Clientset: fake.NewClientset(objs...), watches: make(chan string, 16)}
	c.PrependWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		w, err := c.Tracker().Watch(a.GetResource(), a.GetNamespace())
		c.watches <- a.GetResource().Resource
		return true, w, err
	})
	return c
}

// waitWatches waits until services and endpointslices are watched.
func (c *fakeCluster) waitWatches(t *testing.T) {
	t.Helper()
	seen := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for !seen["services"] || !seen["endpointslices"] {
		select {
		case r := <-c.watches:
			seen[r] = true
		case <-deadline:
			t.Fatalf("informers did not watch within 10s (saw %v)", seen)
		}
	}
}

// upstream is a DNS server the tests run on 127.0.0.1 (UDP and TCP on one
// port) playing the machine's resolver; it counts the queries it sees.
type upstream struct {
	addr string
	mu   sync.Mutex
	seen map[string]int // "name/TYPE" -> queries
	all  []string
}

func startUpstream(t testing.TB, handler func(q mdns.Question, m *mdns.Msg)) *upstream {
	t.Helper()
	u := &upstream{seen: map[string]int{}}
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		q := r.Question[0]
		u.mu.Lock()
		u.seen[strings.ToLower(q.Name)+"/"+mdns.TypeToString[q.Qtype]]++
		u.all = append(u.all, strings.ToLower(q.Name))
		u.mu.Unlock()
		m := new(mdns.Msg)
		m.SetReply(r)
		handler(q, m)
		_, tcp := w.LocalAddr().(*net.TCPAddr)
		if !tcp {
			size := mdns.MinMsgSize
			if o := r.IsEdns0(); o != nil {
				size = int(o.UDPSize())
			}
			m.Truncate(size)
		}
		_ = w.WriteMsg(m)
	})
	u.addr = serveLoopback(t, h)
	return u
}

func (u *upstream) count(name string, qtype uint16) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[strings.ToLower(name)+"/"+mdns.TypeToString[qtype]]
}

func (u *upstream) names() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.all...)
}

// serveLoopback serves h on 127.0.0.1, UDP and TCP on one free port, until
// the test ends, and returns the address.
func serveLoopback(t testing.TB, h mdns.Handler) string {
	t.Helper()
	for range 10 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			pc.Close()
			continue
		}
		for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
			started := make(chan struct{})
			srv.NotifyStartedFunc = func() { close(started) }
			done := make(chan struct{})
			go func() { defer close(done); _ = srv.ActivateAndServe() }()
			<-started
			t.Cleanup(func() { _ = srv.Shutdown(); <-done })
		}
		return addr
	}
	t.Fatal("no free UDP+TCP port pair")
	return ""
}

// deadAddr is a 127.0.0.1 address nothing listens on (UDP): queries to it
// are refused at once.
func deadAddr(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// startServer runs our resolver on 127.0.0.1:0 against client, forwarding
// to cfg.Upstreams or cfg.ResolvConf, never the machine's resolv.conf (with
// neither, a dead 127.0.0.1 port), until the test ends.
func startServer(t testing.TB, cfg Config) *Server {
	t.Helper()
	cfg.Listen = []string{"127.0.0.1:0"}
	if len(cfg.Upstreams) == 0 && cfg.ResolvConf == "" {
		cfg.Upstreams = []string{deadAddr(t)}
	}
	if cfg.UpstreamTimeout == 0 {
		cfg.UpstreamTimeout = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = testlog.Warnings(t)
	}
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func waitReady(t testing.TB, s *Server) {
	t.Helper()
	select {
	case <-s.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("not ready within 10s")
	}
}

// query asks addr over network ("udp" or "tcp"); edns > 0 adds an OPT with
// that buffer size.
func query(t testing.TB, addr, network, name string, qtype uint16, edns uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &mdns.Client{Net: network, Timeout: 5 * time.Second, UDPSize: max(edns, mdns.MinMsgSize)}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", name, mdns.TypeToString[qtype], network, err)
	}
	return r
}

// waitAnswer asks until cond holds on the answer, or fails after 10 s.
func waitAnswer(t testing.TB, addr, name string, qtype uint16, what string, cond func(*mdns.Msg) bool) *mdns.Msg {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		r := query(t, addr, "udp", name, qtype, 0)
		if cond(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: %s not reached within 10s; last answer:\n%v", name, mdns.TypeToString[qtype], what, r)
		}
		<-tick.C
	}
}

// rrs renders the answer section in a comparable form, without TTLs:
// "A 10.43.0.20", "SRV 0 100 80 web.ns1.svc.cluster.local.".
func rrs(section []mdns.RR) []string {
	var out []string
	for _, rr := range section {
		if rr.Header().Rrtype == mdns.TypeOPT {
			continue
		}
		f := strings.Fields(rr.String())
		out = append(out, strings.Join(append([]string{f[0]}, f[3:]...), " "))
	}
	return out
}

func writeFile(t testing.TB, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Fixtures.

func svcClusterIP(ns, name string, ips []string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: ips[0], ClusterIPs: ips, Ports: ports}}
}

func svcHeadless(ns, name string, publishNotReady bool) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: corev1.ClusterIPNone, ClusterIPs: []string{corev1.ClusterIPNone},
			PublishNotReadyAddresses: publishNotReady}}
}

func svcExternal(ns, name, target string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: target}}
}

func svcPort(name string, proto corev1.Protocol, port int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: proto, Port: port}
}

func epPort(name string, proto corev1.Protocol, port int32) discoveryv1.EndpointPort {
	return discoveryv1.EndpointPort{Name: ptr.To(name), Protocol: ptr.To(proto), Port: ptr.To(port)}
}

func ep(ip, host string, ready bool) discoveryv1.Endpoint {
	e := discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}
	if host != "" {
		e.Hostname = ptr.To(host)
	}
	return e
}

func slice(ns, svc, name string, at discoveryv1.AddressType, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: at, Ports: ports, Endpoints: eps,
	}
}

func manyEndpoints(n int) []discoveryv1.Endpoint {
	var out []discoveryv1.Endpoint
	for i := range n {
		out = append(out, ep(fmt.Sprintf("10.42.1.%d", i+1), "", true))
	}
	return out
}
