package dns

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
)

const z = "cluster.local."

// clusterObjects: one Service of each kind the specification names.
func clusterObjects() []runtime.Object {
	pg := []discoveryv1.EndpointPort{epPort("pg", corev1.ProtocolTCP, 5432)}
	return []runtime.Object{
		svcClusterIP("ns1", "web", []string{"10.43.0.20"}, svcPort("http", corev1.ProtocolTCP, 80), svcPort("dns", corev1.ProtocolUDP, 53)),
		svcClusterIP("ns1", "dual", []string{"10.43.0.21", "fd00:43::21"}, svcPort("", corev1.ProtocolTCP, 80)),
		svcHeadless("ns1", "db", false),
		slice("ns1", "db", "db-a", discoveryv1.AddressTypeIPv4, pg,
			ep("10.42.0.6", "db-1", true), ep("10.42.0.5", "db-0", true), ep("10.42.0.7", "db-9", false)),
		svcHeadless("ns1", "nohost", false),
		slice("ns1", "nohost", "nohost-a", discoveryv1.AddressTypeIPv4, nil, ep("10.42.0.8", "", true)),
		svcHeadless("ns1", "pending", true),
		slice("ns1", "pending", "pending-a", discoveryv1.AddressTypeIPv4, nil, ep("10.42.0.9", "", false)),
		svcHeadless("ns1", "empty", false),
		svcExternal("ns1", "ext", "www.example.org"),
		svcExternal("ns1", "alias", "web.ns1.svc.cluster.local"),
		svcHeadless("ns1", "big", false),
		slice("ns1", "big", "big-a", discoveryv1.AddressTypeIPv4, nil, manyEndpoints(60)...),
	}
}

// externalUpstream answers www.example.org A 192.0.2.1 (ExternalName chase).
func externalUpstream(q mdns.Question, m *mdns.Msg) {
	if strings.EqualFold(q.Name, "www.example.org.") && q.Qtype == mdns.TypeA {
		rr, _ := mdns.NewRR("www.example.org. 60 IN A 192.0.2.1")
		m.Answer = append(m.Answer, rr)
		return
	}
	m.Rcode = mdns.RcodeNameError
}

func TestClusterRecords(t *testing.T) {
	up := startUpstream(t, externalUpstream)
	fc := newFakeCluster(clusterObjects()...)
	s := startServer(t, Config{Client: fc, Upstreams: []string{up.addr}, NSAddress: netip.MustParseAddr("10.43.0.10")})
	waitReady(t, s)
	addr := s.Addrs()[0]

	nx, nodata := mdns.RcodeNameError, -1 // nodata: NOERROR, no answer, SOA in authority
	cases := []struct {
		name  string
		qname string
		qtype uint16
		rcode int
		want  []string // answer section, without TTLs, in order (sorted when sorted)
		extra []string
		sort  bool
	}{
		{name: "clusterip A", qname: "web.ns1.svc." + z, qtype: mdns.TypeA, want: []string{"web.ns1.svc.cluster.local. A 10.43.0.20"}},
		{name: "clusterip AAAA nodata", qname: "web.ns1.svc." + z, qtype: mdns.TypeAAAA, rcode: nodata},
		{name: "clusterip TXT nodata", qname: "web.ns1.svc." + z, qtype: mdns.TypeTXT, rcode: nodata},
		{name: "dual-stack A", qname: "dual.ns1.svc." + z, qtype: mdns.TypeA, want: []string{"dual.ns1.svc.cluster.local. A 10.43.0.21"}},
		{name: "dual-stack AAAA", qname: "dual.ns1.svc." + z, qtype: mdns.TypeAAAA, want: []string{"dual.ns1.svc.cluster.local. AAAA fd00:43::21"}},
		{name: "case-insensitive", qname: "Web.NS1.Svc.Cluster.Local.", qtype: mdns.TypeA, want: []string{"Web.NS1.Svc.Cluster.Local. A 10.43.0.20"}},
		{name: "unknown service", qname: "nope.ns1.svc." + z, qtype: mdns.TypeA, rcode: nx},
		{name: "namespace with services", qname: "ns1.svc." + z, qtype: mdns.TypeA, rcode: nodata},
		{name: "namespace without services", qname: "ns2.svc." + z, qtype: mdns.TypeA, rcode: nx},
		{name: "unknown under zone", qname: "foo." + z, qtype: mdns.TypeA, rcode: nx},
		{name: "too deep", qname: "a.b._http._tcp.web.ns1.svc." + z, qtype: mdns.TypeA, rcode: nx},
		{name: "srv named port", qname: "_http._tcp.web.ns1.svc." + z, qtype: mdns.TypeSRV,
			want:  []string{"_http._tcp.web.ns1.svc.cluster.local. SRV 0 100 80 web.ns1.svc.cluster.local."},
			extra: []string{"web.ns1.svc.cluster.local. A 10.43.0.20"}},
		{name: "srv udp port", qname: "_dns._udp.web.ns1.svc." + z, qtype: mdns.TypeSRV,
			want: []string{"_dns._udp.web.ns1.svc.cluster.local. SRV 0 100 53 web.ns1.svc.cluster.local."}},
		{name: "srv wrong protocol", qname: "_http._udp.web.ns1.svc." + z, qtype: mdns.TypeSRV, rcode: nx},
		{name: "srv name asked A", qname: "_http._tcp.web.ns1.svc." + z, qtype: mdns.TypeA, rcode: nodata},
		{name: "protocol label is empty non-terminal", qname: "_tcp.web.ns1.svc." + z, qtype: mdns.TypeSRV, rcode: nodata},
		{name: "srv of the service name: every port", qname: "web.ns1.svc." + z, qtype: mdns.TypeSRV, sort: true,
			want: []string{"web.ns1.svc.cluster.local. SRV 0 50 53 web.ns1.svc.cluster.local.", "web.ns1.svc.cluster.local. SRV 0 50 80 web.ns1.svc.cluster.local."}},
		{name: "headless A: ready endpoints only", qname: "db.ns1.svc." + z, qtype: mdns.TypeA, sort: true,
			want: []string{"db.ns1.svc.cluster.local. A 10.42.0.5", "db.ns1.svc.cluster.local. A 10.42.0.6"}},
		{name: "headless AAAA nodata", qname: "db.ns1.svc." + z, qtype: mdns.TypeAAAA, rcode: nodata},
		{name: "headless hostname", qname: "db-0.db.ns1.svc." + z, qtype: mdns.TypeA, want: []string{"db-0.db.ns1.svc.cluster.local. A 10.42.0.5"}},
		{name: "headless not-ready hostname", qname: "db-9.db.ns1.svc." + z, qtype: mdns.TypeA, rcode: nx},
		{name: "headless srv: one per endpoint", qname: "_pg._tcp.db.ns1.svc." + z, qtype: mdns.TypeSRV, sort: true,
			want:  []string{"_pg._tcp.db.ns1.svc.cluster.local. SRV 0 50 5432 db-0.db.ns1.svc.cluster.local.", "_pg._tcp.db.ns1.svc.cluster.local. SRV 0 50 5432 db-1.db.ns1.svc.cluster.local."},
			extra: []string{"db-0.db.ns1.svc.cluster.local. A 10.42.0.5", "db-1.db.ns1.svc.cluster.local. A 10.42.0.6"}},
		{name: "headless endpoint without hostname", qname: "10-42-0-8.nohost.ns1.svc." + z, qtype: mdns.TypeA, want: []string{"10-42-0-8.nohost.ns1.svc.cluster.local. A 10.42.0.8"}},
		{name: "publishNotReadyAddresses", qname: "pending.ns1.svc." + z, qtype: mdns.TypeA, want: []string{"pending.ns1.svc.cluster.local. A 10.42.0.9"}},
		{name: "headless without endpoints", qname: "empty.ns1.svc." + z, qtype: mdns.TypeA, rcode: nx},
		{name: "externalname CNAME", qname: "ext.ns1.svc." + z, qtype: mdns.TypeCNAME, want: []string{"ext.ns1.svc.cluster.local. CNAME www.example.org."}},
		{name: "externalname A chased upstream", qname: "ext.ns1.svc." + z, qtype: mdns.TypeA,
			want: []string{"ext.ns1.svc.cluster.local. CNAME www.example.org.", "www.example.org. A 192.0.2.1"}},
		{name: "externalname into the cluster", qname: "alias.ns1.svc." + z, qtype: mdns.TypeA,
			want: []string{"alias.ns1.svc.cluster.local. CNAME web.ns1.svc.cluster.local.", "web.ns1.svc.cluster.local. A 10.43.0.20"}},
		{name: "pod A", qname: "10-42-3-4.anyns.pod." + z, qtype: mdns.TypeA, want: []string{"10-42-3-4.anyns.pod.cluster.local. A 10.42.3.4"}},
		{name: "pod AAAA", qname: "fd00--1.anyns.pod." + z, qtype: mdns.TypeAAAA, want: []string{"fd00--1.anyns.pod.cluster.local. AAAA fd00::1"}},
		{name: "pod A of v6 name", qname: "fd00--1.anyns.pod." + z, qtype: mdns.TypeA, rcode: nodata},
		{name: "pod bad name", qname: "foo.anyns.pod." + z, qtype: mdns.TypeA, rcode: nx},
		{name: "pod bad octet", qname: "10-42-3-400.anyns.pod." + z, qtype: mdns.TypeA, rcode: nx},
		{name: "ptr clusterip", qname: "20.0.43.10.in-addr.arpa.", qtype: mdns.TypePTR, want: []string{"20.0.43.10.in-addr.arpa. PTR web.ns1.svc.cluster.local."}},
		{name: "ptr headless endpoint", qname: "5.0.42.10.in-addr.arpa.", qtype: mdns.TypePTR, want: []string{"5.0.42.10.in-addr.arpa. PTR db-0.db.ns1.svc.cluster.local."}},
		{name: "ptr endpoint without hostname", qname: "8.0.42.10.in-addr.arpa.", qtype: mdns.TypePTR, want: []string{"8.0.42.10.in-addr.arpa. PTR 10-42-0-8.nohost.ns1.svc.cluster.local."}},
		{name: "ptr ipv6 clusterip outside the reverse zones",
			qname: "1.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.4.0.0.0.0.d.f.ip6.arpa.", qtype: mdns.TypePTR,
			want: []string{"1.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.4.0.0.0.0.d.f.ip6.arpa. PTR dual.ns1.svc.cluster.local."}},
		{name: "ptr unknown in service cidr", qname: "99.0.43.10.in-addr.arpa.", qtype: mdns.TypePTR, rcode: nx},
		{name: "ptr zone apex", qname: "43.10.in-addr.arpa.", qtype: mdns.TypeSOA,
			want: []string{"43.10.in-addr.arpa. SOA ns.dns.cluster.local. hostmaster.cluster.local."}},
		{name: "soa", qname: z, qtype: mdns.TypeSOA, want: []string{"cluster.local. SOA ns.dns.cluster.local. hostmaster.cluster.local."}},
		{name: "ns", qname: z, qtype: mdns.TypeNS, want: []string{"cluster.local. NS ns.dns.cluster.local."},
			extra: []string{"ns.dns.cluster.local. A 10.43.0.10"}},
		{name: "ns target address", qname: "ns.dns." + z, qtype: mdns.TypeA, want: []string{"ns.dns.cluster.local. A 10.43.0.10"}},
		{name: "apex A nodata", qname: z, qtype: mdns.TypeA, rcode: nodata},
		{name: "schema version", qname: "dns-version." + z, qtype: mdns.TypeTXT, want: []string{`dns-version.cluster.local. TXT "1.1.0"`}},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tc := range cases {
			t.Run(network+"/"+tc.name, func(t *testing.T) {
				r := query(t, addr, network, tc.qname, tc.qtype, 0)
				wantRcode := tc.rcode
				if wantRcode == nodata {
					wantRcode = mdns.RcodeSuccess
				}
				if r.Rcode != wantRcode {
					t.Fatalf("rcode %s, want %s\n%v", mdns.RcodeToString[r.Rcode], mdns.RcodeToString[wantRcode], r)
				}
				if !r.Authoritative && !strings.HasPrefix(tc.name, "externalname A chased") {
					t.Errorf("not authoritative")
				}
				got := rrs(r.Answer)
				if tc.qtype == mdns.TypeSOA {
					for i := range got { // drop serial and timers
						got[i] = strings.Join(strings.Fields(got[i])[:4], " ")
					}
				}
				if tc.sort {
					slices.Sort(got)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("answer %q, want %q", got, tc.want)
				}
				if tc.extra != nil && !slices.Equal(sorted(rrs(r.Extra)), tc.extra) {
					t.Errorf("additional %q, want %q", rrs(r.Extra), tc.extra)
				}
				if len(tc.want) == 0 {
					// NXDOMAIN and NODATA carry the zone's SOA, so they are cached.
					if len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != mdns.TypeSOA || r.Ns[0].Header().Ttl != DefaultTTL {
						t.Errorf("authority %v, want the zone's SOA with TTL 5", r.Ns)
					}
				}
				for _, rr := range r.Answer {
					if rr.Header().Ttl != DefaultTTL && !strings.HasPrefix(rr.Header().Name, "www.example.org") {
						t.Errorf("TTL %d, want %d: %v", rr.Header().Ttl, DefaultTTL, rr)
					}
				}
			})
		}
	}
	// Cluster and authoritative reverse names never reach the upstream;
	// only the ExternalName target did.
	for _, n := range up.names() {
		if n != "www.example.org." {
			t.Errorf("upstream asked %q", n)
		}
	}
}

func sorted(s []string) []string { slices.Sort(s); return s }

// TestClusterUpdates: the answers follow the informers: an endpoint that
// appears is answered, a Service deleted is NXDOMAIN, its PTR gone.
func TestClusterUpdates(t *testing.T) {
	fc := newFakeCluster()
	s := startServer(t, Config{Client: fc})
	waitReady(t, s)
	fc.waitWatches(t)
	addr := s.Addrs()[0]
	ctx := context.Background()
	name := "db.ns1.svc." + z

	if r := query(t, addr, "udp", name, mdns.TypeA, 0); r.Rcode != mdns.RcodeNameError {
		t.Fatalf("before the Service: %s, want NXDOMAIN", mdns.RcodeToString[r.Rcode])
	}
	if _, err := fc.CoreV1().Services("ns1").Create(ctx, svcHeadless("ns1", "db", false), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sl := slice("ns1", "db", "db-a", discoveryv1.AddressTypeIPv4, nil, ep("10.42.0.5", "db-0", true))
	if _, err := fc.DiscoveryV1().EndpointSlices("ns1").Create(ctx, sl, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, addr, name, mdns.TypeA, "one endpoint", func(r *mdns.Msg) bool { return len(r.Answer) == 1 })

	sl.Endpoints = append(sl.Endpoints, ep("10.42.0.6", "db-1", true))
	if _, err := fc.DiscoveryV1().EndpointSlices("ns1").Update(ctx, sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, addr, "db-1."+name, mdns.TypeA, "the new endpoint", func(r *mdns.Msg) bool { return len(r.Answer) == 1 })
	waitAnswer(t, addr, name, mdns.TypeA, "two endpoints", func(r *mdns.Msg) bool { return len(r.Answer) == 2 })
	waitAnswer(t, addr, "6.0.42.10.in-addr.arpa.", mdns.TypePTR, "the new endpoint's PTR", func(r *mdns.Msg) bool { return len(r.Answer) == 1 })

	// Not ready any more: gone from the answers.
	sl.Endpoints[0] = ep("10.42.0.5", "db-0", false)
	if _, err := fc.DiscoveryV1().EndpointSlices("ns1").Update(ctx, sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, addr, "db-0."+name, mdns.TypeA, "NXDOMAIN for the unready endpoint", func(r *mdns.Msg) bool { return r.Rcode == mdns.RcodeNameError })

	if err := fc.CoreV1().Services("ns1").Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitAnswer(t, addr, name, mdns.TypeA, "NXDOMAIN after delete", func(r *mdns.Msg) bool { return r.Rcode == mdns.RcodeNameError })
	waitAnswer(t, addr, "6.0.42.10.in-addr.arpa.", mdns.TypePTR, "no PTR after delete", func(r *mdns.Msg) bool { return r.Rcode == mdns.RcodeNameError })
	if r := query(t, addr, "udp", "ns1.svc."+z, mdns.TypeA, 0); r.Rcode != mdns.RcodeNameError {
		t.Errorf("namespace without Services: %s, want NXDOMAIN", mdns.RcodeToString[r.Rcode])
	}
}

// TestTruncation: 60 addresses do not fit 512 bytes: over UDP the answer is
// cut with TC set, a client retries over TCP and gets them all; an EDNS0
// buffer of 4096 gets them over UDP.
func TestTruncation(t *testing.T) {
	s := startServer(t, Config{Client: newFakeCluster(clusterObjects()...)})
	waitReady(t, s)
	addr := s.Addrs()[0]
	name := "big.ns1.svc." + z

	r := query(t, addr, "udp", name, mdns.TypeA, 0)
	if !r.Truncated || len(r.Answer) >= 60 {
		t.Fatalf("UDP without EDNS0: TC=%v with %d answers, want TC and fewer than 60", r.Truncated, len(r.Answer))
	}
	r.Compress = true // as it came on the wire
	if r.Len() > mdns.MinMsgSize {
		t.Errorf("UDP answer is %d bytes, over 512", r.Len())
	}
	// What a stub resolver does on TC: ask again over TCP.
	r = query(t, addr, "tcp", name, mdns.TypeA, 0)
	if r.Truncated || len(r.Answer) != 60 {
		t.Errorf("TCP: TC=%v with %d answers, want all 60", r.Truncated, len(r.Answer))
	}
	r = query(t, addr, "udp", name, mdns.TypeA, 4096)
	if r.Truncated || len(r.Answer) != 60 || r.IsEdns0() == nil {
		t.Errorf("UDP with EDNS0 4096: TC=%v with %d answers (OPT %v), want all 60 and an OPT", r.Truncated, len(r.Answer), r.IsEdns0() != nil)
	}
	r = query(t, addr, "udp", name, mdns.TypeA, 600)
	r.Compress = true
	if !r.Truncated || r.Len() > 600 {
		t.Errorf("UDP with EDNS0 600: TC=%v, %d bytes, want TC within 600", r.Truncated, r.Len())
	}
}

// TestNotReadyUntilSynced: until the informers listed everything, cluster
// names are SERVFAIL (as CoreDNS before its kubernetes plugin is ready),
// while forwarded names work; then the names answer and Ready is closed.
func TestNotReadyUntilSynced(t *testing.T) {
	up := startUpstream(t, externalUpstream)
	fc := newFakeCluster(clusterObjects()...)
	release := make(chan struct{})
	fc.PrependReactor("list", "services", func(k8stesting.Action) (bool, runtime.Object, error) {
		<-release
		return false, nil, nil
	})
	s := startServer(t, Config{Client: fc, Upstreams: []string{up.addr}})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	addr := s.Addrs()[0]
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"web.ns1.svc." + z, mdns.TypeA}, {"20.0.43.10.in-addr.arpa.", mdns.TypePTR}} {
		if r := query(t, addr, "udp", q.name, q.qtype, 0); r.Rcode != mdns.RcodeServerFailure {
			t.Errorf("%s before sync: %s, want SERVFAIL", q.name, mdns.RcodeToString[r.Rcode])
		}
	}
	select {
	case <-s.Ready():
		t.Fatal("ready before the services were listed")
	default:
	}
	if r := query(t, addr, "udp", "www.example.org.", mdns.TypeA, 0); len(r.Answer) != 1 {
		t.Errorf("forwarded name before sync: %v", r)
	}
	close(release)
	waitReady(t, s)
	if r := query(t, addr, "udp", "web.ns1.svc."+z, mdns.TypeA, 0); r.Rcode != mdns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("after sync: %v", r)
	}
}

func TestBuildServiceDualStackHeadless(t *testing.T) {
	svc := svcHeadless("ns", "h", false)
	s := buildService(svc, []*discoveryv1.EndpointSlice{
		slice("ns", "h", "h-4", discoveryv1.AddressTypeIPv4, nil, ep("10.42.0.1", "h-0", true)),
		slice("ns", "h", "h-6", discoveryv1.AddressTypeIPv6, nil, ep("fd00::1", "h-0", true)),
		slice("ns", "h", "h-f", discoveryv1.AddressTypeFQDN, nil, ep("example.org", "x", true)),
	})
	if len(s.endpoints) != 2 || s.endpoints[0].host != "h-0" || s.endpoints[1].host != "h-0" {
		t.Fatalf("endpoints %+v, want h-0 twice (v4 and v6), no FQDN", s.endpoints)
	}
}

func TestDashed(t *testing.T) {
	for _, tc := range []struct{ label, addr string }{
		{"10-42-0-5", "10.42.0.5"}, {"fd00--1", "fd00::1"}, {"2001-db8-0-0-0-0-0-1", "2001:db8::1"},
	} {
		a, ok := undash(tc.label)
		if !ok || a != netip.MustParseAddr(tc.addr) {
			t.Errorf("undash(%q) = %v %v, want %s", tc.label, a, ok, tc.addr)
		}
	}
	for _, bad := range []string{"10-42-0", "foo", "10-42-0-256", "1-2-3-4-5"} {
		if a, ok := undash(bad); ok {
			t.Errorf("undash(%q) = %v, want not an address", bad, a)
		}
	}
}

func TestReverseZoneOf(t *testing.T) {
	for _, tc := range []struct{ prefix, zone string }{
		{"10.43.0.0/16", "43.10.in-addr.arpa."},
		{"10.42.0.0/17", "42.10.in-addr.arpa."},
		{"10.0.0.0/8", "10.in-addr.arpa."},
		{"fd00:43::/112", "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.4.0.0.0.0.d.f.ip6.arpa."},
	} {
		if got := reverseZoneOf(netip.MustParsePrefix(tc.prefix)).name; got != tc.zone {
			t.Errorf("%s: %s, want %s", tc.prefix, got, tc.zone)
		}
	}
}
