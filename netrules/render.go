package netrules

import (
	"bytes"
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// LabelServiceProxyName on a Service hands it to another proxy: kube-proxy
// leaves such Services alone, and so does this one.
const LabelServiceProxyName = "service.kubernetes.io/service-proxy-name"

// DefaultAffinityTimeout is how long a ClientIP session sticks when the
// Service does not say (Kubernetes' default, 3 hours).
const DefaultAffinityTimeout = 10800

// Snapshot is what the rules are computed from: the cluster's Services and
// EndpointSlices as the informers see them, and the facts of this node.
type Snapshot struct {
	Services       []*corev1.Service
	EndpointSlices []*discoveryv1.EndpointSlice
	// NodeName tells local endpoints (their nodeName) from others, for the
	// Local traffic policies.
	NodeName string
	// NodeIPs are the addresses NodePorts answer on (IPv4 only); none is
	// every local address but loopback (kube-proxy's default).
	NodeIPs []netip.Addr
	// ClusterCIDR is the pod CIDR of the whole cluster; invalid means
	// unknown (no masquerade of off-cluster ClusterIP traffic, no pod
	// short-cut for externalTrafficPolicy Local).
	ClusterCIDR netip.Prefix
	// SkipSCTP leaves SCTP ports out (the kernel has no SCTP).
	SkipSCTP bool
}

// Skipped is an object, or a port of one, that got no rules, and why.
type Skipped struct {
	Kind      string // Service or EndpointSlice
	Namespace string
	Name      string
	Reason    string
}

func (s Skipped) String() string {
	return fmt.Sprintf("%s %s/%s: %s", s.Kind, s.Namespace, s.Name, s.Reason)
}

// Rules is what Render computed: the chains of the filter and nat tables
// that are ours, whole, and what was left out.
type Rules struct {
	filter []*chain
	nat    []*chain
	// Skipped lists what got no rules because its data is unusable (an
	// unparsable address, an unknown protocol, SCTP without kernel
	// support). Everything else was rendered.
	Skipped []Skipped
	// udp are the UDP service ports and their endpoints, to clear stale
	// conntrack entries when an endpoint goes away.
	udp   map[string]udpPort
	ports int // service ports rendered
	text  []byte
}

// chain is one chain of ours and its rules ("-A NAME ...\n" lines).
type chain struct {
	name  string
	rules strings.Builder
}

// udpPort is one UDP service port: the addresses clients send to and the
// endpoints they reach.
type udpPort struct {
	dsts      []dst                 // service IP:port and node IP:nodePort pairs
	endpoints map[string]netip.Addr // "ip:port" -> ip
}

type dst struct {
	ip   netip.Addr
	port int32
}

// Text is the whole input for `iptables-restore --noflush`: every chain of
// ours in the filter and nat tables, declared (which flushes it) and
// filled. Chains of others are not named, so they stay as they are.
func (r *Rules) Text() []byte { return r.text }

// endpoint is one address:port of a service port, with its conditions.
type endpoint struct {
	ip          netip.Addr
	port        int32
	addr        string // "10.42.0.5:8080"
	chain       string // its KUBE-SEP chain, for this service port
	local       bool
	ready       bool
	serving     bool
	terminating bool
}

// rank orders duplicates of one endpoint across slices: the most usable wins.
func (e endpoint) rank() int {
	switch {
	case e.ready:
		return 2
	case e.serving && e.terminating:
		return 1
	}
	return 0
}

// sliceData is an EndpointSlice reduced to what the rules need.
type sliceData struct {
	name      string
	ports     []discoveryv1.EndpointPort
	endpoints []endpoint // port unset
}

// localNodePorts matches every local destination but loopback: NodePorts
// when no node IP is given, as kube-proxy's empty --nodeport-addresses
// (NodePorts on 127.0.0.1 would need route_localnet).
var localNodePorts = []string{"-m", "addrtype", "--dst-type", "LOCAL", "!", "-d", "127.0.0.0/8"}

// renderer holds the state of one Render.
type renderer struct {
	s        Snapshot
	nodeIPs  []string // "a.b.c.d", IPv4 only
	cidr     string   // "" when unknown
	skipped  []Skipped
	filter   map[string]*chain
	nat      map[string]*chain
	natOrder []*chain
	udp      map[string]udpPort
	ports    int
}

// Render turns a snapshot into kube-proxy's iptables rules. It is pure:
// the same snapshot gives the same text, byte for byte (services are
// ordered by namespace and name, endpoints by address), so a caller can
// tell a change by comparing texts. Objects with unusable data are left out
// and listed in Rules.Skipped; the rest is rendered.
func Render(s Snapshot) *Rules {
	r := &renderer{s: s, filter: map[string]*chain{}, nat: map[string]*chain{}, udp: map[string]udpPort{}}
	for _, ip := range s.NodeIPs {
		if ip.Is4() {
			r.nodeIPs = append(r.nodeIPs, ip.String())
		}
	}
	if s.ClusterCIDR.IsValid() && s.ClusterCIDR.Addr().Is4() {
		r.cidr = s.ClusterCIDR.Masked().String()
	}
	filterChains := []*chain{r.filterChain(chainServices), r.filterChain(chainExternalServices), r.filterChain(chainForward), r.filterChain(chainNodePorts)}
	svcs := r.natChain(chainServices)
	r.natChain(chainNodePorts)
	post, mark := r.natChain(chainPostrouting), r.natChain(chainMarkMasq)

	// Traffic marked for SNAT is masqueraded once, on its way out; the mark
	// is cleared first so a packet that goes round the stack again is not
	// masqueraded twice.
	post.rule("-m", "mark", "!", "--mark", masqMark+"/"+masqMark, "-j", "RETURN")
	post.rule("-j", "MARK", "--xor-mark", masqMark)
	post.rule("-m", "comment", "--comment", `"kubernetes service traffic requiring SNAT"`, "-j", "MASQUERADE", "--random-fully")
	mark.rule("-j", "MARK", "--or-mark", masqMark)
	// Hosts whose FORWARD policy is DROP still forward service traffic.
	fwd := r.filter[chainForward]
	fwd.rule("-m", "comment", "--comment", `"kubernetes forwarding rules"`, "-m", "mark", "--mark", masqMark+"/"+masqMark, "-j", "ACCEPT")
	fwd.rule("-m", "comment", "--comment", `"kubernetes forwarding conntrack rule"`, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT")

	bySvc := r.slicesByService()
	services := slices.Clone(s.Services)
	slices.SortFunc(services, func(a, b *corev1.Service) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	for _, svc := range services {
		r.service(svc, bySvc[svc.Namespace+"/"+svc.Name])
	}
	// NodePorts last: the jump takes everything sent to a node IP, and a
	// load-balancer or external IP rule for the same address (ServiceLB
	// hands out node IPs) must be looked at first.
	const lastRule = `"kubernetes service nodeports; NOTE: this must be the last rule in this chain"`
	if len(s.NodeIPs) == 0 {
		svcs.rule(slices.Concat([]string{"-m", "comment", "--comment", lastRule}, localNodePorts, []string{"-j", chainNodePorts})...)
	}
	for _, ip := range r.nodeIPs {
		svcs.rule("-m", "comment", "--comment", lastRule, "-d", ip, "-j", chainNodePorts)
	}

	out := &Rules{filter: filterChains, nat: r.natOrder, Skipped: r.skipped, udp: r.udp, ports: r.ports}
	out.text = assemble(out.filter, out.nat, nil)
	return out
}

// assemble writes restore input: for each table, the declarations of
// chains (which creates or flushes them), then their rules, then the
// deletion of stale chains (declared too, so they are flushed first and
// nothing of ours still jumps to them).
func assemble(filter, nat []*chain, staleNAT []string) []byte {
	var b bytes.Buffer
	size := 64
	for _, c := range filter {
		size += len(c.name) + 16 + c.rules.Len()
	}
	for _, c := range nat {
		size += len(c.name) + 16 + c.rules.Len()
	}
	b.Grow(size + 40*len(staleNAT))
	table := func(name string, chains []*chain, stale []string) {
		b.WriteString("*" + name + "\n")
		for _, c := range chains {
			b.WriteString(":" + c.name + " - [0:0]\n")
		}
		for _, n := range stale {
			b.WriteString(":" + n + " - [0:0]\n")
		}
		for _, c := range chains {
			b.WriteString(c.rules.String())
		}
		for _, n := range stale {
			b.WriteString("-X " + n + "\n")
		}
		b.WriteString("COMMIT\n")
	}
	// nat first: iptables-restore stops at the first table that fails, and
	// with the legacy backend each COMMIT is a transaction of its own, so
	// a refused nat table (where stale chains are deleted: the likely
	// failure) leaves the filter table unchanged too. With the nf_tables
	// backend the whole input is one transaction.
	table("nat", nat, staleNAT)
	table("filter", filter, nil)
	return b.Bytes()
}

func (r *renderer) filterChain(name string) *chain {
	c := &chain{name: name}
	r.filter[name] = c
	return c
}

func (r *renderer) natChain(name string) *chain {
	if c, ok := r.nat[name]; ok {
		return c
	}
	c := &chain{name: name}
	r.nat[name] = c
	r.natOrder = append(r.natOrder, c)
	return c
}

// rule appends "-A <chain> args...".
func (c *chain) rule(args ...string) {
	c.rules.WriteString("-A ")
	c.rules.WriteString(c.name)
	for _, a := range args {
		c.rules.WriteByte(' ')
		c.rules.WriteString(a)
	}
	c.rules.WriteByte('\n')
}

func (r *renderer) skip(kind, ns, name, reason string) {
	r.skipped = append(r.skipped, Skipped{Kind: kind, Namespace: ns, Name: name, Reason: reason})
}

// slicesByService indexes the usable IPv4 slices by "ns/service" (label
// kubernetes.io/service-name), each reduced to its ports and endpoints. A
// slice with an address that does not parse is left out whole: half of a
// slice would be a guess.
func (r *renderer) slicesByService() map[string][]*sliceData {
	out := map[string][]*sliceData{}
	for _, sl := range r.s.EndpointSlices {
		svc := sl.Labels[discoveryv1.LabelServiceName]
		if svc == "" || sl.AddressType != discoveryv1.AddressTypeIPv4 {
			// IPv6 and FQDN slices: only IPv4 is proxied for now.
			continue
		}
		d := &sliceData{name: sl.Name, ports: sl.Ports}
		ok := true
		for _, ep := range sl.Endpoints {
			if len(ep.Addresses) == 0 {
				continue
			}
			// As kube-proxy, only the first address counts (the API
			// allows only one in practice).
			ip, err := netip.ParseAddr(ep.Addresses[0])
			if err != nil || !ip.Is4() {
				r.skip("EndpointSlice", sl.Namespace, sl.Name, fmt.Sprintf("endpoint address %q is not an IPv4 address", ep.Addresses[0]))
				ok = false
				break
			}
			c := ep.Conditions
			d.endpoints = append(d.endpoints, endpoint{
				ip:          ip,
				local:       ep.NodeName != nil && *ep.NodeName != "" && *ep.NodeName == r.s.NodeName,
				ready:       c.Ready == nil || *c.Ready,
				serving:     c.Serving == nil || *c.Serving,
				terminating: c.Terminating != nil && *c.Terminating,
			})
		}
		if ok {
			key := sl.Namespace + "/" + svc
			out[key] = append(out[key], d)
		}
	}
	for _, l := range out {
		slices.SortFunc(l, func(a, b *sliceData) int { return cmp.Compare(a.name, b.name) })
	}
	return out
}

// serviceIPs are a Service's IPv4 addresses, parsed.
type serviceIPs struct {
	cluster  netip.Addr
	external []netip.Addr
	lb       []netip.Addr
}

// parseServiceIPs reads a Service's addresses. ok false: the Service gets
// no rules (headless, ExternalName, IPv6 only, or an unparsable address).
func (r *renderer) parseServiceIPs(svc *corev1.Service) (ips serviceIPs, ok bool) {
	skip := func(reason string) (serviceIPs, bool) {
		r.skip("Service", svc.Namespace, svc.Name, reason)
		return serviceIPs{}, false
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return ips, false
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return ips, false // headless: DNS names the endpoints
	}
	candidates := svc.Spec.ClusterIPs
	if len(candidates) == 0 {
		candidates = []string{svc.Spec.ClusterIP}
	}
	for _, c := range candidates {
		ip, err := netip.ParseAddr(c)
		if err != nil {
			return skip(fmt.Sprintf("cluster IP %q does not parse", c))
		}
		if ip.Is4() && !ips.cluster.IsValid() {
			ips.cluster = ip
		}
	}
	if !ips.cluster.IsValid() {
		return ips, false // IPv6 only
	}
	for _, e := range svc.Spec.ExternalIPs {
		ip, err := netip.ParseAddr(e)
		if err != nil {
			return skip(fmt.Sprintf("external IP %q does not parse", e))
		}
		if ip.Is4() {
			ips.external = append(ips.external, ip)
		}
	}
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if ing.IP == "" {
			continue // a hostname: nothing to capture here
		}
		ip, err := netip.ParseAddr(ing.IP)
		if err != nil {
			return skip(fmt.Sprintf("load-balancer IP %q does not parse", ing.IP))
		}
		// ipMode Proxy: the load balancer delivers to the node with its
		// own address as destination, so kube-proxy does not capture it.
		if ing.IPMode != nil && *ing.IPMode == corev1.LoadBalancerIPModeProxy {
			continue
		}
		if ip.Is4() {
			ips.lb = append(ips.lb, ip)
		}
	}
	return ips, true
}

func (r *renderer) service(svc *corev1.Service, sl []*sliceData) {
	if _, ok := svc.Labels[LabelServiceProxyName]; ok {
		return
	}
	// Names go into comments and chain-name hashes. The API server only
	// admits DNS names, but the restore input must never carry anything
	// else (a newline would be a rule of its own).
	if !safeName(svc.Namespace) || !safeName(svc.Name) {
		r.skip("Service", svc.Namespace, svc.Name, "namespace or name is not a DNS name")
		return
	}
	ips, ok := r.parseServiceIPs(svc)
	if !ok {
		return
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if !safeName(p.Name) || p.Port < 1 || p.Port > 65535 || p.NodePort < 0 || p.NodePort > 65535 {
			r.skip("Service", svc.Namespace, svc.Name, fmt.Sprintf("port %q (%d, node port %d) is not valid", p.Name, p.Port, p.NodePort))
			continue
		}
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		switch proto {
		case corev1.ProtocolTCP, corev1.ProtocolUDP:
		case corev1.ProtocolSCTP:
			if r.s.SkipSCTP {
				r.skip("Service", svc.Namespace, svc.Name, fmt.Sprintf("port %s: SCTP is not supported by this kernel", portLabel(p)))
				continue
			}
		default:
			r.skip("Service", svc.Namespace, svc.Name, fmt.Sprintf("port %s: unknown protocol %q", portLabel(p), proto))
			continue
		}
		r.servicePort(svc, ips, p, strings.ToLower(string(proto)), endpointsFor(sl, p.Name, proto))
	}
}

// safeName: lower-case letters, digits, '-' and '.', as DNS names and port
// names are; at most 253 characters.
func safeName(s string) bool {
	if len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

func portLabel(p *corev1.ServicePort) string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Itoa(int(p.Port))
}

// endpointsFor collects the endpoints of one service port: the slice port
// with the same name and protocol carries the resolved target port (a named
// targetPort may resolve to different numbers in different pods, which the
// controller puts in different slices). Duplicates across slices keep their
// most usable conditions. Sorted by address.
func endpointsFor(sl []*sliceData, portName string, proto corev1.Protocol) []endpoint {
	var out []endpoint
	index := map[string]int{}
	for _, d := range sl {
		for _, sp := range d.ports {
			name := ""
			if sp.Name != nil {
				name = *sp.Name
			}
			pp := corev1.ProtocolTCP
			if sp.Protocol != nil {
				pp = *sp.Protocol
			}
			if name != portName || pp != proto || sp.Port == nil || *sp.Port < 1 || *sp.Port > 65535 {
				continue
			}
			for _, ep := range d.endpoints {
				ep.port = *sp.Port
				ep.addr = ep.ip.String() + ":" + strconv.Itoa(int(ep.port))
				if i, ok := index[ep.addr]; ok {
					if ep.rank() > out[i].rank() {
						out[i] = ep
					}
					continue
				}
				index[ep.addr] = len(out)
				out = append(out, ep)
			}
			break
		}
	}
	slices.SortFunc(out, func(a, b endpoint) int {
		return cmp.Or(a.ip.Compare(b.ip), cmp.Compare(a.port, b.port))
	})
	return out
}

// categorize picks the endpoints traffic may go to, as kube-proxy's
// CategorizeEndpoints: ready ones, or, when there is no ready one, the
// serving ones that are terminating (so connections drain to pods on their
// way out rather than fail). Local ones are picked the same way among the
// endpoints on this node. hasAny: some endpoint exists somewhere, usable
// by this node or not.
func categorize(eps []endpoint, usesCluster, usesLocal bool) (cluster, local []endpoint, hasAny bool) {
	pick := func(keep func(endpoint) bool) []endpoint {
		var ready, fallback []endpoint
		for _, e := range eps {
			if !keep(e) {
				continue
			}
			if e.ready {
				ready = append(ready, e)
			} else if e.serving && e.terminating {
				fallback = append(fallback, e)
			}
		}
		if len(ready) > 0 {
			return ready
		}
		return fallback
	}
	if usesCluster {
		cluster = pick(func(endpoint) bool { return true })
	}
	if !usesLocal {
		return cluster, nil, len(cluster) > 0
	}
	local = pick(func(e endpoint) bool { return e.local })
	for _, e := range eps {
		if e.ready || (e.serving && e.terminating) {
			hasAny = true
			break
		}
	}
	return cluster, local, hasAny
}

// servicePort writes the rules of one port of a Service, in kube-proxy's
// layout (pkg/proxy/iptables syncProxyRules).
func (r *renderer) servicePort(svc *corev1.Service, ips serviceIPs, p *corev1.ServicePort, proto string, eps []endpoint) {
	name := svc.Namespace + "/" + svc.Name
	if p.Name != "" {
		name += ":" + p.Name
	}
	r.ports++
	hash := portProtoHash(name, proto)
	clusterChain, localChain, extChain := prefixSVC+hash, prefixSVL+hash, prefixEXT+hash

	externally := p.NodePort != 0 || len(ips.external) > 0 || len(ips.lb) > 0
	internalLocal := svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal
	externalLocal := externally && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	// As kube-proxy's UsesClusterEndpoints: externally reachable ports
	// need the cluster-wide chain even with a Local external policy, for
	// the pod and node short-cuts in KUBE-EXT.
	usesCluster := !internalLocal || externally
	usesLocal := internalLocal || externalLocal
	for i := range eps {
		eps[i].chain = endpointChainName(name, proto, eps[i].addr)
	}
	cluster, local, hasEndpoints := categorize(eps, usesCluster, usesLocal)

	internalChain, hasInternal := clusterChain, hasEndpoints
	if internalLocal {
		internalChain, hasInternal = localChain, len(local) > 0
	}
	externalPolicyChain, hasExternal := clusterChain, hasEndpoints
	if externalLocal {
		externalPolicyChain, hasExternal = localChain, len(local) > 0
	}
	usesExtChain := hasEndpoints && externally

	// What the filter table does with traffic that has nowhere to go: no
	// endpoint at all is refused at once (REJECT: the client sees
	// "connection refused" instead of waiting for a timeout); a Local
	// policy without a local endpoint drops, as kube-proxy does.
	var internalTarget, internalComment, externalTarget, externalComment string
	if !hasEndpoints {
		internalTarget, externalTarget = "REJECT", "REJECT"
		internalComment = `"` + name + ` has no endpoints"`
		externalComment = internalComment
	} else {
		if !hasInternal {
			internalTarget, internalComment = "DROP", `"`+name+` has no local endpoints"`
		}
		if !hasExternal {
			externalTarget, externalComment = "DROP", `"`+name+` has no local endpoints"`
		}
	}
	port := strconv.Itoa(int(p.Port))
	cip := ips.cluster.String()
	natSvcs, filterSvcs, filterExt := r.nat[chainServices], r.filter[chainServices], r.filter[chainExternalServices]

	// The cluster IP.
	if hasInternal {
		natSvcs.rule("-m", "comment", "--comment", `"`+name+` cluster IP"`, "-m", proto, "-p", proto, "-d", cip, "--dport", port, "-j", internalChain)
	} else {
		filterSvcs.rule("-m", "comment", "--comment", internalComment, "-m", proto, "-p", proto, "-d", cip, "--dport", port, "-j", internalTarget)
	}
	// External IPs and load-balancer IPs.
	for _, group := range []struct {
		ips   []netip.Addr
		label string
	}{{ips.external, "external IP"}, {ips.lb, "loadbalancer IP"}} {
		for _, a := range group.ips {
			ip := a.String()
			if hasEndpoints {
				natSvcs.rule("-m", "comment", "--comment", `"`+name+` `+group.label+`"`, "-m", proto, "-p", proto, "-d", ip, "--dport", port, "-j", extChain)
			}
			if !hasExternal {
				filterExt.rule("-m", "comment", "--comment", externalComment, "-m", proto, "-p", proto, "-d", ip, "--dport", port, "-j", externalTarget)
			}
		}
	}
	// The NodePort, on the node's addresses.
	if p.NodePort != 0 {
		np := strconv.Itoa(int(p.NodePort))
		if hasEndpoints {
			r.nat[chainNodePorts].rule("-m", "comment", "--comment", name, "-m", proto, "-p", proto, "--dport", np, "-j", extChain)
		}
		if !hasExternal {
			if len(r.s.NodeIPs) == 0 {
				filterExt.rule(slices.Concat([]string{"-m", "comment", "--comment", externalComment}, localNodePorts,
					[]string{"-m", proto, "-p", proto, "--dport", np, "-j", externalTarget})...)
			}
			for _, ip := range r.nodeIPs {
				filterExt.rule("-m", "comment", "--comment", externalComment, "-m", proto, "-p", proto, "-d", ip, "--dport", np, "-j", externalTarget)
			}
		}
	}

	// Internal traffic from outside the pod network (the node itself, or a
	// host that routes the service CIDR here) is masqueraded, so the reply
	// comes back through this node (kube-proxy's --cluster-cidr).
	if hasInternal && r.cidr != "" {
		r.natChain(internalChain).rule("-m", "comment", "--comment", `"`+name+` cluster IP"`, "-m", proto, "-p", proto, "-d", cip, "--dport", port,
			"!", "-s", r.cidr, "-j", chainMarkMasq)
	}

	if usesExtChain {
		ext := r.natChain(extChain)
		if !externalLocal {
			// The endpoint may be on another node: masquerade so the
			// reply comes back here to be un-NATed.
			ext.rule("-m", "comment", "--comment", `"masquerade traffic for `+name+` external destinations"`, "-j", chainMarkMasq)
		} else {
			// Local policy keeps the client's address. Pods are not
			// subject to it (as if they went out to the load balancer
			// and came back); the node itself must be masqueraded, its
			// source address being the destination.
			if r.cidr != "" {
				ext.rule("-m", "comment", "--comment", `"pod traffic for `+name+` external destinations"`, "-s", r.cidr, "-j", clusterChain)
			}
			ext.rule("-m", "comment", "--comment", `"masquerade LOCAL traffic for `+name+` external destinations"`, "-m", "addrtype", "--src-type", "LOCAL", "-j", chainMarkMasq)
			ext.rule("-m", "comment", "--comment", `"route LOCAL traffic for `+name+` external destinations"`, "-m", "addrtype", "--src-type", "LOCAL", "-j", clusterChain)
		}
		if hasExternal {
			ext.rule("-j", externalPolicyChain)
		}
	}

	affinity := 0
	if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		affinity = DefaultAffinityTimeout
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
			affinity = int(*c.ClientIP.TimeoutSeconds)
		}
	}
	if len(cluster) > 0 {
		r.endpointRules(r.natChain(clusterChain), name, cluster, affinity)
	}
	if len(local) > 0 {
		r.endpointRules(r.natChain(localChain), name, local, affinity)
	}
	// One chain per endpoint reachable from here.
	seen := map[string]bool{}
	for _, ep := range append(cluster, local...) {
		if seen[ep.addr] {
			continue
		}
		seen[ep.addr] = true
		sep := r.natChain(ep.chain)
		// Hairpin: a pod that reaches itself through its Service is
		// masqueraded, or its reply would not go back through the NAT.
		sep.rule("-m", "comment", "--comment", name, "-s", ep.ip.String(), "-j", chainMarkMasq)
		if affinity > 0 {
			sep.rule("-m", "comment", "--comment", name, "-m", "recent", "--name", sep.name, "--set", "-m", proto, "-p", proto, "-j", "DNAT", "--to-destination", ep.addr)
		} else {
			sep.rule("-m", "comment", "--comment", name, "-m", proto, "-p", proto, "-j", "DNAT", "--to-destination", ep.addr)
		}
	}

	if proto == "udp" && len(seen) > 0 {
		u := udpPort{endpoints: map[string]netip.Addr{}}
		u.dsts = append(u.dsts, dst{ips.cluster, p.Port})
		for _, a := range slices.Concat(ips.external, ips.lb) {
			u.dsts = append(u.dsts, dst{a, p.Port})
		}
		if p.NodePort != 0 {
			for _, a := range r.s.NodeIPs {
				if a.Is4() {
					u.dsts = append(u.dsts, dst{a, p.NodePort})
				}
			}
		}
		for _, ep := range append(cluster, local...) {
			u.endpoints[ep.addr] = ep.ip
		}
		r.udp[name] = u
	}
}

// endpointRules fills a KUBE-SVC or KUBE-SVL chain: first the session
// affinity checks (a client seen within the timeout goes back to its
// endpoint), then a random choice, each endpoint with probability
// 1/(endpoints left), so all are equally likely.
func (r *renderer) endpointRules(c *chain, name string, eps []endpoint, affinity int) {
	if affinity > 0 {
		timeout := strconv.Itoa(affinity)
		for _, ep := range eps {
			sep := ep.chain
			c.rule("-m", "comment", "--comment", `"`+name+` -> `+ep.addr+`"`, "-m", "recent", "--name", sep, "--rcheck", "--seconds", timeout, "--reap", "-j", sep)
		}
	}
	n := len(eps)
	for i, ep := range eps {
		sep := ep.chain
		if i < n-1 {
			c.rule("-m", "comment", "--comment", `"`+name+` -> `+ep.addr+`"`, "-m", "statistic", "--mode", "random", "--probability", probability(n-i), "-j", sep)
		} else {
			c.rule("-m", "comment", "--comment", `"`+name+` -> `+ep.addr+`"`, "-j", sep)
		}
	}
}

// probability is kube-proxy's computeProbability.
func probability(n int) string {
	return fmt.Sprintf("%0.10f", 1.0/float64(n))
}
