package clusterdns_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/util/retry"

	"github.com/appliance/appliance/appliance/controllers/clusterdns"
	"github.com/appliance/appliance/appliance/controllers/controllerutil/servicetest"
	"github.com/appliance/appliance/appliance/controllers/controllerutil/simtest"
	"github.com/appliance/appliance/appliance/simulate"
	"github.com/appliance/appliance/appliance/testcluster"
)

func TestNewRefusesMissingServiceIP(t *testing.T) {
	if _, err := clusterdns.New(nil, nil, clusterdns.Config{}, nil); err == nil || !strings.Contains(err.Error(), "service IP is required") {
		t.Fatalf("New without a service IP: %v, want an error naming it", err)
	}
}

func TestGateway(t *testing.T) {
	for _, tc := range []struct{ cidr, want string }{
		{"10.42.0.0/24", "10.42.0.1"},
		{"10.42.3.0/24", "10.42.3.1"},
		{"10.42.0.128/25", "10.42.0.129"},
		{"fd00::/64", ""},
		{"10.42.0.4/31", ""},
		{"", ""},
		{"garbage", ""},
	} {
		got, ok := clusterdns.Gateway(tc.cidr)
		if s := map[bool]string{true: got.String(), false: ""}[ok]; s != tc.want {
			t.Errorf("Gateway(%q) = %q, want %q", tc.cidr, s, tc.want)
		}
	}
}

// render writes a slice's endpoints as "node=address(ready)" and its ports.
func render(s *discoveryv1.EndpointSlice) string {
	var parts []string
	for _, e := range s.Endpoints {
		parts = append(parts, fmt.Sprintf("%s=%s(%v)", *e.NodeName, strings.Join(e.Addresses, ","), *e.Conditions.Ready))
	}
	for _, p := range s.Ports {
		parts = append(parts, fmt.Sprintf("%s:%d/%s", *p.Name, *p.Port, *p.Protocol))
	}
	return strings.Join(parts, " ")
}

// renderEP writes an Endpoints object as render writes a slice.
func renderEP(ep *corev1.Endpoints) string {
	var parts []string
	for _, sub := range ep.Subsets {
		for _, a := range sub.Addresses {
			parts = append(parts, fmt.Sprintf("%s=%s(true)", *a.NodeName, a.IP))
		}
		for _, a := range sub.NotReadyAddresses {
			parts = append(parts, fmt.Sprintf("%s=%s(false)", *a.NodeName, a.IP))
		}
		for _, p := range sub.Ports {
			parts = append(parts, fmt.Sprintf("%s:%d/%s", p.Name, p.Port, p.Protocol))
		}
	}
	return strings.Join(parts, " ")
}

// TestClusterDNSIntegration runs the controller against a real appliance
// whose own copy is off, with one real and one simulated node.
func TestClusterDNSIntegration(t *testing.T) {
	c := testcluster.Start(t, testcluster.Without("cluster-dns"))
	ctx := context.Background()
	svcs := c.Client.CoreV1().Services(clusterdns.Namespace)
	slices := c.Client.DiscoveryV1().EndpointSlices(clusterdns.Namespace)
	if _, err := svcs.Get(ctx, clusterdns.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("kube-dns exists before the controller runs: %v", err)
	}
	simtest.CreateNode(t, c.Client, "dns-real", nil)
	simtest.CreateNode(t, c.Client, "dns-sim", map[string]string{simulate.SimulatedLabel: "true"})
	var podCIDR string
	simtest.Eventually(t, 30*time.Second, "node IPAM gives dns-real a podCIDR", func() (bool, string) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, "dns-real", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		podCIDR = n.Spec.PodCIDR
		return podCIDR != "", "no podCIDR yet"
	})
	gw, _ := clusterdns.Gateway(podCIDR)

	ip := netip.MustParseAddr("10.43.0.10")
	factory := informers.NewSharedInformerFactory(c.Client, 0)
	ctl, err := clusterdns.New(c.Client, factory, clusterdns.Config{ServiceIP: ip}, servicetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); ctl.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })

	wantSlice := func(what, want string) *discoveryv1.EndpointSlice {
		t.Helper()
		var s *discoveryv1.EndpointSlice
		simtest.Eventually(t, 30*time.Second, what, func() (bool, string) {
			var err error
			s, err = slices.Get(ctx, clusterdns.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			got := render(s)
			return got == want, fmt.Sprintf("slice is %q, want %q", got, want)
		})
		simtest.Eventually(t, 30*time.Second, what+" (endpoints)", func() (bool, string) {
			ep, err := c.Client.CoreV1().Endpoints(clusterdns.Namespace).Get(ctx, clusterdns.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			got := renderEP(ep)
			return got == want, fmt.Sprintf("endpoints are %q, want %q", got, want)
		})
		return s
	}
	ready := fmt.Sprintf("dns-real=%s(true) dns:10053/UDP dns-tcp:10053/TCP", gw)

	t.Run("service and slice", func(t *testing.T) {
		s := wantSlice("kube-dns slice lists the real node's gateway only", ready)
		svc, err := svcs.Get(ctx, clusterdns.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if svc.Spec.ClusterIP != ip.String() || svc.Spec.Selector != nil || svc.Labels["k8s-app"] != "kube-dns" ||
			svc.Spec.InternalTrafficPolicy == nil || *svc.Spec.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyLocal {
			t.Errorf("service: clusterIP %s selector %v labels %v itp %v", svc.Spec.ClusterIP, svc.Spec.Selector, svc.Labels, svc.Spec.InternalTrafficPolicy)
		}
		if s.Labels[discoveryv1.LabelServiceName] != clusterdns.Name || s.Labels[discoveryv1.LabelManagedBy] != clusterdns.ManagedBy {
			t.Errorf("slice labels %v", s.Labels)
		}
		if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != svc.UID {
			t.Errorf("slice owners %v, want the service %s", s.OwnerReferences, svc.UID)
		}
		// What Kubernetes' DNS debugging guide has users run.
		if out := c.Kubectl(t, "get", "endpoints", "kube-dns", "-n", "kube-system"); !strings.Contains(out, gw.String()+":10053") {
			t.Errorf("kubectl get endpoints kube-dns:\n%s\nwant %s:10053", out, gw)
		}
	})

	t.Run("node readiness", func(t *testing.T) {
		setReady := func(status corev1.ConditionStatus) {
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				n, err := c.Client.CoreV1().Nodes().Get(ctx, "dns-real", metav1.GetOptions{})
				if err != nil {
					return err
				}
				for i := range n.Status.Conditions {
					if n.Status.Conditions[i].Type == corev1.NodeReady {
						n.Status.Conditions[i].Status = status
					}
				}
				_, err = c.Client.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		setReady(corev1.ConditionFalse)
		wantSlice("a node that is not Ready has a not-ready endpoint", fmt.Sprintf("dns-real=%s(false) dns:10053/UDP dns-tcp:10053/TCP", gw))
		setReady(corev1.ConditionTrue)
		wantSlice("Ready again", ready)
	})

	t.Run("edit reverted", func(t *testing.T) {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			s, err := slices.Get(ctx, clusterdns.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			s.Endpoints[0].Addresses = []string{"10.42.99.99"}
			_, err = slices.Update(ctx, s, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		wantSlice("an edited slice is put back", ready)
	})

	t.Run("service recreated", func(t *testing.T) {
		old, err := svcs.Get(ctx, clusterdns.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := svcs.Delete(ctx, clusterdns.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		var uid types.UID
		simtest.Eventually(t, 30*time.Second, "kube-dns comes back after a delete", func() (bool, string) {
			svc, err := svcs.Get(ctx, clusterdns.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			uid = svc.UID
			return uid != old.UID && svc.Spec.ClusterIP == ip.String(), fmt.Sprintf("uid %s clusterIP %s", uid, svc.Spec.ClusterIP)
		})
		simtest.Eventually(t, 30*time.Second, "the slice belongs to the new service", func() (bool, string) {
			s, err := slices.Get(ctx, clusterdns.Name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error()
			}
			return len(s.OwnerReferences) == 1 && s.OwnerReferences[0].UID == uid && render(s) == ready,
				fmt.Sprintf("owners %v, endpoints %q", s.OwnerReferences, render(s))
		})
	})
}
