package controllerutil

import (
	"log/slog"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// TestServicesOfPodHandler: a pod's addition, relabelling and deletion queue
// the Services selecting it before and after; a resync queues nothing.
func TestServicesOfPodHandler(t *testing.T) {
	factory := informers.NewSharedInformerFactory(fake.NewClientset(), 0)
	idx := factory.Core().V1().Services().Informer().GetIndexer()
	for name, app := range map[string]string{"blue": "blue", "green": "green"} {
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": app}}}
		if err := idx.Add(svc); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(app, rv string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", ResourceVersion: rv, Labels: map[string]string{"app": app}}}
	}
	for _, tc := range []struct {
		name string
		fire func(h cache.ResourceEventHandlerFuncs)
		want []string
	}{
		{"added", func(h cache.ResourceEventHandlerFuncs) { h.AddFunc(pod("blue", "1")) }, []string{"ns/blue"}},
		{"relabelled", func(h cache.ResourceEventHandlerFuncs) { h.UpdateFunc(pod("blue", "1"), pod("green", "2")) }, []string{"ns/blue", "ns/green"}},
		{"resync", func(h cache.ResourceEventHandlerFuncs) { h.UpdateFunc(pod("blue", "1"), pod("blue", "1")) }, nil},
		{"deleted", func(h cache.ResourceEventHandlerFuncs) { h.DeleteFunc(pod("green", "2")) }, []string{"ns/green"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			queue := workqueue.NewTyped[string]()
			defer queue.ShutDown()
			h := ServicesOfPodHandler(factory.Core().V1().Services().Lister(), queue, slog.New(slog.DiscardHandler))
			tc.fire(h)
			var got []string
			for queue.Len() > 0 {
				key, _ := queue.Get()
				got = append(got, key)
				queue.Done(key)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("queued %v, want %v", got, tc.want)
			}
		})
	}
}
