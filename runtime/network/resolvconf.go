package network

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Kubernetes' limits on a pod's resolver configuration (the API server's
// validation of spec.dnsConfig, and the kubelet's cap on the result).
const (
	MaxDNSNameservers     = 3
	MaxDNSSearchPaths     = 32
	MaxDNSSearchListChars = 2048
)

// ErrInvalidDNSConfig is wrapped by ResolvConf for a pod whose dnsPolicy or
// dnsConfig the API server's validation would have refused.
var ErrInvalidDNSConfig = errors.New("invalid pod DNS config")

type resolvConfig struct {
	nameservers []string
	searches    []string
	options     []string
}

// ResolvConf is the /etc/resolv.conf the kubelet gives a pod:
//   - ClusterFirst (the default) on the pod network, and ClusterFirstWithHostNet:
//     the cluster DNS servers, search "<ns>.svc.<domain> svc.<domain> <domain>"
//     followed by the host's search list, and options ndots:5. Without a
//     cluster DNS address the kubelet falls back to Default, and so do we.
//   - ClusterFirst with hostNetwork, and Default: the host's nameservers,
//     search list and options (hostResolvConf, the node's resolv.conf).
//   - None: nothing but spec.dnsConfig.
//
// spec.dnsConfig is then merged in: nameservers and searches appended without
// duplicates, options replacing those of the same name. As the kubelet does,
// the result is cut to 3 nameservers and 32 search domains (2048 characters).
// A dnsConfig the API server would refuse is an error wrapping
// ErrInvalidDNSConfig.
func ResolvConf(pod *corev1.Pod, clusterDNS []net.IP, clusterDomain string, hostResolvConf []byte) ([]byte, error) {
	if err := validatePodDNS(pod); err != nil {
		return nil, fmt.Errorf("resolv.conf for pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	host, err := parseResolvConf(hostResolvConf)
	if err != nil {
		return nil, fmt.Errorf("resolv.conf for pod %s/%s: host resolv.conf: %w", pod.Namespace, pod.Name, err)
	}
	var cfg resolvConfig
	switch policy := pod.Spec.DNSPolicy; {
	case policy == corev1.DNSNone:
	case policy == corev1.DNSDefault,
		(policy == corev1.DNSClusterFirst || policy == "") && pod.Spec.HostNetwork,
		len(clusterDNS) == 0:
		cfg = host
	default: // ClusterFirst, ClusterFirstWithHostNet
		for _, ip := range clusterDNS {
			cfg.nameservers = append(cfg.nameservers, ip.String())
		}
		if clusterDomain != "" {
			cfg.searches = []string{
				pod.Namespace + ".svc." + clusterDomain,
				"svc." + clusterDomain,
				clusterDomain,
			}
		}
		cfg.searches = omitDuplicates(append(cfg.searches, host.searches...))
		cfg.options = []string{"ndots:5"}
	}
	if dc := pod.Spec.DNSConfig; dc != nil {
		cfg.nameservers = omitDuplicates(append(cfg.nameservers, dc.Nameservers...))
		cfg.searches = omitDuplicates(append(cfg.searches, dc.Searches...))
		cfg.options = mergeOptions(cfg.options, dc.Options)
	}
	if len(cfg.nameservers) > MaxDNSNameservers {
		cfg.nameservers = cfg.nameservers[:MaxDNSNameservers]
	}
	cfg.searches = fitSearches(cfg.searches)

	var b bytes.Buffer
	if len(cfg.searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(cfg.searches, " "))
	}
	for _, ns := range cfg.nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(cfg.options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(cfg.options, " "))
	}
	return b.Bytes(), nil
}

// validatePodDNS refuses what the API server's validation refuses.
func validatePodDNS(pod *corev1.Pod) error {
	switch pod.Spec.DNSPolicy {
	case "", corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet, corev1.DNSDefault, corev1.DNSNone:
	default:
		return fmt.Errorf("%w: dnsPolicy %q: must be ClusterFirst, ClusterFirstWithHostNet, Default or None", ErrInvalidDNSConfig, pod.Spec.DNSPolicy)
	}
	dc := pod.Spec.DNSConfig
	if pod.Spec.DNSPolicy == corev1.DNSNone {
		if dc == nil {
			return fmt.Errorf("%w: dnsPolicy None needs a dnsConfig", ErrInvalidDNSConfig)
		}
		if len(dc.Nameservers) == 0 {
			return fmt.Errorf("%w: dnsPolicy None needs at least one dnsConfig nameserver", ErrInvalidDNSConfig)
		}
	}
	if dc == nil {
		return nil
	}
	if len(dc.Nameservers) > MaxDNSNameservers {
		return fmt.Errorf("%w: %d dnsConfig nameservers: at most %d are allowed", ErrInvalidDNSConfig, len(dc.Nameservers), MaxDNSNameservers)
	}
	for _, ns := range dc.Nameservers {
		if net.ParseIP(ns) == nil {
			return fmt.Errorf("%w: dnsConfig nameserver %q is not an IP address", ErrInvalidDNSConfig, ns)
		}
	}
	if len(dc.Searches) > MaxDNSSearchPaths {
		return fmt.Errorf("%w: %d dnsConfig searches: at most %d are allowed", ErrInvalidDNSConfig, len(dc.Searches), MaxDNSSearchPaths)
	}
	if n := len(strings.Join(dc.Searches, " ")); n > MaxDNSSearchListChars {
		return fmt.Errorf("%w: dnsConfig searches are %d characters long: at most %d are allowed", ErrInvalidDNSConfig, n, MaxDNSSearchListChars)
	}
	for _, s := range dc.Searches {
		if s == "." {
			continue
		}
		if msgs := validation.IsDNS1123Subdomain(strings.TrimSuffix(s, ".")); len(msgs) > 0 {
			return fmt.Errorf("%w: dnsConfig search %q: %s", ErrInvalidDNSConfig, s, strings.Join(msgs, "; "))
		}
	}
	for i, o := range dc.Options {
		if o.Name == "" {
			return fmt.Errorf("%w: dnsConfig option %d has no name", ErrInvalidDNSConfig, i)
		}
	}
	return nil
}

// parseResolvConf reads nameserver, search and options lines as the kubelet
// does: '#' and ';' start comments, the last search line wins, and a later
// option replaces an earlier one of the same name.
func parseResolvConf(data []byte) (resolvConfig, error) {
	var cfg resolvConfig
	sc := bufio.NewScanner(bytes.NewReader(data))
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch fields[0] {
		case "nameserver":
			if len(fields) < 2 {
				return resolvConfig{}, fmt.Errorf("line %d: nameserver without an address", lineNo)
			}
			cfg.nameservers = append(cfg.nameservers, fields[1])
		case "search":
			cfg.searches = nil
			for _, s := range fields[1:] {
				if s != "." {
					cfg.searches = append(cfg.searches, strings.TrimSuffix(s, "."))
				}
			}
		case "options":
			for _, o := range fields[1:] {
				cfg.options = setOption(cfg.options, o)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return resolvConfig{}, err
	}
	return cfg, nil
}

func optionName(o string) string {
	name, _, _ := strings.Cut(o, ":")
	return name
}

// setOption replaces the option of the same name in place, or appends.
func setOption(opts []string, o string) []string {
	for i, cur := range opts {
		if optionName(cur) == optionName(o) {
			opts[i] = o
			return opts
		}
	}
	return append(opts, o)
}

// mergeOptions lays dnsConfig options over the base ones, in a stable order
// (the kubelet goes through a map, so its order is arbitrary).
func mergeOptions(base []string, extra []corev1.PodDNSConfigOption) []string {
	out := append([]string(nil), base...)
	for _, o := range extra {
		s := o.Name
		if o.Value != nil && *o.Value != "" {
			s += ":" + *o.Value
		}
		out = setOption(out, s)
	}
	return out
}

func omitDuplicates(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := in[:0:0]
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// fitSearches cuts the search list to Kubernetes' limits, as the kubelet does.
func fitSearches(s []string) []string {
	if len(s) > MaxDNSSearchPaths {
		s = s[:MaxDNSSearchPaths]
	}
	for len(s) > 0 && len(strings.Join(s, " ")) > MaxDNSSearchListChars {
		s = s[:len(s)-1]
	}
	return s
}

// Where the node's resolver configuration is read from: the host's
// /etc/resolv.conf, and the file systemd-resolved writes with the upstream
// servers it forwards to.
const (
	HostResolvConfPath     = "/etc/resolv.conf"
	ResolvedResolvConfPath = "/run/systemd/resolve/resolv.conf"
)

// HostResolvConf is the node's resolv.conf as pods get it (the kubelet's
// --resolv-conf, chosen as k3s chooses it): the host file at hostPath, unless
// every nameserver it names is a loopback address (systemd-resolved's stub
// 127.0.0.53, unreachable from a pod's network namespace) and the file at
// resolvedPath exists and names a nameserver that is not. path is the file
// the data came from. A host file that cannot be read is an error (with
// path hostPath); a resolved file that cannot be read or parsed is ignored.
func HostResolvConf(hostPath, resolvedPath string) (data []byte, path string, err error) {
	data, err = os.ReadFile(hostPath)
	if err != nil {
		return nil, hostPath, err
	}
	if host, err := parseResolvConf(data); err != nil || !allLoopback(host.nameservers) {
		return data, hostPath, nil
	}
	resolved, err := os.ReadFile(resolvedPath)
	if err != nil {
		return data, hostPath, nil
	}
	if cfg, err := parseResolvConf(resolved); err != nil || !anyNonLoopback(cfg.nameservers) {
		return data, hostPath, nil
	}
	return resolved, resolvedPath, nil
}

// allLoopback: at least one nameserver, and all of them loopback addresses.
func allLoopback(nameservers []string) bool {
	for _, ns := range nameservers {
		if ip := net.ParseIP(ns); ip == nil || !ip.IsLoopback() {
			return false
		}
	}
	return len(nameservers) > 0
}

func anyNonLoopback(nameservers []string) bool {
	for _, ns := range nameservers {
		if ip := net.ParseIP(ns); ip != nil && !ip.IsLoopback() {
			return true
		}
	}
	return false
}
