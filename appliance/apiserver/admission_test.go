package apiserver_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/appliance/appliance/appliance/testcluster"
)

func TestPodAdmission(t *testing.T) {
	c := testcluster.Start(t)
	ctx := context.Background()
	pod := func(name, class string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				PriorityClassName: class,
				Containers:        []corev1.Container{{Name: "c", Image: "busybox"}},
			},
		}
	}
	pods := c.Client.CoreV1().Pods("default")

	t.Run("priority from class", func(t *testing.T) {
		got, err := pods.Create(ctx, pod("critical", "system-node-critical"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.Priority == nil || *got.Spec.Priority != 2000001000 {
			t.Fatalf("priority %v, want 2000001000", got.Spec.Priority)
		}
	})
	t.Run("no class means priority 0 and default tolerations", func(t *testing.T) {
		got, err := pods.Create(ctx, pod("plain", ""), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Spec.Priority == nil || *got.Spec.Priority != 0 {
			t.Fatalf("priority %v, want 0", got.Spec.Priority)
		}
		want := map[string]bool{corev1.TaintNodeNotReady: false, corev1.TaintNodeUnreachable: false}
		for _, tol := range got.Spec.Tolerations {
			if _, ok := want[tol.Key]; ok && tol.Effect == corev1.TaintEffectNoExecute && tol.TolerationSeconds != nil && *tol.TolerationSeconds == 300 {
				want[tol.Key] = true
			}
		}
		for k, ok := range want {
			if !ok {
				t.Errorf("no 300s NoExecute toleration for %s: %+v", k, got.Spec.Tolerations)
			}
		}
	})
	t.Run("unknown class is forbidden and nothing is written", func(t *testing.T) {
		_, err := pods.Create(ctx, pod("nope", "no-such-class"), metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("got %v, want Forbidden", err)
		}
		if _, err := pods.Get(ctx, "nope", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("refused pod was stored: %v", err)
		}
	})
}
