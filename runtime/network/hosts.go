package network

import (
	"bytes"
	"fmt"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultClusterDomain is the cluster's DNS domain unless configured otherwise.
const DefaultClusterDomain = "cluster.local"

// PodHostnameAndDomain returns a pod's hostname and, with spec.subdomain, its
// domain, as the kubelet computes them: spec.hostname or else the pod's name,
// cut to 63 characters without a trailing '-' or '.', and
// "<subdomain>.<namespace>.svc.<clusterDomain>". The kubelet uses the
// hostname for the sandbox's UTS hostname too (spec.setHostnameAsFQDN joins
// both).
func PodHostnameAndDomain(pod *corev1.Pod, clusterDomain string) (hostname, domain string, err error) {
	hostname = pod.Name
	if pod.Spec.Hostname != "" {
		if msgs := validation.IsDNS1123Label(pod.Spec.Hostname); len(msgs) > 0 {
			return "", "", fmt.Errorf("pod %s/%s: hostname %q is not a valid DNS label: %s", pod.Namespace, pod.Name, pod.Spec.Hostname, strings.Join(msgs, "; "))
		}
		hostname = pod.Spec.Hostname
	}
	if len(hostname) > validation.DNS1123LabelMaxLength {
		hostname = strings.TrimRight(hostname[:validation.DNS1123LabelMaxLength], "-.")
	}
	if hostname == "" {
		return "", "", fmt.Errorf("pod %s/%s: hostname is empty after truncation", pod.Namespace, pod.Name)
	}
	if pod.Spec.Subdomain != "" {
		if msgs := validation.IsDNS1123Label(pod.Spec.Subdomain); len(msgs) > 0 {
			return "", "", fmt.Errorf("pod %s/%s: subdomain %q is not a valid DNS label: %s", pod.Namespace, pod.Name, pod.Spec.Subdomain, strings.Join(msgs, "; "))
		}
		domain = fmt.Sprintf("%s.%s.svc.%s", pod.Spec.Subdomain, pod.Namespace, clusterDomain)
	}
	return hostname, domain, nil
}

// HostsFile is the /etc/hosts the kubelet writes for a pod on the pod
// network, in the cluster domain cluster.local (HostsFileInDomain takes
// another). A hostname that API validation would have refused falls back to
// the pod's name.
func HostsFile(pod *corev1.Pod, podIP net.IP) []byte {
	return HostsFileInDomain(pod, podIP, DefaultClusterDomain)
}

// HostsFileInDomain is HostsFile for a cluster domain: the kubelet's header,
// localhost and IPv6 lines, "<podIP>\t<fqdn>\t<hostname>" with a subdomain
// (else "<podIP>\t<hostname>"), then spec.hostAliases, one line per IP.
func HostsFileInDomain(pod *corev1.Pod, podIP net.IP, clusterDomain string) []byte {
	hostname, domain, err := PodHostnameAndDomain(pod, clusterDomain)
	if err != nil {
		hostname, domain = pod.Name, ""
		if len(hostname) > validation.DNS1123LabelMaxLength {
			hostname = strings.TrimRight(hostname[:validation.DNS1123LabelMaxLength], "-.")
		}
	}
	var b bytes.Buffer
	b.WriteString("# Kubernetes-managed hosts file.\n")
	b.WriteString("127.0.0.1\tlocalhost\n")
	b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString("fe00::0\tip6-localnet\n")
	b.WriteString("fe00::0\tip6-mcastprefix\n")
	b.WriteString("fe00::1\tip6-allnodes\n")
	b.WriteString("fe00::2\tip6-allrouters\n")
	if podIP != nil {
		if domain != "" {
			fmt.Fprintf(&b, "%s\t%s.%s\t%s\n", podIP, hostname, domain, hostname)
		} else {
			fmt.Fprintf(&b, "%s\t%s\n", podIP, hostname)
		}
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return b.Bytes()
}
