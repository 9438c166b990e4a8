package apiserver

import (
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// addLifecycles attaches what a kind adds to the generic object life cycle.
func addLifecycles(list []*resource) {
	for _, r := range list {
		switch r.groupResource() {
		case schema.GroupResource{Resource: "namespaces"}:
			r.prepareCreate = func(obj runtime.Object) {
				// Every namespace carries the "kubernetes" finalizer: deleting it first
				// empties it, then the namespace controller finalizes it.
				n := obj.(*corev1.Namespace)
				n.Spec.Finalizers = []corev1.FinalizerName{corev1.FinalizerKubernetes}
				n.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
				setNamespaceNameLabel(n)
			}
			r.prepareUpdate = func(obj, old runtime.Object) {
				// spec.finalizers change only through /finalize.
				n := obj.(*corev1.Namespace)
				n.Spec.Finalizers = old.(*corev1.Namespace).Spec.Finalizers
				setNamespaceNameLabel(n)
			}
		case schema.GroupResource{Resource: "pods"}:
			r.prepareCreate = func(obj runtime.Object) {
				p := obj.(*corev1.Pod)
				p.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(&p.Spec)}
			}
			r.gracefulDelete = podGracefulDelete
		case schema.GroupResource{Resource: "secrets"}:
			// stringData is write-only: it is merged into data, as Kubernetes does.
			r.prepareCreate = func(obj runtime.Object) { mergeStringData(obj.(*corev1.Secret)) }
			r.prepareUpdate = func(obj, _ runtime.Object) { mergeStringData(obj.(*corev1.Secret)) }
		case schema.GroupResource{Group: "batch", Resource: "jobs"}:
			r.prepareCreate = jobSelector
		case schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}:
			// An EndpointSlice has no spec, yet its generation moves as
			// Kubernetes' registry moves it: 1 at create, +1 whenever its
			// endpoints, ports, address type or labels change. The
			// EndpointSlice controller tells its own writes from others' by it.
			r.prepareCreate = func(obj runtime.Object) { obj.(*discoveryv1.EndpointSlice).Generation = 1 }
			r.prepareUpdate = func(obj, old runtime.Object) {
				n, o := obj.(*discoveryv1.EndpointSlice), old.(*discoveryv1.EndpointSlice)
				n.Generation = o.Generation
				if !apiequality.Semantic.DeepEqual(n.Endpoints, o.Endpoints) || !apiequality.Semantic.DeepEqual(n.Ports, o.Ports) ||
					n.AddressType != o.AddressType || !apiequality.Semantic.DeepEqual(n.Labels, o.Labels) {
					n.Generation++
				}
			}
		case schema.GroupResource{Resource: "persistentvolumes"}:
			r.prepareCreate = func(obj runtime.Object) {
				obj.(*corev1.PersistentVolume).Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending}
			}
		case schema.GroupResource{Resource: "persistentvolumeclaims"}:
			r.prepareCreate = func(obj runtime.Object) {
				obj.(*corev1.PersistentVolumeClaim).Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
			}
		}
	}
}

// jobSelector gives a Job without manualSelector a selector on its own UID and
// labels its pod template to match, as Kubernetes' job registry does.
func jobSelector(obj runtime.Object) {
	job := obj.(*batchv1.Job)
	if job.Spec.ManualSelector != nil && *job.Spec.ManualSelector {
		return
	}
	uid := string(job.UID)
	labels := map[string]string{
		batchv1.ControllerUidLabel: uid,
		batchv1.JobNameLabel:       job.Name,
		"controller-uid":           uid,
		"job-name":                 job.Name,
	}
	if job.Spec.Template.Labels == nil {
		job.Spec.Template.Labels = map[string]string{}
	}
	for k, v := range labels {
		job.Spec.Template.Labels[k] = v
	}
	job.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{batchv1.ControllerUidLabel: uid}}
	// Defaulting gives a Job without labels its template's labels; do it here
	// too, after the template got its own, so what is stored is what is read.
	if len(job.Labels) == 0 {
		job.Labels = maps.Clone(job.Spec.Template.Labels)
	}
}

// podGracefulDelete: a pod that runs on a node is marked for deletion and stays
// until its kubelet has stopped it (within the grace period); a pod that never
// reached a node, or has finished, goes at once. As in Kubernetes.
func podGracefulDelete(obj runtime.Object, options *metav1.DeleteOptions) bool {
	if options == nil {
		return false
	}
	pod := obj.(*corev1.Pod)
	period := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if options.GracePeriodSeconds != nil {
		period = *options.GracePeriodSeconds
	} else if pod.DeletionGracePeriodSeconds != nil {
		period = *pod.DeletionGracePeriodSeconds
	} else if pod.Spec.TerminationGracePeriodSeconds != nil {
		period = *pod.Spec.TerminationGracePeriodSeconds
	}
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		period = 0
	}
	if period < 0 {
		period = 1
	}
	options.GracePeriodSeconds = &period
	return true
}

// qosClass follows Kubernetes: Guaranteed when every container has equal cpu and
// memory requests and limits, BestEffort when none has any, Burstable otherwise.
func qosClass(spec *corev1.PodSpec) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	all := append(append([]corev1.Container{}, spec.Containers...), spec.InitContainers...)
	for _, c := range all {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[name]
			lim, hasLim := c.Resources.Limits[name]
			if hasReq && !req.IsZero() {
				requests[name] = req
			}
			if hasLim && !lim.IsZero() {
				limits[name] = lim
			}
			if !hasLim || lim.IsZero() || (hasReq && req.Cmp(lim) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case len(requests) == 0 && len(limits) == 0:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	default:
		return corev1.PodQOSBurstable
	}
}

// scaleAccess reads and writes the replica count behind a /scale subresource.
type scaleAccess struct {
	replicas    func(obj runtime.Object) int32
	setReplicas func(obj runtime.Object, n int32)
	status      func(obj runtime.Object) int32
	selector    func(obj runtime.Object) *metav1.LabelSelector
}

func deref(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

var deploymentScale = scaleAccess{
	replicas:    func(o runtime.Object) int32 { return deref(o.(*appsv1.Deployment).Spec.Replicas, 1) },
	setReplicas: func(o runtime.Object, n int32) { o.(*appsv1.Deployment).Spec.Replicas = &n },
	status:      func(o runtime.Object) int32 { return o.(*appsv1.Deployment).Status.Replicas },
	selector:    func(o runtime.Object) *metav1.LabelSelector { return o.(*appsv1.Deployment).Spec.Selector },
}

var replicaSetScale = scaleAccess{
	replicas:    func(o runtime.Object) int32 { return deref(o.(*appsv1.ReplicaSet).Spec.Replicas, 1) },
	setReplicas: func(o runtime.Object, n int32) { o.(*appsv1.ReplicaSet).Spec.Replicas = &n },
	status:      func(o runtime.Object) int32 { return o.(*appsv1.ReplicaSet).Status.Replicas },
	selector:    func(o runtime.Object) *metav1.LabelSelector { return o.(*appsv1.ReplicaSet).Spec.Selector },
}

var statefulSetScale = scaleAccess{
	replicas:    func(o runtime.Object) int32 { return deref(o.(*appsv1.StatefulSet).Spec.Replicas, 1) },
	setReplicas: func(o runtime.Object, n int32) { o.(*appsv1.StatefulSet).Spec.Replicas = &n },
	status:      func(o runtime.Object) int32 { return o.(*appsv1.StatefulSet).Status.Replicas },
	selector:    func(o runtime.Object) *metav1.LabelSelector { return o.(*appsv1.StatefulSet).Spec.Selector },
}

// setNamespaceNameLabel keeps kubernetes.io/metadata.name equal to the name, so
// namespace selectors can pick a namespace by name (Kubernetes does the same).
func setNamespaceNameLabel(n *corev1.Namespace) {
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	n.Labels[corev1.LabelMetadataName] = n.Name
}

func mergeStringData(s *corev1.Secret) {
	if len(s.StringData) == 0 {
		s.StringData = nil
		return
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
}
