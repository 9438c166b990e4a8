package apiserver

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// resource describes one served resource: where it lives, what it is called, and
// what its life cycle adds to the generic one.
type resource struct {
	group      string
	versions   []string // served versions, preferred first; the first is the storage version
	name       string   // plural, lower case
	singular   string
	kind       string
	namespaced bool
	shortNames []string
	categories []string
	newFunc    func() runtime.Object
	newList    func() runtime.Object

	hasStatus          bool // a /status subresource, and the main resource never writes status
	keepStatusOnCreate bool // nodes are created with their status, as the kubelet does
	createOnUpdate     bool // PUT may create (services, endpoints, leases, rbac...)
	scale              *scaleAccess

	// storedAs overrides where objects live: events.k8s.io Events are core Events.
	storedAs *schema.GroupVersionResource
	ttl      uint64 // seconds; events expire after an hour as in Kubernetes

	prepareCreate  func(obj runtime.Object)
	prepareUpdate  func(obj, old runtime.Object)
	gracefulDelete func(obj runtime.Object, options *metav1.DeleteOptions) bool
}

func (r *resource) gv() schema.GroupVersion {
	return schema.GroupVersion{Group: r.group, Version: r.versions[0]}
}

func (r *resource) groupResource() schema.GroupResource {
	return schema.GroupResource{Group: r.group, Resource: r.name}
}

func (r *resource) storageGV() schema.GroupVersion {
	if r.storedAs != nil {
		return r.storedAs.GroupVersion()
	}
	return r.gv()
}

// keyPrefix is the etcd key prefix below /registry: <group>/<resource>, with
// "core" standing for the legacy group.
func (r *resource) keyPrefix() string {
	g, res := r.group, r.name
	if r.storedAs != nil {
		g, res = r.storedAs.Group, r.storedAs.Resource
	}
	if g == "" {
		g = "core"
	}
	return g + "/" + res
}

func res(group, version, name, kind string, namespaced bool, newFunc, newList func() runtime.Object) *resource {
	return &resource{
		group: group, versions: []string{version}, name: name, singular: strings.ToLower(kind), kind: kind,
		namespaced: namespaced, newFunc: newFunc, newList: newList,
	}
}

func (r *resource) short(s ...string) *resource       { r.shortNames = s; return r }
func (r *resource) inAll() *resource                  { r.categories = []string{"all"}; return r }
func (r *resource) withStatus() *resource             { r.hasStatus = true; return r }
func (r *resource) putCreates() *resource             { r.createOnUpdate = true; return r }
func (r *resource) withScale(s scaleAccess) *resource { r.scale = &s; return r }

// resources is every resource the API server serves, in discovery order.
func resources() []*resource {
	const ns, cluster = true, false
	list := []*resource{
		res("", "v1", "namespaces", "Namespace", cluster, func() runtime.Object { return &corev1.Namespace{} }, func() runtime.Object { return &corev1.NamespaceList{} }).short("ns").withStatus(),
		res("", "v1", "pods", "Pod", ns, func() runtime.Object { return &corev1.Pod{} }, func() runtime.Object { return &corev1.PodList{} }).short("po").inAll().withStatus(),
		res("", "v1", "services", "Service", ns, func() runtime.Object { return &corev1.Service{} }, func() runtime.Object { return &corev1.ServiceList{} }).short("svc").inAll().withStatus().putCreates(),
		res("", "v1", "endpoints", "Endpoints", ns, func() runtime.Object { return &corev1.Endpoints{} }, func() runtime.Object { return &corev1.EndpointsList{} }).short("ep").putCreates(),
		res("", "v1", "configmaps", "ConfigMap", ns, func() runtime.Object { return &corev1.ConfigMap{} }, func() runtime.Object { return &corev1.ConfigMapList{} }).short("cm"),
		res("", "v1", "secrets", "Secret", ns, func() runtime.Object { return &corev1.Secret{} }, func() runtime.Object { return &corev1.SecretList{} }),
		res("", "v1", "serviceaccounts", "ServiceAccount", ns, func() runtime.Object { return &corev1.ServiceAccount{} }, func() runtime.Object { return &corev1.ServiceAccountList{} }).short("sa"),
		res("", "v1", "nodes", "Node", cluster, func() runtime.Object { return &corev1.Node{} }, func() runtime.Object { return &corev1.NodeList{} }).short("no").withStatus(),
		res("", "v1", "persistentvolumes", "PersistentVolume", cluster, func() runtime.Object { return &corev1.PersistentVolume{} }, func() runtime.Object { return &corev1.PersistentVolumeList{} }).short("pv").withStatus(),
		res("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", ns, func() runtime.Object { return &corev1.PersistentVolumeClaim{} }, func() runtime.Object { return &corev1.PersistentVolumeClaimList{} }).short("pvc").withStatus(),
		res("", "v1", "events", "Event", ns, func() runtime.Object { return &corev1.Event{} }, func() runtime.Object { return &corev1.EventList{} }).short("ev").putCreates(),

		res("apps", "v1", "deployments", "Deployment", ns, func() runtime.Object { return &appsv1.Deployment{} }, func() runtime.Object { return &appsv1.DeploymentList{} }).short("deploy").inAll().withStatus().withScale(deploymentScale),
		res("apps", "v1", "replicasets", "ReplicaSet", ns, func() runtime.Object { return &appsv1.ReplicaSet{} }, func() runtime.Object { return &appsv1.ReplicaSetList{} }).short("rs").inAll().withStatus().withScale(replicaSetScale),
		res("apps", "v1", "statefulsets", "StatefulSet", ns, func() runtime.Object { return &appsv1.StatefulSet{} }, func() runtime.Object { return &appsv1.StatefulSetList{} }).short("sts").inAll().withStatus().withScale(statefulSetScale),
		res("apps", "v1", "daemonsets", "DaemonSet", ns, func() runtime.Object { return &appsv1.DaemonSet{} }, func() runtime.Object { return &appsv1.DaemonSetList{} }).short("ds").inAll().withStatus(),
		res("apps", "v1", "controllerrevisions", "ControllerRevision", ns, func() runtime.Object { return &appsv1.ControllerRevision{} }, func() runtime.Object { return &appsv1.ControllerRevisionList{} }),

		res("batch", "v1", "jobs", "Job", ns, func() runtime.Object { return &batchv1.Job{} }, func() runtime.Object { return &batchv1.JobList{} }).inAll().withStatus(),
		res("batch", "v1", "cronjobs", "CronJob", ns, func() runtime.Object { return &batchv1.CronJob{} }, func() runtime.Object { return &batchv1.CronJobList{} }).short("cj").inAll().withStatus(),

		res("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", ns, func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} }, func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscalerList{} }).short("hpa").inAll().withStatus(),

		res("networking.k8s.io", "v1", "ingresses", "Ingress", ns, func() runtime.Object { return &networkingv1.Ingress{} }, func() runtime.Object { return &networkingv1.IngressList{} }).short("ing").withStatus(),
		res("networking.k8s.io", "v1", "ingressclasses", "IngressClass", cluster, func() runtime.Object { return &networkingv1.IngressClass{} }, func() runtime.Object { return &networkingv1.IngressClassList{} }),
		res("storage.k8s.io", "v1", "storageclasses", "StorageClass", cluster, func() runtime.Object { return &storagev1.StorageClass{} }, func() runtime.Object { return &storagev1.StorageClassList{} }).short("sc"),

		res("rbac.authorization.k8s.io", "v1", "roles", "Role", ns, func() runtime.Object { return &rbacv1.Role{} }, func() runtime.Object { return &rbacv1.RoleList{} }).putCreates(),
		res("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", ns, func() runtime.Object { return &rbacv1.RoleBinding{} }, func() runtime.Object { return &rbacv1.RoleBindingList{} }).putCreates(),
		res("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", cluster, func() runtime.Object { return &rbacv1.ClusterRole{} }, func() runtime.Object { return &rbacv1.ClusterRoleList{} }).putCreates(),
		res("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", cluster, func() runtime.Object { return &rbacv1.ClusterRoleBinding{} }, func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} }).putCreates(),

		res("coordination.k8s.io", "v1", "leases", "Lease", ns, func() runtime.Object { return &coordinationv1.Lease{} }, func() runtime.Object { return &coordinationv1.LeaseList{} }).putCreates(),
		res("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", ns, func() runtime.Object { return &discoveryv1.EndpointSlice{} }, func() runtime.Object { return &discoveryv1.EndpointSliceList{} }).putCreates(),
		res("events.k8s.io", "v1", "events", "Event", ns, func() runtime.Object { return &corev1.Event{} }, func() runtime.Object { return &corev1.EventList{} }).short("ev").putCreates(),
		res("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", cluster, func() runtime.Object { return &schedulingv1.PriorityClass{} }, func() runtime.Object { return &schedulingv1.PriorityClassList{} }).short("pc"),
		res("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", ns, func() runtime.Object { return &policyv1.PodDisruptionBudget{} }, func() runtime.Object { return &policyv1.PodDisruptionBudgetList{} }).short("pdb").withStatus(),
	}
	for _, r := range list {
		switch r.groupResource() {
		case schema.GroupResource{Resource: "nodes"}:
			r.keepStatusOnCreate = true
		case schema.GroupResource{Resource: "events"}:
			r.ttl = 3600
		case schema.GroupResource{Group: "events.k8s.io", Resource: "events"}:
			r.ttl = 3600
			r.storedAs = &schema.GroupVersionResource{Version: "v1", Resource: "events"}
		case schema.GroupResource{Group: "autoscaling", Resource: "horizontalpodautoscalers"}:
			r.versions = []string{autoscalingv2.SchemeGroupVersion.Version, autoscalingv1.SchemeGroupVersion.Version}
		}
	}
	addLifecycles(list)
	return list
}

// groupOrder is the order of groups in discovery, as in Kubernetes.
var groupOrder = []string{
	"", "apps", "events.k8s.io", "autoscaling", "batch", "networking.k8s.io", "policy",
	"rbac.authorization.k8s.io", "storage.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "scheduling.k8s.io",
}

var _ = eventsv1.SchemeGroupVersion
