package dns

import (
	"net/netip"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// kind is how a Service answers its name.
type kind int

const (
	clusterIP kind = iota // its ClusterIPs
	headless              // its endpoints' addresses
	external              // a CNAME to spec.externalName
)

// port is a named (or unnamed) port of a Service or an EndpointSlice, with
// the protocol in lower case as it appears in SRV names (_tcp).
type port struct {
	name, proto string
	number      uint16
}

// endpoint is one address of a headless Service's endpoint, under its
// hostname: the endpoint's hostname field (a StatefulSet pod's), or else
// the address with dashes, which is the "system-assigned identifier" the
// specification allows and what CoreDNS uses without endpoint_pod_names.
type endpoint struct {
	host  string // one lower-case label
	addr  netip.Addr
	ports []port // its slice's ports
}

// service is what the index keeps of one Service: everything an answer
// needs, in lower case, with no pointer into informer objects.
type service struct {
	name, ns  string
	kind      kind
	ips       []netip.Addr // ClusterIPs
	target    string       // ExternalName, fully qualified
	ports     []port       // the Service's ports (clusterIP)
	endpoints []endpoint   // ready endpoints (headless)
}

// fqdn is <name>.<ns>.svc.<zone>.
func (s *service) fqdn(zone string) string { return s.name + "." + s.ns + ".svc." + zone }

// hosts reports whether an endpoint has the hostname host.
func (s *service) hasHost(host string) bool {
	for _, e := range s.endpoints {
		if e.host == host {
			return true
		}
	}
	return false
}

// buildService turns a Service and its EndpointSlices into the index's
// view. Endpoints count when ready (a nil ready condition means ready, as
// the EndpointSlice API documents), or always when the Service publishes
// not-ready addresses; FQDN slices are ignored, as CoreDNS does.
func buildService(svc *corev1.Service, slicesOf []*discoveryv1.EndpointSlice) *service {
	s := &service{name: strings.ToLower(svc.Name), ns: strings.ToLower(svc.Namespace)}
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		s.kind = external
		s.target = strings.ToLower(strings.TrimSuffix(svc.Spec.ExternalName, ".")) + "."
		return s
	case svc.Spec.ClusterIP == corev1.ClusterIPNone:
		s.kind = headless
	default:
		s.kind = clusterIP
		ips := svc.Spec.ClusterIPs
		if len(ips) == 0 && svc.Spec.ClusterIP != "" {
			ips = []string{svc.Spec.ClusterIP}
		}
		for _, ip := range ips {
			if a, err := netip.ParseAddr(ip); err == nil {
				s.ips = append(s.ips, a.Unmap())
			}
		}
		for _, p := range svc.Spec.Ports {
			s.ports = append(s.ports, port{name: strings.ToLower(p.Name), proto: strings.ToLower(string(p.Protocol)), number: uint16(p.Port)})
		}
		return s
	}
	seen := map[netip.Addr]bool{}
	for _, sl := range slicesOf {
		if sl.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		var ports []port
		for _, p := range sl.Ports {
			if p.Port == nil {
				continue
			}
			pr := corev1.ProtocolTCP
			if p.Protocol != nil {
				pr = *p.Protocol
			}
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			ports = append(ports, port{name: strings.ToLower(name), proto: strings.ToLower(string(pr)), number: uint16(*p.Port)})
		}
		for _, e := range sl.Endpoints {
			ready := e.Conditions.Ready == nil || *e.Conditions.Ready
			if !ready && !svc.Spec.PublishNotReadyAddresses {
				continue
			}
			for _, a := range e.Addresses {
				addr, err := netip.ParseAddr(a)
				if err != nil || seen[addr.Unmap()] {
					continue
				}
				addr = addr.Unmap()
				seen[addr] = true
				host := dashed(addr)
				if e.Hostname != nil && *e.Hostname != "" {
					host = strings.ToLower(*e.Hostname)
				}
				s.endpoints = append(s.endpoints, endpoint{host: host, addr: addr, ports: ports})
			}
		}
	}
	// A stable order: answers do not change when nothing changed.
	slices.SortFunc(s.endpoints, func(a, b endpoint) int { return a.addr.Compare(b.addr) })
	return s
}

// dashed writes an address as one DNS label: 10-42-0-5, or for IPv6 the
// colons of its canonical form as dashes (fd00--5), as CoreDNS does.
func dashed(a netip.Addr) string {
	if a.Is4() {
		return strings.ReplaceAll(a.String(), ".", "-")
	}
	return strings.ReplaceAll(a.String(), ":", "-")
}

// undash parses a label written by dashed (also an expanded IPv6 form).
func undash(label string) (netip.Addr, bool) {
	if strings.Count(label, "-") == 3 && !strings.Contains(label, "--") {
		a, err := netip.ParseAddr(strings.ReplaceAll(label, "-", "."))
		return a, err == nil && a.Is4()
	}
	a, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ":"))
	return a, err == nil && a.Is6() && a.Zone() == ""
}

// index is the in-memory view the cluster answers come from. Informer
// handlers replace one Service's entry at a time; answers read under the
// read lock.
type index struct {
	zone string // lower-case, fully qualified: "cluster.local."

	mu         sync.RWMutex
	services   map[string]*service           // "<name>.<ns>"
	namespaces map[string]int                // Services per namespace
	ptr        map[netip.Addr]map[string]int // address -> PTR targets (reference counts)
	serial     uint32                        // SOA serial, bumped on every change
}

func newIndex(domain string, serial uint32) *index {
	return &index{
		zone:       strings.ToLower(strings.TrimSuffix(domain, ".")) + ".",
		services:   map[string]*service{},
		namespaces: map[string]int{},
		ptr:        map[netip.Addr]map[string]int{},
		serial:     serial,
	}
}

// set replaces the entry of the Service ns/name (s nil: the Service is
// gone).
func (ix *index) set(ns, name string, s *service) {
	key := strings.ToLower(name) + "." + strings.ToLower(ns)
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if old := ix.services[key]; old != nil {
		ix.ptrs(old, -1)
		ix.namespaces[old.ns]--
		if ix.namespaces[old.ns] == 0 {
			delete(ix.namespaces, old.ns)
		}
		delete(ix.services, key)
	}
	if s != nil {
		ix.services[key] = s
		ix.namespaces[s.ns]++
		ix.ptrs(s, +1)
	}
	ix.serial++
}

// ptrs adds (d=1) or removes (d=-1) the PTR records of s: ClusterIP ->
// the Service's name, headless endpoint -> <hostname>.<service>.
func (ix *index) ptrs(s *service, d int) {
	add := func(a netip.Addr, target string) {
		m := ix.ptr[a]
		if m == nil {
			m = map[string]int{}
			ix.ptr[a] = m
		}
		m[target] += d
		if m[target] <= 0 {
			delete(m, target)
		}
		if len(m) == 0 {
			delete(ix.ptr, a)
		}
	}
	switch s.kind {
	case clusterIP:
		for _, a := range s.ips {
			add(a, s.fqdn(ix.zone))
		}
	case headless:
		for _, e := range s.endpoints {
			add(e.addr, e.host+"."+s.fqdn(ix.zone))
		}
	}
}

// lookup returns the Service <name>.<ns> (lower case), or nil.
func (ix *index) lookup(name, ns string) *service { return ix.services[name+"."+ns] }
