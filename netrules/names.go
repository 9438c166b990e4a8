package netrules

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// Chains of our own, as kube-proxy's iptables mode names them: a user who
// knows kube-proxy reads `iptables-save` here the same way.
const (
	chainServices         = "KUBE-SERVICES"
	chainNodePorts        = "KUBE-NODEPORTS"
	chainPostrouting      = "KUBE-POSTROUTING"
	chainMarkMasq         = "KUBE-MARK-MASQ"
	chainExternalServices = "KUBE-EXTERNAL-SERVICES"
	chainForward          = "KUBE-FORWARD"

	prefixSVC = "KUBE-SVC-" // a service port's endpoints, cluster-wide
	prefixSVL = "KUBE-SVL-" // a service port's endpoints on this node
	prefixEXT = "KUBE-EXT-" // a service port's external destinations
	prefixSEP = "KUBE-SEP-" // one endpoint of a service port

	// masqMark is the bit KUBE-MARK-MASQ sets and KUBE-POSTROUTING
	// masquerades on (kube-proxy's --iptables-masquerade-bit 14).
	masqMark = "0x4000"
)

// perServicePrefixes are the prefixes of the chains made per service port
// or endpoint: any such chain the current rules do not have is stale.
var perServicePrefixes = []string{prefixSVC, prefixSVL, prefixEXT, prefixSEP}

func isPerServiceChain(name string) bool {
	for _, p := range perServicePrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// portProtoHash is kube-proxy's: the first 16 characters of the base32
// sha256 of the service port name ("ns/svc:port") and the lower-case
// protocol. iptables chain names are at most 28 characters.
func portProtoHash(svcPortName, proto string) string {
	h := sha256.Sum256([]byte(svcPortName + proto))
	return base32.StdEncoding.EncodeToString(h[:])[:16]
}

// endpointChainName is kube-proxy's servicePortEndpointChainName: the hash
// also covers the endpoint ("10.42.0.5:8080").
func endpointChainName(svcPortName, proto, endpoint string) string {
	h := sha256.Sum256([]byte(svcPortName + proto + endpoint))
	return prefixSEP + base32.StdEncoding.EncodeToString(h[:])[:16]
}
