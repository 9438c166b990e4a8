package apiserver

import (
	"context"
	"reflect"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/apiserver/pkg/storage/names"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/appliance/appliance/appliance/apiserver/validation"
)

// strategy gives every resource the Kubernetes object life cycle:
//   - create resets status (the main resource never sets it) and sets generation 1;
//   - update keeps the stored status and bumps generation only when something other
//     than metadata and status changed;
//   - validation and defaulting are the type's own (the validation and defaults
//     packages), and resource-specific hooks add what a kind needs (a namespace's
//     finalizer, a pod's Pending phase, ...).
type strategy struct {
	runtime.ObjectTyper
	names.NameGenerator
	r *resource
}

func newStrategy(r *resource) strategy {
	return strategy{ObjectTyper: Scheme, NameGenerator: names.SimpleNameGenerator, r: r}
}

func (s strategy) NamespaceScoped() bool { return s.r.namespaced }

func (s strategy) PrepareForCreate(ctx context.Context, obj runtime.Object) {
	if s.r.hasStatus && !s.r.keepStatusOnCreate {
		resetStatus(obj)
	}
	if hasSpec(obj) {
		if m, err := meta.Accessor(obj); err == nil {
			m.SetGeneration(1)
		}
	}
	if s.r.prepareCreate != nil {
		s.r.prepareCreate(obj)
	}
}

func (s strategy) Validate(ctx context.Context, obj runtime.Object) field.ErrorList {
	return validation.Validate(obj)
}

func (s strategy) WarningsOnCreate(ctx context.Context, obj runtime.Object) []string { return nil }
func (s strategy) Canonicalize(obj runtime.Object)                                   {}
func (s strategy) AllowCreateOnUpdate(ctx context.Context) bool                      { return s.r.createOnUpdate }
func (s strategy) AllowUnconditionalUpdate(ctx context.Context) bool                 { return true }

func (s strategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	if s.r.hasStatus {
		copyStatus(obj, old)
	}
	newMeta, err1 := meta.Accessor(obj)
	oldMeta, err2 := meta.Accessor(old)
	if err1 == nil && err2 == nil && hasSpec(obj) {
		g := oldMeta.GetGeneration()
		if !sameSpec(obj, old) {
			g++
		}
		newMeta.SetGeneration(g)
	}
	if s.r.prepareUpdate != nil {
		s.r.prepareUpdate(obj, old)
	}
}

func (s strategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateUpdate(obj, old)
}

func (s strategy) WarningsOnUpdate(ctx context.Context, obj, old runtime.Object) []string {
	return nil
}

// GetResetFields: server-side apply to the main resource never owns status.
func (s strategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	if !s.r.hasStatus {
		return nil
	}
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(s.r.gv().String()): fieldpath.NewSet(fieldpath.MakePathOrDie("status")),
	}
}

// CheckGracefulDelete lets a kind (pods) keep deleted objects until their owner
// confirms; others are removed at once.
func (s strategy) CheckGracefulDelete(ctx context.Context, obj runtime.Object, options *metav1.DeleteOptions) bool {
	if s.r.gracefulDelete == nil {
		return false
	}
	return s.r.gracefulDelete(obj, options)
}

// statusStrategy serves the /status subresource: status changes, and so may
// labels and annotations (kubelets and controllers write them along with status,
// as Kubernetes' pod, node and workload status strategies allow); the spec and
// the system metadata (generation, deletionTimestamp, finalizers, owners) come
// from the stored object.
type statusStrategy struct{ strategy }

func (s statusStrategy) PrepareForUpdate(ctx context.Context, obj, old runtime.Object) {
	nv, ov := reflect.ValueOf(obj).Elem(), reflect.ValueOf(old).Elem()
	t := nv.Type()
	for i := 0; i < t.NumField(); i++ {
		switch t.Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
			continue
		}
		nv.Field(i).Set(ov.Field(i))
	}
	newMeta, err1 := meta.Accessor(obj)
	oldMeta, err2 := meta.Accessor(old)
	if err1 != nil || err2 != nil {
		return
	}
	newMeta.SetGeneration(oldMeta.GetGeneration())
	newMeta.SetDeletionTimestamp(oldMeta.GetDeletionTimestamp())
	newMeta.SetDeletionGracePeriodSeconds(oldMeta.GetDeletionGracePeriodSeconds())
	newMeta.SetFinalizers(oldMeta.GetFinalizers())
	newMeta.SetOwnerReferences(oldMeta.GetOwnerReferences())
	if s.r.group == "apps" {
		// The apps workloads' status strategies keep labels too.
		newMeta.SetLabels(oldMeta.GetLabels())
	}
}

func (s statusStrategy) ValidateUpdate(ctx context.Context, obj, old runtime.Object) field.ErrorList {
	return validation.ValidateStatusUpdate(obj, old)
}

func (s statusStrategy) GetResetFields() map[fieldpath.APIVersion]*fieldpath.Set {
	return map[fieldpath.APIVersion]*fieldpath.Set{
		fieldpath.APIVersion(s.r.gv().String()): s.resetPaths(),
	}
}

func (s statusStrategy) resetPaths() *fieldpath.Set {
	if s.r.group == "apps" {
		return fieldpath.NewSet(fieldpath.MakePathOrDie("spec"), fieldpath.MakePathOrDie("metadata", "labels"))
	}
	return fieldpath.NewSet(fieldpath.MakePathOrDie("spec"))
}

func hasSpec(obj runtime.Object) bool {
	v := reflect.ValueOf(obj)
	return v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct && v.Elem().FieldByName("Spec").IsValid()
}

func resetStatus(obj runtime.Object) {
	f := reflect.ValueOf(obj).Elem().FieldByName("Status")
	if f.IsValid() {
		f.Set(reflect.Zero(f.Type()))
	}
}

func copyStatus(obj, old runtime.Object) {
	f := reflect.ValueOf(obj).Elem().FieldByName("Status")
	o := reflect.ValueOf(old).Elem().FieldByName("Status")
	if f.IsValid() && o.IsValid() {
		f.Set(o)
	}
}

// sameSpec compares everything but type, metadata and status: what a change of
// generation stands for.
func sameSpec(a, b runtime.Object) bool {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	t := va.Type()
	for i := 0; i < t.NumField(); i++ {
		switch t.Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
			continue
		}
		if !apiequality.Semantic.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			return false
		}
	}
	return true
}

var _ rest.RESTCreateStrategy = strategy{}
var _ rest.RESTUpdateStrategy = strategy{}
var _ rest.RESTGracefulDeleteStrategy = strategy{}
