package netrules_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/runtime/network"
)

// The test network, all inside namespaces the test makes (nothing here
// touches the host's network; 10.42/10.43 and the documentation ranges
// exist only inside them):
//
//	outside (198.51.100.2) --veth-- node: vo 198.51.100.1 (default route via outside), br0 10.42.0.1/24
//	                                      |-- pod a 10.42.0.2
//	                                      |-- pod b 10.42.0.3
//	                                      `-- pod c 10.42.0.4
//
// Every pod answers on TCP 8080 and UDP 5353 with "<name> <client address>".
const (
	testNode  = "node-a"
	nodeIP    = "198.51.100.1"
	outsideIP = "198.51.100.2"
	podPort   = 8080
	podUDP    = 5353
	// lbNet is routed from outside to the node, for external and
	// load-balancer IPs.
	lbNet = "203.0.113.0/24"
)

var podIPs = map[string]string{"a": "10.42.0.2", "b": "10.42.0.3", "c": "10.42.0.4"}

type netnsRef struct{ name, path string }

type topology struct {
	node, outside netnsRef
	pods          map[string]netnsRef
	// brNetfilter: bridged traffic goes through iptables (pod to pod
	// through a Service on the same bridge, hairpin).
	brNetfilter bool
}

func requireRoot(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs root and network namespaces (not in -short)")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, iptables)")
	}
	for _, bin := range []string{"ip", "iptables-restore", "iptables-save"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s: %v", bin, err)
		}
	}
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newNetNS makes a namespace named appl-nr-<random>-<role> with lo up and
// deletes it when the test ends.
func newNetNS(t testing.TB, role string) netnsRef {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "appl-nr-" + hex.EncodeToString(b) + "-" + role
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return netnsRef{name: name, path: filepath.Join("/var/run/netns", name)}
}

func sysctl(t testing.TB, ns netnsRef, key, value string) error {
	t.Helper()
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	out, err := exec.Command("ip", "netns", "exec", ns.name, "sh", "-c", "echo "+value+" > "+path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s=%s: %v: %s", key, value, err, out)
	}
	return nil
}

// newTopology builds the network drawn above and starts the pods' servers.
func newTopology(t *testing.T) *topology {
	t.Helper()
	tp := &topology{node: newNetNS(t, "node"), outside: newNetNS(t, "out"), pods: map[string]netnsRef{}}
	n := tp.node.name
	run(t, "ip", "-n", n, "link", "add", "br0", "type", "bridge")
	run(t, "ip", "-n", n, "addr", "add", "10.42.0.1/24", "dev", "br0")
	run(t, "ip", "-n", n, "link", "set", "br0", "up")
	if err := sysctl(t, tp.node, "net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	// The parallel tests refuse and redirect the same few clients many
	// times a second; the kernel's per-client ICMP rate limit (1 s) would
	// then delay a refusal to the client's SYN retry.
	if err := sysctl(t, tp.node, "net.ipv4.icmp_ratelimit", "0"); err != nil {
		t.Fatal(err)
	}
	// br_netfilter: needed for pod -> Service -> pod on the same bridge.
	if _, err := os.Stat("/proc/sys/net/bridge"); err != nil {
		_ = exec.Command("modprobe", "br_netfilter").Run()
	}
	// Off: the proxy turns it on itself (TestProxier checks).
	if err := sysctl(t, tp.node, "net.bridge.bridge-nf-call-iptables", "0"); err != nil {
		t.Logf("br_netfilter is not available (%v): pod-to-service through the bridge and hairpin are not tested", err)
	} else {
		tp.brNetfilter = true
	}

	for _, name := range []string{"a", "b", "c"} {
		pod := newNetNS(t, "pod"+name)
		tp.pods[name] = pod
		host := "vh-" + name
		run(t, "ip", "-n", n, "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", pod.name)
		run(t, "ip", "-n", n, "link", "set", host, "master", "br0")
		run(t, "ip", "-n", n, "link", "set", host, "type", "bridge_slave", "hairpin", "on")
		run(t, "ip", "-n", n, "link", "set", host, "up")
		run(t, "ip", "-n", pod.name, "addr", "add", podIPs[name]+"/24", "dev", "eth0")
		run(t, "ip", "-n", pod.name, "link", "set", "eth0", "up")
		run(t, "ip", "-n", pod.name, "route", "add", "default", "via", "10.42.0.1")
		servePod(t, pod, name)
	}

	run(t, "ip", "-n", n, "link", "add", "vo", "type", "veth", "peer", "name", "eth0", "netns", tp.outside.name)
	run(t, "ip", "-n", n, "addr", "add", nodeIP+"/24", "dev", "vo")
	run(t, "ip", "-n", n, "link", "set", "vo", "up")
	run(t, "ip", "-n", tp.outside.name, "addr", "add", outsideIP+"/24", "dev", "eth0")
	run(t, "ip", "-n", tp.outside.name, "link", "set", "eth0", "up")
	// Only the node's network and the external/load-balancer range: no
	// route to the pods, so NodePort replies must come back through the
	// node.
	run(t, "ip", "-n", tp.outside.name, "route", "add", lbNet, "via", nodeIP)
	// The node's default route goes outside, as a real node's does: a
	// Service address is routed (and so meets the filter table's REJECT)
	// instead of being unreachable. The outside does not forward: what
	// reaches it for another address ends there.
	run(t, "ip", "-n", n, "route", "add", "default", "via", outsideIP)
	return tp
}

// servePod answers TCP and UDP in the pod's namespace (a socket keeps the
// namespace it was made in) with "<name> <client address>".
func servePod(t *testing.T, pod netnsRef, name string) {
	t.Helper()
	var ln net.Listener
	var pc net.PacketConn
	err := network.InNetNS(pod.path, func() error {
		var err error
		if ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", podPort)); err != nil {
			return err
		}
		pc, err = net.ListenPacket("udp4", fmt.Sprintf(":%d", podUDP))
		return err
	})
	if err != nil {
		t.Fatalf("pod %s: listen: %v", name, err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "%s %s\n", name, host)
			c.Close()
		}
	}()
	go func() {
		defer wg.Done()
		buf := make([]byte, 512)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(from.String())
			_, _ = pc.WriteTo([]byte(name+" "+host), from)
		}
	}()
	t.Cleanup(func() { ln.Close(); pc.Close(); wg.Wait() })
}

// answer is what a pod's server said: its name and the client address it
// saw.
type answer struct{ name, from string }

// ask opens a TCP connection from the namespace at nsPath to addr and
// reads the answer.
func ask(nsPath, addr string, timeout time.Duration) (answer, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := network.DialInNetNS(ctx, nsPath, "tcp4", addr)
	if err != nil {
		return answer{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return answer{}, fmt.Errorf("read from %s: %w", addr, err)
	}
	name, from, _ := strings.Cut(strings.TrimSpace(line), " ")
	return answer{name, from}, nil
}

// udpClient is a UDP socket in a namespace, connected to a service
// address; it keeps its local port, as a long-lived UDP client does.
type udpClient struct{ c net.Conn }

func newUDPClient(t *testing.T, nsPath, addr string) *udpClient {
	t.Helper()
	c, err := network.DialInNetNS(context.Background(), nsPath, "udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpClient{c}
}

func (u *udpClient) ask(timeout time.Duration) (answer, error) {
	if _, err := u.c.Write([]byte("?")); err != nil {
		return answer{}, err
	}
	_ = u.c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 512)
	n, err := u.c.Read(buf)
	if err != nil {
		return answer{}, err
	}
	name, from, _ := strings.Cut(string(buf[:n]), " ")
	return answer{name, from}, nil
}

// eventually polls f until it returns nil, failing the test with f's last
// error after timeout.
func eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond) // poll interval, not synchronisation
	}
}

// iptablesSave is the namespace's nat and filter tables as a user sees them.
func iptablesSave(t testing.TB, ns netnsRef) string {
	t.Helper()
	return run(t, "ip", "netns", "exec", ns.name, "iptables-save")
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// api creates Services and hand-written EndpointSlices, as a user of a
// selectorless Service does (no kubelet needed).
type api struct {
	t      *testing.T
	client kubernetes.Interface
	ns     string
}

func newAPI(t *testing.T, client kubernetes.Interface, ns string) *api {
	t.Helper()
	_, err := client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &api{t: t, client: client, ns: ns}
}

// service creates a Service with one port, http 80 (TCP, unless mutated),
// without a selector, and returns it as stored (with its cluster IP and
// node port).
func (a *api) service(name string, mutate ...func(*corev1.Service)) *corev1.Service {
	a.t.Helper()
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: a.ns, Name: name},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
	}
	for _, m := range mutate {
		m(s)
	}
	got, err := a.client.CoreV1().Services(a.ns).Create(context.Background(), s, metav1.CreateOptions{})
	if err != nil {
		a.t.Fatalf("create service %s: %v", name, err)
	}
	return got
}

// backend is a pod of the test network as an endpoint: its name, node
// and state ("" ready, "terminating" serving and terminating).
type backend struct{ pod, node, state string }

// endpoints writes the Service's EndpointSlice (named after it) listing the
// backends on port (the pods' TCP or UDP port).
func (a *api) endpoints(svc string, proto corev1.Protocol, backends ...backend) {
	a.t.Helper()
	port := int32(podPort)
	if proto == corev1.ProtocolUDP {
		port = podUDP
	}
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: a.ns, Name: svc, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(port), Protocol: ptr.To(proto)}},
	}
	for _, b := range backends {
		node := b.node
		if node == "" {
			node = testNode
		}
		c := discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true), Terminating: ptr.To(false)}
		if b.state == "terminating" {
			c.Ready, c.Terminating = ptr.To(false), ptr.To(true)
		}
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{podIPs[b.pod]}, NodeName: ptr.To(node), Conditions: c})
	}
	slices := a.client.DiscoveryV1().EndpointSlices(a.ns)
	ctx := context.Background()
	cur, err := slices.Get(ctx, svc, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, sl, metav1.CreateOptions{})
	case err == nil:
		sl.ResourceVersion = cur.ResourceVersion
		_, err = slices.Update(ctx, sl, metav1.UpdateOptions{})
	}
	if err != nil {
		a.t.Fatalf("write endpointslice %s: %v", svc, err)
	}
}

func (a *api) deleteService(name string) {
	a.t.Helper()
	if err := a.client.CoreV1().Services(a.ns).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		a.t.Fatal(err)
	}
}

func hostPort(ip string, port int32) string {
	return netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(port)).String()
}

// isRefused: the client was told "connection refused" (an ICMP port
// unreachable from REJECT, or a RST).
func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
