package dns

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

// exampleUpstream plays the machine's resolver for example.org: a 60 s
// address, an NXDOMAIN and a NODATA with a 30 s negative TTL, and an answer
// too big for UDP.
func exampleUpstream(q mdns.Question, m *mdns.Msg) {
	soa, _ := mdns.NewRR("example.org. 300 IN SOA ns.example.org. admin.example.org. 1 7200 1800 86400 30")
	switch {
	case q.Name == "example.org." && q.Qtype == mdns.TypeA, q.Name == "EXAMPLE.org." && q.Qtype == mdns.TypeA:
		rr, _ := mdns.NewRR("example.org. 60 IN A 192.0.2.1")
		m.Answer = append(m.Answer, rr)
	case q.Name == "example.org.":
		m.Ns = append(m.Ns, soa)
	case q.Name == "big.example.org.":
		for i := range 40 {
			rr, _ := mdns.NewRR(fmt.Sprintf("big.example.org. 60 IN TXT \"record number %d of a large answer\"", i))
			m.Answer = append(m.Answer, rr)
		}
	default:
		m.Rcode = mdns.RcodeNameError
		m.Ns = append(m.Ns, soa)
	}
}

// clock is a settable time for the cache.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestForwarding: a name outside the cluster goes to the upstream named by
// the resolv.conf (with its port), once per TTL; denials are cached for the
// SOA's negative TTL; answers too big for UDP come through TCP.
func TestForwarding(t *testing.T) {
	up := startUpstream(t, exampleUpstream)
	rc := writeFile(t, "# test\nsearch example.org\nnameserver ["+hostOnly(up.addr)+"]:"+portOnly(up.addr)+"\noptions ndots:5\n")
	clk := &clock{t: time.Now()}
	s := startServer(t, Config{Client: newFakeCluster(), ResolvConf: rc, now: clk.now})
	// startServer fills Upstreams when empty; this test wants the file's.
	if got := s.fwd.upstreams; !slices.Equal(got, []string{up.addr}) {
		t.Fatalf("upstreams %v, want %s from the resolv.conf", got, up.addr)
	}
	addr := s.Addrs()[0]

	r := query(t, addr, "udp", "example.org.", mdns.TypeA, 0)
	if got := rrs(r.Answer); !slices.Equal(got, []string{"example.org. A 192.0.2.1"}) || r.Rcode != mdns.RcodeSuccess {
		t.Fatalf("forwarded answer %q (%s)", got, mdns.RcodeToString[r.Rcode])
	}
	if r.Authoritative || !r.RecursionAvailable {
		t.Errorf("forwarded answer: AA=%v RA=%v, want not authoritative, recursion available", r.Authoritative, r.RecursionAvailable)
	}
	clk.add(10 * time.Second)
	r = query(t, addr, "tcp", "EXAMPLE.org.", mdns.TypeA, 0)
	if n := up.count("example.org.", mdns.TypeA); n != 1 {
		t.Errorf("upstream saw %d queries for two within the TTL, want 1", n)
	}
	if len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 50 || r.Question[0].Name != "EXAMPLE.org." {
		t.Errorf("cached answer %v, want TTL 60-10 and the question as asked", r)
	}
	clk.add(51 * time.Second)
	query(t, addr, "udp", "example.org.", mdns.TypeA, 0)
	if n := up.count("example.org.", mdns.TypeA); n != 2 {
		t.Errorf("after the TTL the upstream saw %d queries, want 2", n)
	}

	// Negative caching: NXDOMAIN and NODATA, for the SOA minimum (30 s).
	for _, q := range []struct {
		name  string
		qtype uint16
		rcode int
	}{{"nx.example.org.", mdns.TypeA, mdns.RcodeNameError}, {"example.org.", mdns.TypeAAAA, mdns.RcodeSuccess}} {
		for range 2 {
			r := query(t, addr, "udp", q.name, q.qtype, 0)
			if r.Rcode != q.rcode || len(r.Answer) != 0 || len(r.Ns) != 1 {
				t.Errorf("%s %s: %v", q.name, mdns.TypeToString[q.qtype], r)
			}
		}
		if n := up.count(q.name, q.qtype); n != 1 {
			t.Errorf("%s %s: upstream saw %d queries, want 1 (negative caching)", q.name, mdns.TypeToString[q.qtype], n)
		}
		clk.add(31 * time.Second)
		query(t, addr, "udp", q.name, q.qtype, 0)
		if n := up.count(q.name, q.qtype); n != 2 {
			t.Errorf("%s %s: after the negative TTL upstream saw %d queries, want 2", q.name, mdns.TypeToString[q.qtype], n)
		}
	}

	// Too big for the upstream's UDP: we take it over TCP, and hand it to
	// our client over TCP after its own truncated UDP answer.
	r = query(t, addr, "udp", "big.example.org.", mdns.TypeTXT, 0)
	if !r.Truncated {
		t.Errorf("big answer over UDP without EDNS0: not truncated (%d records)", len(r.Answer))
	}
	r = query(t, addr, "tcp", "big.example.org.", mdns.TypeTXT, 0)
	if len(r.Answer) != 40 {
		t.Errorf("big answer over TCP: %d records, want 40", len(r.Answer))
	}
}

// TestForwardingUpstreamDown: the upstream does not answer: SERVFAIL, fast
// and not cached (the next query asks again).
func TestForwardingUpstreamDown(t *testing.T) {
	dead := deadAddr(t)
	s := startServer(t, Config{Client: newFakeCluster(), Upstreams: []string{dead}, UpstreamTimeout: 500 * time.Millisecond})
	addr := s.Addrs()[0]
	for range 2 {
		r := query(t, addr, "udp", "example.org.", mdns.TypeA, 0)
		if r.Rcode != mdns.RcodeServerFailure || len(r.Answer) != 0 {
			t.Fatalf("upstream down: %s with %d answers, want SERVFAIL", mdns.RcodeToString[r.Rcode], len(r.Answer))
		}
	}
	if n := s.fwd.cache.len(); n != 0 {
		t.Errorf("%d failures cached", n)
	}
	// The second upstream is asked when the first fails.
	up := startUpstream(t, exampleUpstream)
	s2 := startServer(t, Config{Client: newFakeCluster(), Upstreams: []string{dead, up.addr}})
	if r := query(t, s2.Addrs()[0], "udp", "example.org.", mdns.TypeA, 0); len(r.Answer) != 1 {
		t.Errorf("with a second upstream: %v", r)
	}
}

func TestCacheBounded(t *testing.T) {
	c := newCache(2)
	now := time.Now()
	for i := range 3 {
		m := new(mdns.Msg)
		m.SetQuestion(fmt.Sprintf("n%d.example.org.", i), mdns.TypeA)
		rr, _ := mdns.NewRR(fmt.Sprintf("n%d.example.org. 60 IN A 192.0.2.1", i))
		m.Answer = []mdns.RR{rr}
		c.put(fmt.Sprint(i), m, now)
	}
	if c.len() != 2 {
		t.Errorf("cache holds %d entries, want at most 2", c.len())
	}
	// Not cached: SERVFAIL, truncated, a denial without SOA.
	for _, m := range []*mdns.Msg{{MsgHdr: mdns.MsgHdr{Rcode: mdns.RcodeServerFailure}}, {MsgHdr: mdns.MsgHdr{Truncated: true}}, {MsgHdr: mdns.MsgHdr{Rcode: mdns.RcodeNameError}}} {
		if ttl := ttlOf(m); ttl != 0 {
			t.Errorf("%v cached for %d s", m.MsgHdr, ttl)
		}
	}
}

func TestReadResolvConf(t *testing.T) {
	p := writeFile(t, "nameserver 192.0.2.53\nnameserver [127.0.0.1]:5353\nnameserver fd00::53\n# nameserver 1.1.1.1\nsearch x\n")
	got, err := readResolvConf(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.53:53", "127.0.0.1:5353", "[fd00::53]:53"}
	if !slices.Equal(got, want) {
		t.Errorf("%q, want %q", got, want)
	}
	if _, err := readResolvConf(writeFile(t, "nameserver not-an-ip\n")); err == nil {
		t.Error("a bad nameserver line is accepted")
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err == nil {
		t.Error("empty config is valid")
	}
	if err := (Config{Client: newFakeCluster(), Listen: []string{"127.0.0.1"}}).Validate(); err == nil {
		t.Error("listen address without port is valid")
	}
}

func hostOnly(addr string) string { return addr[:len(addr)-len(portOnly(addr))-1] }
func portOnly(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			return addr[i+1:]
		}
	}
	return ""
}
