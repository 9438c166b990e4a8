package validation

import (
	"fmt"
	"net/netip"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	maxLenIngressClassController = 250
	ingressClassScopeCluster     = "Cluster"
	ingressClassScopeNamespace   = "Namespace"
)

var (
	supportedPathTypes = sets.New(networkingv1.PathTypeExact, networkingv1.PathTypePrefix, networkingv1.PathTypeImplementationSpecific)
	// Sequences a path of type Exact or Prefix may not contain.
	invalidPathSequences = []string{"//", "/./", "/../", "%2f", "%2F"}
	invalidPathSuffixes  = []string{"/..", "/."}
)

// ---------------------------------------------------------------------------
// Ingress

func validateIngress(ing *networkingv1.Ingress) field.ErrorList {
	allErrs := validateObjectMeta(&ing.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateIngressSpec(&ing.Spec, field.NewPath("spec"))...)
}

func validateIngressUpdate(ing, old *networkingv1.Ingress) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&ing.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateIngressSpec(&ing.Spec, field.NewPath("spec"))...)
}

func validateIngressStatusUpdate(ing, old *networkingv1.Ingress) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&ing.ObjectMeta, &old.ObjectMeta)
	p := field.NewPath("status", "loadBalancer", "ingress")
	for i, lb := range ing.Status.LoadBalancer.Ingress {
		ip := p.Index(i)
		if len(lb.IP) > 0 {
			allErrs = append(allErrs, validation.IsValidIP(ip.Child("ip"), lb.IP)...)
		}
		if len(lb.Hostname) > 0 {
			allErrs = append(allErrs, validateDNS1123Subdomain(lb.Hostname, ip.Child("hostname"))...)
			if _, err := netip.ParseAddr(lb.Hostname); err == nil {
				allErrs = append(allErrs, field.Invalid(ip.Child("hostname"), lb.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return allErrs
}

func validateIngressSpec(spec *networkingv1.IngressSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if spec.DefaultBackend == nil && len(spec.Rules) == 0 {
		allErrs = append(allErrs, field.Invalid(fldPath, spec.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if spec.DefaultBackend != nil {
		allErrs = append(allErrs, validateIngressBackend(spec.DefaultBackend, fldPath.Child("defaultBackend"))...)
	}
	for i, rule := range spec.Rules {
		p := fldPath.Child("rules").Index(i)
		if len(rule.Host) > 0 {
			allErrs = append(allErrs, validateIngressHost(rule.Host, p.Child("host"))...)
		}
		if rule.HTTP != nil {
			allErrs = append(allErrs, validateHTTPIngressRule(rule.HTTP, p.Child("http"))...)
		}
	}
	for i, tls := range spec.TLS {
		p := fldPath.Child("tls").Index(i)
		for j, host := range tls.Hosts {
			hp := p.Child("hosts").Index(j)
			if strings.Contains(host, "*") {
				for _, msg := range validation.IsWildcardDNS1123Subdomain(host) {
					allErrs = append(allErrs, field.Invalid(hp, host, msg))
				}
				continue
			}
			allErrs = append(allErrs, validateDNS1123Subdomain(host, hp)...)
		}
		if len(tls.SecretName) > 0 {
			allErrs = append(allErrs, validateName(tls.SecretName, nameIsDNSSubdomain, p.Child("secretName"))...)
		}
	}
	if spec.IngressClassName != nil {
		allErrs = append(allErrs, validateName(*spec.IngressClassName, nameIsDNSSubdomain, fldPath.Child("ingressClassName"))...)
	}
	return allErrs
}

func validateIngressHost(host string, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if _, err := netip.ParseAddr(host); err == nil {
		allErrs = append(allErrs, field.Invalid(p, host, "must be a DNS name, not an IP address"))
	}
	if strings.Contains(host, "*") {
		for _, msg := range validation.IsWildcardDNS1123Subdomain(host) {
			allErrs = append(allErrs, field.Invalid(p, host, msg))
		}
		return allErrs
	}
	for _, msg := range validation.IsDNS1123Subdomain(host) {
		allErrs = append(allErrs, field.Invalid(p, host, msg))
	}
	return allErrs
}

func validateHTTPIngressRule(rule *networkingv1.HTTPIngressRuleValue, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(rule.Paths) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("paths"), ""))
	}
	for i, path := range rule.Paths {
		p := fldPath.Child("paths").Index(i)
		allErrs = append(allErrs, validateIngressPath(path.Path, path.PathType, p)...)
		allErrs = append(allErrs, validateIngressBackend(&path.Backend, p.Child("backend"))...)
	}
	return allErrs
}

func validateIngressPath(path string, pathType *networkingv1.PathType, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if pathType == nil {
		return append(allErrs, field.Required(fldPath.Child("pathType"), "pathType must be specified"))
	}
	switch *pathType {
	case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
		if !strings.HasPrefix(path, "/") {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("path"), path, "must be an absolute path"))
		}
		if len(path) > 0 {
			for _, seq := range invalidPathSequences {
				if strings.Contains(path, seq) {
					allErrs = append(allErrs, field.Invalid(fldPath.Child("path"), path, fmt.Sprintf("must not contain '%s'", seq)))
				}
			}
			for _, suffix := range invalidPathSuffixes {
				if strings.HasSuffix(path, suffix) {
					allErrs = append(allErrs, field.Invalid(fldPath.Child("path"), path, fmt.Sprintf("cannot end with '%s'", suffix)))
				}
			}
		}
	case networkingv1.PathTypeImplementationSpecific:
		if len(path) > 0 && !strings.HasPrefix(path, "/") {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("path"), path, "must be an absolute path"))
		}
	default:
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("pathType"), *pathType, sets.List(supportedPathTypes)))
	}
	return allErrs
}

func validateIngressBackend(backend *networkingv1.IngressBackend, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	hasResource, hasService := backend.Resource != nil, backend.Service != nil
	switch {
	case hasResource && hasService:
		return append(allErrs, field.Invalid(fldPath, "", "cannot set both resource and service backends"))
	case hasResource:
		allErrs = append(allErrs, validateTypedLocalObjectReference(backend.Resource.APIGroup, backend.Resource.Kind, backend.Resource.Name, fldPath.Child("resource"))...)
	case hasService:
		sp := fldPath.Child("service")
		if len(backend.Service.Name) == 0 {
			allErrs = append(allErrs, field.Required(sp.Child("name"), ""))
		} else {
			allErrs = append(allErrs, validateName(backend.Service.Name, nameIsDNSLabel, sp.Child("name"))...)
		}
		port := backend.Service.Port
		hasName, hasNumber := len(port.Name) > 0, port.Number != 0
		switch {
		case hasName && hasNumber:
			allErrs = append(allErrs, field.Invalid(fldPath, "", "cannot set both port name & port number"))
		case hasName:
			for _, msg := range validation.IsValidPortName(port.Name) {
				allErrs = append(allErrs, field.Invalid(sp.Child("port", "name"), port.Name, msg))
			}
		case hasNumber:
			allErrs = append(allErrs, validatePortNum(port.Number, sp.Child("port", "number"))...)
		default:
			allErrs = append(allErrs, field.Required(fldPath, "port name or number is required"))
		}
	default:
		allErrs = append(allErrs, field.Invalid(fldPath, "", "resource or service backend is required"))
	}
	return allErrs
}

func validateTypedLocalObjectReference(apiGroup *string, kind, name string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if apiGroup != nil {
		for _, msg := range validation.IsDNS1123Subdomain(*apiGroup) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("apiGroup"), *apiGroup, msg))
		}
	}
	if len(kind) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("kind"), ""))
	} else {
		allErrs = append(allErrs, validateName(kind, nameIsPathSegment, fldPath.Child("kind"))...)
	}
	if len(name) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("name"), ""))
	} else {
		allErrs = append(allErrs, validateName(name, nameIsPathSegment, fldPath.Child("name"))...)
	}
	return allErrs
}

// ---------------------------------------------------------------------------
// IngressClass

func validateIngressClass(ic *networkingv1.IngressClass) field.ErrorList {
	allErrs := validateObjectMeta(&ic.ObjectMeta, false, nameIsDNSSubdomain)
	return append(allErrs, validateIngressClassSpec(&ic.Spec, field.NewPath("spec"))...)
}

func validateIngressClassUpdate(ic, old *networkingv1.IngressClass) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&ic.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateIngressClassSpec(&ic.Spec, field.NewPath("spec"))...)
	if ic.Spec.Controller != old.Spec.Controller {
		allErrs = append(allErrs, field.Invalid(field.NewPath("spec", "controller"), ic.Spec.Controller, fieldImmutableErrorMsg))
	}
	return allErrs
}

func validateIngressClassSpec(spec *networkingv1.IngressClassSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	cp := fldPath.Child("controller")
	if len(spec.Controller) > maxLenIngressClassController {
		allErrs = append(allErrs, field.TooLong(cp, "", maxLenIngressClassController))
	}
	allErrs = append(allErrs, validation.IsDomainPrefixedPath(cp, spec.Controller)...)
	if params := spec.Parameters; params != nil {
		p := fldPath.Child("parameters")
		allErrs = append(allErrs, validateTypedLocalObjectReference(params.APIGroup, params.Kind, params.Name, p)...)
		if params.Scope == nil {
			allErrs = append(allErrs, field.Required(p.Child("scope"), ""))
		} else {
			switch *params.Scope {
			case ingressClassScopeCluster:
				if params.Namespace != nil {
					allErrs = append(allErrs, field.Forbidden(p.Child("namespace"), "`parameters.scope` is set to 'Cluster'"))
				}
			case ingressClassScopeNamespace:
				if params.Namespace == nil {
					allErrs = append(allErrs, field.Required(p.Child("namespace"), "`parameters.scope` is set to 'Namespace'"))
				} else {
					allErrs = append(allErrs, validateName(*params.Namespace, nameIsDNSLabel, p.Child("namespace"))...)
				}
			default:
				allErrs = append(allErrs, field.NotSupported(p.Child("scope"), *params.Scope, []string{ingressClassScopeCluster, ingressClassScopeNamespace}))
			}
		}
	}
	return allErrs
}
