package endpoints

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/controllers/controllerutil/servicetest"
)

func svc(mutate ...func(*corev1.Service)) *corev1.Service {
	s := servicetest.Service("ns", "web", map[string]string{"app": "web"}, intstr.FromString("http"))
	s.Spec.ClusterIP, s.Spec.IPFamilies = "10.43.0.20", []corev1.IPFamily{corev1.IPv4Protocol}
	for _, m := range mutate {
		m(s)
	}
	return s
}

func pod(name, ip string, ready bool, mutate ...func(*corev1.Pod)) *corev1.Pod {
	return servicetest.Pod("ns", name, ip, ready, mutate...)
}

// render writes subsets compactly: [ports] ready | notReady; per subset.
func render(subsets []corev1.EndpointSubset) string {
	var parts []string
	for _, s := range subsets {
		var ports, ready, notReady []string
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprintf("%s:%d", p.Name, p.Port))
		}
		for _, a := range s.Addresses {
			ready = append(ready, a.IP+hostOf(a))
		}
		for _, a := range s.NotReadyAddresses {
			notReady = append(notReady, a.IP+hostOf(a))
		}
		parts = append(parts, fmt.Sprintf("[%s] %s | %s", strings.Join(ports, ","), strings.Join(ready, ","), strings.Join(notReady, ",")))
	}
	return strings.Join(parts, "; ")
}

func hostOf(a corev1.EndpointAddress) string {
	if a.Hostname == "" {
		return ""
	}
	return "(" + a.Hostname + ")"
}

func TestDesiredSubsets(t *testing.T) {
	terminating := func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.Now()) }
	port := func(n int32) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = n }
	}
	publish := func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }
	for _, tc := range []struct {
		name string
		svc  *corev1.Service
		pods []*corev1.Pod
		want string
	}{
		{name: "ready and not ready", svc: svc(),
			pods: []*corev1.Pod{pod("b", "10.0.0.2", true), pod("a", "10.0.0.1", true), pod("c", "10.0.0.3", false)},
			want: "[http:8080] 10.0.0.1,10.0.0.2 | 10.0.0.3"},
		{name: "terminating left out", svc: svc(),
			pods: []*corev1.Pod{pod("a", "10.0.0.1", true, terminating), pod("b", "10.0.0.2", true)},
			want: "[http:8080] 10.0.0.2 | "},
		{name: "publish not ready: all ready, terminating kept", svc: svc(publish),
			pods: []*corev1.Pod{pod("a", "10.0.0.1", false), pod("b", "10.0.0.2", true, terminating)},
			want: "[http:8080] 10.0.0.1,10.0.0.2 | "},
		{name: "finished and IP-less pods left out", svc: svc(),
			pods: []*corev1.Pod{
				pod("a", "10.0.0.1", false, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
				pod("b", "10.0.0.2", false, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed }),
				pod("c", "", true, func(p *corev1.Pod) { p.Status.PodIPs = nil }),
				pod("d", "10.0.0.4", true)},
			want: "[http:8080] 10.0.0.4 | "},
		{name: "named port, two numbers: two subsets", svc: svc(),
			pods: []*corev1.Pod{pod("a", "10.0.0.1", true, port(9090)), pod("b", "10.0.0.2", true), pod("c", "10.0.0.3", false, port(9090))},
			want: "[http:8080] 10.0.0.2 | ; [http:9090] 10.0.0.1 | 10.0.0.3"},
		{name: "named port missing: pod left out", svc: svc(),
			pods: []*corev1.Pod{pod("a", "10.0.0.1", true, func(p *corev1.Pod) { p.Spec.Containers[0].Ports = nil }), pod("b", "10.0.0.2", true)},
			want: "[http:8080] 10.0.0.2 | "},
		{name: "two service ports", svc: svc(func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "metrics", Port: 9100, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9100)})
		}), pods: []*corev1.Pod{pod("a", "10.0.0.1", true)},
			want: "[http:8080,metrics:9100] 10.0.0.1 | "},
		{name: "headless without ports", svc: svc(func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.Ports = corev1.ClusterIPNone, nil }),
			pods: []*corev1.Pod{pod("a", "10.0.0.1", true)},
			want: "[] 10.0.0.1 | "},
		{name: "hostname when subdomain is the service", svc: svc(),
			pods: []*corev1.Pod{
				pod("a", "10.0.0.1", true, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "web-0", "web" }),
				pod("b", "10.0.0.2", true, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "db-0", "db" })},
			want: "[http:8080] 10.0.0.1(web-0),10.0.0.2 | "},
		{name: "IPv6 service takes the pod's IPv6 address", svc: svc(func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} }),
			pods: []*corev1.Pod{pod("a", "10.0.0.1", true, func(p *corev1.Pod) { p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: "fd00::1"}) }),
				pod("b", "10.0.0.2", true)},
			want: "[http:8080] fd00::1 | "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := render(desiredSubsets(tc.svc, tc.pods))
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestAddressFields(t *testing.T) {
	s := desiredSubsets(svc(), []*corev1.Pod{pod("a", "10.0.0.1", true)})
	a := s[0].Addresses[0]
	if a.NodeName == nil || *a.NodeName != "node-a" || a.TargetRef == nil || a.TargetRef.Kind != "Pod" ||
		a.TargetRef.Name != "a" || a.TargetRef.Namespace != "ns" || a.TargetRef.UID != "a-uid" {
		t.Fatalf("address %+v, targetRef %+v", a, a.TargetRef)
	}
	if p := s[0].Ports[0]; p.Protocol != corev1.ProtocolTCP {
		t.Fatalf("port %+v", p)
	}
}

func addrs(prefix string, n int) []corev1.EndpointAddress {
	out := make([]corev1.EndpointAddress, n)
	for i := range out {
		out[i].IP = fmt.Sprintf("%s.%d", prefix, i)
	}
	return out
}

func TestTruncate(t *testing.T) {
	count := func(s []corev1.EndpointSubset) (ready, notReady []int) {
		for _, x := range s {
			ready = append(ready, len(x.Addresses))
			notReady = append(notReady, len(x.NotReadyAddresses))
		}
		return
	}
	for _, tc := range []struct {
		name                    string
		subsets                 []corev1.EndpointSubset
		truncated               bool
		wantReady, wantNotReady []int
	}{
		{name: "at capacity", subsets: []corev1.EndpointSubset{{Addresses: addrs("r", 600), NotReadyAddresses: addrs("n", 400)}},
			wantReady: []int{600}, wantNotReady: []int{400}},
		{name: "not ready cut first", truncated: true,
			subsets:   []corev1.EndpointSubset{{Addresses: addrs("r", 900), NotReadyAddresses: addrs("n", 300)}},
			wantReady: []int{900}, wantNotReady: []int{100}},
		{name: "ready over capacity drops all not ready", truncated: true,
			subsets: []corev1.EndpointSubset{
				{Addresses: addrs("a", 900), NotReadyAddresses: addrs("n", 10)},
				{Addresses: addrs("b", 300)}},
			wantReady: []int{750, 250}, wantNotReady: []int{0, 0}},
		{name: "shares not-ready room in proportion", truncated: true,
			subsets: []corev1.EndpointSubset{
				{Addresses: addrs("a", 500), NotReadyAddresses: addrs("n", 300)},
				{Addresses: addrs("b", 300), NotReadyAddresses: addrs("m", 100)}},
			wantReady: []int{500, 300}, wantNotReady: []int{150, 50}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := truncate(tc.subsets); got != tc.truncated {
				t.Fatalf("truncated %v, want %v", got, tc.truncated)
			}
			r, n := count(tc.subsets)
			if !slices.Equal(r, tc.wantReady) || !slices.Equal(n, tc.wantNotReady) {
				t.Fatalf("ready %v not ready %v, want %v %v", r, n, tc.wantReady, tc.wantNotReady)
			}
			total := 0
			for i := range r {
				total += r[i] + n[i]
			}
			if total > MaxAddresses {
				t.Fatalf("%d addresses kept", total)
			}
		})
	}
}
