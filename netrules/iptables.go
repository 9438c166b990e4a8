package netrules

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"

	"github.com/coreos/go-iptables/iptables"

	"github.com/appliance/appliance/runtime/network"
)

// jump is a rule in a built-in chain that sends packets to one of ours,
// with kube-proxy's comments. They are ensured one by one (inserted first
// when missing) because a restore with --noflush cannot make a rule in a
// chain it does not own appear exactly once.
type jump struct {
	table, from, to string
	args            []string
}

func (j jump) rule() []string {
	return append(slices.Clone(j.args), "-j", j.to)
}

// line is the jump as iptables-save prints it.
func (j jump) line() string {
	var b strings.Builder
	b.WriteString("-A " + j.from)
	for _, a := range j.rule() {
		if strings.Contains(a, " ") {
			a = `"` + a + `"`
		}
		b.WriteString(" " + a)
	}
	return b.String()
}

// In kube-proxy's order: each is inserted first when missing, so in
// FORWARD the accept of KUBE-FORWARD ends up first, then KUBE-SERVICES,
// then KUBE-EXTERNAL-SERVICES, ahead of rules added before the proxy
// started (the pod network's accept rules among them).
var jumps = []jump{
	{"filter", "INPUT", chainExternalServices, []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes externally-visible service portals"}},
	{"filter", "FORWARD", chainExternalServices, []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes externally-visible service portals"}},
	{"filter", "INPUT", chainNodePorts, []string{"-m", "comment", "--comment", "kubernetes health check service ports"}},
	{"filter", "FORWARD", chainServices, []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes service portals"}},
	{"filter", "OUTPUT", chainServices, []string{"-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes service portals"}},
	{"filter", "FORWARD", chainForward, []string{"-m", "comment", "--comment", "kubernetes forwarding rules"}},
	{"nat", "OUTPUT", chainServices, []string{"-m", "comment", "--comment", "kubernetes service portals"}},
	{"nat", "PREROUTING", chainServices, []string{"-m", "comment", "--comment", "kubernetes service portals"}},
	{"nat", "POSTROUTING", chainPostrouting, []string{"-m", "comment", "--comment", "kubernetes postrouting rules"}},
}

// fixedChains are our chains that always exist, per table.
var fixedChains = map[string][]string{
	"filter": {chainServices, chainExternalServices, chainForward, chainNodePorts},
	"nat":    {chainServices, chainNodePorts, chainPostrouting, chainMarkMasq},
}

// ensureJumps inserts the missing jumps from the built-in chains, first in
// their chain. It runs inside the target namespace, after a restore
// created our chains (a jump to a missing chain is refused). seen holds
// the lines of iptables-save read before: a jump found there needs no
// check of its own (one `iptables -C` costs 2-5 ms on a large table).
func ensureJumps(seen map[string]bool) error {
	var ipt *iptables.IPTables
	for _, j := range jumps {
		if seen[j.line()] {
			continue
		}
		if ipt == nil {
			var err error
			if ipt, err = iptables.NewWithProtocol(iptables.ProtocolIPv4); err != nil {
				return fmt.Errorf("find iptables: %w", err)
			}
		}
		// Checked again with iptables itself: a line printed differently
		// must not make a second copy.
		ok, err := ipt.Exists(j.table, j.from, j.rule()...)
		if err != nil {
			return fmt.Errorf("check %s %s jump to %s: %w", j.table, j.from, j.to, err)
		}
		if ok {
			continue
		}
		if err := ipt.Insert(j.table, j.from, 1, j.rule()...); err != nil {
			return fmt.Errorf("insert %s %s jump to %s: %w", j.table, j.from, j.to, err)
		}
	}
	return nil
}

// restoreError is a failed iptables-restore, with what it printed.
type restoreError struct {
	err    error
	stderr string
}

func (e *restoreError) Error() string {
	return fmt.Sprintf("iptables-restore: %v: %s", e.err, strings.TrimSpace(e.stderr))
}

func (e *restoreError) Unwrap() error { return e.err }

// restore runs `iptables-restore --noflush --wait` with input on stdin: one
// transaction, all or nothing. Runs inside the target namespace.
func restore(input []byte) error {
	c := exec.Command("iptables-restore", "--noflush", "--wait")
	c.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if err := c.Run(); err != nil {
		return &restoreError{err: err, stderr: stderr.String()}
	}
	return nil
}

// tablesState is what iptables-save shows of ours: our chains per table
// (fixed and per-service ones) and the lines of built-in chains that jump
// to a KUBE- chain.
type tablesState struct {
	chains    map[string][]string // table -> our chains
	jumpLines map[string]bool
}

// saveState reads the filter and nat tables with one iptables-save (one
// run costs about what one table does). Runs inside the target namespace.
func saveState() (tablesState, error) {
	st := tablesState{chains: map[string][]string{}, jumpLines: map[string]bool{}}
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return st, fmt.Errorf("iptables-save: %w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return st, fmt.Errorf("iptables-save: %w", err)
	}
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "*"):
			table = line[1:]
		case fixedChains[table] == nil:
			// not a table of ours
		case strings.HasPrefix(line, ":KUBE-"):
			name, _, _ := strings.Cut(line[1:], " ")
			if isPerServiceChain(name) || slices.Contains(fixedChains[table], name) {
				st.chains[table] = append(st.chains[table], name)
			}
		case strings.HasPrefix(line, "-A ") && !strings.HasPrefix(line, "-A KUBE-") && strings.Contains(line, " -j KUBE-"):
			st.jumpLines[line] = true
		}
	}
	return st, sc.Err()
}

// Cleanup removes every jump and chain this package makes in the network
// namespace at netnsPath ("" = the process's own): for uninstalling, and
// for tests. What is already gone is fine. Chains of others (including
// other KUBE- chains) are left alone.
func Cleanup(netnsPath string) error {
	return network.InNetNS(netnsPath, func() error {
		ipt, err := iptables.NewWithProtocol(iptables.ProtocolIPv4)
		if err != nil {
			return fmt.Errorf("cleanup: find iptables: %w", err)
		}
		var errs []error
		for _, j := range jumps {
			// A jump can only exist while its target does (and the nft
			// backend refuses to even check for one to a missing chain).
			ok, err := ipt.ChainExists(j.table, j.to)
			if err != nil {
				errs = append(errs, fmt.Errorf("cleanup: %s %s: %w", j.table, j.to, err))
				continue
			}
			if !ok {
				continue
			}
			// Delete every copy, should someone have added one twice.
			for {
				ok, err := ipt.Exists(j.table, j.from, j.rule()...)
				if err != nil {
					errs = append(errs, fmt.Errorf("cleanup: check %s %s jump to %s: %w", j.table, j.from, j.to, err))
					break
				}
				if !ok {
					break
				}
				if err := ipt.Delete(j.table, j.from, j.rule()...); err != nil {
					errs = append(errs, fmt.Errorf("cleanup: delete %s %s jump to %s: %w", j.table, j.from, j.to, err))
					break
				}
			}
		}
		if len(errs) > 0 {
			return errors.Join(errs...)
		}
		// Then all our chains, in one transaction per table: declared
		// (flushed) first, so jumps between them are gone when they are
		// deleted.
		st, err := saveState()
		if err != nil {
			return fmt.Errorf("cleanup: %w", err)
		}
		for _, table := range []string{"filter", "nat"} {
			chains := st.chains[table]
			if len(chains) == 0 {
				continue
			}
			var b strings.Builder
			b.WriteString("*" + table + "\n")
			for _, c := range chains {
				b.WriteString(":" + c + " - [0:0]\n")
			}
			for _, c := range chains {
				b.WriteString("-X " + c + "\n")
			}
			b.WriteString("COMMIT\n")
			if err := restore([]byte(b.String())); err != nil {
				errs = append(errs, fmt.Errorf("cleanup: %w", err))
			}
		}
		return errors.Join(errs...)
	})
}
