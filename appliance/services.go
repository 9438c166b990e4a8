package appliance

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"k8s.io/client-go/kubernetes"

	"github.com/appliance/appliance/appliance/controllers/clusterdns"
	"github.com/appliance/appliance/dns"
	"github.com/appliance/appliance/netrules"
)

// startNodeDNS runs this node's cluster DNS resolver with the node's identity,
// listening on the pod network's gateway (port 10053, UDP and TCP) in the node's
// network namespace; the kube-dns Service's EndpointSlice (package clusterdns)
// points there, so the pods' nameserver 10.43.0.10 reaches it through the
// service rules. It returns once the resolver answers cluster names.
func (a *Appliance) startNodeDNS(ctx context.Context, cs kubernetes.Interface, gateway net.IP) error {
	gw, ok := netip.AddrFromSlice(gateway.To4())
	if !ok {
		return fmt.Errorf("cluster DNS: no IPv4 gateway on the pod network (%v)", gateway)
	}
	srv, err := dns.Start(ctx, dns.Config{
		Client:       cs,
		Log:          a.log,
		Listen:       []string{netip.AddrPortFrom(gw, clusterdns.ListenPort).String()},
		NetNS:        a.cfg.AgentNetNS,
		Domain:       a.cfg.ClusterDomain,
		ReverseCIDRs: []netip.Prefix{a.cfg.ServiceCIDR, a.cfg.ClusterCIDR},
		NSAddress:    a.cfg.ClusterDNS,
		ResolvConf:   a.cfg.ResolvConf,
	})
	if err != nil {
		return fmt.Errorf("cluster DNS (--disable-cluster-dns turns it off): %w", err)
	}
	a.mu.Lock()
	a.dns = srv
	a.mu.Unlock()
	select {
	case <-srv.Ready():
	case err := <-srv.Err():
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
	go func() {
		select {
		case err := <-srv.Err():
			a.errc <- err
		case <-ctx.Done():
		}
	}()
	return nil
}

// startNodeProxy programs this node's service rules (netrules: kube-proxy's
// iptables mode) in the node's network namespace, with the node's identity.
// NodePorts answer on every local address but loopback, as kube-proxy's
// default: a second LAN or a VPN address (Tailscale, WireGuard) too. It
// returns once the first rules are written; they stay when the appliance
// stops, so services keep working across a restart.
func (a *Appliance) startNodeProxy(ctx context.Context, cs kubernetes.Interface) error {
	p, err := netrules.Start(ctx, netrules.Config{
		Client:      cs,
		NodeName:    a.cfg.NodeName,
		ClusterCIDR: a.cfg.ClusterCIDR,
		NetNS:       a.cfg.AgentNetNS,
		Log:         a.log,
	})
	if err != nil {
		return fmt.Errorf("service rules (--disable-kube-proxy turns them off): %w", err)
	}
	a.mu.Lock()
	a.proxy = p
	a.mu.Unlock()
	select {
	case <-p.Ready():
	case err := <-p.Err():
		return fmt.Errorf("service rules: %w", err)
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}
