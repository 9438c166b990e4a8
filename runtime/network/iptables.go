package network

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/coreos/go-iptables/iptables"
)

// Our chains, jumped to from the built-in ones, so Ensure can rewrite them
// whole and Cleanup can remove them without touching anyone else's rules
// (the layout kube-proxy and the CNI plugins use).
const (
	postroutingChain = "APPLIANCE-POSTROUTING"
	forwardChain     = "APPLIANCE-FORWARD"
	jumpComment      = "appliance pod network"
)

var errExist = syscall.EEXIST

func (n *Network) masqueradeRule() []string {
	return []string{"-s", n.cfg.PodCIDR.String(), "!", "-d", n.cfg.ClusterCIDR.String(),
		"-m", "comment", "--comment", "appliance: masquerade pod traffic leaving the cluster",
		"-j", "MASQUERADE"}
}

// ensureRules runs inside the node namespace.
func (n *Network) ensureRules() error {
	ipt, err := iptables.NewWithProtocol(iptables.ProtocolIPv4)
	if err != nil {
		return fmt.Errorf("find iptables: %w", err)
	}
	pod := n.cfg.PodCIDR.String()
	// nat: masquerade pod traffic whose destination is outside the cluster,
	// but never multicast (as the CNI bridge plugin's ipMasq does).
	if err := ipt.ClearChain("nat", postroutingChain); err != nil {
		return fmt.Errorf("flush nat %s: %w", postroutingChain, err)
	}
	natRules := [][]string{
		{"-s", pod, "-d", "224.0.0.0/4", "-m", "comment", "--comment", "appliance: no NAT for multicast", "-j", "RETURN"},
		n.masqueradeRule(),
	}
	for _, r := range natRules {
		if err := ipt.Append("nat", postroutingChain, r...); err != nil {
			return fmt.Errorf("nat %s: %w", postroutingChain, err)
		}
	}
	if err := ensureJump(ipt, "nat", "POSTROUTING", postroutingChain); err != nil {
		return err
	}
	// filter: hosts with a FORWARD policy of DROP (Docker sets one) must
	// still forward pod traffic, so our accept rules come first.
	if err := ipt.ClearChain("filter", forwardChain); err != nil {
		return fmt.Errorf("flush filter %s: %w", forwardChain, err)
	}
	fwdRules := [][]string{
		{"-i", n.cfg.Bridge, "-m", "comment", "--comment", "appliance: from pods", "-j", "ACCEPT"},
		{"-o", n.cfg.Bridge, "-m", "comment", "--comment", "appliance: to pods", "-j", "ACCEPT"},
	}
	for _, r := range fwdRules {
		if err := ipt.Append("filter", forwardChain, r...); err != nil {
			return fmt.Errorf("filter %s: %w", forwardChain, err)
		}
	}
	return ensureJump(ipt, "filter", "FORWARD", forwardChain)
}

func jumpRule(chain string) []string {
	return []string{"-m", "comment", "--comment", jumpComment, "-j", chain}
}

// ensureJump puts the jump to our chain first in a built-in chain, once.
func ensureJump(ipt *iptables.IPTables, table, from, to string) error {
	rule := jumpRule(to)
	ok, err := ipt.Exists(table, from, rule...)
	if err != nil {
		return fmt.Errorf("check %s %s jump: %w", table, from, err)
	}
	if ok {
		return nil
	}
	if err := ipt.Insert(table, from, 1, rule...); err != nil {
		return fmt.Errorf("insert %s %s jump: %w", table, from, err)
	}
	return nil
}

// removeRules runs inside the node namespace; what is already gone is fine.
func (n *Network) removeRules() error {
	ipt, err := iptables.NewWithProtocol(iptables.ProtocolIPv4)
	if err != nil {
		return fmt.Errorf("find iptables: %w", err)
	}
	var errs []error
	for _, c := range []struct{ table, from, chain string }{
		{"nat", "POSTROUTING", postroutingChain},
		{"filter", "FORWARD", forwardChain},
	} {
		// A jump can only exist while its target chain does (and the nft
		// backend refuses to even check for one to a missing chain).
		exists, err := ipt.ChainExists(c.table, c.chain)
		if err != nil {
			errs = append(errs, fmt.Errorf("check %s %s: %w", c.table, c.chain, err))
			continue
		}
		if !exists {
			continue
		}
		if err := ipt.DeleteIfExists(c.table, c.from, jumpRule(c.chain)...); err != nil {
			errs = append(errs, fmt.Errorf("delete %s %s jump: %w", c.table, c.from, err))
			continue
		}
		if err := ipt.ClearAndDeleteChain(c.table, c.chain); err != nil {
			errs = append(errs, fmt.Errorf("delete %s %s: %w", c.table, c.chain, err))
		}
	}
	return errors.Join(errs...)
}

func writeSysctl(path, value string) error {
	cur, err := os.ReadFile(path)
	if err == nil && string(cur) == value+"\n" {
		return nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
