package apiserver

import (
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func svc(typ corev1.ServiceType, clusterIP string, nodePorts ...int32) *corev1.Service {
	s := &corev1.Service{Spec: corev1.ServiceSpec{Type: typ, ClusterIP: clusterIP}}
	s.Name = "s"
	for i, np := range nodePorts {
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: int32(80 + i), Protocol: corev1.ProtocolTCP, NodePort: np})
	}
	if len(nodePorts) == 0 {
		s.Spec.Ports = []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}
	}
	return s
}

func TestAllocatorHandsOutDistinctAddresses(t *testing.T) {
	a := newServiceAllocator(netip.MustParsePrefix("10.43.0.0/29"), 30000, 3)
	a.loaded = true
	seen := map[string]bool{}
	// /29: .0 network, .1 kubernetes, .7 broadcast: .2-.6 are five addresses.
	for i := 0; i < 5; i++ {
		s := svc(corev1.ServiceTypeClusterIP, "")
		if _, err := a.allocate(s, nil); err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if seen[s.Spec.ClusterIP] || s.Spec.ClusterIP == "10.43.0.1" || s.Spec.ClusterIP == "10.43.0.7" {
			t.Fatalf("bad or repeated address %s", s.Spec.ClusterIP)
		}
		seen[s.Spec.ClusterIP] = true
		if len(s.Spec.ClusterIPs) != 1 || s.Spec.IPFamilyPolicy == nil {
			t.Fatalf("clusterIPs/ipFamilyPolicy not set: %+v", s.Spec)
		}
	}
	if _, err := a.allocate(svc(corev1.ServiceTypeClusterIP, ""), nil); err == nil {
		t.Fatal("a full range must refuse")
	}
	a.releaseAll(&corev1.Service{Spec: corev1.ServiceSpec{ClusterIPs: []string{"10.43.0.4"}}})
	s := svc(corev1.ServiceTypeClusterIP, "")
	if _, err := a.allocate(s, nil); err != nil || s.Spec.ClusterIP != "10.43.0.4" {
		t.Fatalf("released address not reused: %v %s", err, s.Spec.ClusterIP)
	}
}

func TestAllocatorRefusesTakenOrForeignAddresses(t *testing.T) {
	a := newServiceAllocator(netip.MustParsePrefix("10.43.0.0/16"), 30000, 100)
	a.loaded = true
	if _, err := a.allocate(svc(corev1.ServiceTypeClusterIP, "10.43.0.1"), nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, ip, want string }{
		{"taken", "10.43.0.1", "already allocated"},
		{"outside", "10.99.0.1", "not in the valid range"},
		{"garbage", "ten", "valid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.allocate(svc(corev1.ServiceTypeClusterIP, tt.ip), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	if s := svc(corev1.ServiceTypeClusterIP, "None"); func() error { _, err := a.allocate(s, nil); return err }() != nil || s.Spec.ClusterIP != "None" {
		t.Fatal("headless service must stay headless")
	}
}

func TestAllocatorNodePorts(t *testing.T) {
	a := newServiceAllocator(netip.MustParsePrefix("10.43.0.0/16"), 30000, 2)
	a.loaded = true
	s := svc(corev1.ServiceTypeNodePort, "", 0, 0)
	if _, err := a.allocate(s, nil); err != nil {
		t.Fatal(err)
	}
	if s.Spec.Ports[0].NodePort == s.Spec.Ports[1].NodePort || s.Spec.Ports[0].NodePort < 30000 {
		t.Fatalf("bad node ports %+v", s.Spec.Ports)
	}
	if _, err := a.allocate(svc(corev1.ServiceTypeNodePort, "", 0), nil); err == nil {
		t.Fatal("a full node port range must refuse")
	}
	if _, err := a.allocate(svc(corev1.ServiceTypeNodePort, "", 40000), nil); err == nil || !strings.Contains(err.Error(), "valid range") {
		t.Fatalf("out-of-range node port: %v", err)
	}
	// An update that keeps its ports keeps them, and turning into ClusterIP frees them.
	upd := s.DeepCopy()
	if _, err := a.allocate(upd, s); err != nil {
		t.Fatalf("update keeping ports: %v", err)
	}
	toCIP := s.DeepCopy()
	toCIP.Spec.Type = corev1.ServiceTypeClusterIP
	if _, err := a.allocate(toCIP, s); err != nil {
		t.Fatal(err)
	}
	if toCIP.Spec.Ports[0].NodePort != 0 {
		t.Fatal("ClusterIP service kept a node port")
	}
	a.release(a.unused(s, toCIP))
	if _, err := a.allocate(svc(corev1.ServiceTypeNodePort, "", 0), nil); err != nil {
		t.Fatalf("freed node port not reusable: %v", err)
	}
}
