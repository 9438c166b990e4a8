package apiserver

import (
	"reflect"

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
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/appliance/appliance/appliance/apiserver/defaults"
)

// The scheme knows every served type twice: under its external version (v1, v2...)
// and under the group's internal version. The API server's handlers convert request
// bodies to the internal version before they reach storage; since our internal
// types are the k8s.io/api types themselves, that conversion only sets the kind.
// Two groups differ: autoscaling keeps v2 HorizontalPodAutoscalers internally (v1
// is converted), and events.k8s.io keeps core/v1 Events (as Kubernetes does, both
// APIs show the same objects).
var (
	Scheme = runtime.NewScheme()
	Codecs = serializer.NewCodecFactory(Scheme)

	// externalScheme holds only the external versions; OpenAPI names its
	// definitions from it, so no __internal kind leaks into the documents.
	externalScheme = runtime.NewScheme()
)

// addExternal registers the k8s.io/api groups we serve.
var externalBuilder = runtime.NewSchemeBuilder(
	corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
	autoscalingv1.AddToScheme, autoscalingv2.AddToScheme, networkingv1.AddToScheme,
	storagev1.AddToScheme, rbacv1.AddToScheme, coordinationv1.AddToScheme,
	discoveryv1.AddToScheme, eventsv1.AddToScheme, policyv1.AddToScheme,
	schedulingv1.AddToScheme,
)

func addExternal(s *runtime.Scheme) error { return externalBuilder.AddToScheme(s) }

func init() {
	must(addExternal(Scheme))
	must(addPodOptionConversions(Scheme))
	must(addExternal(externalScheme))
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	Scheme.AddUnversionedTypes(schema.GroupVersion{Version: "v1"},
		&metav1.Status{}, &metav1.APIVersions{}, &metav1.APIGroupList{}, &metav1.APIGroup{}, &metav1.APIResourceList{})
	must(metainternalversion.AddToScheme(Scheme))

	for _, gv := range []schema.GroupVersion{
		corev1.SchemeGroupVersion, appsv1.SchemeGroupVersion, batchv1.SchemeGroupVersion,
		autoscalingv2.SchemeGroupVersion, networkingv1.SchemeGroupVersion, storagev1.SchemeGroupVersion,
		rbacv1.SchemeGroupVersion, coordinationv1.SchemeGroupVersion, discoveryv1.SchemeGroupVersion,
		policyv1.SchemeGroupVersion, schedulingv1.SchemeGroupVersion,
	} {
		addInternal(gv)
	}
	internal := func(group string) schema.GroupVersion {
		return schema.GroupVersion{Group: group, Version: runtime.APIVersionInternal}
	}
	Scheme.AddKnownTypes(internal(autoscalingv1.GroupName), &autoscalingv1.Scale{})
	// autoscaling/v2 is the preferred version, as in Kubernetes: clients of
	// legacy discovery (/apis) pick HorizontalPodAutoscalers' version from it.
	must(Scheme.SetVersionPriority(autoscalingv2.SchemeGroupVersion, autoscalingv1.SchemeGroupVersion))
	Scheme.AddKnownTypes(internal(eventsv1.GroupName), &corev1.Event{}, &corev1.EventList{})
	must(addConversions(Scheme))
	must(defaults.AddToScheme(Scheme))
	must(addFieldLabelConversions(Scheme))
}

// addInternal registers the API kinds of gv (not the list/watch option kinds every
// group version carries) under the group's internal version.
func addInternal(gv schema.GroupVersion) {
	metaPkg := reflect.TypeFor[metav1.Status]().PkgPath()
	for kind, t := range Scheme.KnownTypes(gv) {
		if t.PkgPath() == metaPkg {
			continue
		}
		Scheme.AddKnownTypeWithName(gv.WithKind(kind).GroupKind().WithVersion(runtime.APIVersionInternal),
			reflect.New(t).Interface().(runtime.Object))
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

func newObject(t reflect.Type) (runtime.Object, bool) {
	o, ok := reflect.New(t).Interface().(runtime.Object)
	return o, ok
}
