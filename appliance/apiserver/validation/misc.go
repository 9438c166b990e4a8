package validation

import (
	"fmt"
	"net/netip"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ---------------------------------------------------------------------------
// Lease (coordination/v1)

func validateLease(lease *coordinationv1.Lease) field.ErrorList {
	allErrs := validateObjectMeta(&lease.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateLeaseSpec(&lease.Spec, field.NewPath("spec"))...)
}

func validateLeaseUpdate(lease, old *coordinationv1.Lease) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&lease.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateLeaseSpec(&lease.Spec, field.NewPath("spec"))...)
}

func validateLeaseSpec(spec *coordinationv1.LeaseSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if spec.LeaseDurationSeconds != nil && *spec.LeaseDurationSeconds <= 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("leaseDurationSeconds"), *spec.LeaseDurationSeconds, "must be greater than 0"))
	}
	if spec.LeaseTransitions != nil && *spec.LeaseTransitions < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("leaseTransitions"), *spec.LeaseTransitions, isNegativeErrorMsg))
	}
	if spec.Strategy != nil {
		sp := fldPath.Child("strategy")
		switch s := string(*spec.Strategy); {
		case s == string(coordinationv1.OldestEmulationVersion):
		case s == "":
			allErrs = append(allErrs, field.Required(sp, ""))
		case !strings.Contains(s, "/"):
			allErrs = append(allErrs, field.NotSupported(sp, s, []string{string(coordinationv1.OldestEmulationVersion)}))
		default:
			allErrs = append(allErrs, validateQualifiedName(s, sp)...)
		}
	}
	if spec.PreferredHolder != nil && *spec.PreferredHolder != "" && (spec.Strategy == nil || *spec.Strategy == "") {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return allErrs
}

// ---------------------------------------------------------------------------
// EndpointSlice (discovery/v1)

const (
	maxEndpointSliceTopologyLabels = 16
	maxEndpointSliceAddresses      = 100
	maxEndpointSlicePorts          = 20000
	maxEndpointSliceEndpoints      = 1000
	maxEndpointSliceZoneHints      = 8
	maxEndpointSliceNodeHints      = 8
)

var supportedAddressTypes = sets.New(discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN)

func validateEndpointSlice(es *discoveryv1.EndpointSlice) field.ErrorList {
	allErrs := validateObjectMeta(&es.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateEndpointSliceFields(es)...)
}

func validateEndpointSliceUpdate(es, old *discoveryv1.EndpointSlice) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&es.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateEndpointSliceFields(es)...)
	return append(allErrs, validateImmutableField(es.AddressType, old.AddressType, field.NewPath("addressType"))...)
}

func validateEndpointSliceFields(es *discoveryv1.EndpointSlice) field.ErrorList {
	var allErrs field.ErrorList
	atPath := field.NewPath("addressType")
	switch {
	case es.AddressType == "":
		allErrs = append(allErrs, field.Required(atPath, ""))
	case !supportedAddressTypes.Has(es.AddressType):
		allErrs = append(allErrs, field.NotSupported(atPath, es.AddressType, sets.List(supportedAddressTypes)))
	}
	allErrs = append(allErrs, validateSliceEndpoints(es.Endpoints, es.AddressType, field.NewPath("endpoints"))...)
	return append(allErrs, validateSlicePorts(es.Ports, field.NewPath("ports"))...)
}

func validateSliceEndpoints(endpoints []discoveryv1.Endpoint, addrType discoveryv1.AddressType, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(endpoints) > maxEndpointSliceEndpoints {
		return append(allErrs, field.TooMany(fldPath, len(endpoints), maxEndpointSliceEndpoints))
	}
	for i, ep := range endpoints {
		p := fldPath.Index(i)
		ap := p.Child("addresses")
		if len(ep.Addresses) == 0 {
			allErrs = append(allErrs, field.Required(ap, "must contain at least 1 address"))
		} else if len(ep.Addresses) > maxEndpointSliceAddresses {
			allErrs = append(allErrs, field.TooMany(ap, len(ep.Addresses), maxEndpointSliceAddresses))
		}
		for j, address := range ep.Addresses {
			allErrs = append(allErrs, validateSliceAddress(address, addrType, ap.Index(j))...)
		}
		if ep.NodeName != nil {
			allErrs = append(allErrs, validateName(*ep.NodeName, nameIsDNSSubdomain, p.Child("nodeName"))...)
		}
		tp := p.Child("deprecatedTopology")
		if len(ep.DeprecatedTopology) > maxEndpointSliceTopologyLabels {
			allErrs = append(allErrs, field.TooMany(tp, len(ep.DeprecatedTopology), maxEndpointSliceTopologyLabels))
		}
		allErrs = append(allErrs, validateLabels(ep.DeprecatedTopology, tp)...)
		if ep.Hostname != nil {
			allErrs = append(allErrs, validateDNS1123Label(*ep.Hostname, p.Child("hostname"))...)
		}
		if h := ep.Hints; h != nil {
			hp := p.Child("hints")
			if len(h.ForZones) > maxEndpointSliceZoneHints {
				allErrs = append(allErrs, field.TooMany(hp.Child("forZones"), len(h.ForZones), maxEndpointSliceZoneHints))
			}
			zones := sets.New[string]()
			for j, z := range h.ForZones {
				zp := hp.Child("forZones").Index(j).Child("name")
				if zones.Has(z.Name) {
					allErrs = append(allErrs, field.Duplicate(zp, z.Name))
				}
				zones.Insert(z.Name)
				allErrs = append(allErrs, validateLabelValue(z.Name, zp)...)
			}
			if len(h.ForNodes) > maxEndpointSliceNodeHints {
				allErrs = append(allErrs, field.TooMany(hp.Child("forNodes"), len(h.ForNodes), maxEndpointSliceNodeHints))
			}
			nodes := sets.New[string]()
			for j, n := range h.ForNodes {
				np := hp.Child("forNodes").Index(j).Child("name")
				if nodes.Has(n.Name) {
					allErrs = append(allErrs, field.Duplicate(np, n.Name))
				}
				nodes.Insert(n.Name)
				allErrs = append(allErrs, validateName(n.Name, nameIsDNSSubdomain, np)...)
			}
		}
	}
	return allErrs
}

func validateLabelValue(v string, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range validation.IsValidLabelValue(v) {
		allErrs = append(allErrs, field.Invalid(p, v, msg))
	}
	return allErrs
}

func validateSliceAddress(address string, addrType discoveryv1.AddressType, p *field.Path) field.ErrorList {
	switch addrType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
		errs := validation.IsValidIP(p, address)
		if len(errs) > 0 {
			return errs
		}
		addr, err := netip.ParseAddr(address)
		if err == nil {
			if addrType == discoveryv1.AddressTypeIPv4 && !addr.Is4() {
				return field.ErrorList{field.Invalid(p, address, "must be a valid IPv4 address")}
			}
			if addrType == discoveryv1.AddressTypeIPv6 && !addr.Is6() {
				return field.ErrorList{field.Invalid(p, address, "must be a valid IPv6 address")}
			}
		}
		return validateNonSpecialIP(address, p)
	case discoveryv1.AddressTypeFQDN:
		return validation.IsFullyQualifiedDomainName(p, address)
	}
	return nil
}

func validateSlicePorts(ports []discoveryv1.EndpointPort, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(ports) > maxEndpointSlicePorts {
		return append(allErrs, field.TooMany(fldPath, len(ports), maxEndpointSlicePorts))
	}
	names := sets.New[string]()
	for i, port := range ports {
		p := fldPath.Index(i)
		name := ""
		if port.Name != nil {
			name = *port.Name
		}
		if len(name) > 0 {
			allErrs = append(allErrs, validateDNS1123Label(name, p.Child("name"))...)
		}
		if names.Has(name) {
			allErrs = append(allErrs, field.Duplicate(p.Child("name"), name))
		}
		names.Insert(name)
		if port.Protocol == nil {
			allErrs = append(allErrs, field.Required(p.Child("protocol"), ""))
		} else if !supportedPortProtocols.Has(*port.Protocol) {
			allErrs = append(allErrs, field.NotSupported(p.Child("protocol"), *port.Protocol, sets.List(supportedPortProtocols)))
		}
		if port.AppProtocol != nil {
			allErrs = append(allErrs, validateQualifiedName(*port.AppProtocol, p.Child("appProtocol"))...)
		}
	}
	return allErrs
}

// ---------------------------------------------------------------------------
// PriorityClass (scheduling/v1)

const (
	highestUserDefinablePriority = int32(1000000000)
	systemPriorityClassPrefix    = "system-"
)

// systemPriorityClasses are the priority classes Kubernetes creates itself.
var systemPriorityClasses = map[string]int32{
	"system-cluster-critical": 2 * highestUserDefinablePriority,
	"system-node-critical":    2*highestUserDefinablePriority + 1000,
}

func validatePriorityClass(pc *schedulingv1.PriorityClass) field.ErrorList {
	allErrs := validateObjectMeta(&pc.ObjectMeta, false, nameIsDNSSubdomain)
	if strings.HasPrefix(pc.Name, systemPriorityClassPrefix) {
		if err := checkSystemPriorityClass(pc); err != nil {
			allErrs = append(allErrs, field.Forbidden(metadataPath.Child("name"), "priority class names with '"+systemPriorityClassPrefix+"' prefix are reserved for system use only. error: "+err.Error()))
		}
	} else if pc.Value > highestUserDefinablePriority {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("value"), fmt.Sprintf("maximum allowed value of a user defined priority is %v", highestUserDefinablePriority)))
	}
	if pc.PreemptionPolicy != nil {
		allErrs = append(allErrs, validatePreemptionPolicy(pc.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
	}
	return allErrs
}

func checkSystemPriorityClass(pc *schedulingv1.PriorityClass) error {
	value, ok := systemPriorityClasses[pc.Name]
	if !ok {
		return fmt.Errorf("%v is not a known system priority class", pc.Name)
	}
	if value != pc.Value {
		return fmt.Errorf("value of %v PriorityClass must be %v", pc.Name, value)
	}
	if pc.GlobalDefault {
		return fmt.Errorf("globalDefault of %v PriorityClass must be %v", pc.Name, false)
	}
	return nil
}

func validatePriorityClassUpdate(pc, old *schedulingv1.PriorityClass) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&pc.ObjectMeta, &old.ObjectMeta)
	if pc.Value != old.Value {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
	}
	return append(allErrs, validateImmutableField(pc.PreemptionPolicy, old.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
}

// ---------------------------------------------------------------------------
// PodDisruptionBudget and Eviction (policy/v1)

var supportedUnhealthyPodEvictionPolicies = []policyv1.UnhealthyPodEvictionPolicyType{policyv1.AlwaysAllow, policyv1.IfHealthyBudget}

func validatePodDisruptionBudget(pdb *policyv1.PodDisruptionBudget) field.ErrorList {
	allErrs := validateObjectMeta(&pdb.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validatePodDisruptionBudgetSpec(&pdb.Spec, field.NewPath("spec"))...)
}

func validatePodDisruptionBudgetUpdate(pdb, old *policyv1.PodDisruptionBudget) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&pdb.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validatePodDisruptionBudgetSpec(&pdb.Spec, field.NewPath("spec"))...)
}

func validatePodDisruptionBudgetSpec(spec *policyv1.PodDisruptionBudgetSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		allErrs = append(allErrs, field.Invalid(fldPath, spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	if spec.MinAvailable != nil {
		allErrs = append(allErrs, validatePositiveIntOrPercent(*spec.MinAvailable, fldPath.Child("minAvailable"))...)
		allErrs = append(allErrs, isNotMoreThan100Percent(*spec.MinAvailable, fldPath.Child("minAvailable"))...)
	}
	if spec.MaxUnavailable != nil {
		allErrs = append(allErrs, validatePositiveIntOrPercent(*spec.MaxUnavailable, fldPath.Child("maxUnavailable"))...)
		allErrs = append(allErrs, isNotMoreThan100Percent(*spec.MaxUnavailable, fldPath.Child("maxUnavailable"))...)
	}
	allErrs = append(allErrs, metav1validation.ValidateLabelSelector(spec.Selector, strictSelectorOpts, fldPath.Child("selector"))...)
	if p := spec.UnhealthyPodEvictionPolicy; p != nil && *p != policyv1.AlwaysAllow && *p != policyv1.IfHealthyBudget {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("unhealthyPodEvictionPolicy"), *p, supportedUnhealthyPodEvictionPolicies))
	}
	return allErrs
}

func validatePodDisruptionBudgetStatusUpdate(pdb, old *policyv1.PodDisruptionBudget) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&pdb.ObjectMeta, &old.ObjectMeta)
	p := field.NewPath("status")
	s := pdb.Status
	allErrs = append(allErrs, validateNonnegativeField(int64(s.DisruptionsAllowed), p.Child("disruptionsAllowed"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(s.CurrentHealthy), p.Child("currentHealthy"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(s.DesiredHealthy), p.Child("desiredHealthy"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(s.ExpectedPods), p.Child("expectedPods"))...)
	return append(allErrs, validateConditions(s.Conditions, p.Child("conditions"))...)
}

func validateEviction(ev *policyv1.Eviction) field.ErrorList {
	allErrs := validateObjectMeta(&ev.ObjectMeta, true, nameIsDNSSubdomain)
	if ev.DeleteOptions != nil {
		for _, e := range metav1validation.ValidateDeleteOptions(ev.DeleteOptions) {
			e.Field = "deleteOptions." + e.Field
			allErrs = append(allErrs, e)
		}
	}
	return allErrs
}
