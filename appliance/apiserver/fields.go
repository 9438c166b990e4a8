package apiserver

import (
	"fmt"
	"strconv"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/storage"
)

// Field selectors: each kind offers metadata.name and metadata.namespace, and the
// few extra fields Kubernetes indexes for it (a kubelet lists its pods by
// spec.nodeName, kubectl lists events by involvedObject).
var extraFields = map[schema.GroupKind]func(runtime.Object, fields.Set){
	{Kind: "Pod"}: func(o runtime.Object, s fields.Set) {
		p := o.(*corev1.Pod)
		s["spec.nodeName"] = p.Spec.NodeName
		s["spec.restartPolicy"] = string(p.Spec.RestartPolicy)
		s["spec.schedulerName"] = p.Spec.SchedulerName
		s["spec.serviceAccountName"] = p.Spec.ServiceAccountName
		s["spec.hostNetwork"] = strconv.FormatBool(p.Spec.HostNetwork)
		s["status.phase"] = string(p.Status.Phase)
		s["status.podIP"] = p.Status.PodIP
		s["status.nominatedNodeName"] = p.Status.NominatedNodeName
	},
	{Kind: "Event"}:                         eventFields,
	{Group: "events.k8s.io", Kind: "Event"}: eventFields,
	{Kind: "Secret"}: func(o runtime.Object, s fields.Set) {
		s["type"] = string(o.(*corev1.Secret).Type)
	},
	{Kind: "Node"}: func(o runtime.Object, s fields.Set) {
		s["spec.unschedulable"] = strconv.FormatBool(o.(*corev1.Node).Spec.Unschedulable)
	},
	{Kind: "Namespace"}: func(o runtime.Object, s fields.Set) {
		s["status.phase"] = string(o.(*corev1.Namespace).Status.Phase)
	},
	{Kind: "PersistentVolumeClaim"}: func(o runtime.Object, s fields.Set) {
		s["spec.volumeName"] = o.(*corev1.PersistentVolumeClaim).Spec.VolumeName
	},
	{Kind: "Service"}: func(o runtime.Object, s fields.Set) {
		s["spec.clusterIP"] = o.(*corev1.Service).Spec.ClusterIP
		s["spec.type"] = string(o.(*corev1.Service).Spec.Type)
	},
	{Group: "batch", Kind: "Job"}: func(o runtime.Object, s fields.Set) {
		s["status.successful"] = strconv.Itoa(int(o.(*batchv1.Job).Status.Succeeded))
	},
}

func eventFields(o runtime.Object, s fields.Set) {
	e := o.(*corev1.Event)
	s["involvedObject.kind"] = e.InvolvedObject.Kind
	s["involvedObject.namespace"] = e.InvolvedObject.Namespace
	s["involvedObject.name"] = e.InvolvedObject.Name
	s["involvedObject.uid"] = string(e.InvolvedObject.UID)
	s["involvedObject.apiVersion"] = e.InvolvedObject.APIVersion
	s["involvedObject.resourceVersion"] = e.InvolvedObject.ResourceVersion
	s["involvedObject.fieldPath"] = e.InvolvedObject.FieldPath
	s["reason"] = e.Reason
	s["reportingComponent"] = e.ReportingController
	s["source"] = e.Source.Component
	s["type"] = e.Type
}

// objectFields returns the selectable fields of obj.
func objectFields(gk schema.GroupKind, namespaced bool, obj runtime.Object) (fields.Set, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	s := fields.Set{"metadata.name": m.GetName()}
	if namespaced {
		s["metadata.namespace"] = m.GetNamespace()
	}
	if f := extraFields[gk]; f != nil {
		f(obj, s)
	}
	return s, nil
}

// attrFunc is the storage.AttrFunc for one kind.
func attrFunc(gk schema.GroupKind, namespaced bool) storage.AttrFunc {
	return func(obj runtime.Object) (labels.Set, fields.Set, error) {
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil, nil, err
		}
		f, err := objectFields(gk, namespaced, obj)
		return labels.Set(m.GetLabels()), f, err
	}
}

// selectableFieldNames lists the field selector keys a kind accepts, for the
// scheme's field label conversion (unknown keys get 400 BadRequest).
func selectableFieldNames(gk schema.GroupKind, example runtime.Object) map[string]bool {
	s, _ := objectFields(gk, true, example)
	names := make(map[string]bool, len(s))
	for k := range s {
		names[k] = true
	}
	return names
}

// addFieldLabelConversions registers, for every external kind of every served
// group, which field selector keys it accepts.
func addFieldLabelConversions(s *runtime.Scheme) error {
	for gvk, t := range s.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal {
			continue
		}
		obj, ok := newObject(t)
		if !ok {
			continue
		}
		if _, err := meta.Accessor(obj); err != nil || meta.IsListType(obj) {
			continue
		}
		gk := gvk.GroupKind()
		if gk.Group == "events.k8s.io" {
			// stored as core Events: the same keys
			gk = schema.GroupKind{Kind: "Event"}
			obj = &corev1.Event{}
		}
		allowed := selectableFieldNames(gk, obj)
		kind := gvk
		if err := s.AddFieldLabelConversionFunc(kind, func(label, value string) (string, string, error) {
			if allowed[label] {
				return label, value, nil
			}
			return "", "", fmt.Errorf("field label not supported: %s", label)
		}); err != nil {
			return err
		}
	}
	return nil
}
