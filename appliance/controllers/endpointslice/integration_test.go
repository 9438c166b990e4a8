package endpointslice_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/controllers/controllerutil/servicetest"
	"github.com/appliance/appliance/appliance/controllers/controllerutil/simtest"
	"github.com/appliance/appliance/appliance/controllers/endpointslice"
	"github.com/appliance/appliance/appliance/testcluster"
)

const nodeName = "es-node"

// TestEndpointSliceIntegration runs the controller against a real appliance
// (etcd and our API server in-process) with the built-in copy turned off. No
// kubelet runs: pods are created bound to a registered node and their IP and
// readiness are written through pods/status, as a kubelet reports them.
func TestEndpointSliceIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := testcluster.Start(t, testcluster.Without("endpointslice", "endpoints"))
	simtest.CreateNode(t, c.Client, nodeName, map[string]string{corev1.LabelTopologyZone: "zone-a"})
	factory := informers.NewSharedInformerFactory(c.Client, 0)
	servicetest.StartController(t, factory, endpointslice.New(c.Client, factory, servicetest.Logger(t)))
	servicetest.RunCases(t, c.Client, c, "es-", []servicetest.Case[*testcluster.Cluster]{
		{Name: "follows pods", Run: testFollowsPods},
		{Name: "named target port", Run: testNamedTargetPort},
		{Name: "publish not ready", Run: testPublishNotReady},
		{Name: "selector change", Run: testSelectorChange},
		{Name: "selectorless left alone", Run: testSelectorless},
		{Name: "manual edit reverted", Run: testManualEditReverted},
		{Name: "kubectl", Run: testKubectl},
	})
}

// TestDefaultApplianceServiceEndpoints: with the appliance's default
// controllers, a Service selecting a running pod gets its EndpointSlice and
// its Endpoints without anything else started.
func TestDefaultApplianceServiceEndpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := testcluster.Start(t)
	simtest.CreateNode(t, c.Client, nodeName, nil)
	const ns = "default"
	servicetest.CreatePod(t, c.Client, nodeName, ns, "web-1", "10.42.7.1", true, map[string]string{"app": "web"}, 8080)
	servicetest.CreateService(t, c.Client, servicetest.Service(ns, "web", map[string]string{"app": "web"}, intstr.FromInt32(8080)))
	waitSlices(t, c, ns, "web", "one ready endpoint", func(s []discoveryv1.EndpointSlice) (bool, string) {
		eps := endpoints(s)
		return len(eps) == 1 && eps["web-1"].ready && eps["web-1"].addr == "10.42.7.1" && eps["web-1"].port == 8080, fmt.Sprint(eps)
	})
	simtest.Eventually(t, 30*time.Second, "Endpoints web", func() (bool, string) {
		ep, err := c.Client.CoreV1().Endpoints(ns).Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		ok := len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 1 && ep.Subsets[0].Addresses[0].IP == "10.42.7.1"
		return ok, fmt.Sprintf("%+v", ep.Subsets)
	})
}

// ep is what a test looks at in one endpoint.
type ep struct {
	addr                        string
	port                        int32
	ready, serving, terminating bool
	node, zone, hostname        string
	slice                       string
}

func (e ep) String() string {
	return fmt.Sprintf("%s:%d r=%v s=%v t=%v node=%s zone=%s host=%s", e.addr, e.port, e.ready, e.serving, e.terminating, e.node, e.zone, e.hostname)
}

// endpoints flattens slices into pod name -> endpoint.
func endpoints(list []discoveryv1.EndpointSlice) map[string]ep {
	out := map[string]ep{}
	for _, s := range list {
		var port int32
		if len(s.Ports) > 0 {
			port = ptr.Deref(s.Ports[0].Port, 0)
		}
		for _, e := range s.Endpoints {
			name := ""
			if e.TargetRef != nil {
				name = e.TargetRef.Name
			}
			out[name] = ep{addr: strings.Join(e.Addresses, ","), port: port,
				ready: ptr.Deref(e.Conditions.Ready, false), serving: ptr.Deref(e.Conditions.Serving, false),
				terminating: ptr.Deref(e.Conditions.Terminating, false),
				node:        ptr.Deref(e.NodeName, ""), zone: ptr.Deref(e.Zone, ""), hostname: ptr.Deref(e.Hostname, ""),
				slice: s.Name}
		}
	}
	return out
}

func listSlices(t *testing.T, c *testcluster.Cluster, ns, svc string) []discoveryv1.EndpointSlice {
	t.Helper()
	list, err := c.Client.DiscoveryV1().EndpointSlices(ns).List(context.Background(), metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		t.Fatalf("list slices: %v", err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
	return list.Items
}

// waitSlices polls the Service's slices until cond holds.
func waitSlices(t *testing.T, c *testcluster.Cluster, ns, svc, what string, cond func([]discoveryv1.EndpointSlice) (bool, string)) []discoveryv1.EndpointSlice {
	t.Helper()
	var got []discoveryv1.EndpointSlice
	simtest.Eventually(t, 30*time.Second, what, func() (bool, string) {
		got = listSlices(t, c, ns, svc)
		return cond(got)
	})
	return got
}

func testFollowsPods(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := context.Background()
	web := map[string]string{"app": "web"}
	servicetest.CreatePod(t, c.Client, nodeName, ns, "a", "10.42.1.1", true, web, 8080)
	servicetest.CreatePod(t, c.Client, nodeName, ns, "b", "10.42.1.2", true, web, 8080)
	servicetest.CreatePod(t, c.Client, nodeName, ns, "other", "10.42.1.3", true, map[string]string{"app": "db"}, 8080)
	svc := servicetest.CreateService(t, c.Client, servicetest.Service(ns, "web", web, intstr.FromInt32(8080)))

	got := waitSlices(t, c, ns, "web", "two ready endpoints", func(s []discoveryv1.EndpointSlice) (bool, string) {
		eps := endpoints(s)
		return len(s) == 1 && len(eps) == 2 && eps["a"].ready && eps["b"].ready, fmt.Sprint(eps)
	})
	s := got[0]
	if !strings.HasPrefix(s.Name, "web-") || s.AddressType != discoveryv1.AddressTypeIPv4 ||
		s.Labels[discoveryv1.LabelManagedBy] != endpointslice.ControllerName {
		t.Errorf("slice %s addressType %s labels %v", s.Name, s.AddressType, s.Labels)
	}
	if ref := metav1.GetControllerOf(&s); ref == nil || ref.UID != svc.UID || ref.Kind != "Service" {
		t.Errorf("owner %+v", ref)
	}
	if len(s.Ports) != 1 || ptr.Deref(s.Ports[0].Name, "") != "http" || ptr.Deref(s.Ports[0].Port, 0) != 8080 {
		t.Errorf("ports %+v", s.Ports)
	}
	a := endpoints(got)["a"]
	if a.addr != "10.42.1.1" || !a.serving || a.terminating || a.node != nodeName || a.zone != "zone-a" {
		t.Errorf("endpoint a: %v", a)
	}

	// Not ready: listed, neither ready nor serving.
	servicetest.SetPodStatus(t, c.Client, ns, "a", "10.42.1.1", false)
	waitSlices(t, c, ns, "web", "a not ready", func(s []discoveryv1.EndpointSlice) (bool, string) {
		e := endpoints(s)["a"]
		return e.addr != "" && !e.ready && !e.serving, fmt.Sprint(endpoints(s))
	})

	// Deleted: a bound pod stays Terminating until its kubelet confirms;
	// meanwhile it is serving but not ready. Then it goes.
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSlices(t, c, ns, "web", "b terminating", func(s []discoveryv1.EndpointSlice) (bool, string) {
		e := endpoints(s)["b"]
		return e.terminating && e.serving && !e.ready, fmt.Sprint(endpoints(s))
	})
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, "b", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	waitSlices(t, c, ns, "web", "b gone", func(s []discoveryv1.EndpointSlice) (bool, string) {
		_, ok := endpoints(s)["b"]
		return !ok, fmt.Sprint(endpoints(s))
	})

	// Relabelled: a leaves, other joins.
	for name, app := range map[string]string{"a": "gone", "other": "web"} {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Labels["app"] = app
		if _, err := c.Client.CoreV1().Pods(ns).Update(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitSlices(t, c, ns, "web", "only other", func(s []discoveryv1.EndpointSlice) (bool, string) {
		eps := endpoints(s)
		return len(eps) == 1 && eps["other"].ready, fmt.Sprint(eps)
	})

	// Hostname: spec.hostname with the Service as subdomain.
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "named", Namespace: ns, Labels: web},
		Spec: corev1.PodSpec{NodeName: nodeName, Hostname: "web-0", Subdomain: "web",
			Containers: []corev1.Container{{Name: "web", Image: "busybox"}}},
	}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	servicetest.SetPodStatus(t, c.Client, ns, "named", "10.42.1.9", true)
	waitSlices(t, c, ns, "web", "hostname", func(s []discoveryv1.EndpointSlice) (bool, string) {
		return endpoints(s)["named"].hostname == "web-0", fmt.Sprint(endpoints(s))
	})

	// Deleting the Service takes its slices (garbage collector).
	if err := c.Client.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSlices(t, c, ns, "web", "slices gone with the Service", func(s []discoveryv1.EndpointSlice) (bool, string) {
		return len(s) == 0, fmt.Sprintf("%d slices", len(s))
	})
}

func testNamedTargetPort(t *testing.T, c *testcluster.Cluster, ns string) {
	web := map[string]string{"app": "web"}
	servicetest.CreatePod(t, c.Client, nodeName, ns, "old", "10.42.2.1", true, web, 8080)
	servicetest.CreatePod(t, c.Client, nodeName, ns, "new", "10.42.2.2", true, web, 9090)
	servicetest.CreateService(t, c.Client, servicetest.Service(ns, "web", web, intstr.FromString("http")))
	waitSlices(t, c, ns, "web", "one slice per port number", func(s []discoveryv1.EndpointSlice) (bool, string) {
		eps := endpoints(s)
		ok := len(s) == 2 && eps["old"].port == 8080 && eps["new"].port == 9090 && eps["old"].slice != eps["new"].slice
		return ok, fmt.Sprint(eps)
	})
}

func testPublishNotReady(t *testing.T, c *testcluster.Cluster, ns string) {
	web := map[string]string{"app": "web"}
	servicetest.CreatePod(t, c.Client, nodeName, ns, "starting", "10.42.3.1", false, web, 8080)
	svc := servicetest.Service(ns, "web", web, intstr.FromInt32(8080))
	svc.Spec.PublishNotReadyAddresses = true
	servicetest.CreateService(t, c.Client, svc)
	waitSlices(t, c, ns, "web", "ready although not serving", func(s []discoveryv1.EndpointSlice) (bool, string) {
		e := endpoints(s)["starting"]
		return e.ready && !e.serving && e.addr == "10.42.3.1", fmt.Sprint(endpoints(s))
	})
	servicetest.UpdateService(t, c.Client, ns, "web", func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = false })
	waitSlices(t, c, ns, "web", "not ready once not published", func(s []discoveryv1.EndpointSlice) (bool, string) {
		e := endpoints(s)["starting"]
		return e.addr != "" && !e.ready, fmt.Sprint(endpoints(s))
	})
}

func testSelectorChange(t *testing.T, c *testcluster.Cluster, ns string) {
	servicetest.CreatePod(t, c.Client, nodeName, ns, "blue", "10.42.4.1", true, map[string]string{"app": "blue"}, 8080)
	servicetest.CreatePod(t, c.Client, nodeName, ns, "green", "10.42.4.2", true, map[string]string{"app": "green"}, 8080)
	servicetest.CreateService(t, c.Client, servicetest.Service(ns, "web", map[string]string{"app": "blue"}, intstr.FromInt32(8080)))
	waitSlices(t, c, ns, "web", "blue", func(s []discoveryv1.EndpointSlice) (bool, string) {
		eps := endpoints(s)
		return len(eps) == 1 && eps["blue"].ready, fmt.Sprint(eps)
	})
	servicetest.UpdateService(t, c.Client, ns, "web", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "green"} })
	waitSlices(t, c, ns, "web", "green", func(s []discoveryv1.EndpointSlice) (bool, string) {
		eps := endpoints(s)
		return len(eps) == 1 && eps["green"].ready, fmt.Sprint(eps)
	})
	// Without a selector the Service's endpoints are the user's business:
	// ours go.
	servicetest.UpdateService(t, c.Client, ns, "web", func(s *corev1.Service) { s.Spec.Selector = nil })
	waitSlices(t, c, ns, "web", "managed slices removed", func(s []discoveryv1.EndpointSlice) (bool, string) {
		return len(s) == 0, fmt.Sprint(endpoints(s))
	})
}

func testSelectorless(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := context.Background()
	servicetest.CreatePod(t, c.Client, nodeName, ns, "p", "10.42.5.1", true, map[string]string{"app": "web"}, 8080)
	servicetest.CreateService(t, c.Client, servicetest.Service(ns, "external", nil, intstr.FromInt32(8080)))
	user, err := c.Client.DiscoveryV1().EndpointSlices(ns).Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "external-1", Namespace: ns, Labels: map[string]string{
			discoveryv1.LabelServiceName: "external", discoveryv1.LabelManagedBy: "staff"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.10"}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A change of the selectorless Service, then a Service with a selector
	// in the same namespace: once the second has its slice, the first has
	// been looked at too.
	servicetest.UpdateService(t, c.Client, ns, "external", func(s *corev1.Service) { s.Annotations = map[string]string{"touched": "yes"} })
	servicetest.CreateService(t, c.Client, servicetest.Service(ns, "web", map[string]string{"app": "web"}, intstr.FromInt32(8080)))
	waitSlices(t, c, ns, "web", "barrier service has its slice", func(s []discoveryv1.EndpointSlice) (bool, string) {
		return len(endpoints(s)) == 1, fmt.Sprint(endpoints(s))
	})
	got := listSlices(t, c, ns, "external")
	if len(got) != 1 || got[0].Name != "external-1" || got[0].ResourceVersion != user.ResourceVersion {
		t.Fatalf("selectorless Service's slices changed: %+v", got)
	}
}

func testManualEditReverted(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := context.Background()
	web := map[string]string{"app": "web"}
	servicetest.CreatePod(t, c.Client, nodeName, ns, "a", "10.42.6.1", true, web, 8080)
	servicetest.CreateService(t, c.Client, servicetest.Service(ns, "web", web, intstr.FromInt32(8080)))
	got := waitSlices(t, c, ns, "web", "a ready", func(s []discoveryv1.EndpointSlice) (bool, string) {
		return len(s) == 1 && endpoints(s)["a"].ready, fmt.Sprint(endpoints(s))
	})
	s := got[0].DeepCopy()
	s.Endpoints[0].Addresses = []string{"192.0.2.99"}
	s.Endpoints[0].Conditions.Ready = ptr.To(false)
	if _, err := c.Client.DiscoveryV1().EndpointSlices(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSlices(t, c, ns, "web", "edit reverted", func(s []discoveryv1.EndpointSlice) (bool, string) {
		e := endpoints(s)["a"]
		return len(s) == 1 && e.addr == "10.42.6.1" && e.ready, fmt.Sprint(endpoints(s))
	})
	// A deleted slice comes back.
	if err := c.Client.DiscoveryV1().EndpointSlices(ns).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitSlices(t, c, ns, "web", "slice recreated", func(list []discoveryv1.EndpointSlice) (bool, string) {
		return len(list) == 1 && list[0].Name != s.Name && endpoints(list)["a"].ready, fmt.Sprint(endpoints(list))
	})
}

func testKubectl(t *testing.T, c *testcluster.Cluster, ns string) {
	web := map[string]string{"app": "web"}
	servicetest.CreatePod(t, c.Client, nodeName, ns, "a", "10.42.8.1", true, web, 8080)
	servicetest.CreatePod(t, c.Client, nodeName, ns, "b", "10.42.8.2", true, web, 8080)
	servicetest.CreateService(t, c.Client, servicetest.Service(ns, "web", web, intstr.FromInt32(8080)))
	waitSlices(t, c, ns, "web", "two endpoints", func(s []discoveryv1.EndpointSlice) (bool, string) {
		return len(endpoints(s)) == 2, fmt.Sprint(endpoints(s))
	})
	out := c.Kubectl(t, "get", "endpointslices", "-n", ns)
	for _, want := range []string{"web-", "IPv4", "8080", "10.42.8.1", "10.42.8.2"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get endpointslices: no %q in\n%s", want, out)
		}
	}
	out = c.Kubectl(t, "describe", "service", "web", "-n", ns)
	var line string
	for l := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(l, "Endpoints:") {
			line = l
		}
	}
	fields := strings.Fields(strings.TrimPrefix(line, "Endpoints:"))
	var eps []string
	for _, f := range fields {
		eps = append(eps, strings.Split(f, ",")...)
	}
	slices.Sort(eps)
	if !slices.Equal(eps, []string{"10.42.8.1:8080", "10.42.8.2:8080"}) {
		t.Errorf("kubectl describe service: Endpoints line %q in\n%s", line, out)
	}
}
