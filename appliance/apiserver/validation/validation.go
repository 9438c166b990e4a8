// Package validation checks objects of the built-in Kubernetes API types the
// way kube-apiserver does before they are stored.
//
// The rules follow Kubernetes' own validation (k8s.io/kubernetes
// pkg/apis/*/validation), re-implemented against the versioned k8s.io/api
// types. Objects are expected to arrive defaulted, as Kubernetes' defaulting
// would leave them, so fields that defaulting always fills (restartPolicy,
// imagePullPolicy, terminationMessagePolicy, sessionAffinity, ...) are
// required here as they are in Kubernetes.
//
// Errors carry the field path and the Kubernetes error type, so that the API
// server can answer 422 Invalid with one cause per field.
package validation

import (
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	isNegativeErrorMsg     = apimachineryvalidation.IsNegativeErrorMsg
	fieldImmutableErrorMsg = apimachineryvalidation.FieldImmutableErrorMsg
	isNotIntegerErrorMsg   = "must be an integer"
	isNotPositiveErrorMsg  = "must be greater than zero"
)

// nameFunc validates an object name; prefix is true for generateName.
type nameFunc = apimachineryvalidation.ValidateNameFunc

var (
	nameIsDNSSubdomain nameFunc = apimachineryvalidation.NameIsDNSSubdomain
	nameIsDNSLabel     nameFunc = apimachineryvalidation.NameIsDNSLabel
	nameIsPathSegment  nameFunc = path.ValidatePathSegmentName
)

var metadataPath = field.NewPath("metadata")

// Validate checks a new object (create). Returns nil for types it does not know.
func Validate(obj runtime.Object) field.ErrorList {
	switch o := obj.(type) {
	// core/v1
	case *corev1.Pod:
		return validatePodCreate(o)
	case *corev1.PodTemplate:
		return validatePodTemplate(o)
	case *corev1.ReplicationController:
		return validateReplicationController(o)
	case *corev1.Service:
		return validateService(o)
	case *corev1.Namespace:
		return validateNamespace(o)
	case *corev1.ConfigMap:
		return validateConfigMap(o)
	case *corev1.Secret:
		return validateSecret(o)
	case *corev1.ServiceAccount:
		return validateServiceAccount(o)
	case *corev1.Node:
		return validateNode(o)
	case *corev1.PersistentVolume:
		return validatePersistentVolume(o)
	case *corev1.PersistentVolumeClaim:
		return validatePersistentVolumeClaim(o)
	case *corev1.Endpoints:
		return validateEndpoints(o)
	case *corev1.Event:
		return validateEvent(o)
	case *corev1.LimitRange:
		return validateLimitRange(o)
	case *corev1.ResourceQuota:
		return validateResourceQuota(o)
	// apps/v1
	case *appsv1.Deployment:
		return validateDeployment(o)
	case *appsv1.ReplicaSet:
		return validateReplicaSet(o)
	case *appsv1.StatefulSet:
		return validateStatefulSet(o)
	case *appsv1.DaemonSet:
		return validateDaemonSet(o)
	case *appsv1.ControllerRevision:
		return validateControllerRevision(o)
	// batch/v1
	case *batchv1.Job:
		return validateJob(o)
	case *batchv1.CronJob:
		return validateCronJob(o)
	// autoscaling/v2
	case *autoscalingv2.HorizontalPodAutoscaler:
		return validateHPA(o)
	// networking/v1
	case *networkingv1.Ingress:
		return validateIngress(o)
	case *networkingv1.IngressClass:
		return validateIngressClass(o)
	// storage/v1
	case *storagev1.StorageClass:
		return validateStorageClass(o)
	// rbac/v1
	case *rbacv1.Role:
		return validateRole(o)
	case *rbacv1.ClusterRole:
		return validateClusterRole(o)
	case *rbacv1.RoleBinding:
		return validateRoleBinding(o)
	case *rbacv1.ClusterRoleBinding:
		return validateClusterRoleBinding(o)
	// coordination/v1
	case *coordinationv1.Lease:
		return validateLease(o)
	// discovery/v1
	case *discoveryv1.EndpointSlice:
		return validateEndpointSlice(o)
	// scheduling/v1
	case *schedulingv1.PriorityClass:
		return validatePriorityClass(o)
	// policy/v1
	case *policyv1.PodDisruptionBudget:
		return validatePodDisruptionBudget(o)
	case *policyv1.Eviction:
		return validateEviction(o)
	}
	return nil
}

// ValidateUpdate checks an update of the main resource (obj new, old existing):
// everything Validate checks plus immutable fields.
func ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	if errs := checkSameType(obj, old); errs != nil {
		return errs
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		return validatePodUpdate(o, old.(*corev1.Pod))
	case *corev1.PodTemplate:
		return validatePodTemplateUpdate(o, old.(*corev1.PodTemplate))
	case *corev1.ReplicationController:
		return validateReplicationControllerUpdate(o, old.(*corev1.ReplicationController))
	case *corev1.Service:
		return validateServiceUpdate(o, old.(*corev1.Service))
	case *corev1.Namespace:
		return validateNamespaceUpdate(o, old.(*corev1.Namespace))
	case *corev1.ConfigMap:
		return validateConfigMapUpdate(o, old.(*corev1.ConfigMap))
	case *corev1.Secret:
		return validateSecretUpdate(o, old.(*corev1.Secret))
	case *corev1.ServiceAccount:
		return validateServiceAccountUpdate(o, old.(*corev1.ServiceAccount))
	case *corev1.Node:
		return validateNodeUpdate(o, old.(*corev1.Node))
	case *corev1.PersistentVolume:
		return validatePersistentVolumeUpdate(o, old.(*corev1.PersistentVolume))
	case *corev1.PersistentVolumeClaim:
		return validatePersistentVolumeClaimUpdate(o, old.(*corev1.PersistentVolumeClaim))
	case *corev1.Endpoints:
		return validateEndpointsUpdate(o, old.(*corev1.Endpoints))
	case *corev1.Event:
		return validateEventUpdate(o, old.(*corev1.Event))
	case *corev1.LimitRange:
		return validateLimitRangeUpdate(o, old.(*corev1.LimitRange))
	case *corev1.ResourceQuota:
		return validateResourceQuotaUpdate(o, old.(*corev1.ResourceQuota))
	case *appsv1.Deployment:
		return validateDeploymentUpdate(o, old.(*appsv1.Deployment))
	case *appsv1.ReplicaSet:
		return validateReplicaSetUpdate(o, old.(*appsv1.ReplicaSet))
	case *appsv1.StatefulSet:
		return validateStatefulSetUpdate(o, old.(*appsv1.StatefulSet))
	case *appsv1.DaemonSet:
		return validateDaemonSetUpdate(o, old.(*appsv1.DaemonSet))
	case *appsv1.ControllerRevision:
		return validateControllerRevisionUpdate(o, old.(*appsv1.ControllerRevision))
	case *batchv1.Job:
		return validateJobUpdate(o, old.(*batchv1.Job))
	case *batchv1.CronJob:
		return validateCronJobUpdate(o, old.(*batchv1.CronJob))
	case *autoscalingv2.HorizontalPodAutoscaler:
		return validateHPAUpdate(o, old.(*autoscalingv2.HorizontalPodAutoscaler))
	case *networkingv1.Ingress:
		return validateIngressUpdate(o, old.(*networkingv1.Ingress))
	case *networkingv1.IngressClass:
		return validateIngressClassUpdate(o, old.(*networkingv1.IngressClass))
	case *storagev1.StorageClass:
		return validateStorageClassUpdate(o, old.(*storagev1.StorageClass))
	case *rbacv1.Role:
		return validateRoleUpdate(o, old.(*rbacv1.Role))
	case *rbacv1.ClusterRole:
		return validateClusterRoleUpdate(o, old.(*rbacv1.ClusterRole))
	case *rbacv1.RoleBinding:
		return validateRoleBindingUpdate(o, old.(*rbacv1.RoleBinding))
	case *rbacv1.ClusterRoleBinding:
		return validateClusterRoleBindingUpdate(o, old.(*rbacv1.ClusterRoleBinding))
	case *coordinationv1.Lease:
		return validateLeaseUpdate(o, old.(*coordinationv1.Lease))
	case *discoveryv1.EndpointSlice:
		return validateEndpointSliceUpdate(o, old.(*discoveryv1.EndpointSlice))
	case *schedulingv1.PriorityClass:
		return validatePriorityClassUpdate(o, old.(*schedulingv1.PriorityClass))
	case *policyv1.PodDisruptionBudget:
		return validatePodDisruptionBudgetUpdate(o, old.(*policyv1.PodDisruptionBudget))
	case *policyv1.Eviction:
		return validateEviction(o)
	}
	return nil
}

// ValidateStatusUpdate checks an update through the /status subresource.
func ValidateStatusUpdate(obj, old runtime.Object) field.ErrorList {
	if errs := checkSameType(obj, old); errs != nil {
		return errs
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		return validatePodStatusUpdate(o, old.(*corev1.Pod))
	case *corev1.ReplicationController:
		return validateReplicationControllerStatusUpdate(o, old.(*corev1.ReplicationController))
	case *corev1.Service:
		return validateServiceStatusUpdate(o, old.(*corev1.Service))
	case *corev1.Namespace:
		return validateNamespaceStatusUpdate(o, old.(*corev1.Namespace))
	case *corev1.Node:
		// Kubernetes validates node status updates like any node update.
		return validateNodeUpdate(o, old.(*corev1.Node))
	case *corev1.PersistentVolume:
		return validateObjectMetaUpdate(&o.ObjectMeta, &old.(*corev1.PersistentVolume).ObjectMeta)
	case *corev1.PersistentVolumeClaim:
		return validatePersistentVolumeClaimStatusUpdate(o, old.(*corev1.PersistentVolumeClaim))
	case *corev1.ResourceQuota:
		return validateResourceQuotaStatusUpdate(o, old.(*corev1.ResourceQuota))
	case *appsv1.Deployment:
		return validateDeploymentStatusUpdate(o, old.(*appsv1.Deployment))
	case *appsv1.ReplicaSet:
		return validateReplicaSetStatusUpdate(o, old.(*appsv1.ReplicaSet))
	case *appsv1.StatefulSet:
		return validateStatefulSetStatusUpdate(o, old.(*appsv1.StatefulSet))
	case *appsv1.DaemonSet:
		return validateDaemonSetStatusUpdate(o, old.(*appsv1.DaemonSet))
	case *batchv1.Job:
		return validateJobStatusUpdate(o, old.(*batchv1.Job))
	case *batchv1.CronJob:
		return validateObjectMetaUpdate(&o.ObjectMeta, &old.(*batchv1.CronJob).ObjectMeta)
	case *autoscalingv2.HorizontalPodAutoscaler:
		return validateHPAStatusUpdate(o, old.(*autoscalingv2.HorizontalPodAutoscaler))
	case *networkingv1.Ingress:
		return validateIngressStatusUpdate(o, old.(*networkingv1.Ingress))
	case *policyv1.PodDisruptionBudget:
		return validatePodDisruptionBudgetStatusUpdate(o, old.(*policyv1.PodDisruptionBudget))
	}
	// Types without a status subresource of their own: only metadata rules apply.
	if m, ok := obj.(metav1.Object); ok && isKnownType(obj) {
		oldMeta := old.(metav1.Object)
		return apimachineryvalidation.ValidateObjectMetaAccessorUpdate(m, oldMeta, metadataPath)
	}
	return nil
}

func isKnownType(obj runtime.Object) bool {
	switch obj.(type) {
	case *corev1.PodTemplate, *corev1.ConfigMap, *corev1.Secret, *corev1.ServiceAccount,
		*corev1.Endpoints, *corev1.Event, *corev1.LimitRange, *appsv1.ControllerRevision,
		*networkingv1.IngressClass, *storagev1.StorageClass, *rbacv1.Role, *rbacv1.ClusterRole,
		*rbacv1.RoleBinding, *rbacv1.ClusterRoleBinding, *coordinationv1.Lease,
		*discoveryv1.EndpointSlice, *schedulingv1.PriorityClass, *policyv1.Eviction:
		return true
	}
	return false
}

func checkSameType(obj, old runtime.Object) field.ErrorList {
	if obj == nil || old == nil {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("both the new and the existing object are needed for an update"))}
	}
	if fmt.Sprintf("%T", obj) != fmt.Sprintf("%T", old) {
		return field.ErrorList{field.InternalError(nil, fmt.Errorf("cannot update a %T from a %T", old, obj))}
	}
	return nil
}

// ---------------------------------------------------------------------------
// ObjectMeta

// validateObjectMeta validates the metadata of a new object.
func validateObjectMeta(meta *metav1.ObjectMeta, namespaced bool, fn nameFunc) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(meta, namespaced, fn, metadataPath)
	allErrs = append(allErrs, validateKubeFinalizers(meta.Finalizers, metadataPath.Child("finalizers"))...)
	return allErrs
}

// validateObjectMetaUpdate validates the metadata of an updated object.
func validateObjectMetaUpdate(newMeta, oldMeta *metav1.ObjectMeta) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(newMeta, oldMeta, metadataPath)
	allErrs = append(allErrs, validateKubeFinalizers(newMeta.Finalizers, metadataPath.Child("finalizers"))...)
	return allErrs
}

var standardFinalizers = sets.New(
	string(corev1.FinalizerKubernetes),
	metav1.FinalizerOrphanDependents,
	metav1.FinalizerDeleteDependents,
)

// validateKubeFinalizers checks that unqualified finalizer names are the
// standard Kubernetes ones.
func validateKubeFinalizers(finalizers []string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for i, f := range finalizers {
		if !strings.Contains(f, "/") && !standardFinalizers.Has(f) {
			allErrs = append(allErrs, field.Invalid(fldPath.Index(i), f, "name is neither a standard finalizer name nor is it fully qualified"))
		}
	}
	return allErrs
}

// validateTemplateObjectMeta validates the metadata embedded in templates
// such as volumeClaimTemplates of generic ephemeral volumes: only labels and
// annotations may be set.
func validateTemplateObjectMeta(meta *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateAnnotations(meta.Annotations, fldPath.Child("annotations"))
	allErrs = append(allErrs, validateLabels(meta.Labels, fldPath.Child("labels"))...)
	stripped := metav1.ObjectMeta{Labels: meta.Labels, Annotations: meta.Annotations}
	if !apiequality.Semantic.DeepEqual(stripped, *meta) {
		allErrs = append(allErrs, field.Forbidden(fldPath, "only labels and annotations may be set"))
	}
	return allErrs
}

// ---------------------------------------------------------------------------
// Small shared checks

func validateNonnegativeField(value int64, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateNonnegativeField(value, fldPath)
}

func validateNonnegativePtr32(value *int32, fldPath *field.Path) field.ErrorList {
	if value == nil {
		return nil
	}
	return validateNonnegativeField(int64(*value), fldPath)
}

func validateImmutableField(newVal, oldVal interface{}, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateImmutableField(newVal, oldVal, fldPath)
}

func validateDNS1123Label(value string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(value) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

func validateDNS1123Subdomain(value string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(value) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

func validateQualifiedName(value string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range validation.IsQualifiedName(value) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

// validateName applies a name rule to a reference to another object.
func validateName(value string, fn nameFunc, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range fn(value, false) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

func validatePortNum(port int32, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range validation.IsValidPortNum(int(port)) {
		allErrs = append(allErrs, field.Invalid(fldPath, port, msg))
	}
	return allErrs
}

func validatePortNumOrName(port intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch port.Type {
	case intstr.Int:
		for _, msg := range validation.IsValidPortNum(port.IntValue()) {
			allErrs = append(allErrs, field.Invalid(fldPath, port.IntValue(), msg))
		}
	case intstr.String:
		for _, msg := range validation.IsValidPortName(port.StrVal) {
			allErrs = append(allErrs, field.Invalid(fldPath, port.StrVal, msg))
		}
	default:
		allErrs = append(allErrs, field.InternalError(fldPath, fmt.Errorf("unknown type: %v", port.Type)))
	}
	return allErrs
}

// validatePositiveIntOrPercent accepts a non-negative integer or a percentage.
func validatePositiveIntOrPercent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch v.Type {
	case intstr.String:
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			allErrs = append(allErrs, field.Invalid(fldPath, v, msg))
		}
	case intstr.Int:
		allErrs = append(allErrs, validateNonnegativeField(int64(v.IntValue()), fldPath)...)
	default:
		allErrs = append(allErrs, field.Invalid(fldPath, v, "must be an integer or percentage (e.g '5%')"))
	}
	return allErrs
}

func getPercentValue(v intstr.IntOrString) (int, bool) {
	if v.Type != intstr.String || len(validation.IsValidPercent(v.StrVal)) != 0 {
		return 0, false
	}
	value, _ := strconv.Atoi(v.StrVal[:len(v.StrVal)-1])
	return value, true
}

func getIntOrPercentValue(v intstr.IntOrString) int {
	if value, isPercent := getPercentValue(v); isPercent {
		return value
	}
	return v.IntValue()
}

func isNotMoreThan100Percent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	value, isPercent := getPercentValue(v)
	if !isPercent || value <= 100 {
		return nil
	}
	return field.ErrorList{field.Invalid(fldPath, v, "must not be greater than 100%")}
}

func validateLabels(labels map[string]string, fldPath *field.Path) field.ErrorList {
	return metav1validation.ValidateLabels(labels, fldPath)
}

// isDecremented reports whether a counter went down (or was unset).
func isDecremented(update, old *int32) bool {
	if update == nil && old != nil {
		return true
	}
	if update == nil || old == nil {
		return false
	}
	return *update < *old
}

func validateCollisionCount(update, old *int32, fldPath *field.Path) field.ErrorList {
	if !isDecremented(update, old) {
		return nil
	}
	value := int32(0)
	if update != nil {
		value = *update
	}
	return field.ErrorList{field.Invalid(fldPath, value, "cannot be decremented")}
}

func validateInt32Range(value int64, lo, hi int64, fldPath *field.Path) field.ErrorList {
	if value < lo || value > hi {
		return field.ErrorList{field.Invalid(fldPath, value, validation.InclusiveRangeError(int(lo), int(hi)))}
	}
	return nil
}

func validateConditions(conditions []metav1.Condition, fldPath *field.Path) field.ErrorList {
	return metav1validation.ValidateConditions(conditions, fldPath)
}
