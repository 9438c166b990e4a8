package endpoints_test

import (
	"context"
	"fmt"
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
	"github.com/appliance/appliance/appliance/controllers/endpoints"
	"github.com/appliance/appliance/appliance/testcluster"
)

const nodeName = "ep-node"

// TestEndpointsIntegration runs the controller against a real appliance with
// the built-in copy turned off. No kubelet runs: pods are created bound to a
// registered node and their IP and readiness are written through
// pods/status, as a kubelet reports them.
func TestEndpointsIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := testcluster.Start(t, testcluster.Without("endpointslice", "endpoints"))
	simtest.CreateNode(t, c.Client, nodeName, nil)
	factory := informers.NewSharedInformerFactory(c.Client, 0)
	servicetest.StartController(t, factory, endpoints.New(c.Client, factory, servicetest.Logger(t)))
	servicetest.RunCases(t, c.Client, c, "ep-", []servicetest.Case[*testcluster.Cluster]{
		{Name: "follows pods", Run: testFollowsPods},
		{Name: "named target port", Run: testNamedTargetPort},
		{Name: "publish not ready", Run: testPublishNotReady},
		{Name: "selector change", Run: testSelectorChange},
		{Name: "left alone", Run: testLeftAlone},
		{Name: "manual edit reverted", Run: testManualEditReverted},
		{Name: "kubectl", Run: testKubectl},
	})
}

// service is servicetest.Service with the label tier=front, which the
// Endpoints must carry too.
func service(ns, name string, selector map[string]string, target intstr.IntOrString) *corev1.Service {
	s := servicetest.Service(ns, name, selector, target)
	s.Labels = map[string]string{"tier": "front"}
	return s
}

// render writes subsets compactly, "ip:port" ready and "!ip:port" not ready,
// subsets separated by "; ".
func render(ep *corev1.Endpoints) string {
	var parts []string
	for _, s := range ep.Subsets {
		var items []string
		for _, p := range s.Ports {
			for _, a := range s.Addresses {
				items = append(items, fmt.Sprintf("%s:%d", a.IP, p.Port))
			}
			for _, a := range s.NotReadyAddresses {
				items = append(items, fmt.Sprintf("!%s:%d", a.IP, p.Port))
			}
		}
		parts = append(parts, strings.Join(items, " "))
	}
	return strings.Join(parts, "; ")
}

// waitEndpoints polls ns/name until render gives want.
func waitEndpoints(t *testing.T, c *testcluster.Cluster, ns, name, want string) *corev1.Endpoints {
	t.Helper()
	var ep *corev1.Endpoints
	simtest.Eventually(t, 30*time.Second, fmt.Sprintf("endpoints %s/%s = %q", ns, name, want), func() (bool, string) {
		var err error
		ep, err = c.Client.CoreV1().Endpoints(ns).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return want == "<none>", "not found"
		}
		if err != nil {
			return false, err.Error()
		}
		got := render(ep)
		return got == want, got
	})
	return ep
}

func testFollowsPods(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := context.Background()
	web := map[string]string{"app": "web"}
	servicetest.CreatePod(t, c.Client, nodeName, ns, "a", "10.42.1.1", true, web, 8080)
	servicetest.CreatePod(t, c.Client, nodeName, ns, "b", "10.42.1.2", true, web, 8080)
	servicetest.CreatePod(t, c.Client, nodeName, ns, "other", "10.42.1.3", true, map[string]string{"app": "db"}, 8080)
	servicetest.CreateService(t, c.Client, service(ns, "web", web, intstr.FromInt32(8080)))
	ep := waitEndpoints(t, c, ns, "web", "10.42.1.1:8080 10.42.1.2:8080")
	a := ep.Subsets[0].Addresses[0]
	if a.TargetRef == nil || a.TargetRef.Kind != "Pod" || a.TargetRef.Name != "a" || ptr.Deref(a.NodeName, "") != nodeName {
		t.Errorf("address %+v targetRef %+v", a, a.TargetRef)
	}
	if ep.Labels["tier"] != "front" || ep.Subsets[0].Ports[0].Name != "http" || ep.Subsets[0].Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("labels %v ports %+v", ep.Labels, ep.Subsets[0].Ports)
	}
	if _, err := time.Parse(time.RFC3339Nano, ep.Annotations[corev1.EndpointsLastChangeTriggerTime]); err != nil {
		t.Errorf("trigger time annotation: %v (%v)", err, ep.Annotations)
	}

	servicetest.SetPodStatus(t, c.Client, ns, "a", "10.42.1.1", false)
	waitEndpoints(t, c, ns, "web", "10.42.1.2:8080 !10.42.1.1:8080")

	// A terminating pod leaves at once (it stays, bound, until its kubelet
	// would confirm), then is removed for good.
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEndpoints(t, c, ns, "web", "!10.42.1.1:8080")
	if err := c.Client.CoreV1().Pods(ns).Delete(ctx, "b", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}

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
	waitEndpoints(t, c, ns, "web", "10.42.1.3:8080")

	// The Endpoints go with the Service.
	if err := c.Client.CoreV1().Services(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEndpoints(t, c, ns, "web", "<none>")
}

func testNamedTargetPort(t *testing.T, c *testcluster.Cluster, ns string) {
	web := map[string]string{"app": "web"}
	servicetest.CreatePod(t, c.Client, nodeName, ns, "old", "10.42.2.1", true, web, 8080)
	servicetest.CreatePod(t, c.Client, nodeName, ns, "new", "10.42.2.2", true, web, 9090)
	servicetest.CreateService(t, c.Client, service(ns, "web", web, intstr.FromString("http")))
	waitEndpoints(t, c, ns, "web", "10.42.2.1:8080; 10.42.2.2:9090")
}

func testPublishNotReady(t *testing.T, c *testcluster.Cluster, ns string) {
	web := map[string]string{"app": "web"}
	servicetest.CreatePod(t, c.Client, nodeName, ns, "starting", "10.42.3.1", false, web, 8080)
	svc := service(ns, "web", web, intstr.FromInt32(8080))
	svc.Spec.PublishNotReadyAddresses = true
	servicetest.CreateService(t, c.Client, svc)
	waitEndpoints(t, c, ns, "web", "10.42.3.1:8080")
	servicetest.UpdateService(t, c.Client, ns, "web", func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = false })
	waitEndpoints(t, c, ns, "web", "!10.42.3.1:8080")
}

func testSelectorChange(t *testing.T, c *testcluster.Cluster, ns string) {
	servicetest.CreatePod(t, c.Client, nodeName, ns, "blue", "10.42.4.1", true, map[string]string{"app": "blue"}, 8080)
	servicetest.CreatePod(t, c.Client, nodeName, ns, "green", "10.42.4.2", true, map[string]string{"app": "green"}, 8080)
	servicetest.CreateService(t, c.Client, service(ns, "web", map[string]string{"app": "blue"}, intstr.FromInt32(8080)))
	waitEndpoints(t, c, ns, "web", "10.42.4.1:8080")
	servicetest.UpdateService(t, c.Client, ns, "web", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "green"} })
	waitEndpoints(t, c, ns, "web", "10.42.4.2:8080")
}

// testLeftAlone: Endpoints of a selectorless Service, skip-mirror Endpoints
// and default/kubernetes are not written.
func testLeftAlone(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := context.Background()
	web := map[string]string{"app": "web"}
	servicetest.CreatePod(t, c.Client, nodeName, ns, "p", "10.42.5.1", true, web, 8080)
	servicetest.CreateService(t, c.Client, service(ns, "external", nil, intstr.FromInt32(8080)))
	manual := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "external", Namespace: ns},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.10"}},
			Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}}}}
	manual, err := c.Client.CoreV1().Endpoints(ns).Create(ctx, manual, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A selector Service whose Endpoints someone marked skip-mirror.
	pinned := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "pinned", Namespace: ns,
		Labels: map[string]string{discoveryv1.LabelSkipMirror: "true"}},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.11"}},
			Ports: []corev1.EndpointPort{{Name: "http", Port: 8080, Protocol: corev1.ProtocolTCP}}}}}
	pinned, err = c.Client.CoreV1().Endpoints(ns).Create(ctx, pinned, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	servicetest.CreateService(t, c.Client, service(ns, "pinned", web, intstr.FromInt32(8080)))
	kube, kubeErr := c.Client.CoreV1().Endpoints(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
	kubeSvc, err := c.Client.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if kubeSvc.Spec.Selector != nil {
		t.Fatalf("default/kubernetes has a selector %v", kubeSvc.Spec.Selector)
	}
	// Changes to look at, then a barrier: a selector Service created after
	// them has its Endpoints, so they have been synced too.
	servicetest.UpdateService(t, c.Client, ns, "external", func(s *corev1.Service) { s.Annotations = map[string]string{"touched": "yes"} })
	servicetest.UpdateService(t, c.Client, metav1.NamespaceDefault, "kubernetes", func(s *corev1.Service) {
		s.Annotations = map[string]string{"appliance.test/touched": ns}
	})
	servicetest.CreateService(t, c.Client, service(ns, "barrier", web, intstr.FromInt32(8080)))
	waitEndpoints(t, c, ns, "barrier", "10.42.5.1:8080")

	for _, want := range []*corev1.Endpoints{manual, pinned} {
		got, err := c.Client.CoreV1().Endpoints(ns).Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil || got.ResourceVersion != want.ResourceVersion {
			t.Errorf("Endpoints %s written: %v %+v", want.Name, err, got)
		}
	}
	got, err := c.Client.CoreV1().Endpoints(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(kubeErr):
		if err == nil {
			t.Errorf("default/kubernetes Endpoints created: %+v", got)
		}
	case kubeErr != nil:
		t.Fatal(kubeErr)
	case err != nil || got.ResourceVersion != kube.ResourceVersion:
		t.Errorf("default/kubernetes Endpoints written: %v %+v", err, got)
	}
}

func testManualEditReverted(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := context.Background()
	web := map[string]string{"app": "web"}
	servicetest.CreatePod(t, c.Client, nodeName, ns, "a", "10.42.6.1", true, web, 8080)
	servicetest.CreateService(t, c.Client, service(ns, "web", web, intstr.FromInt32(8080)))
	ep := waitEndpoints(t, c, ns, "web", "10.42.6.1:8080")
	ep.Subsets[0].Addresses[0].IP = "192.0.2.99"
	if _, err := c.Client.CoreV1().Endpoints(ns).Update(ctx, ep, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEndpoints(t, c, ns, "web", "10.42.6.1:8080")
	if err := c.Client.CoreV1().Endpoints(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEndpoints(t, c, ns, "web", "10.42.6.1:8080")
}

func testKubectl(t *testing.T, c *testcluster.Cluster, ns string) {
	web := map[string]string{"app": "web"}
	servicetest.CreatePod(t, c.Client, nodeName, ns, "a", "10.42.8.1", true, web, 8080)
	servicetest.CreateService(t, c.Client, service(ns, "web", web, intstr.FromInt32(8080)))
	waitEndpoints(t, c, ns, "web", "10.42.8.1:8080")
	out, errOut, err := c.TryKubectl(t, nil, "get", "endpoints", "web", "-n", ns)
	if err != nil || !strings.Contains(out, "10.42.8.1:8080") {
		t.Errorf("kubectl get endpoints: %v\n%s%s", err, out, errOut)
	}
}
