package validation

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// RBAC objects use the minimal path-segment name rule.

func validateRole(role *rbacv1.Role) field.ErrorList {
	allErrs := validateObjectMeta(&role.ObjectMeta, true, nameIsPathSegment)
	return append(allErrs, validatePolicyRules(role.Rules, true)...)
}

func validateRoleUpdate(role, old *rbacv1.Role) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&role.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validatePolicyRules(role.Rules, true)...)
}

func validateClusterRole(role *rbacv1.ClusterRole) field.ErrorList {
	allErrs := validateObjectMeta(&role.ObjectMeta, false, nameIsPathSegment)
	return append(allErrs, validateClusterRoleFields(role)...)
}

func validateClusterRoleUpdate(role, old *rbacv1.ClusterRole) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&role.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateClusterRoleFields(role)...)
}

func validateClusterRoleFields(role *rbacv1.ClusterRole) field.ErrorList {
	allErrs := validatePolicyRules(role.Rules, false)
	if role.AggregationRule != nil {
		p := field.NewPath("aggregationRule", "clusterRoleSelectors")
		if len(role.AggregationRule.ClusterRoleSelectors) == 0 {
			allErrs = append(allErrs, field.Required(p, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
		}
		for i := range role.AggregationRule.ClusterRoleSelectors {
			sel := &role.AggregationRule.ClusterRoleSelectors[i]
			allErrs = append(allErrs, metav1validation.ValidateLabelSelector(sel, strictSelectorOpts, p.Index(i))...)
			if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
				allErrs = append(allErrs, field.Invalid(p.Index(i), sel, "invalid label selector."))
			}
		}
	}
	return allErrs
}

func validatePolicyRules(rules []rbacv1.PolicyRule, namespaced bool) field.ErrorList {
	var allErrs field.ErrorList
	for i, rule := range rules {
		allErrs = append(allErrs, validatePolicyRule(rule, namespaced, field.NewPath("rules").Index(i))...)
	}
	return allErrs
}

func validatePolicyRule(rule rbacv1.PolicyRule, namespaced bool, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(rule.Verbs) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("verbs"), "verbs must contain at least one value"))
	}
	if len(rule.NonResourceURLs) > 0 {
		if namespaced {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("nonResourceURLs"), rule.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
		}
		if len(rule.APIGroups) > 0 || len(rule.Resources) > 0 || len(rule.ResourceNames) > 0 {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("nonResourceURLs"), rule.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
		}
		return allErrs
	}
	if len(rule.APIGroups) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("apiGroups"), "resource rules must supply at least one api group"))
	}
	if len(rule.Resources) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("resources"), "resource rules must supply at least one resource"))
	}
	return allErrs
}

func validateRoleBinding(rb *rbacv1.RoleBinding) field.ErrorList {
	allErrs := validateObjectMeta(&rb.ObjectMeta, true, nameIsPathSegment)
	return append(allErrs, validateBindingFields(rb.RoleRef, rb.Subjects, true)...)
}

func validateRoleBindingUpdate(rb, old *rbacv1.RoleBinding) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&rb.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateBindingFields(rb.RoleRef, rb.Subjects, true)...)
	if old.RoleRef != rb.RoleRef {
		allErrs = append(allErrs, field.Invalid(field.NewPath("roleRef"), rb.RoleRef, "cannot change roleRef"))
	}
	return allErrs
}

func validateClusterRoleBinding(rb *rbacv1.ClusterRoleBinding) field.ErrorList {
	allErrs := validateObjectMeta(&rb.ObjectMeta, false, nameIsPathSegment)
	return append(allErrs, validateBindingFields(rb.RoleRef, rb.Subjects, false)...)
}

func validateClusterRoleBindingUpdate(rb, old *rbacv1.ClusterRoleBinding) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&rb.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateBindingFields(rb.RoleRef, rb.Subjects, false)...)
	if old.RoleRef != rb.RoleRef {
		allErrs = append(allErrs, field.Invalid(field.NewPath("roleRef"), rb.RoleRef, "cannot change roleRef"))
	}
	return allErrs
}

func validateBindingFields(ref rbacv1.RoleRef, subjects []rbacv1.Subject, namespaced bool) field.ErrorList {
	var allErrs field.ErrorList
	refPath := field.NewPath("roleRef")
	if ref.APIGroup != rbacv1.GroupName {
		allErrs = append(allErrs, field.NotSupported(refPath.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	if namespaced {
		if ref.Kind != "Role" && ref.Kind != "ClusterRole" {
			allErrs = append(allErrs, field.NotSupported(refPath.Child("kind"), ref.Kind, []string{"Role", "ClusterRole"}))
		}
	} else if ref.Kind != "ClusterRole" {
		allErrs = append(allErrs, field.NotSupported(refPath.Child("kind"), ref.Kind, []string{"ClusterRole"}))
	}
	if len(ref.Name) == 0 {
		allErrs = append(allErrs, field.Required(refPath.Child("name"), ""))
	} else {
		allErrs = append(allErrs, validateName(ref.Name, nameIsPathSegment, refPath.Child("name"))...)
	}
	for i, s := range subjects {
		allErrs = append(allErrs, validateSubject(s, namespaced, field.NewPath("subjects").Index(i))...)
	}
	return allErrs
}

func validateSubject(s rbacv1.Subject, namespaced bool, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(s.Name) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("name"), ""))
	}
	switch s.Kind {
	case rbacv1.ServiceAccountKind:
		if len(s.Name) > 0 {
			allErrs = append(allErrs, validateName(s.Name, nameIsDNSSubdomain, fldPath.Child("name"))...)
		}
		if len(s.APIGroup) > 0 {
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("apiGroup"), s.APIGroup, []string{""}))
		}
		if !namespaced && len(s.Namespace) == 0 {
			allErrs = append(allErrs, field.Required(fldPath.Child("namespace"), ""))
		}
	case rbacv1.UserKind, rbacv1.GroupKind:
		if s.APIGroup != rbacv1.GroupName {
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
		}
	default:
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("kind"), s.Kind, []string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
	}
	return allErrs
}
