package dns

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
	"k8s.io/client-go/kubernetes"
)

// Defaults, as k3s and CoreDNS have them.
const (
	// DefaultDomain is the cluster domain.
	DefaultDomain = "cluster.local"
	// DefaultTTL is the TTL of cluster answers: CoreDNS's kubernetes plugin
	// answers with 5 s, so a client follows a changed endpoint within
	// seconds.
	DefaultTTL = 5
	// DefaultResolvConf is where the upstream servers are read from.
	DefaultResolvConf = "/etc/resolv.conf"
	// DefaultCacheSize bounds the forwarded answers kept.
	DefaultCacheSize = 10000
	// DefaultUpstreamTimeout is how long one upstream gets for one query
	// before the next one is asked (CoreDNS's forward plugin gives up on a
	// query after 5 s in all; two upstreams at 2 s stay close).
	DefaultUpstreamTimeout = 2 * time.Second
)

// DefaultReverseCIDRs are the service and pod CIDRs (k3s's defaults): their
// reverse zones are answered here, never forwarded.
var DefaultReverseCIDRs = []netip.Prefix{netip.MustParsePrefix("10.43.0.0/16"), netip.MustParsePrefix("10.42.0.0/16")}

// Config configures a Server.
type Config struct {
	// Client reads Services and EndpointSlices (list and watch); required.
	Client kubernetes.Interface
	// Log is the parent logger; the resolver logs with part=dns.
	Log *slog.Logger
	// Listen is the addresses to serve, each on UDP and TCP ("10.43.0.10:53",
	// "127.0.0.1:0"). Port 0 picks one free port for both protocols; see
	// Server.Addrs. Required.
	Listen []string
	// NetNS is the network namespace (a path, as /var/run/netns/<name>) whose
	// addresses Listen names; "" is the process's own. Only the listening
	// sockets live there: upstream servers are reached from the process's
	// own namespace, so a loopback resolver such as systemd-resolved's
	// 127.0.0.53 still answers.
	NetNS string
	// Domain is the cluster domain (default cluster.local).
	Domain string
	// TTL of cluster answers in seconds (default 5).
	TTL uint32
	// ReverseCIDRs are the address ranges whose reverse zones
	// (in-addr.arpa, ip6.arpa) this server is authoritative for: PTR
	// queries there are answered from the index or NXDOMAIN. Each is
	// widened to the enclosing octet (nibble for IPv6) boundary, as reverse
	// zones are named. PTR queries for a ClusterIP or endpoint outside them
	// are answered too; other reverse names are forwarded. Default: the
	// service and pod CIDRs, 10.43.0.0/16 and 10.42.0.0/16.
	ReverseCIDRs []netip.Prefix
	// NSAddress is the address of the zone's name server
	// (ns.dns.<domain>), normally the kube-dns Service IP; invalid leaves the
	// NS target without an address record.
	NSAddress netip.Addr
	// ResolvConf is the file whose nameserver lines are the upstream servers
	// (default /etc/resolv.conf). A nameserver may carry a port as
	// "[addr]:port" (OpenBSD's syntax; glibc ignores such lines).
	ResolvConf string
	// Upstreams, when set, are the upstream servers ("host:port") instead of
	// ResolvConf's.
	Upstreams []string
	// UpstreamTimeout is how long one upstream gets for one query
	// (default 2 s).
	UpstreamTimeout time.Duration
	// CacheSize bounds the number of forwarded answers kept (default 10000;
	// negative turns the cache off).
	CacheSize int

	// now is the cache's clock (tests); nil is time.Now.
	now func() time.Time
}

func (c *Config) applyDefaults() {
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Domain == "" {
		c.Domain = DefaultDomain
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.ReverseCIDRs == nil {
		c.ReverseCIDRs = DefaultReverseCIDRs
	}
	if c.ResolvConf == "" {
		c.ResolvConf = DefaultResolvConf
	}
	if c.UpstreamTimeout == 0 {
		c.UpstreamTimeout = DefaultUpstreamTimeout
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
}

// Validate reports what is missing or inconsistent.
func (c Config) Validate() error {
	var errs []error
	if c.Client == nil {
		errs = append(errs, errors.New("client is required"))
	}
	if len(c.Listen) == 0 {
		errs = append(errs, errors.New("at least one listen address is required"))
	}
	for _, l := range c.Listen {
		if _, _, err := net.SplitHostPort(l); err != nil {
			errs = append(errs, fmt.Errorf("listen address %q: %w", l, err))
		}
	}
	for _, u := range c.Upstreams {
		if _, _, err := net.SplitHostPort(u); err != nil {
			errs = append(errs, fmt.Errorf("upstream %q: %w", u, err))
		}
	}
	if c.Domain != "" {
		if _, ok := mdns.IsDomainName(c.Domain); !ok {
			errs = append(errs, fmt.Errorf("domain %q is not a domain name", c.Domain))
		}
	}
	for _, p := range c.ReverseCIDRs {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("reverse CIDR %v is not valid", p))
		}
	}
	if c.UpstreamTimeout < 0 {
		errs = append(errs, fmt.Errorf("upstream timeout %s must not be negative", c.UpstreamTimeout))
	}
	return errors.Join(errs...)
}

// readResolvConf returns the nameservers of a resolv.conf as host:port
// (port 53 unless the line gives one as "[addr]:port").
func readResolvConf(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || fields[0] != "nameserver" {
			continue
		}
		v := fields[1]
		if strings.HasPrefix(v, "[") {
			host, port, err := net.SplitHostPort(v)
			if err != nil {
				if !strings.HasSuffix(v, "]") {
					return nil, fmt.Errorf("%s: nameserver %q: %w", path, v, err)
				}
				host, port = strings.Trim(v, "[]"), "53"
			}
			if _, err := netip.ParseAddr(host); err != nil {
				return nil, fmt.Errorf("%s: nameserver %q: %w", path, v, err)
			}
			out = append(out, net.JoinHostPort(host, port))
			continue
		}
		if _, err := netip.ParseAddr(v); err != nil {
			return nil, fmt.Errorf("%s: nameserver %q: %w", path, v, err)
		}
		out = append(out, net.JoinHostPort(v, "53"))
	}
	return out, sc.Err()
}
