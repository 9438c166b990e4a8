package nodeipam

import (
	"errors"
	"net/netip"
	"testing"
)

func TestCIDRSetAllocate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cluster  string
		mask     int
		occupied []string
		want     []string // successive allocations; "full" for ErrFull
	}{
		{name: "k3s default", cluster: "10.42.0.0/16", mask: 24, want: []string{"10.42.0.0/24", "10.42.1.0/24", "10.42.2.0/24"}},
		{name: "skips occupied", cluster: "10.42.0.0/16", mask: 24, occupied: []string{"10.42.0.0/24", "10.42.2.0/24"},
			want: []string{"10.42.1.0/24", "10.42.3.0/24"}},
		{name: "wider node cidr occupies several", cluster: "10.42.0.0/16", mask: 24, occupied: []string{"10.42.0.0/23"},
			want: []string{"10.42.2.0/24"}},
		{name: "narrower node cidr occupies its subnet", cluster: "10.42.0.0/16", mask: 24, occupied: []string{"10.42.0.128/25"},
			want: []string{"10.42.1.0/24"}},
		{name: "outside the range is ignored", cluster: "10.42.0.0/16", mask: 24, occupied: []string{"10.99.0.0/24"},
			want: []string{"10.42.0.0/24"}},
		{name: "full", cluster: "10.42.0.0/23", mask: 24, want: []string{"10.42.0.0/24", "10.42.1.0/24", "full"}},
		{name: "beyond the first word", cluster: "10.0.0.0/8", mask: 16, occupied: []string{"10.0.0.0/10"},
			want: []string{"10.64.0.0/16", "10.65.0.0/16"}},
		{name: "ipv6", cluster: "fd00:42::/56", mask: 64, want: []string{"fd00:42::/64", "fd00:42:0:1::/64"}},
		{name: "unmasked cluster cidr", cluster: "10.42.7.1/16", mask: 24, want: []string{"10.42.0.0/24"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := newCIDRSet(netip.MustParsePrefix(tc.cluster), tc.mask)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range tc.occupied {
				s.occupy(netip.MustParsePrefix(o))
			}
			for i, want := range tc.want {
				got, err := s.allocate()
				if want == "full" {
					if !errors.Is(err, ErrFull) {
						t.Errorf("allocation %d = %v, %v; want ErrFull", i, got, err)
					}
					continue
				}
				if err != nil || got.String() != want {
					t.Errorf("allocation %d = %v, %v; want %s", i, got, err, want)
				}
			}
		})
	}
}

func TestCIDRSetRelease(t *testing.T) {
	s, err := newCIDRSet(netip.MustParsePrefix("10.42.0.0/16"), 24)
	if err != nil {
		t.Fatal(err)
	}
	var got []netip.Prefix
	for range 3 {
		p, err := s.allocate()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	s.release(got[1])
	if p, _ := s.allocate(); p != got[1] {
		t.Errorf("after releasing %s, allocated %s", got[1], p)
	}
	if s.count != 3 {
		t.Errorf("count = %d, want 3", s.count)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      Config
		wantMask int
		wantErr  bool
	}{
		{name: "ipv4 default mask", cfg: Config{ClusterCIDR: netip.MustParsePrefix("10.42.0.0/16")}, wantMask: 24},
		{name: "ipv6 default mask", cfg: Config{ClusterCIDR: netip.MustParsePrefix("fd00::/48")}, wantMask: 64},
		{name: "no cluster cidr", cfg: Config{}, wantErr: true},
		{name: "mask shorter than the cluster", cfg: Config{ClusterCIDR: netip.MustParsePrefix("10.42.0.0/16"), NodeMaskSize: 8}, wantErr: true},
		{name: "too many subnets", cfg: Config{ClusterCIDR: netip.MustParsePrefix("10.0.0.0/8"), NodeMaskSize: 28}, wantErr: true},
		{name: "mask beyond the address", cfg: Config{ClusterCIDR: netip.MustParsePrefix("10.42.0.0/16"), NodeMaskSize: 33}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err != nil) != tc.wantErr {
				t.Fatalf("Validate() = %v, want error %v", err, tc.wantErr)
			}
			if err == nil && tc.cfg.NodeMaskSize != tc.wantMask {
				t.Errorf("mask = %d, want %d", tc.cfg.NodeMaskSize, tc.wantMask)
			}
		})
	}
}
