package simulate

import (
	"errors"
	"net/netip"
	"sync"
)

// Pod IPs come from the node's spec.podCIDR once node IPAM has given it one.
// Until then each simulated node gets a /25 of the cluster's pod CIDR
// 10.42.0.0/16 from a pool shared by all simulators in the process, so pod IPs
// are unique across simulated nodes too: 512 blocks of 125 addresses (the first
// two of a block are the network and the bridge gateway, as with a real
// node's CNI bridge; the last is broadcast), enough for 110 pods a node.
const (
	fallbackBlocks    = 512
	fallbackBlockSize = 128
)

var blocks struct {
	mu   sync.Mutex
	used [fallbackBlocks]bool
}

// takeBlock reserves a fallback block; -1 when all are taken.
func takeBlock() int {
	blocks.mu.Lock()
	defer blocks.mu.Unlock()
	for i := range blocks.used {
		if !blocks.used[i] {
			blocks.used[i] = true
			return i
		}
	}
	return -1
}

func (n *simNode) releaseBlock() {
	if n.block < 0 {
		return
	}
	blocks.mu.Lock()
	blocks.used[n.block] = false
	blocks.mu.Unlock()
	n.block = -1
}

func blockPrefix(block int) netip.Prefix {
	off := block * fallbackBlockSize
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 42, byte(off >> 8), byte(off)}), 25)
}

var errPoolFull = errors.New("no free pod IP on the node")

// ipPool hands out one node's pod IPs.
type ipPool struct {
	mu    sync.Mutex
	cidr  netip.Prefix // from spec.podCIDR, when set
	used  map[netip.Addr]string
	byPod map[string]netip.Addr
}

func newIPPool() *ipPool {
	return &ipPool{used: map[netip.Addr]string{}, byPod: map[string]netip.Addr{}}
}

// setCIDR switches new allocations to the node's spec.podCIDR (IPv4).
func (p *ipPool) setCIDR(cidr string) {
	pfx, err := netip.ParsePrefix(cidr)
	if err != nil || !pfx.Addr().Is4() {
		return
	}
	p.mu.Lock()
	p.cidr = pfx.Masked()
	p.mu.Unlock()
}

// allocate returns key's address, choosing a free one in the node's range if
// it has none yet. fallback is used while the node has no podCIDR.
func (p *ipPool) allocate(key string, fallback netip.Prefix) (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ip, ok := p.byPod[key]; ok {
		return ip, nil
	}
	pfx := fallback
	if p.cidr.IsValid() {
		pfx = p.cidr
	}
	size := 1 << (32 - pfx.Bits())
	ip := pfx.Addr().Next() // skip the network address
	for i := 1; i < size-1; i++ {
		if i >= 2 { // .1 is the bridge gateway
			if _, taken := p.used[ip]; !taken {
				p.used[ip] = key
				p.byPod[key] = ip
				return ip, nil
			}
		}
		ip = ip.Next()
	}
	return netip.Addr{}, errPoolFull
}

// reserve records an address a pod already has (a simulator restarted while the
// pod was running).
func (p *ipPool) reserve(key, addr string) {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.byPod[key]; ok {
		return
	}
	if _, taken := p.used[ip]; taken {
		return
	}
	p.used[ip] = key
	p.byPod[key] = ip
}

func (p *ipPool) release(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ip, ok := p.byPod[key]; ok {
		delete(p.byPod, key)
		delete(p.used, ip)
	}
}

// fallbackPrefix is the node's block, or one derived from its index when the
// process ran out of blocks (addresses may then repeat across nodes, never on
// one node).
func (n *simNode) fallbackPrefix() netip.Prefix {
	if n.block >= 0 {
		return blockPrefix(n.block)
	}
	return blockPrefix(n.index % fallbackBlocks)
}
