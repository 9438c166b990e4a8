// Package clusterdns keeps the cluster DNS reachable at its Service address.
//
// The resolver itself (package dns) runs beside every node's kubelet and
// listens on that node's pod-network gateway (the first address of its
// podCIDR) at port 10053 (ListenPort), out of the way of a DNS server the
// host may run on port 53 of every address. This controller publishes it the Kubernetes way, so
// the node's service rules bring the pods' queries for 10.43.0.10 there:
//
//   - the Service kube-system/kube-dns (labels k8s-app=kube-dns, ports dns
//     53/UDP and dns-tcp 53/TCP to target port 10053, clusterIP the configured DNS address, no
//     selector, internalTrafficPolicy Local: each node's pods ask their own
//     node's resolver). It is created when missing, also after someone
//     deleted it; an existing one is left as its owner set it.
//   - the EndpointSlice kube-system/kube-dns (managed-by
//     cluster-dns.appliance.dev, owned by the Service): one endpoint per node
//     that runs a kubelet and has a podCIDR, ready while the node is Ready.
//     Simulated nodes (appliance.dev/simulated=true) run no resolver and are
//     left out. Edits are put back.
//   - the Endpoints kube-system/kube-dns, the same addresses in the older
//     API (`kubectl get endpoints kube-dns -n kube-system`, as Kubernetes'
//     DNS debugging guide asks), labelled skip-mirror.
//
// CoreDNS under k3s is a Deployment behind the same Service; here the resolver
// is part of the node, so there is no pod to schedule before names resolve.
package clusterdns

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/controllers/controllerutil"
	"github.com/appliance/appliance/appliance/simulate"
)

const (
	// Namespace and Name of the Service and of the EndpointSlice.
	Namespace = metav1.NamespaceSystem
	Name      = "kube-dns"
	// ManagedBy is the endpointslice.kubernetes.io/managed-by value of the
	// slice; the EndpointSlice controller leaves slices of other managers alone.
	ManagedBy = "cluster-dns.appliance.dev"
	// Port is the kube-dns Service's port, UDP and TCP.
	Port = 53
	// ListenPort is where every node's resolver listens on its gateway, UDP
	// and TCP: not 53, which a DNS server of the host's own (Pi-hole,
	// dnsmasq, AdGuard Home: common on homelab machines) often holds on every
	// address. Only the service rules send traffic there.
	ListenPort = 10053

	key        = Namespace + "/" + Name
	maxRetries = 15
)

// Config says where the cluster DNS Service lives.
type Config struct {
	// ServiceIP is the kube-dns Service's clusterIP (the pods' nameserver,
	// 10.43.0.10 by default). Required.
	ServiceIP netip.Addr
}

// Controller keeps the kube-dns Service and its EndpointSlice.
type Controller struct {
	cfg       Config
	client    kubernetes.Interface
	factory   informers.SharedInformerFactory
	nodes     corelisters.NodeLister
	services  corelisters.ServiceLister
	slices    discoverylisters.EndpointSliceLister
	endpoints corelisters.EndpointsLister
	synced    []cache.InformerSynced
	queue     workqueue.TypedRateLimitingInterface[string]
	log       *slog.Logger
}

// New makes the controller on factory's Node, Service and EndpointSlice
// informers. Call it before factory.Start; Run starts them anyway.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, cfg Config, log *slog.Logger) (*Controller, error) {
	if !cfg.ServiceIP.IsValid() {
		return nil, fmt.Errorf("cluster DNS: service IP is required")
	}
	if log == nil {
		log = slog.Default()
	}
	nodes := factory.Core().V1().Nodes()
	services := factory.Core().V1().Services()
	slices := factory.Discovery().V1().EndpointSlices()
	eps := factory.Core().V1().Endpoints()
	c := &Controller{
		cfg:       cfg,
		client:    client,
		factory:   factory,
		nodes:     nodes.Lister(),
		services:  services.Lister(),
		slices:    slices.Lister(),
		endpoints: eps.Lister(),
		synced:    []cache.InformerSynced{nodes.Informer().HasSynced, services.Informer().HasSynced, slices.Informer().HasSynced, eps.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "cluster-dns"}),
		log: log,
	}
	// Every relevant change leads to the one key; the sync reads all nodes.
	enqueue := func(any) { c.queue.Add(key) }
	ours := func(obj any) bool {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		m, err := metaOf(obj)
		return err == nil && m.GetNamespace() == Namespace && m.GetName() == Name
	}
	handler := cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, cur any) { enqueue(cur) }, DeleteFunc: enqueue}
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(old, cur any) {
			if nodeChanged(old.(*corev1.Node), cur.(*corev1.Node)) {
				enqueue(cur)
			}
		},
		DeleteFunc: enqueue,
	})
	_, _ = services.Informer().AddEventHandler(cache.FilteringResourceEventHandler{FilterFunc: ours, Handler: handler})
	_, _ = slices.Informer().AddEventHandler(cache.FilteringResourceEventHandler{FilterFunc: ours, Handler: handler})
	_, _ = eps.Informer().AddEventHandler(cache.FilteringResourceEventHandler{FilterFunc: ours, Handler: handler})
	return c, nil
}

func metaOf(obj any) (metav1.Object, error) {
	switch o := obj.(type) {
	case *corev1.Service:
		return o, nil
	case *discoveryv1.EndpointSlice:
		return o, nil
	case *corev1.Endpoints:
		return o, nil
	}
	return nil, fmt.Errorf("unexpected %T", obj)
}

// nodeChanged: only what the slice shows (podCIDR, readiness, the simulated
// label) matters; status heartbeats do not.
func nodeChanged(old, cur *corev1.Node) bool {
	return old.Spec.PodCIDR != cur.Spec.PodCIDR || controllerutil.NodeReady(old) != controllerutil.NodeReady(cur) ||
		old.Labels[simulate.SimulatedLabel] != cur.Labels[simulate.SimulatedLabel]
}

// Run syncs until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	defer c.queue.ShutDown()
	c.log.Info("starting", "service", key, "cluster-ip", c.cfg.ServiceIP.String())
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	c.queue.Add(key)
	controllerutil.RunWorkers(ctx, c.queue, 1, func(ctx context.Context, k string) {
		controllerutil.RetryUpTo(c.queue, maxRetries, c.log, "service", k, c.sync(ctx))
	})
}

// DesiredService is the kube-dns Service this controller creates.
func DesiredService(ip netip.Addr) *corev1.Service {
	local := corev1.ServiceInternalTrafficPolicyLocal
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: Name, Labels: map[string]string{
			"k8s-app":                       "kube-dns",
			"kubernetes.io/cluster-service": "true",
			"kubernetes.io/name":            "appliance-dns",
		}},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeClusterIP,
			ClusterIP:             ip.String(),
			ClusterIPs:            []string{ip.String()},
			InternalTrafficPolicy: &local,
			Ports: []corev1.ServicePort{
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: Port, TargetPort: intstr.FromInt32(ListenPort)},
				{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: Port, TargetPort: intstr.FromInt32(ListenPort)},
			},
		},
	}
}

func (c *Controller) sync(ctx context.Context) error {
	svc, err := c.services.Services(Namespace).Get(Name)
	if apierrors.IsNotFound(err) {
		svc, err = c.client.CoreV1().Services(Namespace).Create(ctx, DesiredService(c.cfg.ServiceIP), metav1.CreateOptions{FieldManager: "cluster-dns"})
		if apierrors.IsAlreadyExists(err) {
			svc, err = c.client.CoreV1().Services(Namespace).Get(ctx, Name, metav1.GetOptions{})
		}
		if err != nil {
			return fmt.Errorf("create service %s: %w", key, err)
		}
		c.log.Info("created the cluster DNS service", "service", key, "cluster-ip", svc.Spec.ClusterIP)
	} else if err != nil {
		return err
	}
	if svc.DeletionTimestamp != nil {
		return nil // it comes back once it is gone
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	want := desiredSlice(svc, nodes)
	if err := c.syncSlice(ctx, want); err != nil {
		return err
	}
	return c.syncEndpoints(ctx, desiredEndpoints(svc, want))
}

func (c *Controller) syncSlice(ctx context.Context, want *discoveryv1.EndpointSlice) error {
	have, err := c.slices.EndpointSlices(Namespace).Get(Name)
	switch {
	case apierrors.IsNotFound(err):
		_, err = c.client.DiscoveryV1().EndpointSlices(Namespace).Create(ctx, want, metav1.CreateOptions{FieldManager: "cluster-dns"})
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("endpointslice %s: cache lags behind", key)
		}
		return err
	case err != nil:
		return err
	}
	if sliceEqual(have, want) {
		return nil
	}
	upd := have.DeepCopy()
	upd.Labels, upd.OwnerReferences = want.Labels, want.OwnerReferences
	upd.AddressType, upd.Endpoints, upd.Ports = want.AddressType, want.Endpoints, want.Ports
	_, err = c.client.DiscoveryV1().EndpointSlices(Namespace).Update(ctx, upd, metav1.UpdateOptions{FieldManager: "cluster-dns"})
	return err
}

// syncEndpoints keeps the core/v1 Endpoints that `kubectl get endpoints
// kube-dns -n kube-system` (Kubernetes' DNS debugging guide) shows.
func (c *Controller) syncEndpoints(ctx context.Context, want *corev1.Endpoints) error {
	have, err := c.endpoints.Endpoints(Namespace).Get(Name)
	switch {
	case apierrors.IsNotFound(err):
		_, err = c.client.CoreV1().Endpoints(Namespace).Create(ctx, want, metav1.CreateOptions{FieldManager: "cluster-dns"})
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("endpoints %s: cache lags behind", key)
		}
		return err
	case err != nil:
		return err
	}
	if apiequality.Semantic.DeepEqual(have.Labels, want.Labels) && apiequality.Semantic.DeepEqual(have.Subsets, want.Subsets) {
		return nil
	}
	upd := have.DeepCopy()
	upd.Labels, upd.Subsets = want.Labels, want.Subsets
	_, err = c.client.CoreV1().Endpoints(Namespace).Update(ctx, upd, metav1.UpdateOptions{FieldManager: "cluster-dns"})
	return err
}

// desiredEndpoints is the slice as one subset: ready gateways in addresses,
// the others in notReadyAddresses. skip-mirror keeps an EndpointSlice
// mirroring controller from copying it back into a second slice.
func desiredEndpoints(svc *corev1.Service, s *discoveryv1.EndpointSlice) *corev1.Endpoints {
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: Name, Labels: map[string]string{
		discoveryv1.LabelSkipMirror: "true",
	}}}
	for k, v := range svc.Labels {
		ep.Labels[k] = v
	}
	var sub corev1.EndpointSubset
	for _, e := range s.Endpoints {
		a := corev1.EndpointAddress{IP: e.Addresses[0], NodeName: e.NodeName}
		if e.Conditions.Ready != nil && *e.Conditions.Ready {
			sub.Addresses = append(sub.Addresses, a)
		} else {
			sub.NotReadyAddresses = append(sub.NotReadyAddresses, a)
		}
	}
	for _, p := range s.Ports {
		sub.Ports = append(sub.Ports, corev1.EndpointPort{Name: *p.Name, Port: *p.Port, Protocol: *p.Protocol})
	}
	if len(sub.Addresses)+len(sub.NotReadyAddresses) > 0 {
		ep.Subsets = []corev1.EndpointSubset{sub}
	}
	return ep
}

func sliceEqual(a, b *discoveryv1.EndpointSlice) bool {
	return apiequality.Semantic.DeepEqual(a.Labels, b.Labels) &&
		apiequality.Semantic.DeepEqual(a.OwnerReferences, b.OwnerReferences) &&
		a.AddressType == b.AddressType &&
		apiequality.Semantic.DeepEqual(a.Endpoints, b.Endpoints) &&
		apiequality.Semantic.DeepEqual(a.Ports, b.Ports)
}

// desiredSlice lists the resolver of every real node with a podCIDR, sorted
// by node name, with the Service's ports.
func desiredSlice(svc *corev1.Service, nodes []*corev1.Node) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: Namespace,
			Name:      Name,
			Labels: map[string]string{
				discoveryv1.LabelServiceName: svc.Name,
				discoveryv1.LabelManagedBy:   ManagedBy,
			},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Service", Name: svc.Name, UID: svc.UID,
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{},
	}
	for _, p := range svc.Spec.Ports {
		if p.Port != Port || (p.Protocol != corev1.ProtocolUDP && p.Protocol != corev1.ProtocolTCP) {
			continue // a port someone added that no resolver serves
		}
		s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptr.To(p.Name), Protocol: ptr.To(p.Protocol), Port: ptr.To(int32(ListenPort))})
	}
	nodes = slices.Clone(nodes)
	slices.SortFunc(nodes, func(a, b *corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	for _, n := range nodes {
		gw, ok := Gateway(n.Spec.PodCIDR)
		if !ok || n.Labels[simulate.SimulatedLabel] == "true" || n.DeletionTimestamp != nil {
			continue
		}
		ready := controllerutil.NodeReady(n)
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{gw.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready), Serving: ptr.To(ready), Terminating: ptr.To(false)},
			NodeName:   ptr.To(n.Name),
		})
	}
	return s
}

// Gateway is the first address of an IPv4 podCIDR: the node's bridge, where
// its resolver listens (runtime/network gives the bridge that address).
func Gateway(podCIDR string) (netip.Addr, bool) {
	p, err := netip.ParsePrefix(podCIDR)
	if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
		return netip.Addr{}, false
	}
	return p.Masked().Addr().Next(), true
}
