package apiserver_test

import (
	"context"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/appliance/appliance/appliance/testcluster"
)

// TestCrossVersionResources checks the resources served by two versions or two
// groups from one storage: HPAs (autoscaling v1 and v2) and Events (core and
// events.k8s.io), and pods/eviction against a PodDisruptionBudget.
func TestCrossVersionResources(t *testing.T) {
	c := testcluster.Start(t)
	ctx := context.Background()
	ns := "default"

	t.Run("autoscaling v1 HPA reads back as v2 with a CPU target", func(t *testing.T) {
		v1 := &autoscalingv1.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
				MaxReplicas:    4,
			},
		}
		if _, err := c.Client.AutoscalingV1().HorizontalPodAutoscalers(ns).Create(ctx, v1, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		v2, err := c.Client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(v2.Spec.Metrics) != 1 || v2.Spec.Metrics[0].Resource == nil ||
			*v2.Spec.Metrics[0].Resource.Target.AverageUtilization != 80 || *v2.Spec.MinReplicas != 1 {
			t.Fatalf("v2 view: %+v", v2.Spec)
		}
		back, err := c.Client.AutoscalingV1().HorizontalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil || back.Spec.TargetCPUUtilizationPercentage == nil || *back.Spec.TargetCPUUtilizationPercentage != 80 {
			t.Fatalf("v1 view: %+v %v", back, err)
		}
	})

	t.Run("events.k8s.io events are core events", func(t *testing.T) {
		ev := &eventsv1.Event{
			ObjectMeta:          metav1.ObjectMeta{Name: "web.1"},
			EventTime:           metav1.NowMicro(),
			ReportingController: "example.com/test",
			ReportingInstance:   "test-1",
			Action:              "Testing",
			Reason:              "Tested",
			Regarding:           corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "web"},
			Note:                "a note",
			Type:                corev1.EventTypeNormal,
		}
		if _, err := c.Client.EventsV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		core, err := c.Client.CoreV1().Events(ns).Get(ctx, "web.1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if core.Message != "a note" || core.InvolvedObject.Name != "web" || core.Reason != "Tested" {
			t.Fatalf("core view: %+v", core)
		}
		list, err := c.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=web"})
		if err != nil || len(list.Items) != 1 {
			t.Fatalf("field selector on involvedObject: %v %v", list, err)
		}
	})

	t.Run("eviction respects a PodDisruptionBudget", func(t *testing.T) {
		for _, name := range []string{"guarded", "free"} {
			p := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
			}
			if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		one := intstr.FromInt32(1)
		pdb, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: "guarded"},
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &one,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "guarded"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// No disruption controller yet: the budget's status allows none.
		evict := func(name string) error {
			return c.Client.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
		}
		if err := evict("guarded"); !apierrors.IsTooManyRequests(err) {
			t.Fatalf("eviction against an exhausted budget: %v, want 429", err)
		}
		if _, err := c.Client.CoreV1().Pods(ns).Get(ctx, "guarded", metav1.GetOptions{}); err != nil {
			t.Fatalf("refused eviction removed the pod: %v", err)
		}
		pdb.Status = policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1, ObservedGeneration: pdb.Generation, CurrentHealthy: 1, DesiredHealthy: 1, ExpectedPods: 1}
		if _, err := c.Client.PolicyV1().PodDisruptionBudgets(ns).UpdateStatus(ctx, pdb, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := evict("guarded"); err != nil {
			t.Fatalf("eviction within budget: %v", err)
		}
		if _, err := c.Client.CoreV1().Pods(ns).Get(ctx, "guarded", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("evicted unscheduled pod still there: %v", err)
		}
		after, _ := c.Client.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "guarded", metav1.GetOptions{})
		if after.Status.DisruptionsAllowed != 0 || after.Status.DisruptedPods["guarded"].Time.IsZero() {
			t.Fatalf("budget not charged: %+v", after.Status)
		}
		if err := evict("free"); err != nil {
			t.Fatalf("eviction of an unguarded pod: %v", err)
		}
	})
}
