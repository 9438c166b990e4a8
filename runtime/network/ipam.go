package network

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// ErrPodCIDRExhausted is returned by Attach when every address of the node's
// podCIDR is held by a sandbox.
var ErrPodCIDRExhausted = errors.New("pod CIDR exhausted")

// lastReservedFile remembers the last address handed out, so allocation
// continues after it (as the CNI host-local plugin does) and a just-released
// address is not given to the next pod at once.
const lastReservedFile = "last-reserved-ip"

// ipam hands out IPv4 addresses of a pod CIDR. Each allocation is a file in
// dir named after the address and holding the sandbox id. The file is written
// to a temporary name and hard-linked into place, so it appears complete and
// only once: link fails if another allocator (or a restarted one) took the
// address first.
type ipam struct {
	dir     string
	cidr    *net.IPNet
	gateway net.IP

	mu sync.Mutex
}

func newIPAM(dir string, cidr *net.IPNet, gateway net.IP) *ipam {
	return &ipam{dir: dir, cidr: cidr, gateway: gateway}
}

func ip4ToUint(ip net.IP) uint32 { return binary.BigEndian.Uint32(ip.To4()) }

func uintToIP4(v uint32) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, v)
	return ip
}

// rangeOf returns the first and last assignable addresses: the network and
// broadcast addresses and the gateway are never handed out.
func (a *ipam) rangeOf() (first, last uint32) {
	ones, bits := a.cidr.Mask.Size()
	base := ip4ToUint(a.cidr.IP)
	size := uint32(1) << uint(bits-ones)
	return base + 1, base + size - 2
}

// list returns id -> IP for every allocation file.
func (a *ipam) list() (map[string]net.IP, error) {
	entries, err := os.ReadDir(a.dir)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]net.IP{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read allocations in %q: %w", a.dir, err)
	}
	out := make(map[string]net.IP)
	for _, e := range entries {
		ip := net.ParseIP(e.Name()).To4()
		if ip == nil || e.IsDir() {
			continue // temporary files, last-reserved-ip
		}
		data, err := os.ReadFile(filepath.Join(a.dir, e.Name()))
		if errors.Is(err, os.ErrNotExist) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read allocation %s: %w", e.Name(), err)
		}
		id := strings.TrimSpace(string(data))
		if id == "" {
			continue
		}
		out[id] = ip
	}
	return out, nil
}

// get returns the address held by id, or nil.
func (a *ipam) get(id string) (net.IP, error) {
	all, err := a.list()
	if err != nil {
		return nil, err
	}
	return all[id], nil
}

// allocate returns the address held by id, or reserves a free one for it.
// fresh reports whether the address was newly reserved.
func (a *ipam) allocate(id string) (ip net.IP, fresh bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	all, err := a.list()
	if err != nil {
		return nil, false, err
	}
	if ip, ok := all[id]; ok {
		if a.cidr.Contains(ip) {
			return ip, false, nil
		}
		// The podCIDR changed under a persisted allocation: drop it.
		if err := a.releaseIP(ip, id); err != nil {
			return nil, false, err
		}
	}
	if err := os.MkdirAll(a.dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("create state dir: %w", err)
	}
	used := make(map[uint32]bool, len(all))
	for _, ip := range all {
		used[ip4ToUint(ip)] = true
	}
	first, last := a.rangeOf()
	start := first
	if data, err := os.ReadFile(filepath.Join(a.dir, lastReservedFile)); err == nil {
		if prev := net.ParseIP(strings.TrimSpace(string(data))).To4(); prev != nil && a.cidr.Contains(prev) {
			start = ip4ToUint(prev) + 1
		}
	}
	if start < first || start > last {
		start = first
	}
	gw := ip4ToUint(a.gateway)
	for i, cur := uint32(0), start; i <= last-first; i++ {
		if cur != gw && !used[cur] {
			cand := uintToIP4(cur)
			ok, err := a.reserve(cand, id)
			if err != nil {
				return nil, false, err
			}
			if ok {
				if err := writeFileAtomic(filepath.Join(a.dir, lastReservedFile), []byte(cand.String())); err != nil {
					return nil, false, err
				}
				return cand, true, nil
			}
		}
		cur++
		if cur > last {
			cur = first
		}
	}
	return nil, false, fmt.Errorf("allocate IP for %q in %s: %w", id, a.cidr, ErrPodCIDRExhausted)
}

// reserve creates the allocation file for ip; false if it already exists.
func (a *ipam) reserve(ip net.IP, id string) (bool, error) {
	tmp, err := os.CreateTemp(a.dir, ".alloc-*")
	if err != nil {
		return false, fmt.Errorf("reserve %s: %w", ip, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(id); err != nil {
		tmp.Close()
		return false, fmt.Errorf("reserve %s: %w", ip, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("reserve %s: %w", ip, err)
	}
	if err := tmp.Close(); err != nil {
		return false, fmt.Errorf("reserve %s: %w", ip, err)
	}
	if err := os.Link(tmp.Name(), filepath.Join(a.dir, ip.String())); err != nil {
		if errors.Is(err, os.ErrExist) {
			return false, nil
		}
		return false, fmt.Errorf("reserve %s: %w", ip, err)
	}
	return true, syncDir(a.dir)
}

// release frees whatever address id holds; nothing held is fine.
func (a *ipam) release(id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	all, err := a.list()
	if err != nil {
		return err
	}
	ip, ok := all[id]
	if !ok {
		return nil
	}
	return a.releaseIP(ip, id)
}

// releaseIP removes ip's file if it still holds id.
func (a *ipam) releaseIP(ip net.IP, id string) error {
	path := filepath.Join(a.dir, ip.String())
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release %s: %w", ip, err)
	}
	if !bytes.Equal(bytes.TrimSpace(data), []byte(id)) {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("release %s: %w", ip, err)
	}
	return syncDir(a.dir)
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %q: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %q: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %q: %w", dir, err)
	}
	return nil
}
