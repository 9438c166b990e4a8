package testcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/appliance/appliance/appliance"
	"github.com/appliance/appliance/runtime/testimage"
)

// BusyboxImage is the image agent tests run: Debian's busybox-static packed as
// an OCI image and imported into the kubelet's containerd (no registry needed).
const BusyboxImage = "appliance.test/busybox:1"

// NetNS creates a network namespace for the test (with lo up) and deletes it
// when the test ends. It plays the node: the pod network is built inside it, so
// nothing the test does touches the host's network.
func NetNS(t testing.TB) (name, path string) {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name = "appl-test-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up in %s: %v\n%s", name, err, out)
	}
	return name, filepath.Join("/var/run/netns", name)
}

// WithAgent turns the kubelet on (it needs root, containerd and runc), with its
// pod network inside netnsPath and every directory under the test's temp dir.
func WithAgent(t testing.TB, netnsPath string) func(*appliance.Config) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("agent tests need root (containerd, runc, network namespaces); CI runs them as root")
	}
	dir, err := os.MkdirTemp("", "appl-agent-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	resolv := LoopbackResolvConf(t, dir)
	return func(c *appliance.Config) {
		c.DisableAgent = false
		c.AgentNetNS = netnsPath
		c.KubeletDir = filepath.Join(dir, "kubelet")
		c.PodLogsDir = filepath.Join(dir, "logs")
		c.RunDir = filepath.Join(dir, "run")
		c.PrivateRegistry = filepath.Join(dir, "registries.yaml")
		c.KubeletPort = 0
		c.NodeIP = net.ParseIP("127.0.0.1")
		// Shared build machines run with little free disk; below Kubernetes'
		// 10 % default the node would taint itself and schedule nothing.
		c.EvictionHard = "nodefs.available<1%"
		// For the same reason image garbage collection is off: at 85 % used
		// it would remove the test image before a test's pod starts.
		c.ImageGCHighThreshold, c.ImageGCLowThreshold = 100, 99
		// The cluster DNS must not forward the tests' queries off the machine.
		c.ResolvConf = resolv
	}
}

// LoopbackResolvConf writes dir/resolv.conf naming one upstream server on
// 127.0.0.1 port 1, where nothing listens: the cluster DNS answers cluster
// names and fails every other one at once, so no test query leaves the host.
// (--resolv-conf; a test that wants forwarding writes its own.)
func LoopbackResolvConf(t testing.TB, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(p, []byte("nameserver [127.0.0.1]:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// StartWithAgent runs an in-process appliance with its kubelet in a fresh
// network namespace, imports the busybox image, and at the end removes every
// container, pod network and mount the kubelet made. It returns the cluster
// and the namespace's name (for `ip netns exec`).
func StartWithAgent(t testing.TB, mutate ...func(*appliance.Config)) (*Cluster, string) {
	t.Helper()
	ns, path := NetNS(t)
	c := Start(t, append([]func(*appliance.Config){WithAgent(t, path)}, mutate...)...)
	agent := c.App.Agent()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := agent.Reset(ctx); err != nil {
			t.Errorf("kubelet reset: %v", err)
		}
	})
	tar := testimage.BusyboxTar(t, BusyboxImage)
	f, err := os.Open(tar)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := agent.Runtime().Import(ctx, f); err != nil {
		t.Fatalf("import busybox image: %v", err)
	}
	return c, ns
}
