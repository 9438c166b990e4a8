package validation

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	maxProvisionerParameterSize = 256 * (1 << 10)
	maxProvisionerParameterLen  = 512
)

var (
	supportedStorageClassReclaimPolicies = []corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRetain}
	supportedVolumeBindingModes          = []storagev1.VolumeBindingMode{storagev1.VolumeBindingImmediate, storagev1.VolumeBindingWaitForFirstConsumer}
)

func validateStorageClass(sc *storagev1.StorageClass) field.ErrorList {
	allErrs := validateObjectMeta(&sc.ObjectMeta, false, nameIsDNSSubdomain)
	return append(allErrs, validateStorageClassFields(sc)...)
}

func validateStorageClassFields(sc *storagev1.StorageClass) field.ErrorList {
	var allErrs field.ErrorList
	pp := field.NewPath("provisioner")
	if len(sc.Provisioner) == 0 {
		allErrs = append(allErrs, field.Required(pp, ""))
	} else {
		allErrs = append(allErrs, validateQualifiedNameLower(sc.Provisioner, pp)...)
	}
	allErrs = append(allErrs, validateStorageClassParameters(sc.Parameters, field.NewPath("parameters"))...)
	if sc.ReclaimPolicy != nil && len(*sc.ReclaimPolicy) > 0 {
		if *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete && *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
			allErrs = append(allErrs, field.NotSupported(field.NewPath("reclaimPolicy"), *sc.ReclaimPolicy, supportedStorageClassReclaimPolicies))
		}
	}
	bp := field.NewPath("volumeBindingMode")
	if sc.VolumeBindingMode == nil {
		allErrs = append(allErrs, field.Required(bp, ""))
	} else if *sc.VolumeBindingMode != storagev1.VolumeBindingImmediate && *sc.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
		allErrs = append(allErrs, field.NotSupported(bp, *sc.VolumeBindingMode, supportedVolumeBindingModes))
	}
	allErrs = append(allErrs, validateAllowedTopologies(sc.AllowedTopologies, field.NewPath("allowedTopologies"))...)
	return allErrs
}

// validateQualifiedNameLower checks a case-insensitive qualified name, such
// as a provisioner.
func validateQualifiedNameLower(value string, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, e := range validateQualifiedName(strings.ToLower(value), p) {
		e.BadValue = value
		allErrs = append(allErrs, e)
	}
	return allErrs
}

func validateStorageClassParameters(params map[string]string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(params) > maxProvisionerParameterLen {
		return append(allErrs, field.TooLong(fldPath, "Provisioner Parameters exceeded max allowed", maxProvisionerParameterLen))
	}
	var total int64
	for _, k := range sets.List(sets.KeySet(params)) {
		if len(k) < 1 {
			allErrs = append(allErrs, field.Invalid(fldPath, k, "field can not be empty."))
		}
		total += int64(len(k)) + int64(len(params[k]))
	}
	if total > maxProvisionerParameterSize {
		allErrs = append(allErrs, field.TooLong(fldPath, "", maxProvisionerParameterSize))
	}
	return allErrs
}

func validateAllowedTopologies(terms []corev1.TopologySelectorTerm, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	var seen []map[string]sets.Set[string]
	for i, term := range terms {
		p := fldPath.Index(i)
		exprs := map[string]sets.Set[string]{}
		for j, req := range term.MatchLabelExpressions {
			rp := p.Child("matchLabelExpressions").Index(j)
			values := sets.New[string]()
			if len(req.Values) == 0 {
				allErrs = append(allErrs, field.Required(rp.Child("values"), ""))
			}
			for k, v := range req.Values {
				if values.Has(v) {
					allErrs = append(allErrs, field.Duplicate(rp.Child("values").Index(k), v))
				}
				values.Insert(v)
			}
			allErrs = append(allErrs, metav1validation.ValidateLabelName(req.Key, rp.Child("key"))...)
			if _, dup := exprs[req.Key]; dup {
				allErrs = append(allErrs, field.Duplicate(rp.Child("key"), req.Key))
			}
			exprs[req.Key] = values
		}
		for _, other := range seen {
			if apiequality.Semantic.DeepEqual(exprs, other) {
				allErrs = append(allErrs, field.Duplicate(p.Child("matchLabelExpressions"), ""))
			}
		}
		seen = append(seen, exprs)
	}
	return allErrs
}

func validateStorageClassUpdate(sc, old *storagev1.StorageClass) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&sc.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateStorageClassFields(sc)...)
	if !apiequality.Semantic.DeepEqual(old.Parameters, sc.Parameters) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
	}
	if sc.Provisioner != old.Provisioner {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("provisioner"), "updates to provisioner are forbidden."))
	}
	if !apiequality.Semantic.DeepEqual(sc.ReclaimPolicy, old.ReclaimPolicy) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("reclaimPolicy"), "updates to reclaimPolicy are forbidden."))
	}
	allErrs = append(allErrs, validateImmutableField(sc.VolumeBindingMode, old.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
	return allErrs
}
