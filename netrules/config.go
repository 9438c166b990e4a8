package netrules

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"k8s.io/client-go/kubernetes"
)

// Defaults, as kube-proxy has them (--iptables-min-sync-period,
// --iptables-sync-period).
const (
	// DefaultMinSyncPeriod bounds how often rules are written: a burst of
	// events within it is one sync.
	DefaultMinSyncPeriod = time.Second
	// DefaultSyncPeriod is the full resync: the rules are written again
	// even if nothing changed, repairing what someone else flushed.
	DefaultSyncPeriod = 30 * time.Second
)

// Config configures a Proxier.
type Config struct {
	// Client reads Services and EndpointSlices (list and watch); required.
	Client kubernetes.Interface
	// NodeName is this node's name: an endpoint is local when its nodeName
	// is this (for the Local traffic policies); required.
	NodeName string
	// NodeIPs are the addresses NodePorts answer on (kube-proxy's
	// --nodeport-addresses). Only IPv4 ones are used; none means every local
	// address but loopback, as kube-proxy's default: a second LAN, a VPN
	// address (Tailscale, WireGuard) and the pod gateway too. UDP NodePort
	// flows are then not cleared from conntrack when endpoints go.
	NodeIPs []netip.Addr
	// ClusterCIDR is the pod CIDR of the whole cluster (10.42.0.0/16).
	// ClusterIP traffic from outside it is masqueraded, as kube-proxy does
	// with --cluster-cidr; unset turns that off.
	ClusterCIDR netip.Prefix
	// NetNS is the path of the network namespace to program ("" = the
	// process's own).
	NetNS string
	// MinSyncPeriod is the least time between two writes (default 1 s):
	// events within it are batched into one sync.
	MinSyncPeriod time.Duration
	// SyncPeriod is the full resync period (default 30 s), and the retry
	// period after a failed write.
	SyncPeriod time.Duration
	// Log is the parent logger; the proxy logs with part=netrules.
	Log *slog.Logger
}

func (c *Config) applyDefaults() {
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.MinSyncPeriod == 0 {
		c.MinSyncPeriod = DefaultMinSyncPeriod
	}
	if c.SyncPeriod == 0 {
		c.SyncPeriod = DefaultSyncPeriod
	}
}

// Validate reports what is missing or inconsistent.
func (c Config) Validate() error {
	var errs []error
	if c.Client == nil {
		errs = append(errs, errors.New("client is required"))
	}
	if c.NodeName == "" {
		errs = append(errs, errors.New("node name is required"))
	}
	for _, ip := range c.NodeIPs {
		if !ip.IsValid() {
			errs = append(errs, errors.New("node IP is not a valid address"))
		}
	}
	if c.ClusterCIDR.IsValid() && !c.ClusterCIDR.Addr().Is4() {
		errs = append(errs, fmt.Errorf("cluster CIDR %s: only IPv4 is supported", c.ClusterCIDR))
	}
	if c.MinSyncPeriod < 0 || c.SyncPeriod < 0 {
		errs = append(errs, fmt.Errorf("sync periods must not be negative (min %s, full %s)", c.MinSyncPeriod, c.SyncPeriod))
	}
	if c.MinSyncPeriod > 0 && c.SyncPeriod > 0 && c.MinSyncPeriod > c.SyncPeriod {
		errs = append(errs, fmt.Errorf("min sync period %s is longer than the sync period %s", c.MinSyncPeriod, c.SyncPeriod))
	}
	return errors.Join(errs...)
}
