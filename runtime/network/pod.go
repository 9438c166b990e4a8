package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// podIfName is the pod's interface, as every CNI plugin names it for Kubernetes.
const podIfName = "eth0"

// idRE is what containerd accepts as an id; the id names a file here.
var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,253}$`)

func validID(id string) error {
	if !idRE.MatchString(id) {
		return fmt.Errorf("sandbox id %q: must be 1-254 characters of letters, digits, '_', '.', '-', starting with a letter or digit", id)
	}
	return nil
}

// hostVethName derives the host end's name from the sandbox id, so Detach and
// a restarted kubelet find it without any state ("vap" + 11 hex digits fits
// the kernel's 15 characters).
func hostVethName(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "vap" + hex.EncodeToString(sum[:])[:11]
}

// Attach gives sandbox id its network: a veth pair whose host end is a
// hairpin port of the bridge and whose other end is eth0 in netnsPath, with
// an address of the podCIDR, lo up and a default route via the gateway.
//
// The address is persisted before Attach returns it. Attaching an id again
// (a retry, or a restarted kubelet re-adopting its sandboxes) returns the
// same address and repairs whatever is missing.
func (n *Network) Attach(ctx context.Context, id, netnsPath string) (net.IP, error) {
	if err := validID(id); err != nil {
		return nil, fmt.Errorf("attach: %w", err)
	}
	if netnsPath == "" {
		return nil, fmt.Errorf("attach %q: netns path is required", id)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("attach %q: %w", id, err)
	}
	ip, fresh, err := n.ipam.allocate(id)
	if err != nil {
		return nil, fmt.Errorf("attach %q: %w", id, err)
	}
	if err := n.plumb(id, netnsPath, ip); err != nil {
		if fresh {
			// Nothing of a first attempt may linger: no veth, no address.
			if h, herr := n.nodeHandle(); herr == nil {
				if l, lerr := h.LinkByName(hostVethName(id)); lerr == nil {
					_ = h.LinkDel(l)
				}
				h.Close()
			}
			if rerr := n.ipam.release(id); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
		return nil, fmt.Errorf("attach %q: %w", id, err)
	}
	n.log.Info("pod attached", "sandbox-id", id, "ip", ip.String(), "netns", netnsPath, "host-veth", hostVethName(id), "re-adopted", !fresh)
	return ip, nil
}

func (n *Network) plumb(id, netnsPath string, ip net.IP) error {
	nodeH, err := n.nodeHandle()
	if err != nil {
		return err
	}
	defer nodeH.Close()
	br, err := nodeH.LinkByName(n.cfg.Bridge)
	if err != nil {
		return fmt.Errorf("bridge %q (has Ensure run?): %w", n.cfg.Bridge, err)
	}
	podNS, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return fmt.Errorf("open pod netns %q: %w", netnsPath, err)
	}
	defer podNS.Close()
	podH, err := netlink.NewHandleAt(podNS)
	if err != nil {
		return fmt.Errorf("netlink handle in pod netns %q: %w", netnsPath, err)
	}
	defer podH.Close()

	hostName := hostVethName(id)
	host, _ := nodeH.LinkByName(hostName)
	eth0, _ := podH.LinkByName(podIfName)
	// Keep an existing pair only if its two ends belong together.
	paired := host != nil && eth0 != nil && host.Type() == "veth" &&
		host.Attrs().ParentIndex == eth0.Attrs().Index
	if !paired {
		if host != nil {
			if err := nodeH.LinkDel(host); err != nil {
				return fmt.Errorf("delete stale %s: %w", hostName, err)
			}
		}
		if eth0 != nil {
			if err := podH.LinkDel(eth0); err != nil {
				return fmt.Errorf("delete stale %s in pod: %w", podIfName, err)
			}
		}
		la := netlink.NewLinkAttrs()
		la.Name = hostName
		la.MTU = n.mtu
		veth := &netlink.Veth{LinkAttrs: la, PeerName: podIfName, PeerNamespace: netlink.NsFd(podNS)}
		if err := nodeH.LinkAdd(veth); err != nil {
			return fmt.Errorf("create veth %s: %w", hostName, err)
		}
		if host, err = nodeH.LinkByName(hostName); err != nil {
			return fmt.Errorf("look up %s: %w", hostName, err)
		}
		if eth0, err = podH.LinkByName(podIfName); err != nil {
			return fmt.Errorf("look up %s in pod: %w", podIfName, err)
		}
	}

	// Host end: a hairpin port of the bridge, so a pod reaching a service
	// that lands on itself gets its packets back.
	if host.Attrs().MasterIndex != br.Attrs().Index {
		if err := nodeH.LinkSetMaster(host, br); err != nil {
			return fmt.Errorf("attach %s to %s: %w", hostName, n.cfg.Bridge, err)
		}
	}
	if err := nodeH.LinkSetHairpin(host, true); err != nil {
		return fmt.Errorf("hairpin on %s: %w", hostName, err)
	}
	if err := nodeH.LinkSetUp(host); err != nil {
		return fmt.Errorf("set %s up: %w", hostName, err)
	}

	// Pod end.
	if lo, err := podH.LinkByName("lo"); err != nil {
		return fmt.Errorf("look up lo in pod: %w", err)
	} else if err := podH.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up in pod: %w", err)
	}
	if eth0.Attrs().MTU != n.mtu {
		if err := podH.LinkSetMTU(eth0, n.mtu); err != nil {
			return fmt.Errorf("set %s MTU: %w", podIfName, err)
		}
	}
	want := &net.IPNet{IP: ip, Mask: n.cfg.PodCIDR.Mask}
	addrs, err := podH.AddrList(eth0, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list %s addresses: %w", podIfName, err)
	}
	for _, a := range addrs {
		if a.IPNet.String() != want.String() {
			if err := podH.AddrDel(eth0, &a); err != nil {
				return fmt.Errorf("remove stale address %s: %w", a.IPNet, err)
			}
		}
	}
	if err := podH.AddrReplace(eth0, &netlink.Addr{IPNet: want}); err != nil {
		return fmt.Errorf("add address %s: %w", want, err)
	}
	if err := podH.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("set %s up: %w", podIfName, err)
	}
	def := &netlink.Route{LinkIndex: eth0.Attrs().Index, Gw: n.gateway, Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}}
	if err := podH.RouteReplace(def); err != nil {
		return fmt.Errorf("default route via %s: %w", n.gateway, err)
	}
	return nil
}

// Detach undoes Attach and CreatePodNetNS for sandbox id: the veth pair goes,
// the address is released and NetNSDir/<id> is unmounted and removed.
// It is idempotent and tolerates half-created state (a missing veth,
// namespace or allocation is not an error). netnsPath may be "" once the
// namespace is gone; a path outside NetNSDir is left mounted (not ours).
func (n *Network) Detach(ctx context.Context, id, netnsPath string) error {
	if err := validID(id); err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	var errs []error
	h, err := n.nodeHandle()
	if err != nil {
		return fmt.Errorf("detach %q: %w", id, err)
	}
	defer h.Close()
	hostName := hostVethName(id)
	if l, err := h.LinkByName(hostName); err == nil {
		if err := h.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("delete %s: %w", hostName, err))
		}
	}
	if netnsPath != "" && isNetNSMount(netnsPath) {
		// The host end may be gone while eth0 lingers after a crash between
		// steps; deleting either end removes the pair.
		if podH, err := handleAt(netnsPath); err == nil {
			if l, err := podH.LinkByName(podIfName); err == nil {
				if err := podH.LinkDel(l); err != nil {
					errs = append(errs, fmt.Errorf("delete %s in pod: %w", podIfName, err))
				}
			}
			podH.Close()
		}
	}
	if err := n.ipam.release(id); err != nil {
		errs = append(errs, err)
	}
	paths := []string{n.PodNetNSPath(id)}
	if netnsPath != "" && filepath.Clean(netnsPath) != paths[0] && filepath.Dir(filepath.Clean(netnsPath)) == filepath.Clean(n.cfg.NetNSDir) {
		paths = append(paths, netnsPath)
	}
	for _, p := range paths {
		if err := removeNetNS(p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("detach %q: %w", id, err)
	}
	n.log.Info("pod detached", "sandbox-id", id)
	return nil
}

// Allocations returns the persisted addresses, sandbox id -> IP, for the
// kubelet's restart reconciliation: ids with no sandbox left are Detached.
func (n *Network) Allocations() (map[string]net.IP, error) {
	all, err := n.ipam.list()
	if err != nil {
		return nil, fmt.Errorf("allocations: %w", err)
	}
	return all, nil
}
