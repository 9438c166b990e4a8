package nodeipam_test

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/appliance/appliance/appliance/controllers/nodeipam"
	"github.com/appliance/appliance/appliance/testcluster"
)

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// start runs a node IPAM controller until stop is called or the test ends.
func start(t *testing.T, client kubernetes.Interface) (stop func()) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(logWriter{t}, nil)).With("part", "node-ipam")
	factory := informers.NewSharedInformerFactory(client, 0)
	ctrl, err := nodeipam.New(client, factory, nodeipam.Config{ClusterCIDR: netip.MustParsePrefix("10.42.0.0/16")}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctrl.Run(ctx)
	}()
	stop = func() {
		cancel()
		<-done
		factory.Shutdown()
	}
	t.Cleanup(stop)
	return stop
}

func createNode(t *testing.T, client kubernetes.Interface, name, podCIDR string) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if podCIDR != "" {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = podCIDR, []string{podCIDR}
	}
	if _, err := client.CoreV1().Nodes().Create(t.Context(), n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// cidrOf waits for the node's pod CIDR and checks podCIDR and podCIDRs agree.
func cidrOf(t *testing.T, client kubernetes.Interface, name string) string {
	t.Helper()
	var got string
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if n.Spec.PodCIDR == "" {
			return false, nil
		}
		if len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
			t.Fatalf("node %s: podCIDR %q, podCIDRs %v", name, n.Spec.PodCIDR, n.Spec.PodCIDRs)
		}
		got = n.Spec.PodCIDR
		return true, nil
	})
	if err != nil {
		t.Fatalf("node %s gets no pod CIDR: %v", name, err)
	}
	return got
}

func TestNodeIPAM(t *testing.T) {
	// The test's controller is the only allocator: with the appliance's own
	// running too, two allocators raced for the same free CIDR, and "after a
	// restart" had a controller running all along.
	c := testcluster.Start(t, testcluster.Without("node-ipam"))
	client := c.Client
	stop := start(t, client)

	seen := map[string]string{}
	for _, name := range []string{"node-a", "node-b", "node-c"} {
		createNode(t, client, name, "")
		cidr := cidrOf(t, client, name)
		p := netip.MustParsePrefix(cidr)
		if p.Bits() != 24 || !netip.MustParsePrefix("10.42.0.0/16").Contains(p.Addr()) {
			t.Errorf("node %s got %s, want a /24 of 10.42.0.0/16", name, cidr)
		}
		if other, ok := seen[cidr]; ok {
			t.Errorf("nodes %s and %s both got %s", other, name, cidr)
		}
		seen[cidr] = name
	}

	t.Run("a deleted node's cidr is reused", func(t *testing.T) {
		freed := cidrOf(t, client, "node-b")
		c.Kubectl(t, "delete", "node", "node-b")
		createNode(t, client, "node-d", "")
		if got := cidrOf(t, client, "node-d"); got != freed {
			t.Errorf("node-d got %s, want the freed %s", got, freed)
		}
	})

	t.Run("a cidr set by hand is respected", func(t *testing.T) {
		createNode(t, client, "node-manual", "10.42.3.0/24")
		createNode(t, client, "node-e", "")
		if got := cidrOf(t, client, "node-e"); got == "10.42.3.0/24" {
			t.Errorf("node-e got node-manual's %s", got)
		}
	})

	t.Run("after a restart, used cidrs are not handed out again", func(t *testing.T) {
		stop()
		used := map[string]bool{}
		nodes, err := client.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes.Items {
			used[n.Spec.PodCIDR] = true
		}
		// Created while no controller runs, then picked up by a new one.
		createNode(t, client, "node-f", "")
		createNode(t, client, "node-g", "")
		start(t, client)
		f, g := cidrOf(t, client, "node-f"), cidrOf(t, client, "node-g")
		if used[f] || used[g] || f == g {
			t.Errorf("after restart node-f got %s and node-g %s; already used: %v", f, g, used)
		}
	})
}
