package endpointslice

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/controllers/controllerutil/servicetest"
)

// Unit tests: the controller's sync against a fake clientset, its caches
// filled by hand, so each case shows what one sync writes.

const ns = "ns"

type harness struct {
	t       *testing.T
	client  *fake.Clientset
	factory informers.SharedInformerFactory
	c       *Controller
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	client := fake.NewClientset()
	var n atomic.Int64
	// The fake tracker neither generates names nor assigns UIDs or
	// generations; the API server does, and the slice tracker relies on them.
	client.PrependReactor("create", "endpointslices", func(a k8stesting.Action) (bool, runtime.Object, error) {
		s := a.(k8stesting.CreateAction).GetObject().(*discoveryv1.EndpointSlice)
		i := n.Add(1)
		if s.Name == "" {
			s.Name = fmt.Sprintf("%s%05d", s.GenerateName, i)
		}
		s.UID = types.UID(fmt.Sprintf("slice-uid-%d", i))
		s.Generation = 1
		return false, nil, nil
	})
	client.PrependReactor("update", "endpointslices", func(a k8stesting.Action) (bool, runtime.Object, error) {
		s := a.(k8stesting.UpdateAction).GetObject().(*discoveryv1.EndpointSlice)
		s.Generation++
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, slog.New(slog.DiscardHandler))
	h := &harness{t: t, client: client, factory: factory, c: c}
	h.add(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{corev1.LabelTopologyZone: "zone-a"}}})
	h.add(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-b"}})
	return h
}

// add puts objects in the informer caches (not in the fake API).
func (h *harness) add(objs ...runtime.Object) {
	h.t.Helper()
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Node:
			err = h.factory.Core().V1().Nodes().Informer().GetIndexer().Add(o)
		case *corev1.Pod:
			err = h.factory.Core().V1().Pods().Informer().GetIndexer().Update(o)
		case *corev1.Service:
			err = h.factory.Core().V1().Services().Informer().GetIndexer().Update(o)
		case *discoveryv1.EndpointSlice:
			err = h.factory.Discovery().V1().EndpointSlices().Informer().GetIndexer().Update(o)
		default:
			h.t.Fatalf("add %T", o)
		}
		if err != nil {
			h.t.Fatal(err)
		}
	}
}

// sync runs one sync of the Service web, then copies the fake API's slices
// into the cache, as the informer would, and returns them.
func (h *harness) sync() []discoveryv1.EndpointSlice {
	h.t.Helper()
	if err := h.c.sync(context.Background(), ns+"/web"); err != nil {
		h.t.Fatalf("sync: %v", err)
	}
	return h.refresh()
}

func (h *harness) refresh() []discoveryv1.EndpointSlice {
	h.t.Helper()
	list, err := h.client.DiscoveryV1().EndpointSlices(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	idx := h.factory.Discovery().V1().EndpointSlices().Informer().GetIndexer()
	for _, o := range idx.List() {
		_ = idx.Delete(o)
	}
	for i := range list.Items {
		_ = idx.Add(&list.Items[i])
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items
}

// writes counts the create/update/delete calls since the last reset.
func (h *harness) writes() int {
	n := 0
	for _, a := range h.client.Actions() {
		switch a.GetVerb() {
		case "create", "update", "delete", "patch":
			n++
		}
	}
	h.client.ClearActions()
	return n
}

func service(mutate ...func(*corev1.Service)) *corev1.Service {
	s := servicetest.Service(ns, "web", map[string]string{"app": "web"}, intstr.FromInt32(8080))
	s.UID, s.Labels, s.CreationTimestamp = "svc-uid", map[string]string{"tier": "front"}, metav1.NewTime(time.Now().Add(-time.Hour))
	s.Spec.ClusterIP, s.Spec.IPFamilies = "10.43.0.20", []corev1.IPFamily{corev1.IPv4Protocol}
	for _, m := range mutate {
		m(s)
	}
	return s
}

// pod is servicetest.Pod labelled app=web, selected by service.
func pod(name, ip string, ready bool, mutate ...func(*corev1.Pod)) *corev1.Pod {
	web := func(p *corev1.Pod) { p.Labels, p.Spec.Containers[0].Image = map[string]string{"app": "web"}, "x" }
	return servicetest.Pod(ns, name, ip, ready, append([]func(*corev1.Pod){web}, mutate...)...)
}

func endpointsOf(slices []discoveryv1.EndpointSlice) map[string]discoveryv1.Endpoint {
	out := map[string]discoveryv1.Endpoint{}
	for _, s := range slices {
		for _, e := range s.Endpoints {
			out[e.TargetRef.Name] = e
		}
	}
	return out
}

// TestEndpointConditions: what one pod becomes in its slice.
func TestEndpointConditions(t *testing.T) {
	terminating := func(p *corev1.Pod) { p.DeletionTimestamp = ptr.To(metav1.Now()) }
	type want struct{ ready, serving, terminating bool }
	for _, tc := range []struct {
		name       string
		pod        *corev1.Pod
		publish    bool
		want       *want // nil: not listed
		wantHost   string
		wantNodeIn string
	}{
		{name: "ready", pod: pod("p", "10.42.0.5", true), want: &want{true, true, false}, wantNodeIn: "node-a"},
		{name: "not ready", pod: pod("p", "10.42.0.5", false), want: &want{false, false, false}},
		{name: "terminating ready", pod: pod("p", "10.42.0.5", true, terminating), want: &want{false, true, true}},
		{name: "terminating not ready", pod: pod("p", "10.42.0.5", false, terminating), want: &want{false, false, true}},
		{name: "publish not ready", pod: pod("p", "10.42.0.5", false), publish: true, want: &want{true, false, false}},
		{name: "publish terminating", pod: pod("p", "10.42.0.5", true, terminating), publish: true, want: &want{true, true, true}},
		{name: "succeeded", pod: pod("p", "10.42.0.5", false, func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })},
		{name: "failed", pod: pod("p", "10.42.0.5", false, func(p *corev1.Pod) { p.Status.Phase = corev1.PodFailed })},
		{name: "no IP", pod: pod("p", "", true, func(p *corev1.Pod) { p.Status.PodIPs = nil })},
		{name: "other node, no zone", pod: pod("p", "10.42.0.5", true, func(p *corev1.Pod) { p.Spec.NodeName = "node-b" }),
			want: &want{true, true, false}, wantNodeIn: "node-b"},
		{name: "hostname and subdomain", pod: pod("p", "10.42.0.5", true, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "h1", "web" }),
			want: &want{true, true, false}, wantHost: "h1"},
		{name: "hostname, other subdomain", pod: pod("p", "10.42.0.5", true, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "h1", "db" }),
			want: &want{true, true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.add(service(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = tc.publish }), tc.pod)
			got := h.sync()
			if len(got) != 1 {
				t.Fatalf("%d slices, want 1 (a placeholder when empty)", len(got))
			}
			eps := endpointsOf(got)
			if tc.want == nil {
				if len(eps) != 0 {
					t.Fatalf("pod listed: %+v", eps)
				}
				return
			}
			e, ok := eps["p"]
			if !ok {
				t.Fatal("pod not listed")
			}
			c := e.Conditions
			if *c.Ready != tc.want.ready || *c.Serving != tc.want.serving || *c.Terminating != tc.want.terminating {
				t.Errorf("conditions ready=%v serving=%v terminating=%v, want %+v", *c.Ready, *c.Serving, *c.Terminating, *tc.want)
			}
			if !slices.Equal(e.Addresses, []string{"10.42.0.5"}) {
				t.Errorf("addresses %v", e.Addresses)
			}
			if e.TargetRef == nil || e.TargetRef.Kind != "Pod" || e.TargetRef.UID != "p-uid" || e.TargetRef.Namespace != ns {
				t.Errorf("targetRef %+v", e.TargetRef)
			}
			if tc.wantNodeIn != "" && ptr.Deref(e.NodeName, "") != tc.wantNodeIn {
				t.Errorf("nodeName %v, want %s", ptr.Deref(e.NodeName, ""), tc.wantNodeIn)
			}
			wantZone := "" // node-b has no zone label
			if tc.pod.Spec.NodeName == "node-a" {
				wantZone = "zone-a"
			}
			if ptr.Deref(e.Zone, "") != wantZone {
				t.Errorf("zone %q, want %q", ptr.Deref(e.Zone, ""), wantZone)
			}
			if ptr.Deref(e.Hostname, "") != tc.wantHost {
				t.Errorf("hostname %q, want %q", ptr.Deref(e.Hostname, ""), tc.wantHost)
			}
		})
	}
}

// TestSliceMetadata: labels, owner, name and ports as Kubernetes writes them.
func TestSliceMetadata(t *testing.T) {
	h := newHarness(t)
	h.add(service(), pod("p", "10.42.0.5", true))
	got := h.sync()
	if len(got) != 1 {
		t.Fatalf("%d slices", len(got))
	}
	s := got[0]
	if s.GenerateName != "web-" || s.AddressType != discoveryv1.AddressTypeIPv4 {
		t.Errorf("generateName %q addressType %q", s.GenerateName, s.AddressType)
	}
	if s.Labels[discoveryv1.LabelServiceName] != "web" || s.Labels[discoveryv1.LabelManagedBy] != ControllerName || s.Labels["tier"] != "front" {
		t.Errorf("labels %v", s.Labels)
	}
	ref := metav1.GetControllerOf(&s)
	if ref == nil || ref.Kind != "Service" || ref.APIVersion != "v1" || ref.Name != "web" || ref.UID != "svc-uid" {
		t.Errorf("owner %+v", ref)
	}
	if len(s.Ports) != 1 || *s.Ports[0].Name != "http" || *s.Ports[0].Port != 8080 || *s.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("ports %+v", s.Ports)
	}
	if _, ok := s.Annotations[corev1.EndpointsLastChangeTriggerTime]; !ok {
		t.Errorf("no %s annotation: %v", corev1.EndpointsLastChangeTriggerTime, s.Annotations)
	}
}

// TestNamedPortsSplit: a named targetPort resolves per pod; pods with
// different numbers for the name go into different slices.
func TestNamedPortsSplit(t *testing.T) {
	h := newHarness(t)
	port := func(n int32) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = n }
	}
	h.add(service(func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("http") }),
		pod("a", "10.42.0.5", true, port(8080)), pod("b", "10.42.0.6", true, port(9090)), pod("c", "10.42.0.7", true, port(9090)))
	got := h.sync()
	byPort := map[int32][]string{}
	for _, s := range got {
		if len(s.Ports) != 1 {
			t.Fatalf("slice %s ports %+v", s.Name, s.Ports)
		}
		for _, e := range s.Endpoints {
			byPort[*s.Ports[0].Port] = append(byPort[*s.Ports[0].Port], e.TargetRef.Name)
		}
	}
	for _, v := range byPort {
		sort.Strings(v)
	}
	if len(got) != 2 || !slices.Equal(byPort[8080], []string{"a"}) || !slices.Equal(byPort[9090], []string{"b", "c"}) {
		t.Fatalf("%d slices, endpoints by port %v", len(got), byPort)
	}
}

// TestPackingAndChurn: at most 100 endpoints a slice; a sync with nothing new
// writes nothing; one pod's change rewrites one slice.
func TestPackingAndChurn(t *testing.T) {
	h := newHarness(t)
	h.add(service())
	for i := range 250 {
		h.add(pod(fmt.Sprintf("p%03d", i), fmt.Sprintf("10.42.%d.%d", i/200, i%200+1), true))
	}
	got := h.sync()
	total := 0
	for _, s := range got {
		if len(s.Endpoints) > MaxEndpointsPerSlice {
			t.Errorf("slice %s has %d endpoints", s.Name, len(s.Endpoints))
		}
		total += len(s.Endpoints)
	}
	if len(got) != 3 || total != 250 {
		t.Fatalf("%d slices with %d endpoints, want 3 with 250", len(got), total)
	}
	h.writes()
	h.sync()
	if n := h.writes(); n != 0 {
		t.Fatalf("a sync without changes wrote %d times", n)
	}
	h.add(pod("p007", "10.42.0.8", false))
	got = h.sync()
	if n := h.writes(); n != 1 {
		t.Fatalf("one pod turning not ready: %d writes, want 1", n)
	}
	if e := endpointsOf(got)["p007"]; e.Conditions.Ready == nil || *e.Conditions.Ready {
		t.Fatalf("p007 still ready: %+v", e.Conditions)
	}
}

// TestDualStack: a dual-stack Service gets an IPv4 and an IPv6 slice.
func TestDualStack(t *testing.T) {
	h := newHarness(t)
	h.add(service(func(s *corev1.Service) {
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	}),
		pod("p", "10.42.0.5", true, func(p *corev1.Pod) { p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: "fd00::5"}) }))
	got := h.sync()
	types := map[discoveryv1.AddressType][]string{}
	for _, s := range got {
		for _, e := range s.Endpoints {
			types[s.AddressType] = append(types[s.AddressType], e.Addresses...)
		}
	}
	if len(got) != 2 || !slices.Equal(types[discoveryv1.AddressTypeIPv4], []string{"10.42.0.5"}) || !slices.Equal(types[discoveryv1.AddressTypeIPv6], []string{"fd00::5"}) {
		t.Fatalf("%d slices: %v", len(got), types)
	}
}

// TestSelectorlessAndRemoved: a Service without a selector is left alone; one
// that loses its selector loses our slices but keeps the user's.
func TestSelectorlessAndRemoved(t *testing.T) {
	h := newHarness(t)
	user := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "web-manual", Namespace: ns, UID: "user-uid",
			Labels: map[string]string{discoveryv1.LabelServiceName: "web", discoveryv1.LabelManagedBy: "someone-else"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.1"}}},
	}
	if _, err := h.client.DiscoveryV1().EndpointSlices(ns).Create(context.Background(), user, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h.refresh()
	h.add(service(func(s *corev1.Service) { s.Spec.Selector = nil }), pod("p", "10.42.0.5", true))
	h.writes()
	got := h.sync()
	if n := h.writes(); n != 0 || len(got) != 1 || got[0].Name != "web-manual" {
		t.Fatalf("selectorless Service: %d writes, slices %v", n, names(got))
	}

	h.add(service())
	if got := h.sync(); len(got) != 2 {
		t.Fatalf("with a selector: slices %v", names(got))
	}
	h.add(service(func(s *corev1.Service) { s.Spec.Selector = nil }))
	got = h.sync()
	if len(got) != 1 || got[0].Name != "web-manual" || got[0].Endpoints[0].Addresses[0] != "192.0.2.1" {
		t.Fatalf("selector removed: slices %v", names(got))
	}
}

func names(s []discoveryv1.EndpointSlice) []string {
	var out []string
	for _, x := range s {
		out = append(out, x.Name+"("+x.Labels[discoveryv1.LabelManagedBy]+")")
	}
	return out
}
