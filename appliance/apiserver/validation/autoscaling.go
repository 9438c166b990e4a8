package validation

import (
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	hpaMaxPeriodSeconds              = 1800
	hpaMaxStabilizationWindowSeconds = 3600
	hpaMinReplicasLowerBound         = 1
)

var (
	validMetricSourceTypes = []autoscalingv2.MetricSourceType{
		autoscalingv2.ContainerResourceMetricSourceType, autoscalingv2.ExternalMetricSourceType,
		autoscalingv2.ObjectMetricSourceType, autoscalingv2.PodsMetricSourceType, autoscalingv2.ResourceMetricSourceType,
	}
	validSelectPolicies = []autoscalingv2.ScalingPolicySelect{autoscalingv2.DisabledPolicySelect, autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect}
	validPolicyTypes    = []autoscalingv2.HPAScalingPolicyType{autoscalingv2.PercentScalingPolicy, autoscalingv2.PodsScalingPolicy}
)

func validateHPA(hpa *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	allErrs := validateObjectMeta(&hpa.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateHPASpec(&hpa.Spec, field.NewPath("spec"))...)
}

func validateHPAUpdate(hpa, old *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&hpa.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateHPASpec(&hpa.Spec, field.NewPath("spec"))...)
}

func validateHPAStatusUpdate(hpa, old *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&hpa.ObjectMeta, &old.ObjectMeta)
	p := field.NewPath("status")
	allErrs = append(allErrs, validateNonnegativeField(int64(hpa.Status.CurrentReplicas), p.Child("currentReplicas"))...)
	return append(allErrs, validateNonnegativeField(int64(hpa.Status.DesiredReplicas), p.Child("desiredReplicas"))...)
}

func validateHPASpec(spec *autoscalingv2.HorizontalPodAutoscalerSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if spec.MinReplicas != nil && *spec.MinReplicas < hpaMinReplicasLowerBound {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("minReplicas"), *spec.MinReplicas, fmt.Sprintf("must be greater than or equal to %d", hpaMinReplicasLowerBound)))
	}
	if spec.MaxReplicas < 1 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("maxReplicas"), spec.MaxReplicas, "must be greater than 0"))
	}
	if spec.MinReplicas != nil && spec.MaxReplicas < *spec.MinReplicas {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("maxReplicas"), spec.MaxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	if errs := validateCrossVersionObjectReference(spec.ScaleTargetRef, fldPath.Child("scaleTargetRef")); len(errs) > 0 {
		return append(allErrs, errs...)
	}
	if errs := validateMetrics(spec.Metrics, fldPath.Child("metrics")); len(errs) > 0 {
		return append(allErrs, errs...)
	}
	return append(allErrs, validateBehavior(spec.Behavior, fldPath.Child("behavior"))...)
}

func validateCrossVersionObjectReference(ref autoscalingv2.CrossVersionObjectReference, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(ref.Kind) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("kind"), ""))
	} else {
		for _, msg := range path.IsValidPathSegmentName(ref.Kind) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("kind"), ref.Kind, msg))
		}
	}
	if len(ref.Name) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("name"), ""))
	} else {
		for _, msg := range path.IsValidPathSegmentName(ref.Name) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("name"), ref.Name, msg))
		}
	}
	if len(ref.APIVersion) > 0 {
		if gv, err := schema.ParseGroupVersion(ref.APIVersion); err != nil || gv.Version == "" {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("apiVersion"), ref.APIVersion, "must be a valid group/version"))
		}
	}
	return allErrs
}

func validateMetrics(metrics []autoscalingv2.MetricSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, m := range metrics {
		allErrs = append(allErrs, validateMetricSpec(m, fldPath.Index(i))...)
	}
	return allErrs
}

func validateMetricSpec(spec autoscalingv2.MetricSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(spec.Type) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("type"), "must specify a metric source type"))
	}
	type source struct {
		name     string
		set      bool
		validate func(*field.Path) field.ErrorList
	}
	sources := []source{
		{"object", spec.Object != nil, func(p *field.Path) field.ErrorList { return validateObjectSource(spec.Object, p) }},
		{"external", spec.External != nil, func(p *field.Path) field.ErrorList { return validateExternalSource(spec.External, p) }},
		{"pods", spec.Pods != nil, func(p *field.Path) field.ErrorList { return validatePodsSource(spec.Pods, p) }},
		{"resource", spec.Resource != nil, func(p *field.Path) field.ErrorList {
			return validateResourceSource(spec.Resource.Name, "", spec.Resource.Target, p)
		}},
		{"containerResource", spec.ContainerResource != nil, func(p *field.Path) field.ErrorList {
			allErrs := validateResourceSource(spec.ContainerResource.Name, spec.ContainerResource.Container, spec.ContainerResource.Target, p)
			if len(spec.ContainerResource.Container) == 0 {
				allErrs = append(allErrs, field.Required(p.Child("container"), "must specify a container"))
			}
			return allErrs
		}},
	}
	present := 0
	for _, s := range sources {
		if s.set {
			present++
			if present == 1 {
				allErrs = append(allErrs, s.validate(fldPath.Child(s.name))...)
			}
		}
	}
	expected := ""
	switch spec.Type {
	case autoscalingv2.ObjectMetricSourceType:
		expected = "object"
	case autoscalingv2.PodsMetricSourceType:
		expected = "pods"
	case autoscalingv2.ResourceMetricSourceType:
		expected = "resource"
	case autoscalingv2.ExternalMetricSourceType:
		expected = "external"
	case autoscalingv2.ContainerResourceMetricSourceType:
		expected = "containerResource"
	default:
		if len(spec.Type) > 0 {
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("type"), spec.Type, validMetricSourceTypes))
		}
	}
	for _, s := range sources {
		if s.name == expected && !s.set {
			allErrs = append(allErrs, field.Required(fldPath.Child(s.name), "must populate information for the given metric source"))
		}
	}
	if present > 1 {
		for _, s := range sources {
			if s.set && s.name != expected {
				allErrs = append(allErrs, field.Forbidden(fldPath.Child(s.name), "must populate the given metric source only"))
			}
		}
	}
	return allErrs
}

func validateMetricIdentifier(id autoscalingv2.MetricIdentifier, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(id.Name) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("name"), "must specify a metric name"))
	} else {
		for _, msg := range path.IsValidPathSegmentName(id.Name) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("name"), id.Name, msg))
		}
	}
	if id.Selector != nil {
		allErrs = append(allErrs, metav1validation.ValidateLabelSelector(id.Selector, strictSelectorOpts, fldPath.Child("selector"))...)
	}
	return allErrs
}

func validateMetricTarget(mt autoscalingv2.MetricTarget, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(mt.Type) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("type"), "must specify a metric target type"))
	}
	if mt.Type != autoscalingv2.UtilizationMetricType && mt.Type != autoscalingv2.ValueMetricType && mt.Type != autoscalingv2.AverageValueMetricType {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("type"), mt.Type, "must be either Utilization, Value, or AverageValue"))
	}
	if mt.Value != nil && mt.Value.Sign() != 1 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("value"), mt.Value.String(), "must be positive"))
	}
	if mt.AverageValue != nil && mt.AverageValue.Sign() != 1 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("averageValue"), mt.AverageValue.String(), "must be positive"))
	}
	if mt.AverageUtilization != nil && *mt.AverageUtilization < 1 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("averageUtilization"), *mt.AverageUtilization, "must be greater than 0"))
	}
	return allErrs
}

func validateObjectSource(src *autoscalingv2.ObjectMetricSource, fldPath *field.Path) field.ErrorList {
	allErrs := validateCrossVersionObjectReference(src.DescribedObject, fldPath.Child("describedObject"))
	allErrs = append(allErrs, validateMetricIdentifier(src.Metric, fldPath.Child("metric"))...)
	allErrs = append(allErrs, validateMetricTarget(src.Target, fldPath.Child("target"))...)
	if src.Target.Value == nil && src.Target.AverageValue == nil {
		allErrs = append(allErrs, field.Required(fldPath.Child("target", "averageValue"), "must set either a target value or averageValue"))
	}
	return allErrs
}

func validateExternalSource(src *autoscalingv2.ExternalMetricSource, fldPath *field.Path) field.ErrorList {
	allErrs := validateMetricIdentifier(src.Metric, fldPath.Child("metric"))
	allErrs = append(allErrs, validateMetricTarget(src.Target, fldPath.Child("target"))...)
	if src.Target.Value == nil && src.Target.AverageValue == nil {
		allErrs = append(allErrs, field.Required(fldPath.Child("target", "averageValue"), "must set either a target value for metric or a per-pod target"))
	}
	if src.Target.Value != nil && src.Target.AverageValue != nil {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("target", "value"), "may not set both a target value for metric and a per-pod target"))
	}
	return allErrs
}

func validatePodsSource(src *autoscalingv2.PodsMetricSource, fldPath *field.Path) field.ErrorList {
	allErrs := validateMetricIdentifier(src.Metric, fldPath.Child("metric"))
	allErrs = append(allErrs, validateMetricTarget(src.Target, fldPath.Child("target"))...)
	if src.Target.AverageValue == nil {
		allErrs = append(allErrs, field.Required(fldPath.Child("target", "averageValue"), "must specify a positive target averageValue"))
	}
	return allErrs
}

func validateResourceSource(name corev1.ResourceName, container string, target autoscalingv2.MetricTarget, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(name) == 0 {
		allErrs = append(allErrs, field.Required(fldPath.Child("name"), "must specify a resource name"))
	} else {
		allErrs = append(allErrs, validateContainerResourceName(name, fldPath.Child("name"))...)
	}
	if len(container) > 0 {
		allErrs = append(allErrs, validateDNS1123Label(container, fldPath.Child("container"))...)
	}
	if target.AverageUtilization == nil && target.AverageValue == nil {
		allErrs = append(allErrs, field.Required(fldPath.Child("target", "averageUtilization"), "must set either a target raw value or a target utilization"))
	}
	if target.AverageUtilization != nil && target.AverageValue != nil {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("target", "averageValue"), "may not set both a target raw value and a target utilization"))
	}
	return append(allErrs, validateMetricTarget(target, fldPath.Child("target"))...)
}

func validateBehavior(b *autoscalingv2.HorizontalPodAutoscalerBehavior, fldPath *field.Path) field.ErrorList {
	if b == nil {
		return nil
	}
	allErrs := validateScalingRules(b.ScaleUp, fldPath.Child("scaleUp"))
	return append(allErrs, validateScalingRules(b.ScaleDown, fldPath.Child("scaleDown"))...)
}

func validateScalingRules(rules *autoscalingv2.HPAScalingRules, fldPath *field.Path) field.ErrorList {
	if rules == nil {
		return nil
	}
	var allErrs field.ErrorList
	if w := rules.StabilizationWindowSeconds; w != nil {
		if *w < 0 {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("stabilizationWindowSeconds"), *w, "must be greater than or equal to zero"))
		}
		if *w > hpaMaxStabilizationWindowSeconds {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("stabilizationWindowSeconds"), *w, fmt.Sprintf("must be less than or equal to %v", hpaMaxStabilizationWindowSeconds)))
		}
	}
	if sp := rules.SelectPolicy; sp != nil {
		switch *sp {
		case autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect, autoscalingv2.DisabledPolicySelect:
		default:
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("selectPolicy"), *sp, validSelectPolicies))
		}
	}
	pp := fldPath.Child("policies")
	if len(rules.Policies) == 0 {
		allErrs = append(allErrs, field.Required(pp, "must specify at least one Policy"))
	}
	for i, policy := range rules.Policies {
		p := pp.Index(i)
		if policy.Type != autoscalingv2.PodsScalingPolicy && policy.Type != autoscalingv2.PercentScalingPolicy {
			allErrs = append(allErrs, field.NotSupported(p.Child("type"), policy.Type, validPolicyTypes))
		}
		if policy.Value <= 0 {
			allErrs = append(allErrs, field.Invalid(p.Child("value"), policy.Value, isNotPositiveErrorMsg))
		}
		if policy.PeriodSeconds <= 0 {
			allErrs = append(allErrs, field.Invalid(p.Child("periodSeconds"), policy.PeriodSeconds, isNotPositiveErrorMsg))
		}
		if policy.PeriodSeconds > hpaMaxPeriodSeconds {
			allErrs = append(allErrs, field.Invalid(p.Child("periodSeconds"), policy.PeriodSeconds, fmt.Sprintf("must be less than or equal to %v", hpaMaxPeriodSeconds)))
		}
	}
	if rules.Tolerance != nil && rules.Tolerance.Sign() < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("tolerance"), rules.Tolerance.String(), "must be greater than or equal to zero"))
	}
	return allErrs
}
