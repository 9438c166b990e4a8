package nodeipam

import (
	"errors"
	"fmt"
	"math/big"
	"math/bits"
	"net/netip"
)

// ErrFull is returned when every subnet of the cluster CIDR is in use.
var ErrFull = errors.New("no free pod CIDR left in the cluster CIDR")

// maxSubnetBits bounds how many subnets one cluster CIDR is cut into (2^16), as
// kube-controller-manager's range allocator does ("the difference between the
// cluster CIDR mask and the node mask must be at most 16").
const maxSubnetBits = 16

// cidrSet hands out the subnets of size maskSize of a cluster CIDR, lowest free
// first. It is not safe for concurrent use.
type cidrSet struct {
	cluster  netip.Prefix
	maskSize int
	bits     int // subnets = 1 << bits
	used     []uint64
	count    int
}

func newCIDRSet(cluster netip.Prefix, maskSize int) (*cidrSet, error) {
	if !cluster.IsValid() {
		return nil, fmt.Errorf("cluster CIDR is not set")
	}
	cluster = cluster.Masked()
	if maskSize < cluster.Bits() || maskSize > cluster.Addr().BitLen() {
		return nil, fmt.Errorf("node mask size %d does not fit in cluster CIDR %s", maskSize, cluster)
	}
	n := maskSize - cluster.Bits()
	if n > maxSubnetBits {
		return nil, fmt.Errorf("node mask size %d cuts cluster CIDR %s into more than 2^%d subnets", maskSize, cluster, maxSubnetBits)
	}
	size := 1 << n
	return &cidrSet{cluster: cluster, maskSize: maskSize, bits: n, used: make([]uint64, (size+63)/64)}, nil
}

func (s *cidrSet) size() int { return 1 << s.bits }

func (s *cidrSet) isUsed(i int) bool { return s.used[i/64]&(1<<(i%64)) != 0 }

func (s *cidrSet) set(i int, on bool) {
	was := s.isUsed(i)
	switch {
	case on && !was:
		s.used[i/64] |= 1 << (i % 64)
		s.count++
	case !on && was:
		s.used[i/64] &^= 1 << (i % 64)
		s.count--
	}
}

// allocate takes the lowest free subnet.
func (s *cidrSet) allocate() (netip.Prefix, error) {
	for w, word := range s.used {
		if word == ^uint64(0) {
			continue
		}
		i := w*64 + bits.TrailingZeros64(^word)
		if i >= s.size() {
			break
		}
		s.set(i, true)
		return s.subnet(i), nil
	}
	return netip.Prefix{}, ErrFull
}

// subnet is the i-th subnet of the cluster CIDR.
func (s *cidrSet) subnet(i int) netip.Prefix {
	base := new(big.Int).SetBytes(s.cluster.Addr().AsSlice())
	off := new(big.Int).Lsh(big.NewInt(int64(i)), uint(s.cluster.Addr().BitLen()-s.maskSize))
	b := base.Add(base, off).Bytes()
	buf := make([]byte, s.cluster.Addr().BitLen()/8)
	copy(buf[len(buf)-len(b):], b)
	addr, _ := netip.AddrFromSlice(buf)
	return netip.PrefixFrom(addr, s.maskSize)
}

// indices are the subnets p overlaps, first and last inclusive; ok is false
// when p lies outside the cluster CIDR or is of the other IP family.
func (s *cidrSet) indices(p netip.Prefix) (first, last int, ok bool) {
	p = p.Masked()
	if p.Addr().BitLen() != s.cluster.Addr().BitLen() || !s.cluster.Overlaps(p) {
		return 0, 0, false
	}
	// A node CIDR wider than the cluster CIDR covers all of it.
	if p.Bits() < s.cluster.Bits() {
		return 0, s.size() - 1, true
	}
	shift := uint(s.cluster.Addr().BitLen() - s.maskSize)
	base := new(big.Int).SetBytes(s.cluster.Addr().AsSlice())
	start := new(big.Int).SetBytes(p.Addr().AsSlice())
	start.Sub(start, base)
	first = int(new(big.Int).Rsh(start, shift).Int64())
	if p.Bits() >= s.maskSize {
		return first, first, true
	}
	// Wider than one subnet: it spans 2^(maskSize-p.Bits()) of them.
	return first, first + (1 << (s.maskSize - p.Bits())) - 1, true
}

// occupy marks the subnets p overlaps as used.
func (s *cidrSet) occupy(p netip.Prefix) bool {
	first, last, ok := s.indices(p)
	if !ok {
		return false
	}
	for i := first; i <= last; i++ {
		s.set(i, true)
	}
	return true
}

// release frees the subnets p overlaps.
func (s *cidrSet) release(p netip.Prefix) {
	first, last, ok := s.indices(p)
	if !ok {
		return
	}
	for i := first; i <= last; i++ {
		s.set(i, false)
	}
}
