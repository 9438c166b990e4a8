package controllerutil

import (
	"log/slog"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/record"
)

// NewRecorder returns an event recorder that writes core/v1 Events as component
// (e.g. "replicaset-controller", the source Kubernetes uses, which `kubectl
// describe` shows in its From column) and a stop function that flushes and ends
// it. client-go's broadcaster aggregates repeats into a count, as Kubernetes'
// controllers do. Each event is also logged at debug level.
func NewRecorder(client kubernetes.Interface, component string, log *slog.Logger) (record.EventRecorder, func()) {
	b := record.NewBroadcaster()
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: client.CoreV1().Events("")})
	b.StartEventWatcher(func(e *corev1.Event) {
		log.Debug("event", "kind", e.InvolvedObject.Kind, "namespace", e.InvolvedObject.Namespace,
			"name", e.InvolvedObject.Name, "type", e.Type, "reason", e.Reason, "message", e.Message)
	})
	return b.NewRecorder(scheme.Scheme, corev1.EventSource{Component: component}), b.Shutdown
}
