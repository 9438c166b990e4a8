package dns

import (
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	mdns "github.com/miekg/dns"
)

// schemaVersion is the version of the DNS-Based Service Discovery
// specification served at dns-version.<zone> (TXT), as CoreDNS does.
const schemaVersion = "1.1.0"

// result is an answer before it becomes a message: the rcode and the
// sections. cname, when set, is an ExternalName target the caller still
// has to resolve (unless CNAME was asked).
type result struct {
	rcode             int
	answer, ns, extra []mdns.RR
	cname             string
	authoritative     bool
}

// answerer builds cluster answers from the index.
type answerer struct {
	ix     *index
	ttl    uint32
	nsAddr netip.Addr
	// reverse are the reverse zones this server is authoritative for, with
	// the CIDRs they were made from.
	reverse []reverseZone
}

type reverseZone struct {
	name   string // "43.10.in-addr.arpa."
	prefix netip.Prefix
}

// reverseZoneOf names the reverse zone of p, widened to an octet (IPv4)
// or nibble (IPv6) boundary.
func reverseZoneOf(p netip.Prefix) reverseZone {
	p = p.Masked()
	a := p.Addr()
	var labels []string
	if a.Is4() {
		b := a.As4()
		for i := 0; i < p.Bits()/8; i++ {
			labels = append([]string{strconv.Itoa(int(b[i]))}, labels...)
		}
		return reverseZone{name: strings.Join(append(labels, "in-addr", "arpa"), ".") + ".", prefix: p}
	}
	b := a.As16()
	for i := 0; i < p.Bits()/4; i++ {
		nib := b[i/2] >> 4
		if i%2 == 1 {
			nib = b[i/2] & 0xf
		}
		labels = append([]string{strconv.FormatInt(int64(nib), 16)}, labels...)
	}
	return reverseZone{name: strings.Join(append(labels, "ip6", "arpa"), ".") + ".", prefix: p}
}

// inCluster reports whether name (lower case, fully qualified) is in the
// cluster domain.
func (a *answerer) inCluster(name string) bool { return mdns.IsSubDomain(a.ix.zone, name) }

// reverseZoneFor returns the authoritative reverse zone name is in, or "".
func (a *answerer) reverseZoneFor(name string) string {
	for _, z := range a.reverse {
		if mdns.IsSubDomain(z.name, name) {
			return z.name
		}
	}
	return ""
}

func (a *answerer) hdr(name string, t uint16) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: a.ttl}
}

func (a *answerer) soa(zone string, serial uint32) *mdns.SOA {
	return &mdns.SOA{Hdr: a.hdr(zone, mdns.TypeSOA), Ns: "ns.dns." + a.ix.zone, Mbox: "hostmaster." + a.ix.zone,
		Serial: serial, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: a.ttl}
}

// negative is NXDOMAIN (exists false) or NODATA: no answer, the zone's SOA
// in the authority section, so resolvers cache the denial (RFC 2308).
func (a *answerer) negative(zone string, exists bool) result {
	r := result{rcode: mdns.RcodeSuccess, authoritative: true, ns: []mdns.RR{a.soa(zone, a.ix.serial)}}
	if !exists {
		r.rcode = mdns.RcodeNameError
	}
	return r
}

// positive is a NOERROR answer, or NODATA when rrs is empty.
func (a *answerer) positive(zone string, rrs, extra []mdns.RR) result {
	if len(rrs) == 0 {
		return a.negative(zone, true)
	}
	return result{rcode: mdns.RcodeSuccess, authoritative: true, answer: rrs, extra: extra}
}

// addrRRs are the A (or AAAA) records of name for the addresses of the
// asked family.
func (a *answerer) addrRRs(name string, qtype uint16, addrs ...netip.Addr) []mdns.RR {
	var rrs []mdns.RR
	for _, ip := range addrs {
		switch {
		case qtype == mdns.TypeA && ip.Is4():
			rrs = append(rrs, &mdns.A{Hdr: a.hdr(name, mdns.TypeA), A: net.IP(ip.AsSlice())})
		case qtype == mdns.TypeAAAA && ip.Is6():
			rrs = append(rrs, &mdns.AAAA{Hdr: a.hdr(name, mdns.TypeAAAA), AAAA: net.IP(ip.AsSlice())})
		}
	}
	return rrs
}

// bothRRs are the A and AAAA records of name (an SRV target's, for the
// additional section).
func (a *answerer) bothRRs(name string, addrs ...netip.Addr) []mdns.RR {
	return append(a.addrRRs(name, mdns.TypeA, addrs...), a.addrRRs(name, mdns.TypeAAAA, addrs...)...)
}

// cluster answers q for a name in the cluster domain. qname is the name as
// asked (answers keep its case), name the same in lower case.
func (a *answerer) cluster(q mdns.Question, name string) result {
	ix := a.ix
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	zone := ix.zone
	var parts []string
	if rel := strings.TrimSuffix(name, zone); rel != "" {
		parts = strings.Split(strings.TrimSuffix(rel, "."), ".")
	}
	n := len(parts)
	switch {
	case n == 0:
		switch q.Qtype {
		case mdns.TypeSOA:
			s := a.soa(zone, ix.serial)
			s.Hdr.Name = q.Name
			return a.positive(zone, []mdns.RR{s}, nil)
		case mdns.TypeNS:
			target := "ns.dns." + zone
			rr := &mdns.NS{Hdr: a.hdr(q.Name, mdns.TypeNS), Ns: target}
			var extra []mdns.RR
			if a.nsAddr.IsValid() {
				extra = a.bothRRs(target, a.nsAddr)
			}
			return a.positive(zone, []mdns.RR{rr}, extra)
		}
		return a.negative(zone, true)
	case n == 1:
		switch parts[0] {
		case "dns-version":
			var rrs []mdns.RR
			if q.Qtype == mdns.TypeTXT {
				rrs = append(rrs, &mdns.TXT{Hdr: a.hdr(q.Name, mdns.TypeTXT), Txt: []string{schemaVersion}})
			}
			return a.positive(zone, rrs, nil)
		case "svc", "pod", "dns":
			return a.negative(zone, true)
		}
	case parts[n-1] == "dns":
		if n == 2 && parts[0] == "ns" {
			var rrs []mdns.RR
			if a.nsAddr.IsValid() {
				rrs = a.addrRRs(q.Name, q.Qtype, a.nsAddr)
			}
			return a.positive(zone, rrs, nil)
		}
	case parts[n-1] == "pod":
		switch n {
		case 2:
			// "pods insecure": every address exists in every namespace, so
			// <ns>.pod.<zone> is an empty non-terminal.
			return a.negative(zone, true)
		case 3:
			// "pods insecure", as kube-dns did and CoreDNS keeps for it: the
			// address is read from the name, no pod is looked up.
			ip, ok := undash(parts[0])
			if !ok {
				break
			}
			return a.positive(zone, a.addrRRs(q.Name, q.Qtype, ip), nil)
		}
	case parts[n-1] == "svc":
		if n == 2 {
			return a.negative(zone, ix.namespaces[parts[0]] > 0)
		}
		if n > 5 {
			break
		}
		s := ix.lookup(parts[n-3], parts[n-2])
		if s == nil {
			break
		}
		switch n {
		case 3:
			return a.service(q, s)
		case 4:
			return a.endpointName(q, s, parts[0])
		case 5:
			return a.srv(q, s, parts[0], parts[1])
		}
	}
	return a.negative(zone, false)
}

// service answers <svc>.<ns>.svc.<zone>.
func (a *answerer) service(q mdns.Question, s *service) result {
	zone := a.ix.zone
	switch s.kind {
	case external:
		r := result{rcode: mdns.RcodeSuccess, authoritative: true,
			answer: []mdns.RR{&mdns.CNAME{Hdr: a.hdr(q.Name, mdns.TypeCNAME), Target: s.target}}}
		if q.Qtype != mdns.TypeCNAME {
			r.cname = s.target
		}
		return r
	case clusterIP:
		if q.Qtype == mdns.TypeSRV {
			return a.srvRecords(q, s, func(port) bool { return true })
		}
		return a.positive(zone, a.addrRRs(q.Name, q.Qtype, s.ips...), nil)
	default: // headless
		if len(s.endpoints) == 0 {
			// The specification: no ready endpoints, NXDOMAIN.
			return a.negative(zone, false)
		}
		if q.Qtype == mdns.TypeSRV {
			return a.srvRecords(q, s, func(port) bool { return true })
		}
		var addrs []netip.Addr
		for _, e := range s.endpoints {
			addrs = append(addrs, e.addr)
		}
		return a.positive(zone, a.addrRRs(q.Name, q.Qtype, addrs...), nil)
	}
}

// endpointName answers <label>.<svc>.<ns>.svc.<zone>: a headless
// endpoint's hostname, or _<proto> above a port's SRV name (an empty
// non-terminal).
func (a *answerer) endpointName(q mdns.Question, s *service, label string) result {
	zone := a.ix.zone
	if s.kind == headless && s.hasHost(label) {
		var addrs []netip.Addr
		for _, e := range s.endpoints {
			if e.host == label {
				addrs = append(addrs, e.addr)
			}
		}
		return a.positive(zone, a.addrRRs(q.Name, q.Qtype, addrs...), nil)
	}
	if proto, ok := strings.CutPrefix(label, "_"); ok {
		found := false
		s.eachPort(func(_ *endpoint, p port) {
			found = found || (p.name != "" && p.proto == proto)
		})
		if found {
			return a.negative(zone, true)
		}
	}
	return a.negative(zone, false)
}

// srv answers _<port>._<proto>.<svc>.<ns>.svc.<zone>: named ports only,
// as the specification says.
func (a *answerer) srv(q mdns.Question, s *service, portLabel, protoLabel string) result {
	name, ok1 := strings.CutPrefix(portLabel, "_")
	proto, ok2 := strings.CutPrefix(protoLabel, "_")
	if !ok1 || !ok2 || name == "" || s.kind == external {
		return a.negative(a.ix.zone, false)
	}
	match := func(p port) bool { return p.name == name && p.proto == proto }
	found := false
	s.eachPort(func(_ *endpoint, p port) { found = found || match(p) })
	if !found {
		return a.negative(a.ix.zone, false)
	}
	if q.Qtype != mdns.TypeSRV {
		return a.negative(a.ix.zone, true)
	}
	return a.srvRecords(q, s, match)
}

// srvRecords are the SRV records of the ports of s that match: for a
// ClusterIP Service one per port with the Service as target, for a headless
// one per endpoint and port with <hostname>.<svc> as target (the
// specification's N x M). Priority 0 and the weight shared out as CoreDNS
// does (100 / number of records); the targets' addresses go in the
// additional section.
func (a *answerer) srvRecords(q mdns.Question, s *service, match func(port) bool) result {
	fqdn := s.fqdn(a.ix.zone)
	type rec struct {
		target string
		number uint16
		addr   netip.Addr
	}
	var recs []rec
	s.eachPort(func(e *endpoint, p port) {
		if !match(p) {
			return
		}
		if e == nil {
			recs = append(recs, rec{target: fqdn, number: p.number})
		} else {
			recs = append(recs, rec{target: e.host + "." + fqdn, number: p.number, addr: e.addr})
		}
	})
	if len(recs) == 0 {
		return a.negative(a.ix.zone, true)
	}
	weight := uint16(max(1, 100/len(recs)))
	var rrs, extra []mdns.RR
	seen := map[string]bool{}
	for _, r := range recs {
		rrs = append(rrs, &mdns.SRV{Hdr: a.hdr(q.Name, mdns.TypeSRV), Priority: 0, Weight: weight, Port: r.number, Target: r.target})
		if seen[r.target+r.addr.String()] {
			continue
		}
		seen[r.target+r.addr.String()] = true
		if r.addr.IsValid() {
			extra = append(extra, a.bothRRs(r.target, r.addr)...)
		} else {
			extra = append(extra, a.bothRRs(r.target, s.ips...)...)
		}
	}
	return a.positive(a.ix.zone, rrs, extra)
}

// eachPort calls f for the ports of a ClusterIP Service (endpoint nil) or
// for every endpoint and port of a headless one.
func (s *service) eachPort(f func(*endpoint, port)) {
	if s.kind == clusterIP {
		for _, p := range s.ports {
			f(nil, p)
		}
		return
	}
	for i := range s.endpoints {
		for _, p := range s.endpoints[i].ports {
			f(&s.endpoints[i], p)
		}
	}
}

// parseReverse reads the address of a full reverse name
// (d.c.b.a.in-addr.arpa., or 32 nibbles under ip6.arpa.).
func parseReverse(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa."); ok {
		l := strings.Split(rest, ".")
		if len(l) != 4 {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(l[3] + "." + l[2] + "." + l[1] + "." + l[0])
		return a, err == nil
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa."); ok {
		l := strings.Split(rest, ".")
		if len(l) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, nib := range l {
			if len(nib) != 1 {
				return netip.Addr{}, false
			}
			v, err := strconv.ParseUint(nib, 16, 8)
			if err != nil {
				return netip.Addr{}, false
			}
			j := 31 - i
			if j%2 == 0 {
				b[j/2] |= byte(v) << 4
			} else {
				b[j/2] |= byte(v)
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

// reverseAnswer answers a reverse name from the index. handled is false
// when the name is neither a known address nor in an authoritative reverse
// zone: the caller forwards it.
func (a *answerer) reverseAnswer(q mdns.Question, name string) (r result, handled bool) {
	ix := a.ix
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	ip, full := parseReverse(name)
	if full {
		ip = ip.Unmap()
	}
	zone := a.reverseZoneFor(name)
	if full {
		if targets := ix.ptr[ip]; len(targets) > 0 {
			if zone == "" {
				zone = ix.zone
			}
			var rrs []mdns.RR
			if q.Qtype == mdns.TypePTR {
				for _, t := range sortedKeys(targets) {
					rrs = append(rrs, &mdns.PTR{Hdr: a.hdr(q.Name, mdns.TypePTR), Ptr: t})
				}
			}
			return a.positive(zone, rrs, nil), true
		}
	}
	if zone == "" {
		return result{}, false
	}
	switch {
	case name == zone && q.Qtype == mdns.TypeSOA:
		s := a.soa(zone, ix.serial)
		s.Hdr.Name = q.Name
		return a.positive(zone, []mdns.RR{s}, nil), true
	case name == zone && q.Qtype == mdns.TypeNS:
		return a.positive(zone, []mdns.RR{&mdns.NS{Hdr: a.hdr(q.Name, mdns.TypeNS), Ns: "ns.dns." + ix.zone}}, nil), true
	case full:
		return a.negative(zone, false), true
	}
	// The apex or a name between it and the addresses: they exist (as
	// empty non-terminals) when well formed.
	labels := mdns.SplitDomainName(strings.TrimSuffix(name, zone))
	max := 3
	if strings.HasSuffix(zone, "ip6.arpa.") {
		max = 31
	}
	return a.negative(zone, len(labels) <= max), true
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
