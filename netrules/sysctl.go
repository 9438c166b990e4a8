package netrules

import (
	"log/slog"
	"os"
	"os/exec"
	"strings"
)

const bridgeCallIptables = "/proc/sys/net/bridge/bridge-nf-call-iptables"

// ensureBridgeNetfilter makes bridged traffic go through iptables in the
// node's namespace (it runs there), loading br_netfilter if need be, as
// k3s's agent does. Without it a pod reaching a Service whose endpoint is
// on the same bridge (or is itself) gets its request translated but the
// reply, bridged straight back, is not: the connection fails. It only
// warns when it cannot: everything else works without it.
func ensureBridgeNetfilter(log *slog.Logger) {
	if _, err := os.Stat(bridgeCallIptables); err != nil {
		_ = exec.Command("modprobe", "br_netfilter").Run()
	}
	cur, err := os.ReadFile(bridgeCallIptables)
	if err != nil {
		log.Warn("br_netfilter is not available: pods cannot reach Services whose endpoints are on their own bridge", "err", err)
		return
	}
	if strings.TrimSpace(string(cur)) == "1" {
		return
	}
	if err := os.WriteFile(bridgeCallIptables, []byte("1"), 0o644); err != nil {
		log.Warn("set net.bridge.bridge-nf-call-iptables=1: pods cannot reach Services whose endpoints are on their own bridge", "err", err)
		return
	}
	log.Info("set net.bridge.bridge-nf-call-iptables=1, so Service traffic between pods on one bridge is translated both ways")
}
