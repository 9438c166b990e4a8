package endpoints

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
)

// newTest returns a controller on a fake clientset whose caches hold objs.
func newTest(t *testing.T, objs ...runtime.Object) (*Controller, *fake.Clientset, informers.SharedInformerFactory) {
	t.Helper()
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory, slog.New(slog.DiscardHandler))
	for _, o := range objs {
		var err error
		switch o := o.(type) {
		case *corev1.Pod:
			err = factory.Core().V1().Pods().Informer().GetIndexer().Add(o)
		case *corev1.Service:
			err = factory.Core().V1().Services().Informer().GetIndexer().Add(o)
		case *corev1.Endpoints:
			err = factory.Core().V1().Endpoints().Informer().GetIndexer().Add(o)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return c, client, factory
}

// syncAndRefresh syncs ns/web and copies the fake API's Endpoints into the cache.
func syncAndRefresh(t *testing.T, c *Controller, client *fake.Clientset, factory informers.SharedInformerFactory) *corev1.Endpoints {
	t.Helper()
	if err := c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatalf("sync: %v", err)
	}
	ep, err := client.CoreV1().Endpoints("ns").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		return nil
	}
	_ = factory.Core().V1().Endpoints().Informer().GetIndexer().Update(ep)
	return ep
}

func writes(client *fake.Clientset) int {
	n := 0
	for _, a := range client.Actions() {
		switch a.GetVerb() {
		case "create", "update", "delete", "patch":
			n++
		}
	}
	client.ClearActions()
	return n
}

func TestSyncWritesOnceAndLabels(t *testing.T) {
	s := svc(func(s *corev1.Service) {
		s.Labels = map[string]string{"tier": "front"}
		s.CreationTimestamp = metav1.NewTime(time.Now().Add(-time.Minute))
	})
	c, client, factory := newTest(t, s, pod("a", "10.0.0.1", true, withApp))
	ep := syncAndRefresh(t, c, client, factory)
	if ep == nil || render(ep.Subsets) != "[http:8080] 10.0.0.1 | " {
		t.Fatalf("endpoints %+v", ep)
	}
	if ep.Labels["tier"] != "front" || len(ep.Labels) != 1 {
		t.Errorf("labels %v", ep.Labels)
	}
	if _, ok := ep.Annotations[corev1.EndpointsLastChangeTriggerTime]; !ok {
		t.Errorf("no trigger time: %v", ep.Annotations)
	}
	writes(client)
	syncAndRefresh(t, c, client, factory)
	if n := writes(client); n != 0 {
		t.Fatalf("sync without change wrote %d times", n)
	}
	// A headless Service gets the headless label.
	hs := s.DeepCopy()
	hs.Spec.ClusterIP = corev1.ClusterIPNone
	_ = factory.Core().V1().Services().Informer().GetIndexer().Update(hs)
	ep = syncAndRefresh(t, c, client, factory)
	if _, ok := ep.Labels[corev1.IsHeadlessService]; !ok {
		t.Errorf("headless label missing: %v", ep.Labels)
	}
}

func withApp(p *corev1.Pod) { p.Labels = map[string]string{"app": "web"} }

func TestSyncOverCapacity(t *testing.T) {
	objs := []runtime.Object{svc()}
	for i := range MaxAddresses + 5 {
		objs = append(objs, pod(fmt.Sprintf("p%04d", i), fmt.Sprintf("10.1.%d.%d", i/250, i%250), true, withApp))
	}
	c, client, factory := newTest(t, objs...)
	ep := syncAndRefresh(t, c, client, factory)
	if ep.Annotations[corev1.EndpointsOverCapacity] != OverCapacityTruncated || len(ep.Subsets[0].Addresses) != MaxAddresses {
		t.Fatalf("annotations %v, %d addresses", ep.Annotations, len(ep.Subsets[0].Addresses))
	}
	writes(client)
	syncAndRefresh(t, c, client, factory)
	if n := writes(client); n != 0 {
		t.Fatalf("truncated Endpoints rewritten without change: %d writes", n)
	}
}

func TestSyncLeavesAlone(t *testing.T) {
	skip := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns",
		Labels: map[string]string{discoveryv1.LabelSkipMirror: "true"}}}
	user := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.1"}}}}}
	for _, tc := range []struct {
		name string
		objs []runtime.Object
	}{
		{"skip-mirror with a selector", []runtime.Object{svc(), pod("a", "10.0.0.1", true, withApp), skip}},
		{"skip-mirror without a service", []runtime.Object{skip}},
		{"selectorless service", []runtime.Object{svc(func(s *corev1.Service) { s.Spec.Selector = nil }), pod("a", "10.0.0.1", true, withApp), user}},
		{"external name service", []runtime.Object{svc(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeExternalName }), user}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, client, _ := newTest(t, tc.objs...)
			client.ClearActions()
			if err := c.sync(context.Background(), "ns/web"); err != nil {
				t.Fatal(err)
			}
			if n := writes(client); n != 0 {
				t.Fatalf("%d writes", n)
			}
		})
	}
	// The Endpoints of a Service that is gone are deleted.
	c, client, _ := newTest(t, user)
	if err := c.sync(context.Background(), "ns/web"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Endpoints("ns").Get(context.Background(), "web", metav1.GetOptions{}); err == nil {
		t.Fatal("orphaned Endpoints kept")
	}
}
