package apiserver

import (
	"context"
	"fmt"
	"slices"
	"strings"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	storeerr "k8s.io/apiserver/pkg/storage/errors"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/appliance/appliance/appliance/apiserver/printers"
)

// mainREST is a resource's own endpoint: the generic store plus discovery's short
// names and categories.
type mainREST struct {
	*genericregistry.Store
	r *resource
}

func (m *mainREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return getObject(ctx, m.Store, name, options)
}

// getObject is the store's Get for the resource and each of its
// subresources; it answers a resourceVersion that is not one
// (?resourceVersion=abc) with 400, as lists do, rather than the 500 the watch
// cache's parse error gives.
func getObject(ctx context.Context, store *genericregistry.Store, name string, options *metav1.GetOptions) (runtime.Object, error) {
	obj, err := store.Get(ctx, name, options)
	if storage.IsInvalidError(err) {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return obj, err
}

// Update: see applyErrors.
func (m *mainREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, forceAllowCreate bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return m.Store.Update(ctx, name, applyErrors{objInfo}, createValidation, updateValidation, forceAllowCreate, options)
}

// applyErrors answers a server-side apply whose object does not fit the
// resource's schema (a string where a number goes, an unknown field, two list
// entries with the same key) with 400 Bad Request. The field manager reports
// it as a plain error, which the API server would send as a 500; Kubernetes
// has the same bug (kubernetes/kubernetes#139253, fixed the same way).
type applyErrors struct{ rest.UpdatedObjectInfo }

func (a applyErrors) UpdatedObject(ctx context.Context, old runtime.Object) (runtime.Object, error) {
	obj, err := a.UpdatedObjectInfo.UpdatedObject(ctx, old)
	if _, isStatus := err.(apierrors.APIStatus); err != nil && !isStatus && strings.Contains(err.Error(), "failed to create typed patch object") {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	return obj, err
}

func (m *mainREST) ShortNames() []string { return m.r.shortNames }
func (m *mainREST) Categories() []string { return m.r.categories }

// newStore builds the etcd-backed, watch-cached store of one resource.
func newStore(r *resource, opts generic.RESTOptionsGetter) (*genericregistry.Store, error) {
	s := newStrategy(r)
	gk := schema.GroupKind{Group: r.group, Kind: r.kind}
	attrs := attrFunc(gk, r.namespaced)
	tc, ok := printers.TableConvertor(r.groupResource())
	if !ok {
		tc = rest.NewDefaultTableConvertor(r.groupResource())
	}
	store := &genericregistry.Store{
		NewFunc:                   r.newFunc,
		NewListFunc:               r.newList,
		DefaultQualifiedResource:  r.groupResource(),
		SingularQualifiedResource: schema.GroupResource{Group: r.group, Resource: r.singular},
		CreateStrategy:            s,
		UpdateStrategy:            s,
		DeleteStrategy:            s,
		ResetFieldsStrategy:       s,
		TableConvertor:            tc,
		PredicateFunc: func(label labels.Selector, field fields.Selector) storage.SelectionPredicate {
			return storage.SelectionPredicate{Label: label, Field: field, GetAttrs: attrs}
		},
	}
	if r.ttl > 0 {
		ttl := r.ttl
		store.TTLFunc = func(runtime.Object, uint64, bool) (uint64, error) { return ttl, nil }
	}
	options := &generic.StoreOptions{RESTOptions: opts, AttrFunc: attrs}
	if r.groupResource() == (schema.GroupResource{Resource: "pods"}) {
		// Each kubelet watches only its own pods: index the watch cache by node.
		options.TriggerFunc = storage.IndexerFuncs{"spec.nodeName": func(obj runtime.Object) string {
			return obj.(*corev1.Pod).Spec.NodeName
		}}
	}
	if err := store.CompleteWithOptions(options); err != nil {
		return nil, fmt.Errorf("storage for %s: %w", r.groupResource(), err)
	}
	return store, nil
}

// statusREST serves <resource>/status.
type statusREST struct{ store *genericregistry.Store }

func newStatusREST(store *genericregistry.Store, r *resource) *statusREST {
	s := *store
	ss := statusStrategy{newStrategy(r)}
	s.UpdateStrategy, s.ResetFieldsStrategy = ss, ss
	return &statusREST{store: &s}
}

func (r *statusREST) New() runtime.Object { return r.store.New() }
func (r *statusREST) Destroy()            {}
func (r *statusREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	return getObject(ctx, r.store, name, options)
}
func (r *statusREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, _ bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	// A status update never creates the object.
	return r.store.Update(ctx, name, applyErrors{objInfo}, createValidation, updateValidation, false, options)
}
func (r *statusREST) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return r.store.GetResetFields()
}
func (r *statusREST) ConvertToTable(ctx context.Context, obj runtime.Object, opts runtime.Object) (*metav1.Table, error) {
	return r.store.ConvertToTable(ctx, obj, opts)
}

// scaleREST serves <resource>/scale as an autoscaling/v1 Scale, the interface
// `kubectl scale` and the HPA use.
type scaleREST struct {
	store  *genericregistry.Store
	access scaleAccess
	gr     schema.GroupResource
}

var scaleGVK = autoscalingv1.SchemeGroupVersion.WithKind("Scale")

func (r *scaleREST) New() runtime.Object { return &autoscalingv1.Scale{} }
func (r *scaleREST) Destroy()            {}
func (r *scaleREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return scaleGVK
}

func (r *scaleREST) toScale(obj runtime.Object) (*autoscalingv1.Scale, error) {
	m, err := metaOf(obj)
	if err != nil {
		return nil, err
	}
	sel := ""
	if ls := r.access.selector(obj); ls != nil {
		s, err := metav1.LabelSelectorAsSelector(ls)
		if err == nil {
			sel = s.String()
		}
	}
	return &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{
			Name: m.Name, Namespace: m.Namespace, UID: m.UID,
			ResourceVersion: m.ResourceVersion, CreationTimestamp: m.CreationTimestamp,
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: r.access.replicas(obj)},
		Status: autoscalingv1.ScaleStatus{Replicas: r.access.status(obj), Selector: sel},
	}, nil
}

func (r *scaleREST) Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error) {
	obj, err := getObject(ctx, r.store, name, options)
	if err != nil {
		return nil, err
	}
	return r.toScale(obj)
}

func (r *scaleREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, createValidation rest.ValidateObjectFunc, updateValidation rest.ValidateObjectUpdateFunc, _ bool, options *metav1.UpdateOptions) (runtime.Object, bool, error) {
	info := updateFunc(func(ctx context.Context, old runtime.Object) (runtime.Object, error) {
		oldScale, err := r.toScale(old)
		if err != nil {
			return nil, err
		}
		obj, err := objInfo.UpdatedObject(ctx, oldScale)
		if err != nil {
			return nil, err
		}
		scale, ok := obj.(*autoscalingv1.Scale)
		if !ok {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("expected Scale, got %T", obj))
		}
		if scale.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(scaleGVK.GroupKind(), name, field.ErrorList{
				field.Invalid(field.NewPath("spec", "replicas"), scale.Spec.Replicas, "must be greater than or equal to 0"),
			})
		}
		if updateValidation != nil {
			if err := updateValidation(ctx, scale, oldScale); err != nil {
				return nil, err
			}
		}
		parent := old.DeepCopyObject()
		m, _ := metaOf(parent)
		// A Scale that names a resourceVersion is a conditional update of its parent.
		m.ResourceVersion = scale.ResourceVersion
		r.access.setReplicas(parent, scale.Spec.Replicas)
		return parent, nil
	})
	obj, _, err := r.store.Update(ctx, name, info, createValidation, nil, false, options)
	if err != nil {
		return nil, false, err
	}
	s, err := r.toScale(obj)
	return s, false, err
}

func (r *scaleREST) ConvertToTable(ctx context.Context, obj runtime.Object, opts runtime.Object) (*metav1.Table, error) {
	return rest.NewDefaultTableConvertor(r.gr).ConvertToTable(ctx, obj, opts)
}

// updateFunc adapts a function to rest.UpdatedObjectInfo.
type updateFunc func(ctx context.Context, old runtime.Object) (runtime.Object, error)

func (f updateFunc) Preconditions() *metav1.Preconditions { return nil }
func (f updateFunc) UpdatedObject(ctx context.Context, old runtime.Object) (runtime.Object, error) {
	return f(ctx, old)
}

// bindingREST serves pods/binding: the scheduler's way to place a pod. A pod is
// bound once; binding a bound or terminating pod is a Conflict, as in Kubernetes.
type bindingREST struct{ store *genericregistry.Store }

func (r *bindingREST) New() runtime.Object { return &corev1.Binding{} }
func (r *bindingREST) Destroy()            {}

// PreserveRequestObjectMetaSystemFieldsOnSubresourceCreate keeps the
// Binding's metadata.uid, which the create handler would otherwise wipe: it
// is the UID of the pod the scheduler decided for, checked as a
// precondition, so a pod deleted and re-created under the same name is not
// bound by a stale decision (Kubernetes' binding does the same).
func (r *bindingREST) PreserveRequestObjectMetaSystemFieldsOnSubresourceCreate() bool { return true }

func (r *bindingREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	b, ok := obj.(*corev1.Binding)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not a Binding: %T", obj))
	}
	if b.Name != name {
		return nil, apierrors.NewBadRequest("name in URL does not match name in Binding object")
	}
	var errs field.ErrorList
	if b.Target.Kind != "" && b.Target.Kind != "Node" {
		errs = append(errs, field.NotSupported(field.NewPath("target", "kind"), b.Target.Kind, []string{"Node", "<empty>"}))
	}
	if b.Target.Name == "" {
		errs = append(errs, field.Required(field.NewPath("target", "name"), ""))
	}
	if len(errs) > 0 {
		return nil, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Binding").GroupKind(), name, errs)
	}
	if createValidation != nil {
		if err := createValidation(ctx, b.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	key, err := r.store.KeyFunc(ctx, name)
	if err != nil {
		return nil, err
	}
	dryRun := options != nil && slices.Contains(options.DryRun, metav1.DryRunAll)
	var pre *storage.Preconditions
	if b.UID != "" {
		pre = &storage.Preconditions{UID: &b.UID}
	}
	err = r.store.Storage.GuaranteedUpdate(ctx, key, &corev1.Pod{}, false, pre, storage.SimpleUpdate(func(obj runtime.Object) (runtime.Object, error) {
		pod := obj.(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(r.store.DefaultQualifiedResource, name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(r.store.DefaultQualifiedResource, name, fmt.Errorf("pod %v is already assigned to node %q", name, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(&pod.Status, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue})
		return pod, nil
	}), dryRun, nil)
	if err != nil {
		// A pod deleted meanwhile is 404, a stale UID 409, as in Kubernetes.
		return nil, storeerr.InterpretUpdateError(err, r.store.DefaultQualifiedResource, name)
	}
	return &metav1.Status{Status: metav1.StatusSuccess, Code: 201}, nil
}

func setPodCondition(status *corev1.PodStatus, c corev1.PodCondition) {
	c.LastTransitionTime = metav1.Now()
	for i := range status.Conditions {
		if status.Conditions[i].Type == c.Type {
			if status.Conditions[i].Status == c.Status {
				c.LastTransitionTime = status.Conditions[i].LastTransitionTime
			}
			status.Conditions[i] = c
			return
		}
	}
	status.Conditions = append(status.Conditions, c)
}

// evictionREST serves pods/eviction: a delete that respects PodDisruptionBudgets.
// An eviction that would take a budget below its minimum is refused with 429, so
// `kubectl drain` waits and retries, as against Kubernetes.
type evictionREST struct {
	pods *genericregistry.Store
	pdbs *genericregistry.Store
}

func (r *evictionREST) New() runtime.Object { return &policyv1.Eviction{} }
func (r *evictionREST) Destroy()            {}
func (r *evictionREST) GroupVersionKind(schema.GroupVersion) schema.GroupVersionKind {
	return policyv1.SchemeGroupVersion.WithKind("Eviction")
}

func (r *evictionREST) Create(ctx context.Context, name string, obj runtime.Object, createValidation rest.ValidateObjectFunc, options *metav1.CreateOptions) (runtime.Object, error) {
	ev, ok := obj.(*policyv1.Eviction)
	if !ok {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("not an Eviction: %T", obj))
	}
	if ev.Name != "" && ev.Name != name {
		return nil, apierrors.NewBadRequest("name in URL does not match name in Eviction object")
	}
	if createValidation != nil {
		if err := createValidation(ctx, ev.DeepCopyObject()); err != nil {
			return nil, err
		}
	}
	got, err := r.pods.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	pod := got.(*corev1.Pod)
	deleteOptions := ev.DeleteOptions
	if deleteOptions == nil {
		deleteOptions = &metav1.DeleteOptions{}
	}
	if options != nil && len(options.DryRun) > 0 {
		deleteOptions.DryRun = options.DryRun
	}
	terminal := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	if !terminal && pod.DeletionTimestamp == nil {
		if err := r.takeDisruption(ctx, pod, deleteOptions.DryRun); err != nil {
			return nil, err
		}
	}
	if _, _, err := r.pods.Delete(ctx, name, rest.ValidateAllObjectFunc, deleteOptions); err != nil {
		return nil, err
	}
	return &metav1.Status{Status: metav1.StatusSuccess, Code: 201}, nil
}

// takeDisruption decrements the disruptionsAllowed of the budget that covers pod.
func (r *evictionREST) takeDisruption(ctx context.Context, pod *corev1.Pod, dryRun []string) error {
	list, err := r.pdbs.List(ctx, &metainternalversion.ListOptions{})
	if err != nil {
		return err
	}
	var match []*policyv1.PodDisruptionBudget
	for i := range list.(*policyv1.PodDisruptionBudgetList).Items {
		pdb := &list.(*policyv1.PodDisruptionBudgetList).Items[i]
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		match = append(match, pdb)
	}
	switch {
	case len(match) == 0:
		return nil
	case len(match) > 1:
		return apierrors.NewInternalError(fmt.Errorf("this pod has more than one PodDisruptionBudget, which the eviction subresource does not support"))
	}
	pdb := match[0]
	tooMany := func() error {
		e := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
		e.ErrStatus.Details.Causes = append(e.ErrStatus.Details.Causes, metav1.StatusCause{
			Type:    "DisruptionBudget",
			Message: fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name, pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy),
		})
		return e
	}
	if pdb.Status.ObservedGeneration < pdb.Generation || pdb.Status.DisruptionsAllowed <= 0 {
		return tooMany()
	}
	key, err := r.pdbs.KeyFunc(ctx, pdb.Name)
	if err != nil {
		return err
	}
	dry := slices.Contains(dryRun, metav1.DryRunAll)
	return r.pdbs.Storage.GuaranteedUpdate(ctx, key, &policyv1.PodDisruptionBudget{}, false, nil, storage.SimpleUpdate(func(obj runtime.Object) (runtime.Object, error) {
		p := obj.(*policyv1.PodDisruptionBudget)
		if p.Status.DisruptionsAllowed <= 0 {
			return nil, tooMany()
		}
		p.Status.DisruptionsAllowed--
		if p.Status.DisruptedPods == nil {
			p.Status.DisruptedPods = map[string]metav1.Time{}
		}
		p.Status.DisruptedPods[pod.Name] = metav1.Now()
		return p, nil
	}), dry, nil)
}

func metaOf(obj runtime.Object) (*metav1.ObjectMeta, error) {
	type objectMeta interface{ GetObjectMeta() metav1.Object }
	if o, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if m, ok := o.GetObjectMeta().(*metav1.ObjectMeta); ok {
			return m, nil
		}
	}
	return nil, fmt.Errorf("%T has no ObjectMeta", obj)
}

var _ watch.Interface = nil
