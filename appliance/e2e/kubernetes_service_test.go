package e2e

import (
	"context"
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/appliance/appliance/appliance"
	"github.com/appliance/appliance/appliance/testcluster"
)

// TestKubernetesService: default/kubernetes, the way pods reach the API
// server, has the first service IP on 443 and points at the advertise
// address and the API port through both an Endpoints object and an
// EndpointSlice (which service proxies and cluster DNS read; no controller
// makes one for a Service without a selector).
func TestKubernetesService(t *testing.T) {
	const advertise = "192.0.2.10" // TEST-NET-1: never contacted
	c := testcluster.Start(t, func(cfg *appliance.Config) { cfg.AdvertiseAddress = net.ParseIP(advertise) })
	ctx := context.Background()
	port := int32(c.Config.HTTPSPort)

	svc, err := c.Client.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP != "10.43.0.1" || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 443 || svc.Spec.Ports[0].TargetPort.IntValue() != int(port) {
		t.Errorf("service: clusterIP %s ports %+v, want 10.43.0.1 443 -> %d", svc.Spec.ClusterIP, svc.Spec.Ports, port)
	}

	var slice *discoveryv1.EndpointSlice
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		slice, err = c.Client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("no EndpointSlice default/kubernetes: %v", err)
	}
	if slice.Labels[discoveryv1.LabelServiceName] != "kubernetes" || slice.AddressType != discoveryv1.AddressTypeIPv4 {
		t.Errorf("slice labels %v addressType %s, want %s=kubernetes and IPv4", slice.Labels, slice.AddressType, discoveryv1.LabelServiceName)
	}
	if len(slice.Endpoints) != 1 || len(slice.Endpoints[0].Addresses) != 1 || slice.Endpoints[0].Addresses[0] != advertise ||
		slice.Endpoints[0].Conditions.Ready == nil || !*slice.Endpoints[0].Conditions.Ready {
		t.Errorf("slice endpoints %+v, want one ready endpoint %s", slice.Endpoints, advertise)
	}
	if len(slice.Ports) != 1 || slice.Ports[0].Name == nil || *slice.Ports[0].Name != "https" || slice.Ports[0].Port == nil || *slice.Ports[0].Port != port ||
		slice.Ports[0].Protocol == nil || *slice.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("slice ports %+v, want https %d/TCP", slice.Ports, port)
	}

	ep, err := c.Client.CoreV1().Endpoints(metav1.NamespaceDefault).Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ep.Subsets) != 1 || len(ep.Subsets[0].Addresses) != 1 || ep.Subsets[0].Addresses[0].IP != advertise ||
		len(ep.Subsets[0].Ports) != 1 || ep.Subsets[0].Ports[0].Port != port {
		t.Errorf("endpoints subsets %+v, want %s:%d", ep.Subsets, advertise, port)
	}
}
