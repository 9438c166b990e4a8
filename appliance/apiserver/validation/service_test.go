package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

func TestValidateService(t *testing.T) {
	runCreateCases(t, validService, []createCase[*corev1.Service]{
		{name: "name must be a DNS label", mutate: func(s *corev1.Service) { s.Name = "web.example" }, want: []want{invalid("metadata.name")}},
		{name: "ports required", mutate: func(s *corev1.Service) { s.Spec.Ports = nil }, want: []want{required("spec.ports")}},
		{name: "headless needs no ports", mutate: func(s *corev1.Service) {
			s.Spec.Ports = nil
			s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
		}},
		{name: "clusterIP alone is enough", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, nil
		}},
		{name: "unallocated", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIP, s.Spec.ClusterIPs, s.Spec.IPFamilies, s.Spec.IPFamilyPolicy = "", nil, nil, nil
		}},
		{name: "port names required when several", mutate: func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 443, TargetPort: intstr.FromInt32(8443), Protocol: corev1.ProtocolTCP})
		}, want: []want{required("spec.ports[1].name")}},
		{name: "duplicate port names and ports", mutate: func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP})
		}, want: []want{duplicate("spec.ports[1].name"), duplicate("spec.ports[1]")}},
		{name: "port ranges", mutate: func(s *corev1.Service) {
			s.Spec.Ports[0].Port = 0
			s.Spec.Ports[0].TargetPort = intstr.FromInt32(70000)
			s.Spec.Ports[0].Protocol = "HTTP"
		}, want: []want{invalid("spec.ports[0].port"), invalid("spec.ports[0].targetPort"), notSupported("spec.ports[0].protocol")}},
		{name: "bad target port name", mutate: func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("Not_A_Name") }, want: []want{invalid("spec.ports[0].targetPort")}},
		{name: "nodePort on ClusterIP", mutate: func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }, want: []want{forbidden("spec.ports[0].nodePort")}},
		{name: "bad type", mutate: func(s *corev1.Service) { s.Spec.Type = "Internal" }, want: []want{notSupported("spec.type")}},
		{name: "type required", mutate: func(s *corev1.Service) { s.Spec.Type = "" }, want: []want{required("spec.type")}},
		{name: "session affinity", mutate: func(s *corev1.Service) { s.Spec.SessionAffinity = "Sticky" }, want: []want{notSupported("spec.sessionAffinity")}},
		{name: "client IP affinity needs config", mutate: func(s *corev1.Service) { s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP }, want: []want{required("spec.sessionAffinityConfig")}},
		{name: "client IP affinity timeout", mutate: func(s *corev1.Service) {
			s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To[int32](86401)}}
		}, want: []want{invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds")}},
		{name: "bad selector", mutate: func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "web server"} }, want: []want{invalid("spec.selector")}},
		{name: "clusterIPs must match clusterIP", mutate: func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.11"} }, want: []want{invalid("spec.clusterIPs")}},
		{name: "bad clusterIP", mutate: func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.300", []string{"10.96.0.300"} }, want: []want{invalid("spec.clusterIPs[0]")}},
		{name: "family mismatch", mutate: func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} }, want: []want{invalid("spec.clusterIPs[0]")}},
		{name: "dual stack", mutate: func(s *corev1.Service) {
			s.Spec.ClusterIPs = []string{"10.96.0.10", "fd00::10"}
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
			s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyPreferDualStack)
		}},
		{name: "two IPs of one family", mutate: func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"10.96.0.10", "10.96.0.11"} }, want: []want{invalid("spec.clusterIPs")}},
		{name: "external IPs", mutate: func(s *corev1.Service) {
			s.Spec.ExternalIPs = []string{"203.0.113.7", "127.0.0.1"}
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		}, want: []want{invalid("spec.externalIPs[1]")}},
		{name: "external traffic policy on internal service", mutate: func(s *corev1.Service) {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}, want: []want{invalid("spec.externalTrafficPolicy")}},
		{name: "internal traffic policy required", mutate: func(s *corev1.Service) { s.Spec.InternalTrafficPolicy = nil }, want: []want{required("spec.internalTrafficPolicy")}},
		{name: "bad traffic distribution", mutate: func(s *corev1.Service) { s.Spec.TrafficDistribution = ptr.To("Anywhere") }, want: []want{notSupported("spec.trafficDistribution")}},
		{name: "load balancer", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.Ports[0].NodePort = 30080
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			s.Spec.HealthCheckNodePort = 30500
			s.Spec.AllocateLoadBalancerNodePorts = ptr.To(true)
			s.Spec.LoadBalancerSourceRanges = []string{"203.0.113.0/24"}
		}},
		{name: "load balancer needs its defaults", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeLoadBalancer
			s.Spec.LoadBalancerSourceRanges = []string{"203.0.113.0/33"}
		}, want: []want{
			required("spec.externalTrafficPolicy"),
			required("spec.allocateLoadBalancerNodePorts"),
			invalid("spec.loadBalancerSourceRanges[0]"),
		}},
		{name: "LoadBalancer fields on ClusterIP", mutate: func(s *corev1.Service) {
			s.Spec.LoadBalancerSourceRanges = []string{"203.0.113.0/24"}
			s.Spec.AllocateLoadBalancerNodePorts = ptr.To(true)
			s.Spec.LoadBalancerClass = ptr.To("example.com/lb")
		}, want: []want{
			forbidden("spec.loadBalancerSourceRanges"),
			forbidden("spec.allocateLoadBalancerNodePorts"),
			forbidden("spec.loadBalancerClass"),
		}},
		{name: "headless NodePort", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
			s.Spec.ClusterIP, s.Spec.ClusterIPs = corev1.ClusterIPNone, []string{corev1.ClusterIPNone}
		}, want: []want{invalid("spec.clusterIPs[0]")}},
		{name: "external name", mutate: func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com.", SessionAffinity: corev1.ServiceAffinityNone}
		}},
		{name: "external name with cluster fields", mutate: func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeExternalName
			s.Spec.InternalTrafficPolicy = nil
		}, want: []want{
			required("spec.externalName"),
			forbidden("spec.clusterIPs"),
			forbidden("spec.ipFamilies"),
			forbidden("spec.ipFamilyPolicy"),
		}},
	})
}

func TestValidateServiceUpdate(t *testing.T) {
	runUpdateCases(t, validService, ValidateUpdate, []updateCase[*corev1.Service]{
		{name: "ports may change", mutate: func(n, _ *corev1.Service) { n.Spec.Ports[0].Port = 8080 }},
		{name: "clusterIP is immutable", mutate: func(n, _ *corev1.Service) {
			n.Spec.ClusterIP, n.Spec.ClusterIPs = "10.96.0.11", []string{"10.96.0.11"}
		}, want: []want{invalid("spec.clusterIPs[0]")}},
		{name: "clusterIP may not be unset", mutate: func(n, _ *corev1.Service) {
			n.Spec.ClusterIP, n.Spec.ClusterIPs = "", nil
		}, want: []want{invalid("spec.clusterIPs[0]")}},
		{name: "secondary IP may be added", mutate: func(n, _ *corev1.Service) {
			n.Spec.ClusterIPs = append(n.Spec.ClusterIPs, "fd00::10")
			n.Spec.IPFamilies = append(n.Spec.IPFamilies, corev1.IPv6Protocol)
			n.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyPreferDualStack)
		}},
		{name: "to ExternalName", mutate: func(n, _ *corev1.Service) {
			n.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com", SessionAffinity: corev1.ServiceAffinityNone}
		}},
		{name: "ip family is immutable", mutate: func(n, _ *corev1.Service) {
			n.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
		}, want: []want{invalid("spec.ipFamilies[0]"), invalid("spec.clusterIPs[0]")}},
	})
	lb := func() *corev1.Service {
		s := validService()
		s.Spec.Type = corev1.ServiceTypeLoadBalancer
		s.Spec.Ports[0].NodePort = 30080
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		s.Spec.AllocateLoadBalancerNodePorts = ptr.To(true)
		s.Spec.LoadBalancerClass = ptr.To("example.com/lb")
		return s
	}
	runUpdateCases(t, lb, ValidateUpdate, []updateCase[*corev1.Service]{
		{name: "loadBalancerClass is immutable", mutate: func(n, _ *corev1.Service) { n.Spec.LoadBalancerClass = ptr.To("example.com/other") }, want: []want{invalid("spec.loadBalancerClass")}},
	})
	runUpdateCases(t, lb, ValidateStatusUpdate, []updateCase[*corev1.Service]{
		{name: "load balancer status", mutate: func(n, _ *corev1.Service) {
			n.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.7", IPMode: ptr.To(corev1.LoadBalancerIPModeVIP)}, {Hostname: "lb.example.com"}}
		}},
		{name: "bad load balancer status", mutate: func(n, _ *corev1.Service) {
			n.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "not-an-ip"}, {Hostname: "10.0.0.1"}, {IPMode: ptr.To(corev1.LoadBalancerIPModeProxy)}}
		}, want: []want{invalid("status.loadBalancer.ingress[0].ip"), invalid("status.loadBalancer.ingress[1].hostname"), forbidden("status.loadBalancer.ingress[2].ipMode")}},
	})
}
