package netrules

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
		out = append(out, j.line())
	}
	return out
}
