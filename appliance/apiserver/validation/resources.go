package validation

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Resource names and quantities, following Kubernetes' core helper rules.

var standardContainerResources = sets.New(
	string(corev1.ResourceCPU),
	string(corev1.ResourceMemory),
	string(corev1.ResourceEphemeralStorage),
)

// standardQuotaResources are the unqualified names a ResourceQuota may use
// (hugepages are handled by prefix).
var standardQuotaResources = sets.New(
	string(corev1.ResourceCPU),
	string(corev1.ResourceMemory),
	string(corev1.ResourceEphemeralStorage),
	string(corev1.ResourceRequestsCPU),
	string(corev1.ResourceRequestsMemory),
	string(corev1.ResourceRequestsStorage),
	string(corev1.ResourceRequestsEphemeralStorage),
	string(corev1.ResourceLimitsCPU),
	string(corev1.ResourceLimitsMemory),
	string(corev1.ResourceLimitsEphemeralStorage),
	string(corev1.ResourcePods),
	string(corev1.ResourceQuotas),
	string(corev1.ResourceServices),
	string(corev1.ResourceReplicationControllers),
	string(corev1.ResourceSecrets),
	string(corev1.ResourcePersistentVolumeClaims),
	string(corev1.ResourceConfigMaps),
	string(corev1.ResourceServicesNodePorts),
	string(corev1.ResourceServicesLoadBalancers),
)

// standardResources are all the unqualified resource names Kubernetes knows.
var standardResources = standardQuotaResources.Union(sets.New(string(corev1.ResourceStorage)))

// integerResources must be given as whole numbers.
var integerResources = sets.New(
	string(corev1.ResourcePods),
	string(corev1.ResourceQuotas),
	string(corev1.ResourceServices),
	string(corev1.ResourceReplicationControllers),
	string(corev1.ResourceSecrets),
	string(corev1.ResourceConfigMaps),
	string(corev1.ResourcePersistentVolumeClaims),
	string(corev1.ResourceServicesNodePorts),
	string(corev1.ResourceServicesLoadBalancers),
)

func isHugePageResourceName(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

func isQuotaHugePageResourceName(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) ||
		strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix+corev1.ResourceHugePagesPrefix)
}

// isNativeResource: unqualified names and names in the kubernetes.io domain.
func isNativeResource(name corev1.ResourceName) bool {
	return !strings.Contains(string(name), "/") || strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
}

// isExtendedResourceName: a fully-qualified name outside kubernetes.io that
// can also be used in quota as "requests.<name>".
func isExtendedResourceName(name corev1.ResourceName) bool {
	if isNativeResource(name) || strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(validation.IsQualifiedName(corev1.DefaultResourceRequestsPrefix+string(name))) == 0
}

func isOvercommitAllowed(name corev1.ResourceName) bool {
	return isNativeResource(name) && !isHugePageResourceName(name)
}

func isIntegerResourceName(name corev1.ResourceName) bool {
	return integerResources.Has(string(name)) || isExtendedResourceName(name)
}

// validateResourceName validates a compute resource name.
func validateResourceName(value corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range validation.IsQualifiedName(string(value)) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	if len(allErrs) != 0 {
		return allErrs
	}
	if !strings.Contains(string(value), "/") {
		if !standardResources.Has(string(value)) && !isQuotaHugePageResourceName(value) {
			return append(allErrs, field.Invalid(fldPath, value, "must be a standard resource type or fully qualified"))
		}
	}
	return allErrs
}

// validateContainerResourceName validates the name of a container resource.
func validateContainerResourceName(value corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	allErrs := validateResourceName(value, fldPath)
	if !strings.Contains(string(value), "/") {
		if !standardContainerResources.Has(string(value)) && !isHugePageResourceName(value) {
			return append(allErrs, field.Invalid(fldPath, value, "must be a standard resource for containers"))
		}
	} else if !isNativeResource(value) {
		if !isExtendedResourceName(value) {
			return append(allErrs, field.Invalid(fldPath, value, "doesn't follow extended resource name standard"))
		}
	}
	return allErrs
}

// validatePodResourceName validates pod-level resource names (spec.resources).
func validatePodResourceName(value corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	allErrs := validateResourceName(value, fldPath)
	if len(allErrs) != 0 {
		return allErrs
	}
	if value != corev1.ResourceCPU && value != corev1.ResourceMemory && !isHugePageResourceName(value) {
		allErrs = append(allErrs, field.NotSupported(fldPath, value, []string{string(corev1.ResourceCPU), string(corev1.ResourceMemory), corev1.ResourceHugePagesPrefix + "*"}))
	}
	return allErrs
}

// validateQuotaResourceName validates the names a ResourceQuota may hold.
func validateQuotaResourceName(value corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	allErrs := validateResourceName(value, fldPath)
	if len(allErrs) == 0 && !strings.Contains(string(value), "/") {
		if !standardQuotaResources.Has(string(value)) && !isQuotaHugePageResourceName(value) {
			allErrs = append(allErrs, field.Invalid(fldPath, value, "must be a standard resource for quota"))
		}
	}
	return allErrs
}

func validateNonnegativeQuantity(value resource.Quantity, fldPath *field.Path) field.ErrorList {
	if value.Cmp(resource.Quantity{}) < 0 {
		return field.ErrorList{field.Invalid(fldPath, value.String(), isNegativeErrorMsg)}
	}
	return nil
}

func validatePositiveQuantity(value resource.Quantity, fldPath *field.Path) field.ErrorList {
	if value.Cmp(resource.Quantity{}) <= 0 {
		return field.ErrorList{field.Invalid(fldPath, value.String(), isNotPositiveErrorMsg)}
	}
	return nil
}

// validateResourceQuantityValue checks a quantity is non-negative, and whole
// for integer resources.
func validateResourceQuantityValue(name corev1.ResourceName, value resource.Quantity, fldPath *field.Path) field.ErrorList {
	allErrs := validateNonnegativeQuantity(value, fldPath)
	if isIntegerResourceName(name) && value.MilliValue()%1000 != 0 {
		allErrs = append(allErrs, field.Invalid(fldPath, value.String(), isNotIntegerErrorMsg))
	}
	return allErrs
}

func hugePageSize(name corev1.ResourceName) (resource.Quantity, error) {
	if !isHugePageResourceName(name) {
		return resource.Quantity{}, fmt.Errorf("resource name: %s is an invalid hugepage name", name)
	}
	q, err := resource.ParseQuantity(strings.TrimPrefix(string(name), corev1.ResourceHugePagesPrefix))
	if err != nil {
		return resource.Quantity{}, err
	}
	if q.Sign() <= 0 {
		return resource.Quantity{}, fmt.Errorf("invalid hugepage size: %s", q.String())
	}
	return q, nil
}

func validateHugePageValue(name corev1.ResourceName, value resource.Quantity, fldPath *field.Path) field.ErrorList {
	size, err := hugePageSize(name)
	if err == nil && size.MilliValue()%1000 == 0 && value.Value()%size.Value() == 0 {
		return nil
	}
	return field.ErrorList{field.Invalid(fldPath, value.String(), fmt.Sprintf("%s is not positive integer multiple of %s", value.String(), name))}
}

// validateResourceRequirements validates limits and requests: names,
// quantities, requests <= limits, and the rules for resources that may not be
// overcommitted.
func validateResourceRequirements(req *corev1.ResourceRequirements, nameFn func(corev1.ResourceName, *field.Path) field.ErrorList, podClaimNames sets.Set[string], fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	limPath := fldPath.Child("limits")
	reqPath := fldPath.Child("requests")
	limHasCPUOrMemory, reqHasCPUOrMemory := false, false
	limHasHugePages, reqHasHugePages := false, false

	for _, name := range sortedResourceNames(req.Limits) {
		quantity := req.Limits[name]
		p := limPath.Key(string(name))
		allErrs = append(allErrs, nameFn(name, p)...)
		allErrs = append(allErrs, validateResourceQuantityValue(name, quantity, p)...)
		if isHugePageResourceName(name) {
			limHasHugePages = true
			allErrs = append(allErrs, validateHugePageValue(name, quantity, p)...)
		}
		if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
			limHasCPUOrMemory = true
		}
	}
	for _, name := range sortedResourceNames(req.Requests) {
		quantity := req.Requests[name]
		p := reqPath.Key(string(name))
		allErrs = append(allErrs, nameFn(name, p)...)
		allErrs = append(allErrs, validateResourceQuantityValue(name, quantity, p)...)
		if limit, ok := req.Limits[name]; ok {
			if quantity.Cmp(limit) != 0 && !isOvercommitAllowed(name) {
				allErrs = append(allErrs, field.Invalid(p, quantity.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String())))
			} else if quantity.Cmp(limit) > 0 {
				allErrs = append(allErrs, field.Invalid(p, quantity.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
			}
		} else if !isOvercommitAllowed(name) {
			allErrs = append(allErrs, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		}
		if isHugePageResourceName(name) {
			reqHasHugePages = true
			allErrs = append(allErrs, validateHugePageValue(name, quantity, p)...)
		}
		if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
			reqHasCPUOrMemory = true
		}
	}
	if !limHasCPUOrMemory && !reqHasCPUOrMemory && (limHasHugePages || reqHasHugePages) {
		allErrs = append(allErrs, field.Forbidden(fldPath, "HugePages require cpu or memory"))
	}
	allErrs = append(allErrs, validateResourceClaimNames(req.Claims, podClaimNames, fldPath.Child("claims"))...)
	return allErrs
}

// validateResourceClaimNames checks that container claims refer to entries
// of spec.resourceClaims.
func validateResourceClaimNames(claims []corev1.ResourceClaim, podClaimNames sets.Set[string], fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	seen := sets.New[string]()
	for i, claim := range claims {
		p := fldPath.Index(i)
		if claim.Name == "" {
			allErrs = append(allErrs, field.Required(p, ""))
			continue
		}
		key := claim.Name
		if claim.Request != "" {
			allErrs = append(allErrs, validateDNS1123Label(claim.Request, p.Child("request"))...)
			key += "/" + claim.Request
		}
		if seen.Has(key) || seen.Has(claim.Name) {
			allErrs = append(allErrs, field.Duplicate(p, key))
		}
		seen.Insert(key)
		if !podClaimNames.Has(claim.Name) {
			e := field.NotFound(p, claim.Name)
			e.Detail = "must be one of the names in pod.spec.resourceClaims"
			if podClaimNames.Len() == 0 {
				e.Detail += " which is empty"
			} else {
				e.Detail += ": " + strings.Join(sets.List(podClaimNames), ", ")
			}
			allErrs = append(allErrs, e)
		}
	}
	return allErrs
}

func sortedResourceNames(list corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(list))
	for name := range list {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func resourceOne() *resource.Quantity { return resource.NewQuantity(1, resource.DecimalSI) }
