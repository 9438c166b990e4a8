package serviceaccount_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/appliance/appliance/appliance/controllers/serviceaccount"
	"github.com/appliance/appliance/appliance/testcluster"
)

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func start(t *testing.T, client kubernetes.Interface) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(logWriter{t}, nil)).With("part", "serviceaccount-controller")
	factory := informers.NewSharedInformerFactory(client, 0)
	ctrl, err := serviceaccount.New(client, factory, serviceaccount.Config{}, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctrl.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		factory.Shutdown()
	})
}

// defaultSA waits for the namespace's default service account and returns its UID.
func defaultSA(t *testing.T, client kubernetes.Interface, ns string, not types.UID) types.UID {
	t.Helper()
	var uid types.UID
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		sa, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		uid = sa.UID
		return uid != not, nil
	})
	if err != nil {
		t.Fatalf("namespace %s: no default service account: %v", ns, err)
	}
	return uid
}

func TestServiceAccounts(t *testing.T) {
	// Only the test's own controller runs, so what it checks is that one's work.
	c := testcluster.Start(t, testcluster.Without("serviceaccount"))
	client := c.Client
	start(t, client)

	t.Run("existing namespaces", func(t *testing.T) {
		for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
			defaultSA(t, client, ns, "")
		}
	})

	t.Run("new namespace", func(t *testing.T) {
		c.Kubectl(t, "create", "namespace", "team-a")
		defaultSA(t, client, "team-a", "")
	})

	t.Run("recreated when deleted", func(t *testing.T) {
		old := defaultSA(t, client, "team-a", "")
		c.Kubectl(t, "delete", "serviceaccount", "default", "-n", "team-a")
		defaultSA(t, client, "team-a", old)
	})

	t.Run("terminating namespace is left to finish", func(t *testing.T) {
		if _, err := client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-b"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		defaultSA(t, client, "team-b", "")
		// kubectl waits until the namespace is gone: the controller must not
		// keep refilling it.
		c.Kubectl(t, "delete", "namespace", "team-b", "--timeout=60s")
	})
}
