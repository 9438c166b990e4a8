// Package network is the appliance's pod network on one node: a Linux bridge
// that holds the first address of the node's podCIDR as the pods' gateway, a
// veth pair per pod sandbox, addresses from the podCIDR persisted on disk, and
// masquerade for traffic leaving the cluster CIDR.
//
// The kubelet (runtime/) calls it in the pod creation flow: CreatePodNetNS
// before the pause sandbox starts (runc joins that namespace), Attach to give
// the sandbox its eth0 and IP (reported as status.podIP), Detach when the
// sandbox is torn down, and Allocations on restart to reconcile the
// persisted addresses with the sandboxes that still exist. HostsFile and
// ResolvConf build the /etc/hosts and /etc/resolv.conf the kubelet mounts.
//
// Every netlink and iptables change happens inside Config.NodeNetNS, so tests
// run the real thing in network namespaces of their own.
package network

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Defaults for Config.
const (
	DefaultBridge   = "appliance0"
	DefaultNetNSDir = "/run/appliance/netns"
	DefaultMTU      = 1500
)

// Config is the pod network of one node.
type Config struct {
	// NodeNetNS is the path of the network namespace that plays the node;
	// "" is the process's own (production). Tests pass one they created.
	NodeNetNS string
	// Bridge is the name of the pods' bridge (default appliance0).
	Bridge string
	// PodCIDR is this node's spec.podCIDR (IPv4, at most /30); the bridge
	// gets its first address, pods the rest.
	PodCIDR *net.IPNet
	// ClusterCIDR holds every node's podCIDR; pod traffic to addresses
	// outside it is masqueraded. It must contain PodCIDR.
	ClusterCIDR *net.IPNet
	// MTU of the bridge and the veths; 0 takes the MTU of the node's
	// default-route device, or 1500 without one.
	MTU int
	// StateDir holds the IP allocations, one file per IP holding the sandbox id.
	StateDir string
	// NetNSDir is where pod namespaces are bind-mounted (default /run/appliance/netns).
	NetNSDir string
	// Log defaults to slog.Default(); the part adds part=network.
	Log *slog.Logger
}

// Network is the pod network of one node. Its methods are safe for
// concurrent use.
type Network struct {
	cfg     Config
	gateway net.IP
	mtu     int
	ipam    *ipam
	log     *slog.Logger
}

// linkNameRE is what the kernel accepts as an interface name (IFNAMSIZ-1).
var linkNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)

// validate checks cfg and fills in defaults.
func (cfg *Config) validate() error {
	if cfg.Bridge == "" {
		cfg.Bridge = DefaultBridge
	}
	if !linkNameRE.MatchString(cfg.Bridge) || cfg.Bridge == "." || cfg.Bridge == ".." {
		return fmt.Errorf("bridge name %q: must be 1-15 characters of letters, digits, '_', '.', '-'", cfg.Bridge)
	}
	if cfg.NetNSDir == "" {
		cfg.NetNSDir = DefaultNetNSDir
	}
	if cfg.StateDir == "" {
		return errors.New("state dir is required")
	}
	if cfg.PodCIDR == nil {
		return errors.New("pod CIDR is required")
	}
	if cfg.PodCIDR.IP.To4() == nil || len(cfg.PodCIDR.Mask) != net.IPv4len {
		return fmt.Errorf("pod CIDR %s: only IPv4 is supported", cfg.PodCIDR)
	}
	if ones, _ := cfg.PodCIDR.Mask.Size(); ones > 30 || ones == 0 {
		return fmt.Errorf("pod CIDR %s: prefix must be between /1 and /30", cfg.PodCIDR)
	}
	if !cfg.PodCIDR.IP.To4().Equal(cfg.PodCIDR.IP.To4().Mask(cfg.PodCIDR.Mask)) {
		return fmt.Errorf("pod CIDR %s: host bits set (network address is %s)", cfg.PodCIDR, cfg.PodCIDR.IP.Mask(cfg.PodCIDR.Mask))
	}
	if cfg.ClusterCIDR == nil {
		return errors.New("cluster CIDR is required")
	}
	if cfg.ClusterCIDR.IP.To4() == nil || len(cfg.ClusterCIDR.Mask) != net.IPv4len {
		return fmt.Errorf("cluster CIDR %s: only IPv4 is supported", cfg.ClusterCIDR)
	}
	podOnes, _ := cfg.PodCIDR.Mask.Size()
	clusterOnes, _ := cfg.ClusterCIDR.Mask.Size()
	if clusterOnes > podOnes || !cfg.ClusterCIDR.Contains(cfg.PodCIDR.IP) {
		return fmt.Errorf("pod CIDR %s is not inside cluster CIDR %s", cfg.PodCIDR, cfg.ClusterCIDR)
	}
	if cfg.MTU != 0 && (cfg.MTU < 576 || cfg.MTU > 65535) {
		return fmt.Errorf("MTU %d: must be between 576 and 65535", cfg.MTU)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return nil
}

// New validates cfg and returns the node's pod network. It changes nothing;
// Ensure sets the node up.
func New(cfg Config) (*Network, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("pod network config: %w", err)
	}
	podCIDR := &net.IPNet{IP: cfg.PodCIDR.IP.To4(), Mask: cfg.PodCIDR.Mask}
	cfg.PodCIDR = podCIDR
	cfg.ClusterCIDR = &net.IPNet{IP: cfg.ClusterCIDR.IP.To4().Mask(cfg.ClusterCIDR.Mask), Mask: cfg.ClusterCIDR.Mask}
	gw := uintToIP4(ip4ToUint(podCIDR.IP) + 1)
	n := &Network{
		cfg:     cfg,
		gateway: gw,
		mtu:     cfg.MTU,
		ipam:    newIPAM(cfg.StateDir, podCIDR, gw),
		log:     cfg.Log.With("part", "network"),
	}
	// Opening the node namespace here also checks that the path is one.
	h, err := n.nodeHandle()
	if err != nil {
		return nil, fmt.Errorf("pod network config: %w", err)
	}
	defer h.Close()
	if n.mtu == 0 {
		n.mtu = defaultRouteMTU(h)
	}
	n.log.Info("pod network", "node-netns", cfg.NodeNetNS, "bridge", cfg.Bridge,
		"pod-cidr", podCIDR.String(), "cluster-cidr", cfg.ClusterCIDR.String(),
		"gateway", gw.String(), "mtu", n.mtu, "state-dir", cfg.StateDir, "netns-dir", cfg.NetNSDir)
	return n, nil
}

// defaultRouteMTU is the MTU of the device holding the IPv4 default route,
// or DefaultMTU.
func defaultRouteMTU(h *netlink.Handle) int {
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return DefaultMTU
	}
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.IP.IsUnspecified()) && r.LinkIndex > 0 {
			if l, err := h.LinkByIndex(r.LinkIndex); err == nil && l.Attrs().MTU > 0 {
				return l.Attrs().MTU
			}
		}
	}
	return DefaultMTU
}

// nodeHandle is a netlink handle bound to the node namespace.
func (n *Network) nodeHandle() (*netlink.Handle, error) {
	return handleAt(n.cfg.NodeNetNS)
}

func handleAt(path string) (*netlink.Handle, error) {
	if path == "" {
		h, err := netlink.NewHandle()
		if err != nil {
			return nil, fmt.Errorf("netlink handle: %w", err)
		}
		return h, nil
	}
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open netns %q: %w", path, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in netns %q: %w", path, err)
	}
	return h, nil
}

// Gateway is the bridge's address, the pods' default gateway.
func (n *Network) Gateway() net.IP { return append(net.IP(nil), n.gateway...) }

// MTU is the MTU of the bridge and the pods' interfaces.
func (n *Network) MTU() int { return n.mtu }

// Ensure sets up the node for pods, and is safe to call again at any time
// (the kubelet calls it on every start): the bridge is up with the gateway
// address, hairpin mode is on for its ports, net.ipv4.ip_forward is 1, and
// our iptables chains masquerade pod traffic leaving the cluster CIDR and
// accept forwarding to and from the bridge.
func (n *Network) Ensure(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ensure pod network: %w", err)
	}
	h, err := n.nodeHandle()
	if err != nil {
		return fmt.Errorf("ensure pod network: %w", err)
	}
	defer h.Close()
	br, err := n.ensureBridge(h)
	if err != nil {
		return fmt.Errorf("ensure pod network: bridge %q: %w", n.cfg.Bridge, err)
	}
	links, err := h.LinkList()
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return fmt.Errorf("ensure pod network: list links: %w", err)
	}
	for _, l := range links {
		if l.Attrs().MasterIndex == br.Attrs().Index {
			if err := h.LinkSetHairpin(l, true); err != nil {
				return fmt.Errorf("ensure pod network: hairpin on %q: %w", l.Attrs().Name, err)
			}
		}
	}
	if err := InNetNS(n.cfg.NodeNetNS, enableIPForward); err != nil {
		return fmt.Errorf("ensure pod network: %w", err)
	}
	if err := InNetNS(n.cfg.NodeNetNS, n.ensureRules); err != nil {
		return fmt.Errorf("ensure pod network: iptables: %w", err)
	}
	return nil
}

func (n *Network) ensureBridge(h *netlink.Handle) (netlink.Link, error) {
	br, err := h.LinkByName(n.cfg.Bridge)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		la := netlink.NewLinkAttrs()
		la.Name = n.cfg.Bridge
		la.MTU = n.mtu
		if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: la}); err != nil && !errors.Is(err, errExist) {
			return nil, fmt.Errorf("create: %w", err)
		}
		if br, err = h.LinkByName(n.cfg.Bridge); err != nil {
			return nil, fmt.Errorf("look up: %w", err)
		}
		// Pin the bridge's MAC: left alone, the kernel gives it the lowest
		// MAC of its ports, so it would change as pods come and go and
		// every pod's ARP entry for the gateway would go stale.
		if err := h.LinkSetHardwareAddr(br, br.Attrs().HardwareAddr); err != nil {
			return nil, fmt.Errorf("pin MAC: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("look up: %w", err)
	}
	if _, ok := br.(*netlink.Bridge); !ok {
		return nil, fmt.Errorf("exists as a %s device, not a bridge", br.Type())
	}
	if br.Attrs().MTU != n.mtu {
		if err := h.LinkSetMTU(br, n.mtu); err != nil {
			return nil, fmt.Errorf("set MTU %d: %w", n.mtu, err)
		}
	}
	want := &net.IPNet{IP: n.gateway, Mask: n.cfg.PodCIDR.Mask}
	addrs, err := h.AddrList(br, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list addresses: %w", err)
	}
	for _, a := range addrs {
		if a.IPNet.String() == want.String() {
			continue
		}
		// A stale gateway from an earlier podCIDR would route pods wrongly.
		if err := h.AddrDel(br, &a); err != nil {
			return nil, fmt.Errorf("remove stale address %s: %w", a.IPNet, err)
		}
		n.log.Info("removed stale bridge address", "address", a.IPNet.String())
	}
	if err := h.AddrReplace(br, &netlink.Addr{IPNet: want}); err != nil {
		return nil, fmt.Errorf("add address %s: %w", want, err)
	}
	if err := h.LinkSetUp(br); err != nil {
		return nil, fmt.Errorf("set up: %w", err)
	}
	return br, nil
}

// enableIPForward writes the sysctl of the namespace the thread is in:
// /proc/sys/net is resolved per network namespace of the opening thread.
func enableIPForward() error {
	const path = "/proc/sys/net/ipv4/ip_forward"
	if err := writeSysctl(path, "1"); err != nil {
		return fmt.Errorf("enable ip_forward: %w", err)
	}
	return nil
}

// Cleanup removes the bridge (and with it every pod's host veth) and our
// iptables chains, for tests and uninstall. Allocations in StateDir stay.
func (n *Network) Cleanup() error {
	var errs []error
	h, err := n.nodeHandle()
	if err != nil {
		return fmt.Errorf("clean up pod network: %w", err)
	}
	defer h.Close()
	if br, err := h.LinkByName(n.cfg.Bridge); err == nil {
		if err := h.LinkDel(br); err != nil {
			errs = append(errs, fmt.Errorf("delete bridge %q: %w", n.cfg.Bridge, err))
		}
	}
	if err := InNetNS(n.cfg.NodeNetNS, n.removeRules); err != nil {
		errs = append(errs, fmt.Errorf("iptables: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean up pod network: %w", err)
	}
	return nil
}
