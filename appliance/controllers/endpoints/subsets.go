package endpoints

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	esreconciler "k8s.io/endpointslice"
	esutil "k8s.io/endpointslice/util"
	utilnet "k8s.io/utils/net"
)

// MaxAddresses is the most addresses an Endpoints object carries; beyond it
// the controller truncates and says so in the over-capacity annotation, as
// Kubernetes does since 1.22 (EndpointSlices have no such limit).
const MaxAddresses = 1000

// desiredSubsets computes a selector Service's subsets from its pods, in the
// canonical form the controller writes (and compares): pods with the same set
// of resolved ports share a subset; addresses and ports are sorted.
//
// As Kubernetes' Endpoints controller does:
//   - a pod counts when it has an IP and has not finished (Succeeded,
//     Failed); a terminating pod only with publishNotReadyAddresses;
//   - its address is the pod IP of the Service's first IP family;
//   - it is in addresses when Ready (or publishNotReadyAddresses), else in
//     notReadyAddresses;
//   - ports are the Service's ports with targetPort resolved in that pod (a
//     named port missing from the pod drops that port for that pod); a
//     headless Service without ports lists bare addresses;
//   - hostname is set for pods whose spec.subdomain is the Service's name.
func desiredSubsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	type group struct {
		ports           []corev1.EndpointPort
		ready, notReady []corev1.EndpointAddress
	}
	groups := map[string]*group{}
	headless := svc.Spec.ClusterIP == corev1.ClusterIPNone
	for _, pod := range pods {
		if !esutil.ShouldPodBeInEndpoints(pod, svc.Spec.PublishNotReadyAddresses) {
			continue
		}
		addr, ok := podAddress(svc, pod)
		if !ok {
			continue
		}
		var ports []corev1.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			n, err := esreconciler.FindPort(pod, sp)
			if err != nil {
				continue
			}
			ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: int32(n), Protocol: sp.Protocol, AppProtocol: sp.AppProtocol})
		}
		if len(ports) == 0 && !(len(svc.Spec.Ports) == 0 && headless) {
			continue // nothing to reach it on
		}
		sortPorts(ports)
		key := portsKey(ports)
		g := groups[key]
		if g == nil {
			g = &group{ports: ports}
			groups[key] = g
		}
		if svc.Spec.PublishNotReadyAddresses || esutil.IsPodReady(pod) {
			g.ready = append(g.ready, addr)
		} else {
			g.notReady = append(g.notReady, addr)
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	subsets := make([]corev1.EndpointSubset, 0, len(keys))
	for _, k := range keys {
		g := groups[k]
		sortAddresses(g.ready)
		sortAddresses(g.notReady)
		subsets = append(subsets, corev1.EndpointSubset{Addresses: g.ready, NotReadyAddresses: g.notReady, Ports: g.ports})
	}
	return subsets
}

// podAddress is the pod's address for the Service: its IP of the Service's
// (first) family. Without ipFamilies (an old object) the family is the
// cluster IP's, or for a headless Service the pod's primary IP's.
func podAddress(svc *corev1.Service, pod *corev1.Pod) (corev1.EndpointAddress, bool) {
	var v6 bool
	switch {
	case len(svc.Spec.IPFamilies) > 0:
		v6 = svc.Spec.IPFamilies[0] == corev1.IPv6Protocol
	case svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != corev1.ClusterIPNone:
		v6 = utilnet.IsIPv6String(svc.Spec.ClusterIP)
	default:
		v6 = utilnet.IsIPv6String(pod.Status.PodIP)
	}
	ips := pod.Status.PodIPs
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []corev1.PodIP{{IP: pod.Status.PodIP}}
	}
	for _, ip := range ips {
		if utilnet.IsIPv6String(ip.IP) != v6 {
			continue
		}
		addr := corev1.EndpointAddress{
			IP:        ip.IP,
			NodeName:  &pod.Spec.NodeName,
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		if pod.Spec.NodeName == "" {
			addr.NodeName = nil
		}
		if esutil.ShouldSetHostname(pod, svc) {
			addr.Hostname = pod.Spec.Hostname
		}
		return addr, true
	}
	return corev1.EndpointAddress{}, false
}

func sortPorts(ports []corev1.EndpointPort) {
	slices.SortFunc(ports, func(a, b corev1.EndpointPort) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), cmp.Compare(a.Port, b.Port), strings.Compare(string(a.Protocol), string(b.Protocol)))
	})
}

func portsKey(ports []corev1.EndpointPort) string {
	var b strings.Builder
	for _, p := range ports {
		app := ""
		if p.AppProtocol != nil {
			app = *p.AppProtocol
		}
		fmt.Fprintf(&b, "%s/%d/%s/%s;", p.Name, p.Port, p.Protocol, app)
	}
	return b.String()
}

func sortAddresses(addrs []corev1.EndpointAddress) {
	slices.SortFunc(addrs, func(a, b corev1.EndpointAddress) int {
		var ua, ub string
		if a.TargetRef != nil {
			ua = string(a.TargetRef.UID)
		}
		if b.TargetRef != nil {
			ub = string(b.TargetRef.UID)
		}
		return cmp.Or(strings.Compare(a.IP, b.IP), strings.Compare(ua, ub))
	})
}

// truncate cuts subsets down to MaxAddresses and reports whether it did.
// Ready addresses go first: not-ready ones only fill what room is left, and
// when the ready ones alone are too many, no not-ready address stays. The
// room is shared out between subsets in proportion to their size (rounded
// up, so the last subsets may get a little less), which is how Kubernetes
// keeps every port set represented.
func truncate(subsets []corev1.EndpointSubset) bool {
	ready, notReady := 0, 0
	for _, s := range subsets {
		ready += len(s.Addresses)
		notReady += len(s.NotReadyAddresses)
	}
	if ready+notReady <= MaxAddresses {
		return false
	}
	cutReady := ready > MaxAddresses
	room, total := MaxAddresses-ready, notReady
	if cutReady {
		room, total = MaxAddresses, ready
	}
	left := room
	for i := range subsets {
		s := &subsets[i]
		list := &s.NotReadyAddresses
		if cutReady {
			list = &s.Addresses
			s.NotReadyAddresses = nil
		}
		share := min(int(math.Ceil(float64(len(*list))/float64(total)*float64(room))), left)
		if len(*list) > share {
			*list = (*list)[:share]
		}
		left -= len(*list)
	}
	return true
}
