// Package defaults fills in the fields Kubernetes defaults when it decodes an
// object, so that objects served by the appliance look exactly like the ones a
// Kubernetes API server would return.
//
// Kubernetes keeps these rules in k8s.io/kubernetes/pkg/apis/<group>/<version>
// (defaults.go plus the defaulter-gen output that walks nested structs, and the
// declarative "+default=" markers of k8s.io/api). That module cannot be imported
// here, so this package re-implements the rules for the types the appliance
// serves, following the behaviour of Kubernetes 1.37 with its default feature
// gates. Defaults that depend on server state (cluster IPs, node ports, IP
// families, selectors generated from UIDs, namespace finalizers) are not
// defaulting in Kubernetes either and belong to the registry strategies.
package defaults

import (
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// defaulters maps the pointer type of every defaulted object (and its list) to
// the function that defaults it in place.
var defaulters = buildDefaulters()

func buildDefaulters() map[reflect.Type]func(runtime.Object) {
	m := map[reflect.Type]func(runtime.Object){}

	// core/v1
	register(m, defaultPod)
	register(m, func(l *corev1.PodList) { each(l.Items, defaultPod) })
	register(m, defaultPodTemplate)
	register(m, func(l *corev1.PodTemplateList) { each(l.Items, defaultPodTemplate) })
	register(m, defaultService)
	register(m, func(l *corev1.ServiceList) { each(l.Items, defaultService) })
	register(m, defaultNamespace)
	register(m, func(l *corev1.NamespaceList) { each(l.Items, defaultNamespace) })
	register(m, defaultSecret)
	register(m, func(l *corev1.SecretList) { each(l.Items, defaultSecret) })
	register(m, defaultConfigMap)
	register(m, func(l *corev1.ConfigMapList) { each(l.Items, defaultConfigMap) })
	register(m, defaultNode)
	register(m, func(l *corev1.NodeList) { each(l.Items, defaultNode) })
	register(m, defaultPersistentVolume)
	register(m, func(l *corev1.PersistentVolumeList) { each(l.Items, defaultPersistentVolume) })
	register(m, defaultPersistentVolumeClaim)
	register(m, func(l *corev1.PersistentVolumeClaimList) { each(l.Items, defaultPersistentVolumeClaim) })
	register(m, defaultEndpoints)
	register(m, func(l *corev1.EndpointsList) { each(l.Items, defaultEndpoints) })
	register(m, defaultLimitRange)
	register(m, func(l *corev1.LimitRangeList) { each(l.Items, defaultLimitRange) })
	register(m, defaultResourceQuota)
	register(m, func(l *corev1.ResourceQuotaList) { each(l.Items, defaultResourceQuota) })

	// apps/v1
	register(m, defaultDeployment)
	register(m, func(l *appsv1.DeploymentList) { each(l.Items, defaultDeployment) })
	register(m, defaultReplicaSet)
	register(m, func(l *appsv1.ReplicaSetList) { each(l.Items, defaultReplicaSet) })
	register(m, defaultStatefulSet)
	register(m, func(l *appsv1.StatefulSetList) { each(l.Items, defaultStatefulSet) })
	register(m, defaultDaemonSet)
	register(m, func(l *appsv1.DaemonSetList) { each(l.Items, defaultDaemonSet) })

	// batch/v1
	register(m, defaultJob)
	register(m, func(l *batchv1.JobList) { each(l.Items, defaultJob) })
	register(m, defaultCronJob)
	register(m, func(l *batchv1.CronJobList) { each(l.Items, defaultCronJob) })

	// autoscaling
	register(m, defaultHPAv1)
	register(m, func(l *autoscalingv1.HorizontalPodAutoscalerList) { each(l.Items, defaultHPAv1) })
	register(m, defaultHPAv2)
	register(m, func(l *autoscalingv2.HorizontalPodAutoscalerList) { each(l.Items, defaultHPAv2) })

	// networking/v1
	register(m, defaultIngressClass)
	register(m, func(l *networkingv1.IngressClassList) { each(l.Items, defaultIngressClass) })

	// storage/v1
	register(m, defaultStorageClass)
	register(m, func(l *storagev1.StorageClassList) { each(l.Items, defaultStorageClass) })

	// rbac/v1
	register(m, defaultRoleBinding)
	register(m, func(l *rbacv1.RoleBindingList) { each(l.Items, defaultRoleBinding) })
	register(m, defaultClusterRoleBinding)
	register(m, func(l *rbacv1.ClusterRoleBindingList) { each(l.Items, defaultClusterRoleBinding) })

	// discovery/v1
	register(m, defaultEndpointSlice)
	register(m, func(l *discoveryv1.EndpointSliceList) { each(l.Items, defaultEndpointSlice) })

	// scheduling/v1
	register(m, defaultPriorityClass)
	register(m, func(l *schedulingv1.PriorityClassList) { each(l.Items, defaultPriorityClass) })

	return m
}

// register records fn as the defaulter of T (a pointer to an API struct).
func register[T runtime.Object](m map[reflect.Type]func(runtime.Object), fn func(T)) {
	t := reflect.TypeFor[T]()
	if _, dup := m[t]; dup {
		panic("defaults: " + t.String() + " registered twice")
	}
	m[t] = func(obj runtime.Object) { fn(obj.(T)) }
}

// each applies fn to every element of items in place.
func each[T any](items []T, fn func(*T)) {
	for i := range items {
		fn(&items[i])
	}
}

// AddToScheme registers a defaulting func (scheme.AddTypeDefaultingFunc) for
// every type below, so the API server's decoder defaults request bodies as
// Kubernetes does.
func AddToScheme(scheme *runtime.Scheme) error {
	for t, fn := range defaulters {
		proto := reflect.New(t.Elem()).Interface().(runtime.Object)
		scheme.AddTypeDefaultingFunc(proto, func(obj interface{}) { fn(obj.(runtime.Object)) })
	}
	return nil
}

// Default applies the same defaults to one object (used by tests and server
// code); no-op for unknown types.
func Default(obj runtime.Object) {
	if obj == nil {
		return
	}
	v := reflect.ValueOf(obj)
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return
	}
	if fn, ok := defaulters[v.Type()]; ok {
		fn(obj)
	}
}
