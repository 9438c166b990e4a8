package apiserver

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// namespaceREST is the namespaces endpoint. Deleting a namespace does not remove
// it: it turns Terminating (deletionTimestamp set) until the namespace controller
// has deleted everything in it and removed the "kubernetes" finalizer through
// /finalize; the next delete then removes it. There is no deletecollection, as in
// Kubernetes.
type namespaceREST struct {
	store *genericregistry.Store
	r     *resource
}

func (n *namespaceREST) New() runtime.Object     { return n.store.New() }
func (n *namespaceREST) NewList() runtime.Object { return n.store.NewList() }
func (n *namespaceREST) Destroy()                { n.store.Destroy() }
func (n *namespaceREST) NamespaceScoped() bool   { return false }
func (n *namespaceREST) GetSingularName() string { return "namespace" }
func (n *namespaceREST) ShortNames() []string    { return n.r.shortNames }
func (n *namespaceREST) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return n.store.GetResetFields()
}
func (n *namespaceREST) Get(ctx context.Context, name string, o *metav1.GetOptions) (runtime.Object, error) {
	return n.store.Get(ctx, name, o)
}
func (n *namespaceREST) List(ctx context.Context, o *metainternalversion.ListOptions) (runtime.Object, error) {
	return n.store.List(ctx, o)
}
func (n *namespaceREST) Watch(ctx context.Context, o *metainternalversion.ListOptions) (watch.Interface, error) {
	return n.store.Watch(ctx, o)
}
func (n *namespaceREST) ConvertToTable(ctx context.Context, obj, opts runtime.Object) (*metav1.Table, error) {
	return n.store.ConvertToTable(ctx, obj, opts)
}
func (n *namespaceREST) Create(ctx context.Context, obj runtime.Object, v rest.ValidateObjectFunc, o *metav1.CreateOptions) (runtime.Object, error) {
	return n.store.Create(ctx, obj, v, o)
}
func (n *namespaceREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, cv rest.ValidateObjectFunc, uv rest.ValidateObjectUpdateFunc, force bool, o *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return n.store.Update(ctx, name, objInfo, cv, uv, force, o)
}

func (n *namespaceREST) Delete(ctx context.Context, name string, deleteValidation rest.ValidateObjectFunc, options *metav1.DeleteOptions) (runtime.Object, bool, error) {
	got, err := n.store.Get(ctx, name, &metav1.GetOptions{})
	if err != nil {
		return nil, false, err
	}
	ns := got.(*corev1.Namespace)
	if options == nil {
		options = metav1.NewDeleteOptions(0)
	}
	if p := options.Preconditions; p != nil {
		if p.UID != nil && *p.UID != ns.UID {
			return nil, false, apierrors.NewConflict(n.store.DefaultQualifiedResource, name,
				fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *p.UID, ns.UID))
		}
		if p.ResourceVersion != nil && *p.ResourceVersion != ns.ResourceVersion {
			return nil, false, apierrors.NewConflict(n.store.DefaultQualifiedResource, name,
				fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *p.ResourceVersion, ns.ResourceVersion))
		}
	}
	if ns.DeletionTimestamp != nil && len(ns.Spec.Finalizers) == 0 {
		// Emptied and finalized: now it goes (metadata finalizers permitting).
		return n.store.Delete(ctx, name, deleteValidation, options)
	}
	if deleteValidation != nil {
		if err := deleteValidation(ctx, ns); err != nil {
			return nil, false, err
		}
	}
	key, err := n.store.KeyFunc(ctx, name)
	if err != nil {
		return nil, false, err
	}
	out := &corev1.Namespace{}
	pre := storage.Preconditions{UID: &ns.UID}
	dryRun := slices.Contains(options.DryRun, metav1.DryRunAll)
	err = n.store.Storage.GuaranteedUpdate(ctx, key, out, false, &pre, storage.SimpleUpdate(func(obj runtime.Object) (runtime.Object, error) {
		cur := obj.(*corev1.Namespace)
		if cur.DeletionTimestamp == nil {
			now := metav1.Now()
			cur.DeletionTimestamp = &now
		}
		cur.Status.Phase = corev1.NamespaceTerminating
		if options.PropagationPolicy != nil && *options.PropagationPolicy == metav1.DeletePropagationOrphan &&
			!slices.Contains(cur.Finalizers, metav1.FinalizerOrphanDependents) {
			cur.Finalizers = append(cur.Finalizers, metav1.FinalizerOrphanDependents)
		}
		return cur, nil
	}), dryRun, nil)
	if err != nil {
		return nil, false, err
	}
	return out, false, nil
}

// finalizeREST serves namespaces/finalize: the only way to change
// spec.finalizers.
type finalizeREST struct{ store *genericregistry.Store }

func newFinalizeREST(store *genericregistry.Store, r *resource) *finalizeREST {
	s := *store
	s.UpdateStrategy = finalizeStrategy{newStrategy(r)}
	return &finalizeREST{store: &s}
}

func (f *finalizeREST) New() runtime.Object { return &corev1.Namespace{} }
func (f *finalizeREST) Destroy()            {}
func (f *finalizeREST) Update(ctx context.Context, name string, objInfo rest.UpdatedObjectInfo, cv rest.ValidateObjectFunc, uv rest.ValidateObjectUpdateFunc, _ bool, o *metav1.UpdateOptions) (runtime.Object, bool, error) {
	return f.store.Update(ctx, name, objInfo, cv, uv, false, o)
}

type finalizeStrategy struct{ strategy }

func (finalizeStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	n, o := obj.(*corev1.Namespace), old.(*corev1.Namespace)
	finalizers, rv := n.Spec.Finalizers, n.ResourceVersion
	*n = *o.DeepCopy()
	n.Spec.Finalizers, n.ResourceVersion = finalizers, rv
}

func (finalizeStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	var errs field.ErrorList
	for i, f := range obj.(*corev1.Namespace).Spec.Finalizers {
		if f == "" {
			errs = append(errs, field.Required(field.NewPath("spec", "finalizers").Index(i), ""))
		}
	}
	return errs
}
