package dns

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	mdns "github.com/miekg/dns"
	"golang.org/x/sync/singleflight"
)

// Cache bounds, as CoreDNS's cache plugin has them: answers are kept at
// most an hour, denials half an hour.
const (
	maxPositiveTTL = 3600
	maxNegativeTTL = 1800
)

// errNoUpstream: the resolv.conf named no server.
var errNoUpstream = errors.New("no upstream server")

// forwarder sends names outside the cluster to the upstream servers, in
// order, and caches their answers.
type forwarder struct {
	upstreams []string
	timeout   time.Duration
	udp, tcp  *mdns.Client
	cache     *cache
	flight    singleflight.Group
	now       func() time.Time
}

func newForwarder(upstreams []string, timeout time.Duration, cacheSize int) *forwarder {
	return &forwarder{
		upstreams: upstreams,
		timeout:   timeout,
		udp:       &mdns.Client{Net: "udp", Timeout: timeout, UDPSize: 4096},
		tcp:       &mdns.Client{Net: "tcp", Timeout: timeout},
		cache:     newCache(cacheSize),
		now:       time.Now,
	}
}

// key is what a cached answer is found by: the name in lower case, the
// type, the class and the DNSSEC bits that change what an upstream returns.
func cacheKey(req *mdns.Msg) string {
	q := req.Question[0]
	do := false
	if opt := req.IsEdns0(); opt != nil {
		do = opt.Do()
	}
	return strings.ToLower(q.Name) + "/" + strconv.Itoa(int(q.Qtype)) + "/" + strconv.Itoa(int(q.Qclass)) +
		"/" + strconv.FormatBool(do) + strconv.FormatBool(req.CheckingDisabled)
}

// forward answers req from the cache or the upstreams. The answer is a
// copy the caller may change; its ID and question are the caller's to set.
func (f *forwarder) forward(ctx context.Context, req *mdns.Msg) (*mdns.Msg, error) {
	key := cacheKey(req)
	if m := f.cache.get(key, f.now()); m != nil {
		return m, nil
	}
	// Identical queries in flight share one upstream exchange.
	v, err, _ := f.flight.Do(key, func() (any, error) {
		if m := f.cache.get(key, f.now()); m != nil {
			return m, nil
		}
		m, err := f.exchange(ctx, req)
		if err != nil {
			return nil, err
		}
		f.cache.put(key, m, f.now())
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*mdns.Msg).Copy(), nil
}

// exchange asks the upstreams in order until one answers (any rcode but
// SERVFAIL and REFUSED counts as an answer). A truncated UDP answer is asked
// again over TCP.
func (f *forwarder) exchange(ctx context.Context, req *mdns.Msg) (*mdns.Msg, error) {
	if len(f.upstreams) == 0 {
		return nil, errNoUpstream
	}
	q := new(mdns.Msg)
	q.Id = mdns.Id()
	q.Question = []mdns.Question{req.Question[0]}
	q.RecursionDesired = true
	q.CheckingDisabled = req.CheckingDisabled
	do := false
	if opt := req.IsEdns0(); opt != nil {
		do = opt.Do()
	}
	q.SetEdns0(4096, do)
	var errs []error
	for _, up := range f.upstreams {
		m, _, err := f.udp.ExchangeContext(ctx, q, up)
		if err == nil && m.Truncated {
			m, _, err = f.tcp.ExchangeContext(ctx, q, up)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", up, err))
			continue
		}
		if m.Rcode == mdns.RcodeServerFailure || m.Rcode == mdns.RcodeRefused {
			errs = append(errs, fmt.Errorf("%s: %s", up, mdns.RcodeToString[m.Rcode]))
			continue
		}
		// Our own OPT goes on the answer to the client.
		m.Extra = withoutOPT(m.Extra)
		return m, nil
	}
	return nil, errors.Join(errs...)
}

func withoutOPT(rrs []mdns.RR) []mdns.RR {
	out := rrs[:0]
	for _, rr := range rrs {
		if rr.Header().Rrtype != mdns.TypeOPT {
			out = append(out, rr)
		}
	}
	return out
}

// cache keeps upstream answers for their TTL: positive ones for the
// smallest TTL of their records, denials (NXDOMAIN, NODATA) for the SOA's
// negative TTL (RFC 2308), neither longer than the caps. Denials without an
// SOA, failures and truncated answers are not kept. When full, an arbitrary
// entry (Go's map order) makes room, as CoreDNS's cache evicts at random.
type cache struct {
	max int
	mu  sync.Mutex
	m   map[string]cacheEntry
}

type cacheEntry struct {
	msg     *mdns.Msg
	stored  time.Time
	expires time.Time
}

func newCache(max int) *cache { return &cache{max: max, m: map[string]cacheEntry{}} }

// ttlOf is how long m may be cached, 0 for not at all.
func ttlOf(m *mdns.Msg) uint32 {
	if m.Truncated {
		return 0
	}
	switch {
	case m.Rcode == mdns.RcodeSuccess && len(m.Answer) > 0:
		ttl := uint32(maxPositiveTTL)
		for _, rr := range m.Answer {
			ttl = min(ttl, rr.Header().Ttl)
		}
		return ttl
	case m.Rcode == mdns.RcodeSuccess || m.Rcode == mdns.RcodeNameError:
		for _, rr := range m.Ns {
			if soa, ok := rr.(*mdns.SOA); ok {
				return min(soa.Hdr.Ttl, soa.Minttl, maxNegativeTTL)
			}
		}
	}
	return 0
}

func (c *cache) put(key string, m *mdns.Msg, now time.Time) {
	if c.max <= 0 {
		return
	}
	ttl := ttlOf(m)
	if ttl == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= c.max {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[key] = cacheEntry{msg: m.Copy(), stored: now, expires: now.Add(time.Duration(ttl) * time.Second)}
}

// get returns a copy of the answer for key with its TTLs lowered by the
// time it spent in the cache, or nil.
func (c *cache) get(key string, now time.Time) *mdns.Msg {
	if c.max <= 0 {
		return nil
	}
	c.mu.Lock()
	e, ok := c.m[key]
	if ok && !now.Before(e.expires) {
		delete(c.m, key)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return nil
	}
	m := e.msg.Copy()
	age := uint32(now.Sub(e.stored) / time.Second)
	for _, sec := range [][]mdns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			h := rr.Header()
			if h.Rrtype == mdns.TypeOPT {
				continue
			}
			if h.Ttl > age {
				h.Ttl -= age
			} else {
				h.Ttl = 0
			}
		}
	}
	return m
}

// len is the number of entries (tests).
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
