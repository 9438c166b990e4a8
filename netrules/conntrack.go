package netrules

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// conntrackFilter selects UDP flows sent to dst: those answered by
// endpoint, or, when endpoint is not valid, those that were not translated
// at all (answered by dst itself).
type conntrackFilter struct {
	dst      dst
	endpoint netip.Addr
}

func (f conntrackFilter) String() string {
	from := "untranslated"
	if f.endpoint.IsValid() {
		from = f.endpoint.String()
	}
	return fmt.Sprintf("%s:%d<-%s", f.dst.ip, f.dst.port, from)
}

// MatchConntrackFlow implements netlink.CustomConntrackFilter.
func (f conntrackFilter) MatchConntrackFlow(flow *netlink.ConntrackFlow) bool {
	fw, rv := flow.Forward, flow.Reverse
	if fw.Protocol != unix.IPPROTO_UDP || fw.DstPort != uint16(f.dst.port) {
		return false
	}
	dstIP, ok := netip.AddrFromSlice(fw.DstIP)
	if !ok || dstIP.Unmap() != f.dst.ip {
		return false
	}
	replyIP, ok := netip.AddrFromSlice(rv.SrcIP)
	if !ok {
		return false
	}
	if f.endpoint.IsValid() {
		return replyIP.Unmap() == f.endpoint
	}
	return replyIP.Unmap() == f.dst.ip
}

// staleConntrack lists the UDP conntrack entries to delete once cur is
// written over old (nil: the first write of this process), as kube-proxy
// does. UDP has no connection to end, and a conntrack entry decides the
// fate of every later packet of its flow, so a client that keeps sending
// from one port would otherwise stay where its first packet went for as
// long as it keeps sending:
//   - flows to a UDP service port answered by an endpoint it no longer
//     has;
//   - flows to a UDP service port that were not translated: packets sent
//     before its rules (or its endpoints) existed. Looked for on the
//     ports that are new since old, and on all of them at the first write.
//
// TCP needs nothing: new connections take the new rules, and old ones end
// with their endpoint.
func staleConntrack(old, cur *Rules) []conntrackFilter {
	var out []conntrackFilter
	add := func(f conntrackFilter) {
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	for name, n := range cur.udp {
		if old != nil {
			if _, ok := old.udp[name]; ok {
				continue
			}
		}
		for _, d := range n.dsts {
			add(conntrackFilter{dst: d})
		}
	}
	if old != nil {
		for name, o := range old.udp {
			n := cur.udp[name]
			for addr, ip := range o.endpoints {
				if _, ok := n.endpoints[addr]; ok {
					continue
				}
				for _, d := range o.dsts {
					add(conntrackFilter{dst: d, endpoint: ip})
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b conntrackFilter) int {
		return cmp.Or(a.dst.ip.Compare(b.dst.ip), cmp.Compare(a.dst.port, b.dst.port), a.endpoint.Compare(b.endpoint))
	})
	return out
}

// deleteConntrack deletes the flows the filters select; it runs inside the
// target namespace.
func deleteConntrack(filters []conntrackFilter) error {
	nf := make([]netlink.CustomConntrackFilter, len(filters))
	for i, f := range filters {
		nf[i] = f
	}
	if _, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, nf...); err != nil {
		return fmt.Errorf("delete conntrack entries: %w", err)
	}
	return nil
}
