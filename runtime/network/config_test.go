package network

import (
	"net"
	"strings"
	"testing"
)

func TestNewRejectsBadConfig(t *testing.T) {
	cidr := func(s string) *net.IPNet {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	good := func() Config {
		return Config{PodCIDR: cidr("10.42.0.0/24"), ClusterCIDR: cidr("10.42.0.0/16"), StateDir: t.TempDir()}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no pod CIDR", func(c *Config) { c.PodCIDR = nil }, "pod CIDR is required"},
		{"no cluster CIDR", func(c *Config) { c.ClusterCIDR = nil }, "cluster CIDR is required"},
		{"no state dir", func(c *Config) { c.StateDir = "" }, "state dir is required"},
		{"IPv6 pod CIDR", func(c *Config) { c.PodCIDR = cidr("fd00::/64") }, "only IPv4"},
		{"pod CIDR too small", func(c *Config) { c.PodCIDR = cidr("10.42.0.0/31") }, "prefix must be"},
		{"host bits", func(c *Config) {
			c.PodCIDR = &net.IPNet{IP: net.ParseIP("10.42.0.5").To4(), Mask: net.CIDRMask(24, 32)}
		}, "host bits set"},
		{"pod outside cluster", func(c *Config) { c.PodCIDR = cidr("10.99.0.0/24") }, "not inside cluster CIDR"},
		{"cluster smaller than pod", func(c *Config) { c.ClusterCIDR = cidr("10.42.0.0/25") }, "not inside cluster CIDR"},
		{"bridge name too long", func(c *Config) { c.Bridge = "appliance-bridge0" }, "bridge name"},
		{"bridge name with slash", func(c *Config) { c.Bridge = "a/b" }, "bridge name"},
		{"MTU too small", func(c *Config) { c.MTU = 100 }, "MTU 100"},
		{"node netns missing", func(c *Config) { c.NodeNetNS = "/nonexistent/netns" }, "open netns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good()
			tc.mutate(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want error containing %q", err, tc.want)
			}
		})
	}
}
