package netrules

import "strings"

// For the integration tests, in package netrules_test so they can start a
// real API server (testcluster imports the daemon, which imports us).
var (
	PortProtoHash     = portProtoHash
	EndpointChainName = endpointChainName
)

// JumpRules are the jumps from the built-in chains as iptables-save prints
// them ("-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES").
func JumpRules() []string {
	var out []string
	for _, j := range jumps {
		args := make([]string, len(j.args))
		for i, a := range j.args {
			if strings.Contains(a, " ") {
				a = `"` + a + `"`
			}
			args[i] = a
		}
		out = append(out, "-A "+j.from+" "+strings.Join(args, " ")+" -j "+j.to)
	}
	return out
}
