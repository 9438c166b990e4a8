package kubelet

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	toolsrecord "k8s.io/client-go/tools/record"
)

// sources are the API objects pods read: ConfigMaps and Secrets (volumes,
// env), Services (service environment variables). Informers keep them current so
// that configMap and secret volumes follow updates.
type sources struct {
	client     kubernetes.Interface
	factory    informers.SharedInformerFactory
	configMaps corelisters.ConfigMapLister
	secrets    corelisters.SecretLister
	services   corelisters.ServiceLister
}

func newSources(client kubernetes.Interface) *sources {
	f := informers.NewSharedInformerFactory(client, 10*time.Minute)
	return &sources{
		client: client, factory: f,
		configMaps: f.Core().V1().ConfigMaps().Lister(),
		secrets:    f.Core().V1().Secrets().Lister(),
		services:   f.Core().V1().Services().Lister(),
	}
}

// start runs the informers; changed calls back with the namespace of every
// ConfigMap or Secret that changes.
func (s *sources) start(ctx context.Context, changed func(namespace string)) error {
	h := cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) {
			if m, ok := obj.(interface{ GetNamespace() string }); ok {
				changed(m.GetNamespace())
			}
		},
		AddFunc: func(obj any) {
			if m, ok := obj.(interface{ GetNamespace() string }); ok {
				changed(m.GetNamespace())
			}
		},
	}
	if _, err := s.factory.Core().V1().ConfigMaps().Informer().AddEventHandler(h); err != nil {
		return err
	}
	if _, err := s.factory.Core().V1().Secrets().Informer().AddEventHandler(h); err != nil {
		return err
	}
	s.factory.Core().V1().Services().Informer()
	s.factory.Start(ctx.Done())
	for typ, ok := range s.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("kubelet: %v cache did not sync", typ)
		}
	}
	return nil
}

func (s *sources) ConfigMap(namespace, name string) (*corev1.ConfigMap, error) {
	return s.configMaps.ConfigMaps(namespace).Get(name)
}

func (s *sources) Secret(namespace, name string) (*corev1.Secret, error) {
	return s.secrets.Secrets(namespace).Get(name)
}

// recorder records the events kubectl users read in `describe pod`, as the
// kubelet does (source component "kubelet", host = the node).
type recorder struct {
	toolsrecord.EventRecorder
	broadcaster toolsrecord.EventBroadcaster
	oom         oomSet
}

func newRecorder(client kubernetes.Interface, node string, log *slog.Logger) *recorder {
	b := toolsrecord.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	return &recorder{
		EventRecorder: b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: node}),
		broadcaster:   b,
	}
}
