package network

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These tests run the real thing (netlink, iptables, namespaces) and need
// root. Each builds its own "node" network namespace, so nothing touches the
// machine's own network, and no address used here exists outside them.

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces, veths and iptables rules")
	}
}

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// nodeNetNS creates a named network namespace that plays the node and
// deletes it when the test ends. It returns the name and the path.
func nodeNetNS(t *testing.T) (string, string) {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := "appl-net-" + hex.EncodeToString(b)
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name, "/run/netns/" + name
}

type testNode struct {
	name string // ip netns name
	cfg  Config
	net  *Network
}

// newTestNode is a node namespace with a pod network on it, Ensured, whose
// pod namespaces and iptables chains are removed at the end.
func newTestNode(t *testing.T, podCIDR string) *testNode {
	t.Helper()
	requireRoot(t)
	name, path := nodeNetNS(t)
	cfg := Config{
		NodeNetNS:   path,
		PodCIDR:     mustCIDR(t, podCIDR),
		ClusterCIDR: mustCIDR(t, "10.42.0.0/16"),
		StateDir:    filepath.Join(t.TempDir(), "state"),
		NetNSDir:    filepath.Join(t.TempDir(), "netns"),
		Log:         slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		entries, _ := os.ReadDir(cfg.NetNSDir)
		for _, e := range entries {
			if err := removeNetNS(filepath.Join(cfg.NetNSDir, e.Name())); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		if err := n.Cleanup(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	if err := n.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &testNode{name: name, cfg: cfg, net: n}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// serve listens on :port in the namespace at nsPath and answers every
// connection with "<name> <remote IP>\n", so a dialler learns both whom it
// reached and which source address that side saw.
func serve(t *testing.T, nsPath, name string, port int) {
	t.Helper()
	var ln net.Listener
	err := InNetNS(nsPath, func() error {
		var err error
		ln, err = net.Listen("tcp4", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", nsPath, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
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
}

// ask dials addr with dial and returns the server's name and the source
// address it saw.
func ask(t *testing.T, dial func(ctx context.Context, network, addr string) (net.Conn, error), addr string) (name, seen string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dial(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("read from %s: %v", addr, err)
	}
	f := strings.Fields(line)
	if len(f) != 2 {
		t.Fatalf("answer from %s: %q", addr, line)
	}
	return f[0], f[1]
}

func inPod(nsPath string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return DialInNetNS(ctx, nsPath, network, addr)
	}
}

func (tn *testNode) pod(t *testing.T, id string) (string, net.IP) {
	t.Helper()
	path, err := tn.net.CreatePodNetNS(id)
	if err != nil {
		t.Fatal(err)
	}
	ip, err := tn.net.Attach(context.Background(), id, path)
	if err != nil {
		t.Fatal(err)
	}
	return path, ip
}

func countLines(out, substr string) int {
	n := 0
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

func TestEnsureIsIdempotent(t *testing.T) {
	tn := newTestNode(t, "10.42.0.0/24")
	if err := tn.net.Ensure(context.Background()); err != nil {
		t.Fatalf("second Ensure: %v", err)
	}
	nat := run(t, "ip", "netns", "exec", tn.name, "iptables", "-t", "nat", "-S")
	if got := countLines(nat, "-A APPLIANCE-POSTROUTING -s 10.42.0.0/24 ! -d 10.42.0.0/16"); got != 1 {
		t.Errorf("masquerade rule %d times, want once:\n%s", got, nat)
	}
	if got := countLines(nat, "MASQUERADE"); got != 1 {
		t.Errorf("%d MASQUERADE rules, want 1:\n%s", got, nat)
	}
	if got := countLines(nat, "-A POSTROUTING -m comment --comment \"appliance pod network\" -j APPLIANCE-POSTROUTING"); got != 1 {
		t.Errorf("POSTROUTING jump %d times, want once:\n%s", got, nat)
	}
	filter := run(t, "ip", "netns", "exec", tn.name, "iptables", "-S", "FORWARD")
	if got := countLines(filter, "-j APPLIANCE-FORWARD"); got != 1 {
		t.Errorf("FORWARD jump %d times, want once:\n%s", got, filter)
	}
	fwd := run(t, "ip", "netns", "exec", tn.name, "cat", "/proc/sys/net/ipv4/ip_forward")
	if strings.TrimSpace(fwd) != "1" {
		t.Errorf("ip_forward in node netns = %q, want 1", fwd)
	}
	addr := run(t, "ip", "-n", tn.name, "-4", "addr", "show", "dev", "appliance0")
	if got := countLines(addr, "inet 10.42.0.1/24"); got != 1 || countLines(addr, "inet ") != 1 {
		t.Errorf("bridge addresses:\n%s", addr)
	}
	if !strings.Contains(run(t, "ip", "-n", tn.name, "link", "show", "appliance0"), "state UP") &&
		!strings.Contains(run(t, "ip", "-n", tn.name, "link", "show", "appliance0"), ",UP") {
		t.Errorf("bridge is not up")
	}
	if !tn.net.Gateway().Equal(net.ParseIP("10.42.0.1")) {
		t.Errorf("Gateway() = %s", tn.net.Gateway())
	}

	if err := tn.net.Cleanup(); err != nil {
		t.Fatal(err)
	}
	nat = run(t, "ip", "netns", "exec", tn.name, "iptables", "-t", "nat", "-S")
	filter = run(t, "ip", "netns", "exec", tn.name, "iptables", "-S")
	if strings.Contains(nat, "APPLIANCE") || strings.Contains(filter, "APPLIANCE") {
		t.Errorf("chains left after Cleanup:\n%s\n%s", nat, filter)
	}
	if out, err := exec.Command("ip", "-n", tn.name, "link", "show", "appliance0").CombinedOutput(); err == nil {
		t.Errorf("bridge left after Cleanup:\n%s", out)
	}
}

func TestPodsTalk(t *testing.T) {
	tn := newTestNode(t, "10.42.3.0/24")
	nsA, ipA := tn.pod(t, "pod-a")
	nsB, ipB := tn.pod(t, "pod-b")
	if ipA.Equal(ipB) {
		t.Fatalf("both pods got %s", ipA)
	}
	for _, ip := range []net.IP{ipA, ipB} {
		if !tn.cfg.PodCIDR.Contains(ip) || ip.Equal(tn.net.Gateway()) {
			t.Fatalf("pod IP %s not a pod address of %s", ip, tn.cfg.PodCIDR)
		}
	}
	serve(t, nsA, "pod-a", 8080)
	serve(t, nsB, "pod-b", 8080)
	addrA := net.JoinHostPort(ipA.String(), "8080")
	addrB := net.JoinHostPort(ipB.String(), "8080")

	// The node (kubelet probes) reaches each pod, from the gateway address.
	for addr, want := range map[string]string{addrA: "pod-a", addrB: "pod-b"} {
		if name, seen := ask(t, tn.net.DialContext, addr); name != want || seen != "10.42.3.1" {
			t.Errorf("node -> %s: answered by %s seeing %s, want %s seeing 10.42.3.1", addr, name, seen, want)
		}
	}
	// Pod to pod is not masqueraded: B sees A's own address.
	if name, seen := ask(t, inPod(nsA), addrB); name != "pod-b" || seen != ipA.String() {
		t.Errorf("pod-a -> pod-b: answered by %s seeing %s, want pod-b seeing %s", name, seen, ipA)
	}
	if name, _ := ask(t, inPod(nsB), addrA); name != "pod-a" {
		t.Errorf("pod-b -> pod-a: answered by %s", name)
	}
	// A pod reaches its own IP, and localhost (port-forward's path).
	if name, _ := ask(t, inPod(nsA), addrA); name != "pod-a" {
		t.Errorf("pod-a -> own IP: answered by %s", name)
	}
	if name, _ := ask(t, inPod(nsB), "localhost:8080"); name != "pod-b" {
		t.Errorf("pod-b -> localhost: answered by %s", name)
	}

	// The pod side looks as a CNI bridge plugin leaves it.
	out := run(t, "nsenter", "--net="+nsA, "ip", "route", "show", "default")
	if !strings.Contains(out, "default via 10.42.3.1 dev eth0") {
		t.Errorf("pod default route: %q", out)
	}
	link := run(t, "ip", "-n", tn.name, "-d", "link", "show", "dev", hostVethName("pod-a"))
	if !strings.Contains(link, "master appliance0") || !strings.Contains(link, "hairpin on") {
		t.Errorf("host veth is not a hairpin port of the bridge:\n%s", link)
	}
}

// TestMasquerade puts an "outside" namespace next to the node, with no route
// back to the pods: a pod's connection there only works if it is
// masqueraded to the node's address.
func TestMasquerade(t *testing.T) {
	tn := newTestNode(t, "10.42.5.0/24")
	outName, outPath := nodeNetNS(t)
	run(t, "ip", "-n", tn.name, "link", "add", "upl0", "type", "veth", "peer", "name", "eth0", "netns", outName)
	run(t, "ip", "-n", tn.name, "addr", "add", "192.168.77.1/24", "dev", "upl0")
	run(t, "ip", "-n", tn.name, "link", "set", "upl0", "up")
	run(t, "ip", "-n", outName, "addr", "add", "192.168.77.2/24", "dev", "eth0")
	run(t, "ip", "-n", outName, "link", "set", "eth0", "up")
	serve(t, outPath, "outside", 9090)

	nsA, _ := tn.pod(t, "pod-a")
	if name, seen := ask(t, inPod(nsA), "192.168.77.2:9090"); name != "outside" || seen != "192.168.77.1" {
		t.Errorf("pod -> outside: answered by %s seeing %s, want outside seeing the node's 192.168.77.1", name, seen)
	}
}

func TestRestartKeepsAllocations(t *testing.T) {
	tn := newTestNode(t, "10.42.7.0/24")
	nsA, ipA := tn.pod(t, "pod-a")
	serve(t, nsA, "pod-a", 8080)

	// A restarted kubelet: a new Network on the same state.
	n2, err := New(tn.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	again, err := n2.Attach(context.Background(), "pod-a", nsA)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Equal(ipA) {
		t.Fatalf("re-attach gave %s, want %s", again, ipA)
	}
	if name, _ := ask(t, n2.DialContext, net.JoinHostPort(ipA.String(), "8080")); name != "pod-a" {
		t.Errorf("after re-attach answered by %s", name)
	}
	// Many new pods never get pod-a's live address.
	for i := 0; i < 5; i++ {
		id := fmt.Sprintf("pod-%d", i)
		ns, err := n2.CreatePodNetNS(id)
		if err != nil {
			t.Fatal(err)
		}
		ip, err := n2.Attach(context.Background(), id, ns)
		if err != nil {
			t.Fatal(err)
		}
		if ip.Equal(ipA) {
			t.Fatalf("%s got pod-a's live address %s", id, ip)
		}
	}
	allocs, err := n2.Allocations()
	if err != nil {
		t.Fatal(err)
	}
	if len(allocs) != 6 || !allocs["pod-a"].Equal(ipA) {
		t.Errorf("Allocations() = %v", allocs)
	}
	seen := map[string]string{}
	for id, ip := range allocs {
		if other, dup := seen[ip.String()]; dup {
			t.Errorf("%s and %s share %s", id, other, ip)
		}
		seen[ip.String()] = id
	}
}

func TestDetach(t *testing.T) {
	tn := newTestNode(t, "10.42.9.0/24")
	nsA, ipA := tn.pod(t, "pod-a")
	if err := tn.net.Detach(context.Background(), "pod-a", nsA); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "-n", tn.name, "link", "show", hostVethName("pod-a")).CombinedOutput(); err == nil {
		t.Errorf("host veth left:\n%s", out)
	}
	if _, err := os.Stat(nsA); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("netns mount point left: %v", err)
	}
	if isNetNSMount(nsA) {
		t.Errorf("netns still mounted")
	}
	allocs, err := tn.net.Allocations()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := allocs["pod-a"]; ok {
		t.Errorf("allocation left: %v", allocs)
	}
	if _, err := os.Stat(filepath.Join(tn.cfg.StateDir, ipA.String())); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("allocation file left: %v", err)
	}
	// Again, and for half-created sandboxes: no error.
	if err := tn.net.Detach(context.Background(), "pod-a", nsA); err != nil {
		t.Errorf("second Detach: %v", err)
	}
	if err := tn.net.Detach(context.Background(), "never-attached", ""); err != nil {
		t.Errorf("Detach of unknown id: %v", err)
	}
	nsB, err := tn.net.CreatePodNetNS("netns-only")
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.net.Detach(context.Background(), "netns-only", nsB); err != nil {
		t.Errorf("Detach of netns without veth: %v", err)
	}
	if _, err := os.Stat(nsB); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("netns mount point left: %v", err)
	}
	// Host end gone, eth0 and allocation still there (a crash mid-way).
	nsC, _ := tn.pod(t, "pod-c")
	run(t, "ip", "-n", tn.name, "link", "del", hostVethName("pod-c"))
	if err := tn.net.Detach(context.Background(), "pod-c", nsC); err != nil {
		t.Errorf("Detach of half-gone pod: %v", err)
	}
	if allocs, _ := tn.net.Allocations(); len(allocs) != 0 {
		t.Errorf("allocations left: %v", allocs)
	}
}

func TestAttachRepairs(t *testing.T) {
	tn := newTestNode(t, "10.42.11.0/24")
	nsA, ipA := tn.pod(t, "pod-a")
	// The host end vanished (someone deleted it): Attach again rebuilds the pair.
	run(t, "ip", "-n", tn.name, "link", "del", hostVethName("pod-a"))
	again, err := tn.net.Attach(context.Background(), "pod-a", nsA)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Equal(ipA) {
		t.Fatalf("repair gave %s, want %s", again, ipA)
	}
	serve(t, nsA, "pod-a", 8080)
	if name, _ := ask(t, tn.net.DialContext, net.JoinHostPort(ipA.String(), "8080")); name != "pod-a" {
		t.Errorf("after repair answered by %s", name)
	}
}

func TestPodCIDRExhausted(t *testing.T) {
	// A /30 holds the network, the gateway, one pod and the broadcast address.
	tn := newTestNode(t, "10.42.13.0/30")
	nsA, ipA := tn.pod(t, "pod-a")
	if !ipA.Equal(net.ParseIP("10.42.13.2")) {
		t.Fatalf("pod-a got %s", ipA)
	}
	nsB, err := tn.net.CreatePodNetNS("pod-b")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tn.net.Attach(context.Background(), "pod-b", nsB)
	if !errors.Is(err, ErrPodCIDRExhausted) {
		t.Fatalf("Attach in a full podCIDR: %v, want ErrPodCIDRExhausted", err)
	}
	if !strings.Contains(err.Error(), "10.42.13.0/30") || !strings.Contains(err.Error(), "pod-b") {
		t.Errorf("error does not say where: %v", err)
	}
	if out, err := exec.Command("ip", "-n", tn.name, "link", "show", hostVethName("pod-b")).CombinedOutput(); err == nil {
		t.Errorf("failed Attach left a veth:\n%s", out)
	}
	if err := tn.net.Detach(context.Background(), "pod-a", nsA); err != nil {
		t.Fatal(err)
	}
	ipB, err := tn.net.Attach(context.Background(), "pod-b", nsB)
	if err != nil {
		t.Fatalf("Attach after a release: %v", err)
	}
	if !ipB.Equal(ipA) {
		t.Errorf("pod-b got %s, want the released %s", ipB, ipA)
	}
}

func TestAttachBadInput(t *testing.T) {
	tn := newTestNode(t, "10.42.15.0/24")
	for _, tc := range []struct{ name, id, ns, want string }{
		{"empty id", "", "/nonexistent", "sandbox id"},
		{"slash in id", "a/b", "/nonexistent", "sandbox id"},
		{"no netns", "pod-a", "", "netns path is required"},
		{"not a netns", "pod-a", "/nonexistent/netns", "open pod netns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tn.net.Attach(context.Background(), tc.id, tc.ns)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Attach(%q, %q) = %v, want error containing %q", tc.id, tc.ns, err, tc.want)
			}
		})
	}
	if allocs, _ := tn.net.Allocations(); len(allocs) != 0 {
		t.Errorf("failed Attach left allocations: %v", allocs)
	}
}

func TestConcurrentAttach(t *testing.T) {
	tn := newTestNode(t, "10.42.17.0/24")
	const pods = 8
	type result struct {
		id  string
		ip  net.IP
		err error
	}
	results := make(chan result, pods)
	for i := 0; i < pods; i++ {
		go func(id string) {
			ns, err := tn.net.CreatePodNetNS(id)
			if err != nil {
				results <- result{id, nil, err}
				return
			}
			ip, err := tn.net.Attach(context.Background(), id, ns)
			results <- result{id, ip, err}
		}(fmt.Sprintf("pod-%d", i))
	}
	seen := map[string]string{}
	for i := 0; i < pods; i++ {
		r := <-results
		if r.err != nil {
			t.Fatalf("%s: %v", r.id, r.err)
		}
		if other, dup := seen[r.ip.String()]; dup {
			t.Fatalf("%s and %s both got %s", r.id, other, r.ip)
		}
		seen[r.ip.String()] = r.id
	}
	// Every pod answers at its address from the node.
	for ipStr, id := range seen {
		serve(t, tn.net.PodNetNSPath(id), id, 8080)
		if name, _ := ask(t, tn.net.DialContext, net.JoinHostPort(ipStr, "8080")); name != id {
			t.Errorf("%s answered at %s's address %s", name, id, ipStr)
		}
	}
}
