package apiserver

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
)

// serviceAllocator hands out cluster IPs from the service CIDR and node ports from
// the node port range, as the Kubernetes service registry does. What is in use is
// read from the stored services the first time it is needed (so a restart neither
// leaks nor hands out an address twice) and kept in memory after that; one API
// server owns allocation.
type serviceAllocator struct {
	cidr     netip.Prefix
	portBase int
	portSize int
	store    *genericregistry.Store
	mu       sync.Mutex
	loaded   bool
	ips      map[netip.Addr]bool
	ports    map[int]bool
	cursor   uint64
	nextPort int
}

func newServiceAllocator(cidr netip.Prefix, portBase, portSize int) *serviceAllocator {
	return &serviceAllocator{cidr: cidr.Masked(), portBase: portBase, portSize: portSize,
		ips: map[netip.Addr]bool{}, ports: map[int]bool{}}
}

// attach installs the allocator's hooks on the services store.
func (a *serviceAllocator) attach(store *genericregistry.Store) {
	a.store = store
	store.BeginCreate = a.beginCreate
	store.BeginUpdate = a.beginUpdate
	store.AfterDelete = func(obj runtime.Object, _ *metav1.DeleteOptions) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.releaseAll(obj.(*corev1.Service))
	}
}

func (a *serviceAllocator) load(ctx context.Context) error {
	if a.loaded {
		return nil
	}
	list, err := a.store.List(genericapirequest.WithNamespace(ctx, metav1.NamespaceAll), &metainternalversion.ListOptions{})
	if err != nil {
		return fmt.Errorf("list services for allocation: %w", err)
	}
	for i := range list.(*corev1.ServiceList).Items {
		s := &list.(*corev1.ServiceList).Items[i]
		for _, ip := range s.Spec.ClusterIPs {
			if addr, err := netip.ParseAddr(ip); err == nil {
				a.ips[addr] = true
			}
		}
		for _, p := range s.Spec.Ports {
			if p.NodePort != 0 {
				a.ports[int(p.NodePort)] = true
			}
		}
	}
	a.loaded = true
	return nil
}

func dryRun(opts []string) bool { return slices.Contains(opts, metav1.DryRunAll) }

func (a *serviceAllocator) beginCreate(ctx context.Context, obj runtime.Object, options *metav1.CreateOptions) (genericregistry.FinishFunc, error) {
	svc := obj.(*corev1.Service)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.load(ctx); err != nil {
		return nil, err
	}
	taken, err := a.allocate(svc, nil)
	if err != nil {
		a.release(taken)
		return nil, err
	}
	if options != nil && dryRun(options.DryRun) {
		a.release(taken)
		taken = allocation{}
	}
	return func(ctx context.Context, success bool) {
		if !success {
			a.mu.Lock()
			a.release(taken)
			a.mu.Unlock()
		}
	}, nil
}

func (a *serviceAllocator) beginUpdate(ctx context.Context, obj, old runtime.Object, options *metav1.UpdateOptions) (genericregistry.FinishFunc, error) {
	svc, oldSvc := obj.(*corev1.Service), old.(*corev1.Service)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.load(ctx); err != nil {
		return nil, err
	}
	taken, err := a.allocate(svc, oldSvc)
	if err != nil {
		a.release(taken)
		return nil, err
	}
	dry := options != nil && dryRun(options.DryRun)
	if dry {
		a.release(taken)
		taken = allocation{}
	}
	freed := a.unused(oldSvc, svc)
	return func(ctx context.Context, success bool) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if !success {
			a.release(taken)
			return
		}
		if !dry {
			a.release(freed)
		}
	}, nil
}

type allocation struct {
	ips   []netip.Addr
	ports []int
}

// allocate fills in what svc needs and lacks (keeping old's addresses on update)
// and records what it took.
func (a *serviceAllocator) allocate(svc, old *corev1.Service) (allocation, error) {
	var took allocation
	fld := field.NewPath("spec")
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
		svc.Spec.IPFamilies, svc.Spec.IPFamilyPolicy = nil, nil
	} else {
		if old != nil && old.Spec.ClusterIP != "" && svc.Spec.ClusterIP == "" {
			svc.Spec.ClusterIP = old.Spec.ClusterIP
		}
		switch ip := svc.Spec.ClusterIP; {
		case ip == corev1.ClusterIPNone:
		case ip == "":
			addr, ok := a.nextFreeIP()
			if !ok {
				return took, apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: range is full"))
			}
			a.ips[addr] = true
			took.ips = append(took.ips, addr)
			svc.Spec.ClusterIP = addr.String()
		case old != nil && ip == old.Spec.ClusterIP:
		default:
			addr, err := netip.ParseAddr(ip)
			if err != nil {
				return took, invalidService(svc, field.Invalid(fld.Child("clusterIP"), ip, "must be a valid IP address or \"None\""))
			}
			if !a.cidr.Contains(addr) || addr == a.cidr.Addr() {
				return took, invalidService(svc, field.Invalid(fld.Child("clusterIPs").Index(0), ip,
					fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", ip, ip, a.cidr)))
			}
			if a.ips[addr] {
				return took, invalidService(svc, field.Invalid(fld.Child("clusterIPs").Index(0), ip,
					fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", ip)))
			}
			a.ips[addr] = true
			took.ips = append(took.ips, addr)
		}
		svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		single := corev1.IPFamilyPolicySingleStack
		if svc.Spec.IPFamilyPolicy == nil {
			svc.Spec.IPFamilyPolicy = &single
		}
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}
	}
	needsNodePorts := svc.Spec.Type == corev1.ServiceTypeNodePort ||
		(svc.Spec.Type == corev1.ServiceTypeLoadBalancer && (svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts))
	oldPorts := map[string]int32{}
	if old != nil {
		for _, p := range old.Spec.Ports {
			oldPorts[string(p.Protocol)+"/"+fmt.Sprint(p.Port)] = p.NodePort
		}
	}
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if !needsNodePorts {
			if svc.Spec.Type == corev1.ServiceTypeClusterIP || svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.Type == "" {
				p.NodePort = 0
			}
			continue
		}
		if p.NodePort == 0 {
			if prev := oldPorts[string(p.Protocol)+"/"+fmt.Sprint(p.Port)]; prev != 0 {
				p.NodePort = prev
				continue
			}
			port, ok := a.nextFreePort()
			if !ok {
				return took, apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: range is full"))
			}
			a.ports[port] = true
			took.ports = append(took.ports, port)
			p.NodePort = int32(port)
			continue
		}
		if prev := oldPorts[string(p.Protocol)+"/"+fmt.Sprint(p.Port)]; prev == p.NodePort {
			continue
		}
		n := int(p.NodePort)
		if n < a.portBase || n >= a.portBase+a.portSize {
			return took, invalidService(svc, field.Invalid(fld.Child("ports").Index(i).Child("nodePort"), p.NodePort,
				fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", a.portBase, a.portBase+a.portSize-1)))
		}
		if a.ports[n] && !slices.Contains(took.ports, n) && !usesPort(old, n) {
			return took, invalidService(svc, field.Invalid(fld.Child("ports").Index(i).Child("nodePort"), p.NodePort, "provided port is already allocated"))
		}
		a.ports[n] = true
		took.ports = append(took.ports, n)
	}
	return took, nil
}

func usesPort(s *corev1.Service, n int) bool {
	if s == nil {
		return false
	}
	for _, p := range s.Spec.Ports {
		if int(p.NodePort) == n {
			return true
		}
	}
	return false
}

// unused lists what old held and svc no longer does.
func (a *serviceAllocator) unused(old, svc *corev1.Service) allocation {
	var free allocation
	for _, ip := range old.Spec.ClusterIPs {
		if addr, err := netip.ParseAddr(ip); err == nil && !slices.Contains(svc.Spec.ClusterIPs, ip) {
			free.ips = append(free.ips, addr)
		}
	}
	for _, p := range old.Spec.Ports {
		if p.NodePort != 0 && !usesPort(svc, int(p.NodePort)) {
			free.ports = append(free.ports, int(p.NodePort))
		}
	}
	return free
}

func (a *serviceAllocator) releaseAll(s *corev1.Service) {
	a.release(a.unused(s, &corev1.Service{}))
}

func (a *serviceAllocator) release(x allocation) {
	for _, ip := range x.ips {
		delete(a.ips, ip)
	}
	for _, p := range x.ports {
		delete(a.ports, p)
	}
}

// nextFreeIP walks the range from where it last stopped. Offsets 0 (the network
// address), 1 (the kubernetes service, only ever taken by name) and the last (the
// broadcast address) are never handed out.
func (a *serviceAllocator) nextFreeIP() (netip.Addr, bool) {
	size := a.rangeSize()
	if size < 4 {
		return netip.Addr{}, false
	}
	usable := size - 3
	for i := uint64(0); i < usable; i++ {
		off := 2 + (a.cursor+i)%usable
		addr := addrAt(a.cidr.Addr(), off)
		if !a.ips[addr] {
			a.cursor = off - 1
			return addr, true
		}
	}
	return netip.Addr{}, false
}

// rangeSize is the number of addresses in the CIDR, capped at 2^20 for large
// IPv6 ranges.
func (a *serviceAllocator) rangeSize() uint64 {
	hostBits := a.cidr.Addr().BitLen() - a.cidr.Bits()
	if hostBits > 20 {
		hostBits = 20
	}
	return 1 << hostBits
}

// addrAt is base + off.
func addrAt(base netip.Addr, off uint64) netip.Addr {
	b := base.As16()
	carry := off
	for i := 15; i >= 0 && carry > 0; i-- {
		sum := uint64(b[i]) + carry&0xff
		b[i] = byte(sum)
		carry = carry>>8 + sum>>8
	}
	addr := netip.AddrFrom16(b)
	if base.Is4() {
		return addr.Unmap()
	}
	return addr
}

func (a *serviceAllocator) nextFreePort() (int, bool) {
	if a.nextPort < a.portBase || a.nextPort >= a.portBase+a.portSize {
		a.nextPort = a.portBase
	}
	for i := 0; i < a.portSize; i++ {
		p := a.portBase + (a.nextPort-a.portBase+i)%a.portSize
		if !a.ports[p] {
			a.nextPort = p + 1
			return p, true
		}
	}
	return 0, false
}

func invalidService(svc *corev1.Service, errs ...*field.Error) error {
	return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, field.ErrorList(errs))
}
