package netrules

import (
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/runtime/network"
)

// benchSnapshot is n Services with one port and 2 ready endpoints each,
// one of them on this node.
func benchSnapshot(n int) Snapshot {
	s := Snapshot{NodeName: testNode, NodeIPs: []netip.Addr{netip.MustParseAddr("198.51.100.1")}, ClusterCIDR: netip.MustParsePrefix("10.42.0.0/16")}
	for i := range n {
		name := fmt.Sprintf("svc-%04d", i)
		s.Services = append(s.Services, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: name},
			Spec: corev1.ServiceSpec{ClusterIP: fmt.Sprintf("10.43.%d.%d", i/250, i%250+1),
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
		})
		s.EndpointSlices = append(s.EndpointSlices, &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: "bench", Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}},
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{fmt.Sprintf("10.42.%d.%d", i/125, 2*(i%125)+1)}, NodeName: ptr.To(testNode)},
				{Addresses: []string{fmt.Sprintf("10.42.%d.%d", i/125, 2*(i%125)+2)}, NodeName: ptr.To("node-b")},
			},
		})
	}
	return s
}

// benchNetNS makes a namespace for the benchmark (never the host's).
func benchNetNS(b *testing.B) string {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root (network namespaces, iptables)")
	}
	name := fmt.Sprintf("appl-nr-bench-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		b.Fatalf("ip netns add: %v: %s", err, out)
	}
	b.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	return "/var/run/netns/" + name
}

// rawRestore is the floor: iptables-restore --noflush of input, in the
// same namespace, with nothing of ours around it.
func rawRestore(b *testing.B, nsPath string, input []byte) time.Duration {
	b.Helper()
	start := time.Now()
	if err := network.InNetNS(nsPath, func() error { return restore(input) }); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// BenchmarkSync measures syncs of N=1000 Services with 2 endpoints each,
// in a network namespace of its own, against a floor measured in the same
// loop: a bare `iptables-restore --noflush` of the same text there.
//
//   - full: what the periodic resync does: render, list our chains
//     (iptables-save), write every chain, check the jumps. Floor: a
//     restore of the whole rendered text.
//
//   - incremental: one endpoint of one Service changed: render, write the
//     fixed chains and the changed ones. Floor: a restore of that same
//     input; full-floor-ms is the whole text, what a proxy that always
//     writes everything would pay at least.
//
//     sudo go test -run '^$' -bench BenchmarkSync -benchtime 10x ./netrules/
func BenchmarkSync(b *testing.B) {
	const n = 1000
	nsPath := benchNetNS(b)
	p := &Proxier{cfg: Config{NetNS: nsPath}, log: slog.New(slog.NewTextHandler(io.Discard, nil)), logged: map[string]bool{}}
	snap := benchSnapshot(n)
	if err := p.apply(Render(snap), true, time.Now()); err != nil {
		b.Fatal(err)
	}

	b.Run("full", func(b *testing.B) {
		var ours, floor time.Duration
		for i := 0; i < b.N; i++ {
			start := time.Now()
			rules := Render(snap)
			if err := p.apply(rules, true, start); err != nil {
				b.Fatal(err)
			}
			ours += time.Since(start)
			floor += rawRestore(b, nsPath, rules.Text())
		}
		report(b, ours, floor, 0)
	})

	b.Run("incremental", func(b *testing.B) {
		var ours, floor, fullFloor time.Duration
		for i := 0; i < b.N; i++ {
			// Move the second endpoint of one Service to a new address.
			sl := snap.EndpointSlices[i%n].DeepCopy()
			sl.Endpoints[1].Addresses = []string{fmt.Sprintf("10.42.200.%d", i%250+1)}
			old := snap.EndpointSlices[i%n]
			snap.EndpointSlices[i%n] = sl
			start := time.Now()
			rules := Render(snap)
			input := restoreInput(rules, p.writtenChains, map[string]bool{}, false)
			if err := p.apply(rules, false, start); err != nil {
				b.Fatal(err)
			}
			ours += time.Since(start)
			floor += rawRestore(b, nsPath, input)
			fullFloor += rawRestore(b, nsPath, rules.Text())
			snap.EndpointSlices[i%n] = old
			// Back to the previous rules, outside the timing.
			if err := p.apply(Render(snap), false, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
		report(b, ours, floor, fullFloor)
	})
}

func report(b *testing.B, ours, floor, fullFloor time.Duration) {
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(ours), "sync-ms")
	b.ReportMetric(ms(floor), "floor-ms")
	b.ReportMetric(float64(ours)/float64(floor), "ratio")
	if fullFloor > 0 {
		b.ReportMetric(ms(fullFloor), "full-floor-ms")
	}
	b.ReportMetric(0, "ns/op")
}
