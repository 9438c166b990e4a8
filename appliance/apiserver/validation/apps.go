package validation

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateWorkloadSelector checks a controller's selector: required, valid
// and not empty. It returns the parsed selector when usable.
func validateWorkloadSelector(selector *metav1.LabelSelector, kind string, fldPath *field.Path) (labels.Selector, field.ErrorList) {
	if selector == nil {
		return nil, field.ErrorList{field.Required(fldPath, "")}
	}
	allErrs := metav1validation.ValidateLabelSelector(selector, strictSelectorOpts, fldPath)
	if len(selector.MatchLabels)+len(selector.MatchExpressions) == 0 {
		allErrs = append(allErrs, field.Invalid(fldPath, selector, fmt.Sprintf("empty selector is invalid for %s", kind)))
	}
	s, err := metav1.LabelSelectorAsSelector(selector)
	if err != nil {
		allErrs = append(allErrs, field.Invalid(fldPath, selector, "invalid label selector"))
		return nil, allErrs
	}
	return s, allErrs
}

// validateTemplateForSelector checks that the selector matches the template
// labels, validates the template, and requires restartPolicy Always.
func validateTemplateForSelector(template *corev1.PodTemplateSpec, selector labels.Selector, extraVolumes []corev1.Volume, kind string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if selector != nil && !selector.Empty() && !selector.Matches(labels.Set(template.Labels)) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("metadata", "labels"), template.Labels, "`selector` does not match template `labels`"))
	}
	allErrs = append(allErrs, validatePodTemplateSpec(template, extraVolumes, fldPath)...)
	if template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("spec", "restartPolicy"), template.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if template.Spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("spec", "activeDeadlineSeconds"), fmt.Sprintf("activeDeadlineSeconds in %s is not Supported", kind)))
	}
	return allErrs
}

// validateSelectorImmutable: apps/v1 selectors cannot change.
func validateSelectorImmutable(newSel, oldSel *metav1.LabelSelector) field.ErrorList {
	return validateImmutableField(newSel, oldSel, field.NewPath("spec", "selector"))
}

// ---------------------------------------------------------------------------
// Deployment

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	allErrs := validateObjectMeta(&d.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateDeploymentSpec(&d.Spec, field.NewPath("spec"))...)
}

func validateDeploymentUpdate(d, old *appsv1.Deployment) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&d.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateDeploymentSpec(&d.Spec, field.NewPath("spec"))...)
	return append(allErrs, validateSelectorImmutable(d.Spec.Selector, old.Spec.Selector)...)
}

func validateDeploymentSpec(spec *appsv1.DeploymentSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateNonnegativePtr32(spec.Replicas, fldPath.Child("replicas"))
	selector, errs := validateWorkloadSelector(spec.Selector, "deployment", fldPath.Child("selector"))
	allErrs = append(allErrs, errs...)
	allErrs = append(allErrs, validateTemplateForSelector(&spec.Template, selector, nil, "Deployment", fldPath.Child("template"))...)
	allErrs = append(allErrs, validateDeploymentStrategy(&spec.Strategy, fldPath.Child("strategy"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	allErrs = append(allErrs, validateNonnegativePtr32(spec.RevisionHistoryLimit, fldPath.Child("revisionHistoryLimit"))...)
	if spec.ProgressDeadlineSeconds != nil {
		allErrs = append(allErrs, validateNonnegativeField(int64(*spec.ProgressDeadlineSeconds), fldPath.Child("progressDeadlineSeconds"))...)
		if *spec.ProgressDeadlineSeconds <= spec.MinReadySeconds {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("progressDeadlineSeconds"), *spec.ProgressDeadlineSeconds, "must be greater than minReadySeconds"))
		}
	}
	return allErrs
}

func validateDeploymentStrategy(strategy *appsv1.DeploymentStrategy, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch strategy.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if strategy.RollingUpdate != nil {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		ru := strategy.RollingUpdate
		if ru == nil {
			return append(allErrs, field.Required(fldPath.Child("rollingUpdate"), "this should be defaulted and never be nil"))
		}
		p := fldPath.Child("rollingUpdate")
		if ru.MaxUnavailable == nil {
			allErrs = append(allErrs, field.Required(p.Child("maxUnavailable"), ""))
		}
		if ru.MaxSurge == nil {
			allErrs = append(allErrs, field.Required(p.Child("maxSurge"), ""))
		}
		if ru.MaxUnavailable == nil || ru.MaxSurge == nil {
			return allErrs
		}
		allErrs = append(allErrs, validatePositiveIntOrPercent(*ru.MaxUnavailable, p.Child("maxUnavailable"))...)
		allErrs = append(allErrs, validatePositiveIntOrPercent(*ru.MaxSurge, p.Child("maxSurge"))...)
		if getIntOrPercentValue(*ru.MaxUnavailable) == 0 && getIntOrPercentValue(*ru.MaxSurge) == 0 {
			allErrs = append(allErrs, field.Invalid(p.Child("maxUnavailable"), *ru.MaxUnavailable, "may not be 0 when `maxSurge` is 0"))
		}
		allErrs = append(allErrs, isNotMoreThan100Percent(*ru.MaxUnavailable, p.Child("maxUnavailable"))...)
	default:
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("type"), strategy.Type, []appsv1.DeploymentStrategyType{appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType}))
	}
	return allErrs
}

func validateDeploymentStatusUpdate(d, old *appsv1.Deployment) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&d.ObjectMeta, &old.ObjectMeta)
	p := field.NewPath("status")
	s := d.Status
	allErrs = append(allErrs, validateNonnegativeField(s.ObservedGeneration, p.Child("observedGeneration"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(s.Replicas), p.Child("replicas"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(s.UpdatedReplicas), p.Child("updatedReplicas"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(s.ReadyReplicas), p.Child("readyReplicas"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(s.AvailableReplicas), p.Child("availableReplicas"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(s.UnavailableReplicas), p.Child("unavailableReplicas"))...)
	allErrs = append(allErrs, validateNonnegativePtr32(s.TerminatingReplicas, p.Child("terminatingReplicas"))...)
	allErrs = append(allErrs, validateNonnegativePtr32(s.CollisionCount, p.Child("collisionCount"))...)
	const msg = "cannot be greater than status.replicas"
	if s.UpdatedReplicas > s.Replicas {
		allErrs = append(allErrs, field.Invalid(p.Child("updatedReplicas"), s.UpdatedReplicas, msg))
	}
	if s.ReadyReplicas > s.Replicas {
		allErrs = append(allErrs, field.Invalid(p.Child("readyReplicas"), s.ReadyReplicas, msg))
	}
	if s.AvailableReplicas > s.Replicas {
		allErrs = append(allErrs, field.Invalid(p.Child("availableReplicas"), s.AvailableReplicas, msg))
	}
	if s.AvailableReplicas > s.ReadyReplicas {
		allErrs = append(allErrs, field.Invalid(p.Child("availableReplicas"), s.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return append(allErrs, validateCollisionCount(s.CollisionCount, old.Status.CollisionCount, p.Child("collisionCount"))...)
}

// ---------------------------------------------------------------------------
// ReplicaSet

func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	allErrs := validateObjectMeta(&rs.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateReplicaSetSpec(&rs.Spec, field.NewPath("spec"))...)
}

func validateReplicaSetUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&rs.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateReplicaSetSpec(&rs.Spec, field.NewPath("spec"))...)
	return append(allErrs, validateSelectorImmutable(rs.Spec.Selector, old.Spec.Selector)...)
}

func validateReplicaSetSpec(spec *appsv1.ReplicaSetSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateNonnegativePtr32(spec.Replicas, fldPath.Child("replicas"))
	allErrs = append(allErrs, validateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	selector, errs := validateWorkloadSelector(spec.Selector, "replicaset", fldPath.Child("selector"))
	allErrs = append(allErrs, errs...)
	return append(allErrs, validateTemplateForSelector(&spec.Template, selector, nil, "ReplicaSet", fldPath.Child("template"))...)
}

func validateReplicaSetStatusUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&rs.ObjectMeta, &old.ObjectMeta)
	s := rs.Status
	allErrs = append(allErrs, validateReplicaCounts(field.NewPath("status"), s.Replicas, s.FullyLabeledReplicas, s.ReadyReplicas, s.AvailableReplicas, s.ObservedGeneration)...)
	return append(allErrs, validateNonnegativePtr32(s.TerminatingReplicas, field.NewPath("status", "terminatingReplicas"))...)
}

// ---------------------------------------------------------------------------
// StatefulSet

func validateStatefulSet(ss *appsv1.StatefulSet) field.ErrorList {
	allErrs := validateObjectMeta(&ss.ObjectMeta, true, nameIsDNSLabel)
	return append(allErrs, validateStatefulSetSpec(&ss.Spec, field.NewPath("spec"))...)
}

func validateStatefulSetSpec(spec *appsv1.StatefulSetSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch spec.PodManagementPolicy {
	case "":
		allErrs = append(allErrs, field.Required(fldPath.Child("podManagementPolicy"), ""))
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		allErrs = append(allErrs, field.Invalid(fldPath.Child("podManagementPolicy"), spec.PodManagementPolicy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}

	usPath := fldPath.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case "":
		allErrs = append(allErrs, field.Required(usPath, ""))
	case appsv1.OnDeleteStatefulSetStrategyType:
		if spec.UpdateStrategy.RollingUpdate != nil {
			allErrs = append(allErrs, field.Invalid(usPath.Child("rollingUpdate"), spec.UpdateStrategy.RollingUpdate,
				fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType)))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := spec.UpdateStrategy.RollingUpdate; ru != nil {
			p := usPath.Child("rollingUpdate")
			allErrs = append(allErrs, validateNonnegativePtr32(ru.Partition, p.Child("partition"))...)
			if ru.MaxUnavailable != nil {
				mp := p.Child("maxUnavailable")
				allErrs = append(allErrs, validatePositiveIntOrPercent(*ru.MaxUnavailable, mp)...)
				if getIntOrPercentValue(*ru.MaxUnavailable) == 0 {
					allErrs = append(allErrs, field.Invalid(mp, *ru.MaxUnavailable, "cannot be 0"))
				}
				allErrs = append(allErrs, isNotMoreThan100Percent(*ru.MaxUnavailable, mp)...)
			}
		}
	default:
		allErrs = append(allErrs, field.Invalid(usPath, spec.UpdateStrategy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType)))
	}

	if policy := spec.PersistentVolumeClaimRetentionPolicy; policy != nil {
		p := fldPath.Child("persistentVolumeClaimRetentionPolicy")
		valid := []appsv1.PersistentVolumeClaimRetentionPolicyType{appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType}
		for _, f := range []struct {
			name  string
			value appsv1.PersistentVolumeClaimRetentionPolicyType
		}{{"whenDeleted", policy.WhenDeleted}, {"whenScaled", policy.WhenScaled}} {
			if f.value != appsv1.RetainPersistentVolumeClaimRetentionPolicyType && f.value != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
				allErrs = append(allErrs, field.NotSupported(p.Child(f.name), f.value, valid))
			}
		}
	}

	allErrs = append(allErrs, validateNonnegativePtr32(spec.Replicas, fldPath.Child("replicas"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	allErrs = append(allErrs, validateNonnegativePtr32(spec.RevisionHistoryLimit, fldPath.Child("revisionHistoryLimit"))...)
	if spec.Ordinals != nil {
		allErrs = append(allErrs, validateNonnegativeField(int64(spec.Ordinals.Start), fldPath.Child("ordinals", "start"))...)
	}
	if spec.ServiceName != "" {
		allErrs = append(allErrs, validateName(spec.ServiceName, nameIsDNSLabel, fldPath.Child("serviceName"))...)
	}

	// Claim templates become volumes of every pod, so the template's mounts
	// may refer to them.
	var claimVolumes []corev1.Volume
	templateVolumes := sets.New[string]()
	for _, v := range spec.Template.Spec.Volumes {
		templateVolumes.Insert(v.Name)
	}
	claimNames := sets.New[string]()
	for i := range spec.VolumeClaimTemplates {
		claim := &spec.VolumeClaimTemplates[i]
		p := fldPath.Child("volumeClaimTemplates").Index(i)
		var errs field.ErrorList
		if claim.Name == "" {
			errs = append(errs, field.Required(p.Child("metadata", "name"), ""))
		} else {
			errs = append(errs, validateDNS1123Label(claim.Name, p.Child("metadata", "name"))...)
		}
		if claimNames.Has(claim.Name) {
			errs = append(errs, field.Duplicate(p.Child("metadata", "name"), claim.Name))
		}
		claimNames.Insert(claim.Name)
		errs = append(errs, validateLabels(claim.Labels, p.Child("metadata", "labels"))...)
		errs = append(errs, validatePersistentVolumeClaimSpec(&claim.Spec, p.Child("spec"))...)
		allErrs = append(allErrs, errs...)
		if len(errs) == 0 && !templateVolumes.Has(claim.Name) {
			claimVolumes = append(claimVolumes, corev1.Volume{Name: claim.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim.Name},
			}})
		}
	}

	selector, errs := validateWorkloadSelector(spec.Selector, "statefulset", fldPath.Child("selector"))
	allErrs = append(allErrs, errs...)
	return append(allErrs, validateTemplateForSelector(&spec.Template, selector, claimVolumes, "StatefulSet", fldPath.Child("template"))...)
}

func validateStatefulSetUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&ss.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateStatefulSetSpec(&ss.Spec, field.NewPath("spec"))...)

	clone := ss.Spec.DeepCopy()
	clone.Replicas = old.Spec.Replicas
	clone.Template = old.Spec.Template
	clone.UpdateStrategy = old.Spec.UpdateStrategy
	clone.MinReadySeconds = old.Spec.MinReadySeconds
	clone.Ordinals = old.Spec.Ordinals
	clone.PersistentVolumeClaimRetentionPolicy = old.Spec.PersistentVolumeClaimRetentionPolicy
	if !apiequality.Semantic.DeepEqual(*clone, old.Spec) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec"), "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
	}
	return allErrs
}

func validateStatefulSetStatusUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&ss.ObjectMeta, &old.ObjectMeta)
	p := field.NewPath("status")
	s := ss.Status
	allErrs = append(allErrs, validateNonnegativeField(int64(s.Replicas), p.Child("replicas"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(s.ReadyReplicas), p.Child("readyReplicas"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(s.CurrentReplicas), p.Child("currentReplicas"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(s.UpdatedReplicas), p.Child("updatedReplicas"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(s.AvailableReplicas), p.Child("availableReplicas"))...)
	allErrs = append(allErrs, validateNonnegativeField(s.ObservedGeneration, p.Child("observedGeneration"))...)
	allErrs = append(allErrs, validateNonnegativePtr32(s.CollisionCount, p.Child("collisionCount"))...)
	const msg = "cannot be greater than status.replicas"
	for _, c := range []struct {
		name  string
		value int32
	}{{"readyReplicas", s.ReadyReplicas}, {"currentReplicas", s.CurrentReplicas}, {"updatedReplicas", s.UpdatedReplicas}, {"availableReplicas", s.AvailableReplicas}} {
		if c.value > s.Replicas {
			allErrs = append(allErrs, field.Invalid(p.Child(c.name), c.value, msg))
		}
	}
	if s.AvailableReplicas > s.ReadyReplicas {
		allErrs = append(allErrs, field.Invalid(p.Child("availableReplicas"), s.AvailableReplicas, "cannot be greater than status.readyReplicas"))
	}
	return append(allErrs, validateCollisionCount(s.CollisionCount, old.Status.CollisionCount, p.Child("collisionCount"))...)
}

// ---------------------------------------------------------------------------
// DaemonSet

func validateDaemonSet(ds *appsv1.DaemonSet) field.ErrorList {
	allErrs := validateObjectMeta(&ds.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateDaemonSetSpec(&ds.Spec, field.NewPath("spec"))...)
}

func validateDaemonSetUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&ds.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateDaemonSetSpec(&ds.Spec, field.NewPath("spec"))...)
	return append(allErrs, validateSelectorImmutable(ds.Spec.Selector, old.Spec.Selector)...)
}

func validateDaemonSetSpec(spec *appsv1.DaemonSetSpec, fldPath *field.Path) field.ErrorList {
	selector, allErrs := validateWorkloadSelector(spec.Selector, "daemonset", fldPath.Child("selector"))
	allErrs = append(allErrs, validateTemplateForSelector(&spec.Template, selector, nil, "DaemonSet", fldPath.Child("template"))...)
	allErrs = append(allErrs, validateNonnegativeField(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	allErrs = append(allErrs, validateNonnegativePtr32(spec.RevisionHistoryLimit, fldPath.Child("revisionHistoryLimit"))...)

	usPath := fldPath.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType:
		ru := spec.UpdateStrategy.RollingUpdate
		if ru == nil {
			return append(allErrs, field.Required(usPath.Child("rollingUpdate"), ""))
		}
		p := usPath.Child("rollingUpdate")
		var unavailable, surge int
		if ru.MaxUnavailable != nil {
			allErrs = append(allErrs, validatePositiveIntOrPercent(*ru.MaxUnavailable, p.Child("maxUnavailable"))...)
			allErrs = append(allErrs, isNotMoreThan100Percent(*ru.MaxUnavailable, p.Child("maxUnavailable"))...)
			unavailable = getIntOrPercentValue(*ru.MaxUnavailable)
		}
		if ru.MaxSurge != nil {
			allErrs = append(allErrs, validatePositiveIntOrPercent(*ru.MaxSurge, p.Child("maxSurge"))...)
			allErrs = append(allErrs, isNotMoreThan100Percent(*ru.MaxSurge, p.Child("maxSurge"))...)
			surge = getIntOrPercentValue(*ru.MaxSurge)
		}
		switch {
		case unavailable != 0 && surge != 0:
			allErrs = append(allErrs, field.Invalid(p.Child("maxSurge"), *ru.MaxSurge, "may not be set when maxUnavailable is non-zero"))
		case unavailable == 0 && surge == 0:
			allErrs = append(allErrs, field.Required(p.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
		}
	default:
		allErrs = append(allErrs, field.NotSupported(usPath.Child("type"), spec.UpdateStrategy.Type,
			[]appsv1.DaemonSetUpdateStrategyType{appsv1.RollingUpdateDaemonSetStrategyType, appsv1.OnDeleteDaemonSetStrategyType}))
	}
	return allErrs
}

func validateDaemonSetStatusUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&ds.ObjectMeta, &old.ObjectMeta)
	p := field.NewPath("status")
	s := ds.Status
	for _, c := range []struct {
		name  string
		value int32
	}{
		{"currentNumberScheduled", s.CurrentNumberScheduled}, {"numberMisscheduled", s.NumberMisscheduled},
		{"desiredNumberScheduled", s.DesiredNumberScheduled}, {"numberReady", s.NumberReady},
		{"updatedNumberScheduled", s.UpdatedNumberScheduled}, {"numberAvailable", s.NumberAvailable},
		{"numberUnavailable", s.NumberUnavailable},
	} {
		allErrs = append(allErrs, validateNonnegativeField(int64(c.value), p.Child(c.name))...)
	}
	allErrs = append(allErrs, validateNonnegativeField(s.ObservedGeneration, p.Child("observedGeneration"))...)
	allErrs = append(allErrs, validateNonnegativePtr32(s.CollisionCount, p.Child("collisionCount"))...)
	return append(allErrs, validateCollisionCount(s.CollisionCount, old.Status.CollisionCount, p.Child("collisionCount"))...)
}

// ---------------------------------------------------------------------------
// ControllerRevision

func validateControllerRevision(cr *appsv1.ControllerRevision) field.ErrorList {
	allErrs := validateObjectMeta(&cr.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateControllerRevisionData(cr)...)
}

func validateControllerRevisionData(cr *appsv1.ControllerRevision) field.ErrorList {
	var allErrs field.ErrorList
	if cr.Data.Raw == nil && cr.Data.Object == nil {
		allErrs = append(allErrs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	return append(allErrs, validateNonnegativeField(cr.Revision, field.NewPath("revision"))...)
}

func validateControllerRevisionUpdate(cr, old *appsv1.ControllerRevision) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&cr.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateControllerRevisionData(cr)...)
	return append(allErrs, validateImmutableField(cr.Data, old.Data, field.NewPath("data"))...)
}
