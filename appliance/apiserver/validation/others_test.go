package validation

import (
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
)

func TestValidateHPA(t *testing.T) {
	runCreateCases(t, validHPA, []createCase[*autoscalingv2.HorizontalPodAutoscaler]{
		{name: "replica bounds", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.MinReplicas = ptr.To[int32](0)
			h.Spec.MaxReplicas = 0
		}, want: []want{invalid("spec.minReplicas"), invalid("spec.maxReplicas")}},
		{name: "max below min", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.MinReplicas = ptr.To[int32](5)
			h.Spec.MaxReplicas = 3
		}, want: []want{invalid("spec.maxReplicas")}},
		{name: "scale target", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{Name: "a/b"}
		}, want: []want{required("spec.scaleTargetRef.kind"), invalid("spec.scaleTargetRef.name")}},
		{name: "metric type", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Type = "Custom"
		}, want: []want{notSupported("spec.metrics[0].type")}},
		{name: "metric source missing", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Type = autoscalingv2.PodsMetricSourceType
		}, want: []want{required("spec.metrics[0].pods")}},
		{name: "two metric sources", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Pods = &autoscalingv2.PodsMetricSource{
				Metric: autoscalingv2.MetricIdentifier{Name: "rps"},
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("10"))},
			}
		}, want: []want{forbidden("spec.metrics[0].pods")}},
		{name: "resource target", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target = autoscalingv2.MetricTarget{Type: "Percent"}
		}, want: []want{required("spec.metrics[0].resource.target.averageUtilization"), invalid("spec.metrics[0].resource.target.type")}},
		{name: "negative average value", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics[0].Resource.Target = autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr.To(resource.MustParse("-1"))}
		}, want: []want{invalid("spec.metrics[0].resource.target.averageValue")}},
		{name: "external metric", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = append(h.Spec.Metrics, autoscalingv2.MetricSpec{
				Type: autoscalingv2.ExternalMetricSourceType,
				External: &autoscalingv2.ExternalMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: "queue_depth"},
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType},
				},
			})
		}, want: []want{required("spec.metrics[1].external.target.averageValue")}},
		{name: "behavior", mutate: func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior.ScaleUp.StabilizationWindowSeconds = ptr.To[int32](3601)
			h.Spec.Behavior.ScaleUp.Policies[0].Value = 0
			h.Spec.Behavior.ScaleUp.Policies[1].PeriodSeconds = 1801
			h.Spec.Behavior.ScaleDown.Policies = nil
			h.Spec.Behavior.ScaleDown.SelectPolicy = ptr.To[autoscalingv2.ScalingPolicySelect]("Avg")
		}, want: []want{
			invalid("spec.behavior.scaleUp.stabilizationWindowSeconds"),
			invalid("spec.behavior.scaleUp.policies[0].value"),
			invalid("spec.behavior.scaleUp.policies[1].periodSeconds"),
			required("spec.behavior.scaleDown.policies"),
			notSupported("spec.behavior.scaleDown.selectPolicy"),
		}},
	})
	runUpdateCases(t, validHPA, ValidateStatusUpdate, []updateCase[*autoscalingv2.HorizontalPodAutoscaler]{
		{name: "replicas", mutate: func(n, _ *autoscalingv2.HorizontalPodAutoscaler) { n.Status.DesiredReplicas = -1 }, want: []want{invalid("status.desiredReplicas")}},
	})
}

func TestValidateIngress(t *testing.T) {
	paths := func(i *networkingv1.Ingress) []networkingv1.HTTPIngressPath { return i.Spec.Rules[0].HTTP.Paths }
	runCreateCases(t, validIngress, []createCase[*networkingv1.Ingress]{
		{name: "rules or default backend", mutate: func(i *networkingv1.Ingress) { i.Spec.Rules = nil }, want: []want{invalid("spec")}},
		{name: "default backend only", mutate: func(i *networkingv1.Ingress) {
			i.Spec.Rules = nil
			i.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Name: "http"}}}
		}},
		{name: "host", mutate: func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "10.0.0.1" }, want: []want{invalid("spec.rules[0].host")}},
		{name: "wildcard host", mutate: func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "*.example.com" }},
		{name: "bad wildcard host", mutate: func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "www.*.com" }, want: []want{invalid("spec.rules[0].host")}},
		{name: "pathType required", mutate: func(i *networkingv1.Ingress) { paths(i)[0].PathType = nil }, want: []want{required("spec.rules[0].http.paths[0].pathType")}},
		{name: "pathType value", mutate: func(i *networkingv1.Ingress) { paths(i)[0].PathType = ptr.To[networkingv1.PathType]("Regex") }, want: []want{notSupported("spec.rules[0].http.paths[0].pathType")}},
		{name: "relative path", mutate: func(i *networkingv1.Ingress) { paths(i)[0].Path = "api" }, want: []want{invalid("spec.rules[0].http.paths[0].path")}},
		{name: "path with //", mutate: func(i *networkingv1.Ingress) { paths(i)[0].Path = "/a//b" }, want: []want{invalid("spec.rules[0].http.paths[0].path")}},
		{name: "no paths", mutate: func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths = nil }, want: []want{required("spec.rules[0].http.paths")}},
		{name: "backend", mutate: func(i *networkingv1.Ingress) {
			paths(i)[0].Backend.Service.Port = networkingv1.ServiceBackendPort{Name: "http", Number: 80}
			paths(i)[0].Backend.Service.Name = ""
		}, want: []want{required("spec.rules[0].http.paths[0].backend.service.name"), invalid("spec.rules[0].http.paths[0].backend")}},
		{name: "backend port required", mutate: func(i *networkingv1.Ingress) {
			paths(i)[0].Backend.Service.Port = networkingv1.ServiceBackendPort{}
		}, want: []want{required("spec.rules[0].http.paths[0].backend")}},
		{name: "resource and service backend", mutate: func(i *networkingv1.Ingress) {
			paths(i)[0].Backend.Resource = &corev1.TypedLocalObjectReference{Kind: "Bucket", Name: "static"}
		}, want: []want{invalid("spec.rules[0].http.paths[0].backend")}},
		{name: "tls", mutate: func(i *networkingv1.Ingress) {
			i.Spec.TLS[0].Hosts = []string{"Bad_Host"}
			i.Spec.TLS[0].SecretName = "Web TLS"
		}, want: []want{
			invalid("spec.tls[0].hosts[0]"), invalid("spec.tls[0].secretName"),
		}},
		{name: "class name", mutate: func(i *networkingv1.Ingress) { i.Spec.IngressClassName = ptr.To("Nginx") }, want: []want{invalid("spec.ingressClassName")}},
	})
}

func TestValidateIngressClass(t *testing.T) {
	runCreateCases(t, validIngressClass, []createCase[*networkingv1.IngressClass]{
		{name: "controller", mutate: func(i *networkingv1.IngressClass) { i.Spec.Controller = "nginx" }, want: []want{invalid("spec.controller")}},
		{name: "controller too long", mutate: func(i *networkingv1.IngressClass) { i.Spec.Controller = "example.com/" + strings.Repeat("a", 250) }, want: []want{tooLong("spec.controller")}},
		{name: "namespace scope needs namespace", mutate: func(i *networkingv1.IngressClass) { i.Spec.Parameters.Namespace = nil }, want: []want{required("spec.parameters.namespace")}},
		{name: "cluster scope forbids namespace", mutate: func(i *networkingv1.IngressClass) { i.Spec.Parameters.Scope = ptr.To("Cluster") }, want: []want{forbidden("spec.parameters.namespace")}},
		{name: "parameters need kind and name", mutate: func(i *networkingv1.IngressClass) {
			i.Spec.Parameters.Kind, i.Spec.Parameters.Name = "", ""
		}, want: []want{required("spec.parameters.kind"), required("spec.parameters.name")}},
		{name: "cluster scoped", mutate: func(i *networkingv1.IngressClass) { i.Namespace = "default" }, want: []want{forbidden("metadata.namespace")}},
	})
	runUpdateCases(t, validIngressClass, ValidateUpdate, []updateCase[*networkingv1.IngressClass]{
		{name: "controller is immutable", mutate: func(n, _ *networkingv1.IngressClass) { n.Spec.Controller = "example.com/other" }, want: []want{invalid("spec.controller")}},
	})
}

func TestValidateStorageClass(t *testing.T) {
	runCreateCases(t, validStorageClass, []createCase[*storagev1.StorageClass]{
		{name: "provisioner required", mutate: func(s *storagev1.StorageClass) { s.Provisioner = "" }, want: []want{required("provisioner")}},
		{name: "bad provisioner", mutate: func(s *storagev1.StorageClass) { s.Provisioner = "local path" }, want: []want{invalid("provisioner")}},
		{name: "reclaim policy", mutate: func(s *storagev1.StorageClass) { s.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimRecycle) }, want: []want{notSupported("reclaimPolicy")}},
		{name: "binding mode", mutate: func(s *storagev1.StorageClass) { s.VolumeBindingMode = ptr.To[storagev1.VolumeBindingMode]("Lazy") }, want: []want{notSupported("volumeBindingMode")}},
		{name: "binding mode not defaulted", mutate: func(s *storagev1.StorageClass) { s.VolumeBindingMode = nil }, want: []want{required("volumeBindingMode")}},
		{name: "allowed topologies", mutate: func(s *storagev1.StorageClass) {
			s.AllowedTopologies = []corev1.TopologySelectorTerm{{MatchLabelExpressions: []corev1.TopologySelectorLabelRequirement{{Key: "topology.kubernetes.io/zone"}}}}
		}, want: []want{required("allowedTopologies[0].matchLabelExpressions[0].values")}},
	})
	runUpdateCases(t, validStorageClass, ValidateUpdate, []updateCase[*storagev1.StorageClass]{
		{name: "labels may change", mutate: func(n, _ *storagev1.StorageClass) {
			n.Labels = map[string]string{"default": "true"}
			n.AllowVolumeExpansion = ptr.To(true)
		}},
		{name: "parameters are immutable", mutate: func(n, _ *storagev1.StorageClass) { n.Parameters["type"] = "hdd" }, want: []want{forbidden("parameters")}},
		{name: "provisioner is immutable", mutate: func(n, _ *storagev1.StorageClass) { n.Provisioner = "example.com/other" }, want: []want{forbidden("provisioner")}},
		{name: "reclaim policy is immutable", mutate: func(n, _ *storagev1.StorageClass) { n.ReclaimPolicy = ptr.To(corev1.PersistentVolumeReclaimRetain) }, want: []want{forbidden("reclaimPolicy")}},
		{name: "binding mode is immutable", mutate: func(n, _ *storagev1.StorageClass) {
			n.VolumeBindingMode = ptr.To(storagev1.VolumeBindingImmediate)
		}, want: []want{invalid("volumeBindingMode")}},
	})
}

func TestValidateRBAC(t *testing.T) {
	runCreateCases(t, validRole, []createCase[*rbacv1.Role]{
		{name: "path segment names", mutate: func(r *rbacv1.Role) { r.Name = "system:reader" }},
		{name: "bad name", mutate: func(r *rbacv1.Role) { r.Name = "a/b" }, want: []want{invalid("metadata.name")}},
		{name: "verbs required", mutate: func(r *rbacv1.Role) { r.Rules[0].Verbs = nil }, want: []want{required("rules[0].verbs")}},
		{name: "groups and resources required", mutate: func(r *rbacv1.Role) {
			r.Rules[0].APIGroups, r.Rules[0].Resources = nil, nil
		}, want: []want{required("rules[0].apiGroups"), required("rules[0].resources")}},
		{name: "no non-resource URLs in roles", mutate: func(r *rbacv1.Role) {
			r.Rules = append(r.Rules, rbacv1.PolicyRule{NonResourceURLs: []string{"/healthz"}, Verbs: []string{"get"}})
		}, want: []want{invalid("rules[1].nonResourceURLs")}},
		{name: "namespace required", mutate: func(r *rbacv1.Role) { r.Namespace = "" }, want: []want{required("metadata.namespace")}},
	})
	runCreateCases(t, validClusterRole, []createCase[*rbacv1.ClusterRole]{
		{name: "mixed rule", mutate: func(r *rbacv1.ClusterRole) { r.Rules[1].Resources = []string{"pods"} }, want: []want{invalid("rules[1].nonResourceURLs")}},
		{name: "aggregation rule", mutate: func(r *rbacv1.ClusterRole) {
			r.AggregationRule = &rbacv1.AggregationRule{}
		}, want: []want{required("aggregationRule.clusterRoleSelectors")}},
		{name: "namespace forbidden", mutate: func(r *rbacv1.ClusterRole) { r.Namespace = "default" }, want: []want{forbidden("metadata.namespace")}},
	})
	runCreateCases(t, validRoleBinding, []createCase[*rbacv1.RoleBinding]{
		{name: "role ref", mutate: func(b *rbacv1.RoleBinding) {
			b.RoleRef = rbacv1.RoleRef{APIGroup: "rbac", Kind: "Group"}
		}, want: []want{notSupported("roleRef.apiGroup"), notSupported("roleRef.kind"), required("roleRef.name")}},
		{name: "subjects", mutate: func(b *rbacv1.RoleBinding) {
			b.Subjects = []rbacv1.Subject{
				{Kind: "Robot", Name: "r2"},
				{Kind: rbacv1.UserKind, Name: "jane"},
				{Kind: rbacv1.ServiceAccountKind, APIGroup: rbacv1.GroupName, Name: "Bad_SA"},
				{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName},
			}
		}, want: []want{
			notSupported("subjects[0].kind"),
			notSupported("subjects[1].apiGroup"),
			invalid("subjects[2].name"),
			notSupported("subjects[2].apiGroup"),
			required("subjects[3].name"),
		}},
	})
	runUpdateCases(t, validRoleBinding, ValidateUpdate, []updateCase[*rbacv1.RoleBinding]{
		{name: "subjects may change", mutate: func(n, _ *rbacv1.RoleBinding) { n.Subjects = n.Subjects[:1] }},
		{name: "roleRef is immutable", mutate: func(n, _ *rbacv1.RoleBinding) { n.RoleRef.Name = "pod-writer" }, want: []want{invalid("roleRef")}},
	})
	runCreateCases(t, validClusterRoleBinding, []createCase[*rbacv1.ClusterRoleBinding]{
		{name: "only ClusterRoles", mutate: func(b *rbacv1.ClusterRoleBinding) { b.RoleRef.Kind = "Role" }, want: []want{notSupported("roleRef.kind")}},
		{name: "service accounts need a namespace", mutate: func(b *rbacv1.ClusterRoleBinding) {
			b.Subjects = []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "default"}}
		}, want: []want{required("subjects[0].namespace")}},
	})
	runUpdateCases(t, validClusterRoleBinding, ValidateUpdate, []updateCase[*rbacv1.ClusterRoleBinding]{
		{name: "roleRef is immutable", mutate: func(n, _ *rbacv1.ClusterRoleBinding) { n.RoleRef.Name = "admin" }, want: []want{invalid("roleRef")}},
	})
}

func TestValidateLease(t *testing.T) {
	runCreateCases(t, validLease, []createCase[*coordinationv1.Lease]{
		{name: "duration", mutate: func(l *coordinationv1.Lease) { l.Spec.LeaseDurationSeconds = ptr.To[int32](0) }, want: []want{invalid("spec.leaseDurationSeconds")}},
		{name: "transitions", mutate: func(l *coordinationv1.Lease) { l.Spec.LeaseTransitions = ptr.To[int32](-1) }, want: []want{invalid("spec.leaseTransitions")}},
		{name: "preferred holder needs strategy", mutate: func(l *coordinationv1.Lease) { l.Spec.PreferredHolder = ptr.To("node-2") }, want: []want{forbidden("spec.preferredHolder")}},
		{name: "strategy", mutate: func(l *coordinationv1.Lease) {
			l.Spec.Strategy = ptr.To[coordinationv1.CoordinatedLeaseStrategy]("Newest")
		}, want: []want{notSupported("spec.strategy")}},
	})
}

func TestValidateEndpointSlice(t *testing.T) {
	runCreateCases(t, validEndpointSlice, []createCase[*discoveryv1.EndpointSlice]{
		{name: "address type", mutate: func(e *discoveryv1.EndpointSlice) { e.AddressType = "MAC" }, want: []want{notSupported("addressType")}},
		{name: "address type required", mutate: func(e *discoveryv1.EndpointSlice) { e.AddressType = "" }, want: []want{required("addressType")}},
		{name: "addresses", mutate: func(e *discoveryv1.EndpointSlice) {
			e.Endpoints = append(e.Endpoints,
				discoveryv1.Endpoint{},
				discoveryv1.Endpoint{Addresses: []string{"fd00::5"}},
				discoveryv1.Endpoint{Addresses: []string{"169.254.1.1"}},
			)
		}, want: []want{required("endpoints[1].addresses"), invalid("endpoints[2].addresses[0]"), invalid("endpoints[3].addresses[0]")}},
		{name: "fqdn", mutate: func(e *discoveryv1.EndpointSlice) {
			e.AddressType = discoveryv1.AddressTypeFQDN
			e.Endpoints[0].Addresses = []string{"web.example.com"}
		}},
		{name: "ports", mutate: func(e *discoveryv1.EndpointSlice) {
			e.Ports = append(e.Ports,
				discoveryv1.EndpointPort{Name: ptr.To("http"), Protocol: ptr.To(corev1.ProtocolTCP)},
				discoveryv1.EndpointPort{Name: ptr.To("metrics")},
				discoveryv1.EndpointPort{Name: ptr.To("Bad"), Protocol: ptr.To(corev1.ProtocolUDP)},
			)
		}, want: []want{duplicate("ports[1].name"), required("ports[2].protocol"), invalid("ports[3].name")}},
		{name: "hostname and node", mutate: func(e *discoveryv1.EndpointSlice) {
			e.Endpoints[0].Hostname = ptr.To("web.0")
			e.Endpoints[0].NodeName = ptr.To("Node_1")
		}, want: []want{invalid("endpoints[0].hostname"), invalid("endpoints[0].nodeName")}},
	})
	runUpdateCases(t, validEndpointSlice, ValidateUpdate, []updateCase[*discoveryv1.EndpointSlice]{
		{name: "address type is immutable", mutate: func(n, _ *discoveryv1.EndpointSlice) {
			n.AddressType = discoveryv1.AddressTypeIPv6
			n.Endpoints[0].Addresses = []string{"fd00::5"}
		}, want: []want{invalid("addressType")}},
	})
}

func TestValidatePriorityClass(t *testing.T) {
	runCreateCases(t, validPriorityClass, []createCase[*schedulingv1.PriorityClass]{
		{name: "value too high", mutate: func(p *schedulingv1.PriorityClass) { p.Value = 1000000001 }, want: []want{forbidden("value")}},
		{name: "system prefix", mutate: func(p *schedulingv1.PriorityClass) { p.Name = "system-custom" }, want: []want{forbidden("metadata.name")}},
		{name: "known system class", mutate: func(p *schedulingv1.PriorityClass) { p.Name = "system-node-critical"; p.Value = 2000001000 }},
		{name: "preemption policy", mutate: func(p *schedulingv1.PriorityClass) { p.PreemptionPolicy = ptr.To[corev1.PreemptionPolicy]("Always") }, want: []want{notSupported("preemptionPolicy")}},
	})
	runUpdateCases(t, validPriorityClass, ValidateUpdate, []updateCase[*schedulingv1.PriorityClass]{
		{name: "description may change", mutate: func(n, _ *schedulingv1.PriorityClass) { n.Description = "important" }},
		{name: "value is immutable", mutate: func(n, _ *schedulingv1.PriorityClass) { n.Value = 5 }, want: []want{forbidden("value")}},
		{name: "preemption policy is immutable", mutate: func(n, _ *schedulingv1.PriorityClass) { n.PreemptionPolicy = ptr.To(corev1.PreemptNever) }, want: []want{invalid("preemptionPolicy")}},
	})
}

func TestValidatePodDisruptionBudget(t *testing.T) {
	runCreateCases(t, validPDB, []createCase[*policyv1.PodDisruptionBudget]{
		{name: "both set", mutate: func(p *policyv1.PodDisruptionBudget) { p.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(1)) }, want: []want{invalid("spec")}},
		{name: "max unavailable alone", mutate: func(p *policyv1.PodDisruptionBudget) {
			p.Spec.MinAvailable = nil
			p.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(1))
		}},
		{name: "bad values", mutate: func(p *policyv1.PodDisruptionBudget) {
			p.Spec.MinAvailable = ptr.To(intstr.FromString("150%"))
		}, want: []want{invalid("spec.minAvailable")}},
		{name: "negative", mutate: func(p *policyv1.PodDisruptionBudget) { p.Spec.MinAvailable = ptr.To(intstr.FromInt32(-1)) }, want: []want{invalid("spec.minAvailable")}},
		{name: "selector", mutate: func(p *policyv1.PodDisruptionBudget) {
			p.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"bad key": "x"}}
		}, want: []want{invalid("spec.selector.matchLabels")}},
		{name: "eviction policy", mutate: func(p *policyv1.PodDisruptionBudget) {
			p.Spec.UnhealthyPodEvictionPolicy = ptr.To[policyv1.UnhealthyPodEvictionPolicyType]("Never")
		}, want: []want{notSupported("spec.unhealthyPodEvictionPolicy")}},
	})
	runUpdateCases(t, validPDB, ValidateUpdate, []updateCase[*policyv1.PodDisruptionBudget]{
		{name: "spec may change", mutate: func(n, _ *policyv1.PodDisruptionBudget) { n.Spec.MinAvailable = ptr.To(intstr.FromInt32(2)) }},
	})
	runUpdateCases(t, validPDB, ValidateStatusUpdate, []updateCase[*policyv1.PodDisruptionBudget]{
		{name: "status", mutate: func(n, _ *policyv1.PodDisruptionBudget) {
			n.Status.DisruptionsAllowed = -1
			n.Status.Conditions = []metav1.Condition{{Type: "DisruptionAllowed", Status: "Maybe", Reason: "Sufficient", LastTransitionTime: metav1.Now()}}
		}, want: []want{invalid("status.disruptionsAllowed"), notSupported("status.conditions[0].status")}},
	})
}

func TestValidateEviction(t *testing.T) {
	valid := func() *policyv1.Eviction {
		return &policyv1.Eviction{ObjectMeta: meta("web-0"), DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](30)}}
	}
	runCreateCases(t, valid, []createCase[*policyv1.Eviction]{
		{name: "name required", mutate: func(e *policyv1.Eviction) { e.Name = "" }, want: []want{required("metadata.name")}},
		{name: "delete options", mutate: func(e *policyv1.Eviction) {
			e.DeleteOptions.OrphanDependents = ptr.To(true)
			e.DeleteOptions.PropagationPolicy = ptr.To(metav1.DeletePropagationForeground)
		}, want: []want{invalid("deleteOptions.propagationPolicy")}},
	})
}

func TestDispatch(t *testing.T) {
	t.Run("unknown types are not validated", func(t *testing.T) {
		if errs := Validate(&metav1.Status{}); errs != nil {
			t.Errorf("got %v", errs)
		}
		if errs := ValidateUpdate(&metav1.Status{}, &metav1.Status{}); errs != nil {
			t.Errorf("got %v", errs)
		}
		if errs := ValidateStatusUpdate(&metav1.Status{}, &metav1.Status{}); errs != nil {
			t.Errorf("got %v", errs)
		}
	})
	t.Run("mismatched types", func(t *testing.T) {
		expectErrors(t, ValidateUpdate(validPod(), validService()), want{"<nil>", field.ErrorTypeInternal})
		expectErrors(t, ValidateUpdate(validPod(), nil), want{"<nil>", field.ErrorTypeInternal})
	})
	t.Run("status update of a type without status", func(t *testing.T) {
		old, cm := &corev1.ConfigMap{ObjectMeta: meta("a")}, &corev1.ConfigMap{ObjectMeta: meta("a")}
		cm.Namespace = "b"
		expectErrors(t, ValidateStatusUpdate(cm, old), invalid("metadata.namespace"))
	})
	t.Run("error message format", func(t *testing.T) {
		d := validDeployment()
		d.Spec.Selector.MatchLabels = map[string]string{"app": "db"}
		errs := Validate(d)
		expectDetail(t, errs, "spec.template.metadata.labels: Invalid value: ")
		expectDetail(t, errs, "`selector` does not match template `labels`")
	})
}
