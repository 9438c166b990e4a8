package network

import (
	"errors"
	"net"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const hostsHeader = "# Kubernetes-managed hosts file.\n" +
	"127.0.0.1\tlocalhost\n" +
	"::1\tlocalhost ip6-localhost ip6-loopback\n" +
	"fe00::0\tip6-localnet\n" +
	"fe00::0\tip6-mcastprefix\n" +
	"fe00::1\tip6-allnodes\n" +
	"fe00::2\tip6-allrouters\n"

func testPod(name string, mutate func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}}
	if mutate != nil {
		mutate(p)
	}
	return p
}

func TestHostsFile(t *testing.T) {
	long := strings.Repeat("a", 62) + "-b" // 64 characters; cut at 63 ends in '-'
	for _, tc := range []struct {
		name   string
		pod    *corev1.Pod
		domain string
		want   string
	}{
		{"pod name", testPod("web-1", nil), "", hostsHeader + "10.42.0.7\tweb-1\n"},
		{"spec.hostname", testPod("web-1", func(p *corev1.Pod) { p.Spec.Hostname = "front" }), "", hostsHeader + "10.42.0.7\tfront\n"},
		{"hostname and subdomain", testPod("web-1", func(p *corev1.Pod) {
			p.Spec.Hostname, p.Spec.Subdomain = "front", "web"
		}), "", hostsHeader + "10.42.0.7\tfront.web.shop.svc.cluster.local\tfront\n"},
		{"subdomain only, other domain", testPod("web-1", func(p *corev1.Pod) { p.Spec.Subdomain = "web" }), "corp.example",
			hostsHeader + "10.42.0.7\tweb-1.web.shop.svc.corp.example\tweb-1\n"},
		{"long pod name is cut", testPod(long, nil), "", hostsHeader + "10.42.0.7\t" + strings.Repeat("a", 62) + "\n"},
		{"host aliases", testPod("web-1", func(p *corev1.Pod) {
			p.Spec.HostAliases = []corev1.HostAlias{
				{IP: "127.0.0.1", Hostnames: []string{"foo.local", "bar.local"}},
				{IP: "10.1.2.3", Hostnames: []string{"foo.remote"}},
			}
		}), "", hostsHeader + "10.42.0.7\tweb-1\n\n# Entries added by HostAliases.\n127.0.0.1\tfoo.local\tbar.local\n10.1.2.3\tfoo.remote\n"},
		{"invalid hostname falls back to the pod name", testPod("web-1", func(p *corev1.Pod) { p.Spec.Hostname = "Not_A_Label" }), "",
			hostsHeader + "10.42.0.7\tweb-1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []byte
			if tc.domain == "" {
				got = HostsFile(tc.pod, net.ParseIP("10.42.0.7"))
			} else {
				got = HostsFileInDomain(tc.pod, net.ParseIP("10.42.0.7"), tc.domain)
			}
			if string(got) != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestPodHostnameAndDomainErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"bad hostname", testPod("web-1", func(p *corev1.Pod) { p.Spec.Hostname = "UPPER" }), `hostname "UPPER"`},
		{"bad subdomain", testPod("web-1", func(p *corev1.Pod) { p.Spec.Subdomain = "a.b" }), `subdomain "a.b"`},
		{"nothing left after cut", testPod(strings.Repeat("-", 70), nil), "empty after truncation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := PodHostnameAndDomain(tc.pod, "cluster.local")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

const hostResolv = `# from the node
nameserver 192.168.1.1
nameserver 192.168.1.2
search lan. example.com
options edns0 timeout:2
; comment
`

func TestResolvConf(t *testing.T) {
	dns := []net.IP{net.ParseIP("10.43.0.10")}
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		name       string
		pod        *corev1.Pod
		clusterDNS []net.IP
		domain     string
		want       string
	}{
		{"ClusterFirst", testPod("p", func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSClusterFirst }), dns, "cluster.local",
			"search shop.svc.cluster.local svc.cluster.local cluster.local lan example.com\nnameserver 10.43.0.10\noptions ndots:5\n"},
		{"empty policy is ClusterFirst", testPod("p", nil), dns, "cluster.local",
			"search shop.svc.cluster.local svc.cluster.local cluster.local lan example.com\nnameserver 10.43.0.10\noptions ndots:5\n"},
		{"ClusterFirst with hostNetwork is Default", testPod("p", func(p *corev1.Pod) {
			p.Spec.DNSPolicy, p.Spec.HostNetwork = corev1.DNSClusterFirst, true
		}), dns, "cluster.local",
			"search lan example.com\nnameserver 192.168.1.1\nnameserver 192.168.1.2\noptions edns0 timeout:2\n"},
		{"ClusterFirstWithHostNet", testPod("p", func(p *corev1.Pod) {
			p.Spec.DNSPolicy, p.Spec.HostNetwork = corev1.DNSClusterFirstWithHostNet, true
		}), dns, "cluster.local",
			"search shop.svc.cluster.local svc.cluster.local cluster.local lan example.com\nnameserver 10.43.0.10\noptions ndots:5\n"},
		{"ClusterFirst without cluster DNS falls back to Default", testPod("p", nil), nil, "cluster.local",
			"search lan example.com\nnameserver 192.168.1.1\nnameserver 192.168.1.2\noptions edns0 timeout:2\n"},
		{"Default", testPod("p", func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSDefault }), dns, "cluster.local",
			"search lan example.com\nnameserver 192.168.1.1\nnameserver 192.168.1.2\noptions edns0 timeout:2\n"},
		{"None takes only dnsConfig", testPod("p", func(p *corev1.Pod) {
			p.Spec.DNSPolicy = corev1.DNSNone
			p.Spec.DNSConfig = &corev1.PodDNSConfig{
				Nameservers: []string{"1.2.3.4"},
				Searches:    []string{"ns1.svc.cluster-domain.example", "my.dns.search.suffix"},
				Options:     []corev1.PodDNSConfigOption{{Name: "ndots", Value: str("2")}, {Name: "edns0"}},
			}
		}), dns, "cluster.local",
			"search ns1.svc.cluster-domain.example my.dns.search.suffix\nnameserver 1.2.3.4\noptions ndots:2 edns0\n"},
		{"dnsConfig merged into ClusterFirst", testPod("p", func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{
				Nameservers: []string{"10.43.0.10", "1.1.1.1"},
				Searches:    []string{"cluster.local", "extra.example"},
				Options:     []corev1.PodDNSConfigOption{{Name: "ndots", Value: str("1")}, {Name: "single-request-reopen"}},
			}
		}), dns, "cluster.local",
			"search shop.svc.cluster.local svc.cluster.local cluster.local lan example.com extra.example\n" +
				"nameserver 10.43.0.10\nnameserver 1.1.1.1\noptions ndots:1 single-request-reopen\n"},
		{"more than 3 nameservers are cut", testPod("p", func(p *corev1.Pod) {
			p.Spec.DNSPolicy = corev1.DNSDefault
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"9.9.9.9", "8.8.8.8"}}
		}), dns, "cluster.local",
			"search lan example.com\nnameserver 192.168.1.1\nnameserver 192.168.1.2\nnameserver 9.9.9.9\noptions edns0 timeout:2\n"},
		{"no cluster domain", testPod("p", nil), dns, "",
			"search lan example.com\nnameserver 10.43.0.10\noptions ndots:5\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ResolvConf(tc.pod, tc.clusterDNS, tc.domain, []byte(hostResolv))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestResolvConfSearchLimit(t *testing.T) {
	var searches []string
	for i := 0; i < 30; i++ {
		searches = append(searches, "s"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+".example")
	}
	pod := testPod("p", func(p *corev1.Pod) { p.Spec.DNSConfig = &corev1.PodDNSConfig{Searches: searches} })
	got, err := ResolvConf(pod, []net.IP{net.ParseIP("10.43.0.10")}, "cluster.local", []byte(hostResolv))
	if err != nil {
		t.Fatal(err)
	}
	line := strings.SplitN(string(got), "\n", 2)[0]
	if n := len(strings.Fields(line)) - 1; n != MaxDNSSearchPaths {
		t.Errorf("%d search domains, want the limit %d: %s", n, MaxDNSSearchPaths, line)
	}
}

func TestResolvConfErrors(t *testing.T) {
	many := make([]string, 33)
	for i := range many {
		many[i] = "d.example"
	}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		host string
		want string
	}{
		{"unknown policy", testPod("p", func(p *corev1.Pod) { p.Spec.DNSPolicy = "Sometimes" }), "", `dnsPolicy "Sometimes"`},
		{"None without dnsConfig", testPod("p", func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone }), "", "needs a dnsConfig"},
		{"None without nameservers", testPod("p", func(p *corev1.Pod) {
			p.Spec.DNSPolicy, p.Spec.DNSConfig = corev1.DNSNone, &corev1.PodDNSConfig{Searches: []string{"a.example"}}
		}), "", "at least one dnsConfig nameserver"},
		{"4 nameservers", testPod("p", func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"}}
		}), "", "at most 3"},
		{"nameserver not an IP", testPod("p", func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"dns.example"}}
		}), "", `"dns.example" is not an IP`},
		{"33 searches", testPod("p", func(p *corev1.Pod) { p.Spec.DNSConfig = &corev1.PodDNSConfig{Searches: many} }), "", "at most 32"},
		{"bad search", testPod("p", func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Searches: []string{"Bad_Domain"}}
		}), "", `search "Bad_Domain"`},
		{"option without a name", testPod("p", func(p *corev1.Pod) {
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Options: []corev1.PodDNSConfigOption{{}}}
		}), "", "option 0 has no name"},
		{"broken host file", testPod("p", nil), "nameserver\n", "line 1: nameserver without an address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ResolvConf(tc.pod, []net.IP{net.ParseIP("10.43.0.10")}, "cluster.local", []byte(tc.host))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if tc.name != "broken host file" && !errors.Is(err, ErrInvalidDNSConfig) {
				t.Errorf("err = %v, want it to wrap ErrInvalidDNSConfig", err)
			}
		})
	}
}
