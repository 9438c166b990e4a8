package garbagecollector_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/appliance/appliance/appliance/controllers/garbagecollector"
	"github.com/appliance/appliance/appliance/testcluster"
)

type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// startGC runs a garbage collector against c until the test ends.
func startGC(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	gc, err := garbagecollector.New(c.REST, garbagecollector.Config{}, testLog(t).With("part", "garbage-collector"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		gc.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, timeout, true, cond)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func createNamespace(t *testing.T, client kubernetes.Interface, name string) {
	t.Helper()
	if _, err := client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func ownerRef(apiVersion, kind, name string, uid types.UID, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, BlockOwnerDeletion: &block}
}

func configMap(t *testing.T, client kubernetes.Interface, ns, name string, owners ...metav1.OwnerReference) *corev1.ConfigMap {
	t.Helper()
	cm, err := client.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: owners},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

func cmRef(cm *corev1.ConfigMap, block bool) metav1.OwnerReference {
	return ownerRef("v1", "ConfigMap", cm.Name, cm.UID, block)
}

func gone(client kubernetes.Interface, ns, name string) func(ctx context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	}
}

// deletions records the order in which configmaps of ns are deleted.
type deletions struct {
	mu    sync.Mutex
	names []string
	// finalized: the owner was seen with the foregroundDeletion finalizer.
	finalized map[string]bool
}

func watchDeletions(t *testing.T, client kubernetes.Interface, ns string) *deletions {
	t.Helper()
	w, err := client.CoreV1().ConfigMaps(ns).Watch(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d := &deletions{finalized: map[string]bool{}}
	go func() {
		for ev := range w.ResultChan() {
			cm, ok := ev.Object.(*corev1.ConfigMap)
			if !ok {
				continue
			}
			d.mu.Lock()
			switch ev.Type {
			case watch.Deleted:
				d.names = append(d.names, cm.Name)
			case watch.Modified:
				if cm.DeletionTimestamp != nil && slices.Contains(cm.Finalizers, metav1.FinalizerDeleteDependents) {
					d.finalized[cm.Name] = true
				}
			}
			d.mu.Unlock()
		}
	}()
	t.Cleanup(w.Stop)
	return d
}

func (d *deletions) order() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.names)
}

func TestGarbageCollector(t *testing.T) {
	// Only the test's own controller runs, so what it checks is that one's work.
	c := testcluster.Start(t, testcluster.Without("garbage-collector"))
	client := c.Client
	ctx := t.Context()
	const ns = "gc"
	createNamespace(t, client, ns)

	// Left behind before the collector runs: found when it starts.
	stale := configMap(t, client, ns, "stale-owner")
	configMap(t, client, ns, "stale-dependent", cmRef(stale, false))
	if err := client.CoreV1().ConfigMaps(ns).Delete(ctx, stale.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	startGC(t, c)

	t.Run("dependents of an owner deleted before start go", func(t *testing.T) {
		eventually(t, 20*time.Second, "stale-dependent deleted", gone(client, ns, "stale-dependent"))
	})

	t.Run("background", func(t *testing.T) {
		owner := configMap(t, client, ns, "bg-owner")
		configMap(t, client, ns, "bg-dependent", cmRef(owner, false))
		other := configMap(t, client, ns, "bg-other-owner")
		configMap(t, client, ns, "bg-shared", cmRef(owner, false), cmRef(other, false))
		c.Kubectl(t, "delete", "configmap", "bg-owner", "-n", ns)
		eventually(t, 20*time.Second, "bg-dependent deleted", gone(client, ns, "bg-dependent"))
		eventually(t, 20*time.Second, "bg-shared keeps only its remaining owner", func(ctx context.Context) (bool, error) {
			cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "bg-shared", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return len(cm.OwnerReferences) == 1 && cm.OwnerReferences[0].UID == other.UID, nil
		})
	})

	t.Run("owner that never existed", func(t *testing.T) {
		configMap(t, client, ns, "ghost-dependent", ownerRef("v1", "ConfigMap", "ghost", "00000000-0000-0000-0000-000000000001", false))
		eventually(t, 20*time.Second, "ghost-dependent deleted", gone(client, ns, "ghost-dependent"))
	})

	t.Run("foreground", func(t *testing.T) {
		const fns = "gc-foreground"
		createNamespace(t, client, fns)
		seen := watchDeletions(t, client, fns)
		owner := configMap(t, client, fns, "owner")
		child := configMap(t, client, fns, "child", cmRef(owner, true))
		configMap(t, client, fns, "child-2", cmRef(owner, true))
		configMap(t, client, fns, "grandchild", cmRef(child, true))
		// kubectl waits until the owner is gone.
		c.Kubectl(t, "delete", "configmap", "owner", "-n", fns, "--cascade=foreground", "--timeout=60s")
		if _, err := client.CoreV1().ConfigMaps(fns).Get(ctx, "owner", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("owner after foreground delete: %v", err)
		}
		eventually(t, 10*time.Second, "four deletions seen", func(context.Context) (bool, error) {
			return len(seen.order()) == 4, nil
		})
		order := seen.order()
		if order[3] != "owner" {
			t.Errorf("deletion order %v: owner is not last", order)
		}
		if slices.Index(order, "grandchild") > slices.Index(order, "child") {
			t.Errorf("deletion order %v: child went before its own dependent", order)
		}
		seen.mu.Lock()
		defer seen.mu.Unlock()
		if !seen.finalized["owner"] || !seen.finalized["child"] {
			t.Errorf("seen with the foregroundDeletion finalizer: %v, want owner and child", seen.finalized)
		}
	})

	t.Run("orphan", func(t *testing.T) {
		owner := configMap(t, client, ns, "orphan-owner")
		other := configMap(t, client, ns, "orphan-other")
		configMap(t, client, ns, "orphan-1", cmRef(owner, true))
		configMap(t, client, ns, "orphan-2", cmRef(owner, false), cmRef(other, false))
		c.Kubectl(t, "delete", "configmap", "orphan-owner", "-n", ns, "--cascade=orphan", "--timeout=60s")
		eventually(t, 20*time.Second, "owner gone", gone(client, ns, "orphan-owner"))
		for name, want := range map[string]int{"orphan-1": 0, "orphan-2": 1} {
			cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("%s after orphan delete: %v", name, err)
			}
			if len(cm.OwnerReferences) != want || slices.ContainsFunc(cm.OwnerReferences, func(r metav1.OwnerReference) bool { return r.UID == owner.UID }) {
				t.Errorf("%s owners = %+v, want %d without the deleted owner", name, cm.OwnerReferences, want)
			}
		}
	})

	t.Run("cluster-scoped owner", func(t *testing.T) {
		role, err := client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "gc-owner"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		roleRef := ownerRef("rbac.authorization.k8s.io/v1", "ClusterRole", role.Name, role.UID, false)
		configMap(t, client, ns, "cluster-owned", roleRef)
		if _, err := client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "gc-dependent", OwnerReferences: []metav1.OwnerReference{roleRef}},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		c.Kubectl(t, "delete", "clusterrole", role.Name)
		eventually(t, 20*time.Second, "namespaced dependent deleted", gone(client, ns, "cluster-owned"))
		eventually(t, 20*time.Second, "cluster-scoped dependent deleted", func(ctx context.Context) (bool, error) {
			_, err := client.RbacV1().ClusterRoleBindings().Get(ctx, "gc-dependent", metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		})
	})

	t.Run("many dependents", func(t *testing.T) {
		const mns, n = "gc-many", 500
		createNamespace(t, client, mns)
		owner := configMap(t, client, mns, "owner")
		var wg sync.WaitGroup
		errs := make(chan error, n)
		sem := make(chan struct{}, 20)
		for i := range n {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				_, err := client.CoreV1().ConfigMaps(mns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
					Name: fmt.Sprintf("dep-%d", i), OwnerReferences: []metav1.OwnerReference{cmRef(owner, false)},
				}}, metav1.CreateOptions{})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		if err := client.CoreV1().ConfigMaps(mns).Delete(ctx, "owner", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "all dependents deleted", func(ctx context.Context) (bool, error) {
			list, err := client.CoreV1().ConfigMaps(mns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			return len(list.Items) == 0, nil
		})
		t.Logf("%d dependents deleted in %s", n, time.Since(start).Round(time.Millisecond))
	})
}
