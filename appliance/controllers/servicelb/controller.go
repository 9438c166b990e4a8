// Package servicelb gives LoadBalancer Services an address, as k3s's ServiceLB
// does on machines without a cloud: the Service's
// status.loadBalancer.ingress lists the nodes' addresses (ExternalIP when a
// node has one, else InternalIP), and every node's service rules (netrules/)
// answer the Service's ports there. `kubectl get svc` then shows
// EXTERNAL-IP instead of <pending>.
//
// Rules, as k3s's:
//   - only Services of type LoadBalancer without a spec.loadBalancerClass
//     (another implementation's) are served;
//   - nodes count when Ready and not simulated (appliance.dev/simulated);
//   - a port (number and protocol) serves one Service: the oldest one that
//     asks for it. A later Service asking for a taken port stays <pending>
//     with a SyncLoadBalancerFailed event naming the Service holding it, and
//     gets its addresses once that port is free;
//   - a Service that stops being a LoadBalancer loses the addresses.
package servicelb

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/appliance/appliance/appliance/controllers/controllerutil"
	"github.com/appliance/appliance/appliance/simulate"
)

const (
	// Component is the event source shown by `kubectl describe`.
	Component = "service-lb-controller"

	key        = "all"
	maxRetries = 15
)

// Controller keeps LoadBalancer Services' ingress addresses.
type Controller struct {
	client   kubernetes.Interface
	factory  informers.SharedInformerFactory
	nodes    corelisters.NodeLister
	services corelisters.ServiceLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]
	recorder record.EventRecorder
	log      *slog.Logger
	// blocked remembers, per Service, the conflict last reported, so an
	// event is recorded once per new reason rather than on every sync.
	blocked map[string]string
}

// New makes the controller on factory's Node and Service informers. Call it
// before factory.Start; Run starts them anyway.
func New(client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) *Controller {
	if log == nil {
		log = slog.Default()
	}
	nodes := factory.Core().V1().Nodes()
	services := factory.Core().V1().Services()
	c := &Controller{
		client:   client,
		factory:  factory,
		nodes:    nodes.Lister(),
		services: services.Lister(),
		synced:   []cache.InformerSynced{nodes.Informer().HasSynced, services.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "service-lb"}),
		recorder: &record.FakeRecorder{},
		log:      log,
		blocked:  map[string]string{},
	}
	// Ports are shared among all LoadBalancer Services, so every change
	// leads to one sync of them all (a homelab has a handful).
	enqueue := func(any) { c.queue.Add(key) }
	_, _ = services.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(old, cur any) {
			o, n := old.(*corev1.Service), cur.(*corev1.Service)
			if o.ResourceVersion != n.ResourceVersion && (isLB(o) || isLB(n) || len(n.Status.LoadBalancer.Ingress) > 0) {
				enqueue(cur)
			}
		},
		DeleteFunc: enqueue,
	})
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue,
		UpdateFunc: func(old, cur any) {
			if !slices.Equal(nodeAddress(old.(*corev1.Node)), nodeAddress(cur.(*corev1.Node))) {
				enqueue(cur)
			}
		},
		DeleteFunc: enqueue,
	})
	return c
}

// Run syncs until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	defer c.queue.ShutDown()
	recorder, stop := controllerutil.NewRecorder(c.client, Component, c.log)
	defer stop()
	c.recorder = recorder
	c.log.Info("starting")
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return
	}
	c.queue.Add(key)
	controllerutil.RunWorkers(ctx, c.queue, 1, func(ctx context.Context, k string) {
		controllerutil.RetryUpTo(c.queue, maxRetries, c.log, "services", k, c.sync(ctx))
	})
}

// isLB: a Service this controller serves.
func isLB(s *corev1.Service) bool {
	return s.Spec.Type == corev1.ServiceTypeLoadBalancer && s.Spec.LoadBalancerClass == nil
}

// nodeAddress is the address a node offers Services ([] when it offers none):
// its first ExternalIP, else its first InternalIP, when it is Ready and real.
func nodeAddress(n *corev1.Node) []string {
	if n.Labels[simulate.SimulatedLabel] == "true" || n.DeletionTimestamp != nil || !controllerutil.NodeReady(n) {
		return nil
	}
	for _, t := range []corev1.NodeAddressType{corev1.NodeExternalIP, corev1.NodeInternalIP} {
		for _, a := range n.Status.Addresses {
			if a.Type == t && a.Address != "" {
				return []string{a.Address}
			}
		}
	}
	return nil
}

// Assignment is what Assign decides for one Service.
type Assignment struct {
	Ingress []corev1.LoadBalancerIngress
	// Conflict explains why a LoadBalancer Service has no address ("" when
	// it has one, or is not a LoadBalancer).
	Conflict string
}

// Assign decides every Service's ingress: oldest LoadBalancer first, each
// port to the first Service that asks for it. Pure, for tests.
func Assign(services []*corev1.Service, nodes []*corev1.Node) map[string]Assignment {
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, nodeAddress(n)...)
	}
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	var ingress []corev1.LoadBalancerIngress
	for _, a := range addrs {
		ingress = append(ingress, corev1.LoadBalancerIngress{IP: a})
	}

	var lbs []*corev1.Service
	out := map[string]Assignment{}
	for _, s := range services {
		switch {
		case isLB(s) && s.DeletionTimestamp == nil:
			lbs = append(lbs, s)
		case s.Spec.LoadBalancerClass == nil:
			out[s.Namespace+"/"+s.Name] = Assignment{} // not (or no longer) ours to address
		}
	}
	slices.SortFunc(lbs, func(a, b *corev1.Service) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	taken := map[string]string{}
	for _, s := range lbs {
		k := s.Namespace + "/" + s.Name
		var conflict string
		for _, p := range s.Spec.Ports {
			if holder, ok := taken[portKey(p)]; ok && holder != k {
				conflict = fmt.Sprintf("port %s is already used by LoadBalancer service %s", portKey(p), holder)
				break
			}
		}
		if conflict != "" {
			out[k] = Assignment{Conflict: conflict}
			continue
		}
		for _, p := range s.Spec.Ports {
			taken[portKey(p)] = k
		}
		if len(ingress) == 0 {
			out[k] = Assignment{Conflict: "no Ready node has an address"}
			continue
		}
		out[k] = Assignment{Ingress: ingress}
	}
	return out
}

func portKey(p corev1.ServicePort) string {
	return fmt.Sprintf("%d/%s", p.Port, cmp.Or(p.Protocol, corev1.ProtocolTCP))
}

func (c *Controller) sync(ctx context.Context) error {
	services, err := c.services.List(labels.Everything())
	if err != nil {
		return err
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	assigned := Assign(services, nodes)
	var errs []string
	for _, s := range services {
		k := s.Namespace + "/" + s.Name
		a, ok := assigned[k]
		if !ok {
			continue
		}
		if a.Conflict != "" && c.blocked[k] != a.Conflict {
			c.recorder.Event(s, corev1.EventTypeWarning, "SyncLoadBalancerFailed", a.Conflict)
		}
		if a.Conflict == "" {
			delete(c.blocked, k)
		} else {
			c.blocked[k] = a.Conflict
		}
		if apiequality.Semantic.DeepEqual(s.Status.LoadBalancer.Ingress, a.Ingress) ||
			(len(s.Status.LoadBalancer.Ingress) == 0 && len(a.Ingress) == 0) {
			continue
		}
		upd := s.DeepCopy()
		upd.Status.LoadBalancer.Ingress = a.Ingress
		if _, err := c.client.CoreV1().Services(s.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{FieldManager: "service-lb"}); err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Sprintf("%s: %v", k, err))
			}
			continue
		}
		if len(a.Ingress) > 0 {
			ips := make([]string, len(a.Ingress))
			for i, in := range a.Ingress {
				ips[i] = in.IP
			}
			c.recorder.Eventf(s, corev1.EventTypeNormal, "EnsuredLoadBalancer", "Ingress %s", strings.Join(ips, ", "))
		}
	}
	for k := range c.blocked {
		if _, ok := assigned[k]; !ok {
			delete(c.blocked, k)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("update load-balancer status: %s", strings.Join(errs, "; "))
	}
	return nil
}
