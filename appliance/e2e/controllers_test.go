package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/appliance/appliance/appliance"
	"github.com/appliance/appliance/appliance/simulate"
	"github.com/appliance/appliance/appliance/testcluster"
)

// TestControllersOnSimulatedNodes drives every workload controller through the
// whole control plane (scheduler, controller manager, node lifecycle) with
// simulated nodes standing in for kubelets, as a user would with kubectl.
func TestControllersOnSimulatedNodes(t *testing.T) {
	c := testcluster.Start(t, func(cfg *appliance.Config) { cfg.NodeMonitorGracePeriod = 2 * time.Second })
	ctx := context.Background()
	start := func(prefix string, n int) *simulate.Simulator {
		sim, err := simulate.Start(ctx, simulate.Config{
			REST: c.REST, Nodes: n, NamePrefix: prefix,
			LeaseInterval: 300 * time.Millisecond, RunDuration: 200 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sim.Close)
		return sim
	}
	sims := start("sim-", 3)
	poll := func(t *testing.T, what string, cond func() (bool, error)) {
		t.Helper()
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 90*time.Second, true,
			func(context.Context) (bool, error) { return cond() }); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	apply := func(t *testing.T, manifest string) {
		t.Helper()
		if out, errOut, err := c.TryKubectl(t, []byte(manifest), "apply", "-f", "-"); err != nil {
			t.Fatalf("kubectl apply: %v\n%s%s", err, out, errOut)
		}
	}
	podsOf := func(selector string) []corev1.Pod {
		l, err := c.Client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			t.Fatal(err)
		}
		return l.Items
	}

	t.Run("daemonset follows nodes", func(t *testing.T) {
		apply(t, `apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: default}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: busybox:1.36}]
`)
		onNodes := func(want int) func() (bool, error) {
			return func() (bool, error) {
				ds, err := c.Client.AppsV1().DaemonSets("default").Get(ctx, "agent", metav1.GetOptions{})
				if err != nil {
					return false, err
				}
				nodes := map[string]bool{}
				for _, p := range podsOf("app=agent") {
					if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
						nodes[p.Spec.NodeName] = true
					}
				}
				return len(nodes) == want && ds.Status.NumberReady == int32(want) && ds.Status.DesiredNumberScheduled == int32(want), nil
			}
		}
		poll(t, "a daemon pod on each of 3 nodes", onNodes(3))
		extra := start("extra-", 1)
		poll(t, "a daemon pod on the added node", onNodes(4))
		extra.Close()
		poll(t, "no daemon pod for the removed node", func() (bool, error) {
			for _, p := range podsOf("app=agent") {
				if strings.HasPrefix(p.Spec.NodeName, "extra-") {
					return false, nil
				}
			}
			return onNodes(3)()
		})
	})

	t.Run("statefulset creates in order and rolls from the top", func(t *testing.T) {
		w, err := c.Client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{LabelSelector: "app=db"})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		var mu sync.Mutex
		var created, deleted []string
		ready := map[string]bool{}
		go func() {
			for ev := range w.ResultChan() {
				p, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				mu.Lock()
				switch ev.Type {
				case watch.Added:
					// web-N+1 may only appear once web-N is Ready (OrderedReady).
					created = append(created, fmt.Sprintf("%s(prev-ready=%v)", p.Name, prevReady(ready, p.Name)))
				case watch.Modified:
					ready[p.Name] = isReady(p)
					if p.DeletionTimestamp != nil && (len(deleted) == 0 || deleted[len(deleted)-1] != p.Name) {
						deleted = append(deleted, p.Name)
					}
				case watch.Deleted:
					ready[p.Name] = false
					if len(deleted) == 0 || deleted[len(deleted)-1] != p.Name {
						deleted = append(deleted, p.Name)
					}
				}
				mu.Unlock()
			}
		}()
		manifest := `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: default}
spec:
  serviceName: db
  replicas: 3
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: busybox:IMAGE}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
`
		apply(t, strings.ReplaceAll(manifest, "IMAGE", "1.36"))
		poll(t, "3 ready replicas", func() (bool, error) {
			s, err := c.Client.AppsV1().StatefulSets("default").Get(ctx, "db", metav1.GetOptions{})
			return err == nil && s.Status.ReadyReplicas == 3, err
		})
		mu.Lock()
		got := strings.Join(created, " ")
		mu.Unlock()
		if want := "db-0(prev-ready=true) db-1(prev-ready=true) db-2(prev-ready=true)"; got != want {
			t.Fatalf("creation order %q, want %q", got, want)
		}
		for i := range 3 {
			if _, err := c.Client.CoreV1().PersistentVolumeClaims("default").Get(ctx, fmt.Sprintf("data-db-%d", i), metav1.GetOptions{}); err != nil {
				t.Fatalf("claim of db-%d: %v", i, err)
			}
		}
		apply(t, strings.ReplaceAll(manifest, "IMAGE", "1.37"))
		poll(t, "rolled to the new image", func() (bool, error) {
			s, err := c.Client.AppsV1().StatefulSets("default").Get(ctx, "db", metav1.GetOptions{})
			return err == nil && s.Status.ObservedGeneration >= 2 && s.Status.UpdatedReplicas == 3 &&
				s.Status.ReadyReplicas == 3 && s.Status.CurrentRevision == s.Status.UpdateRevision, err
		})
		mu.Lock()
		got = strings.Join(deleted, " ")
		mu.Unlock()
		if got != "db-2 db-1 db-0" {
			t.Fatalf("rolling update replaced %q, want db-2 db-1 db-0", got)
		}
	})

	t.Run("jobs", func(t *testing.T) {
		apply(t, `apiVersion: batch/v1
kind: Job
metadata: {name: batch, namespace: default}
spec:
  completions: 5
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: indexed, namespace: default}
spec:
  completions: 5
  parallelism: 5
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: failing, namespace: default}
spec:
  backoffLimit: 1
  template:
    metadata:
      annotations: {appliance.dev/sim-exit-code: "1"}
    spec:
      restartPolicy: Never
      containers: [{name: c, image: busybox}]
`)
		c.Kubectl(t, "wait", "--for=condition=complete", "job/batch", "job/indexed", "--timeout=60s")
		indexed, _ := c.Client.BatchV1().Jobs("default").Get(ctx, "indexed", metav1.GetOptions{})
		if indexed.Status.CompletedIndexes != "0-4" || indexed.Status.Succeeded != 5 {
			t.Fatalf("indexed job: completedIndexes %q succeeded %d", indexed.Status.CompletedIndexes, indexed.Status.Succeeded)
		}
		batch, _ := c.Client.BatchV1().Jobs("default").Get(ctx, "batch", metav1.GetOptions{})
		if batch.Status.Succeeded != 5 {
			t.Fatalf("job batch succeeded %d, want 5", batch.Status.Succeeded)
		}
		poll(t, "failing job fails at its backoff limit", func() (bool, error) {
			j, err := c.Client.BatchV1().Jobs("default").Get(ctx, "failing", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			for _, cond := range j.Status.Conditions {
				if cond.Type == batchv1.JobFailed && cond.Status == corev1.ConditionTrue {
					if cond.Reason != "BackoffLimitExceeded" || j.Status.Failed != 2 {
						return false, fmt.Errorf("failed with reason %s after %d pods", cond.Reason, j.Status.Failed)
					}
					return true, nil
				}
			}
			return false, nil
		})
	})

	t.Run("deletion propagation", func(t *testing.T) {
		for _, name := range []string{"orphan", "fore"} {
			c.Kubectl(t, "create", "deployment", name, "--image=busybox", "--replicas=2")
			c.Kubectl(t, "rollout", "status", "deployment/"+name, "--timeout=60s")
		}
		c.Kubectl(t, "delete", "deployment", "orphan", "--cascade=orphan")
		poll(t, "orphaned ReplicaSet loses its owner but stays", func() (bool, error) {
			rs, err := c.Client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=orphan"})
			return err == nil && len(rs.Items) == 1 && len(rs.Items[0].OwnerReferences) == 0 && len(podsOf("app=orphan")) == 2, err
		})
		// Foreground: the Deployment stays (with its finalizer) until its
		// ReplicaSets and pods are gone, so it is removed last.
		c.Kubectl(t, "delete", "deployment", "fore", "--cascade=foreground", "--wait=false")
		sawFinalizer := false
		poll(t, "foreground deletion", func() (bool, error) {
			d, err := c.Client.AppsV1().Deployments("default").Get(ctx, "fore", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				rs, _ := c.Client.AppsV1().ReplicaSets("default").List(ctx, metav1.ListOptions{LabelSelector: "app=fore"})
				if len(rs.Items) != 0 || len(podsOf("app=fore")) != 0 {
					return false, fmt.Errorf("deployment gone before its dependents")
				}
				return true, nil
			}
			if err != nil {
				return false, err
			}
			for _, f := range d.Finalizers {
				sawFinalizer = sawFinalizer || f == metav1.FinalizerDeleteDependents
			}
			return false, nil
		})
		if !sawFinalizer {
			t.Log("foreground deletion finished before the finalizer could be observed")
		}
	})

	t.Run("a node that stops renewing its lease is tainted and its pods evicted", func(t *testing.T) {
		victim := sims.Nodes()[0]
		secs := int64(2)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "pinned"},
			Spec: corev1.PodSpec{
				NodeName:   victim,
				Containers: []corev1.Container{{Name: "c", Image: "busybox"}},
				Tolerations: []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists,
					Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs}},
			},
		}
		if _, err := c.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, "pinned pod running", func() (bool, error) {
			p, err := c.Client.CoreV1().Pods("default").Get(ctx, "pinned", metav1.GetOptions{})
			return err == nil && p.Status.Phase == corev1.PodRunning, err
		})
		sims.Freeze(victim)
		var taintedAt time.Time
		poll(t, "node Unknown and tainted unreachable", func() (bool, error) {
			n, err := c.Client.CoreV1().Nodes().Get(ctx, victim, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			unknown, tainted := false, false
			for _, cond := range n.Status.Conditions {
				unknown = unknown || (cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionUnknown)
			}
			for _, taint := range n.Spec.Taints {
				if taint.Key == corev1.TaintNodeUnreachable && taint.Effect == corev1.TaintEffectNoExecute {
					tainted = true
					if taint.TimeAdded != nil {
						taintedAt = taint.TimeAdded.Time
					}
				}
			}
			return unknown && tainted, nil
		})
		poll(t, "pod evicted after its toleration", func() (bool, error) {
			p, err := c.Client.CoreV1().Pods("default").Get(ctx, "pinned", metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return err == nil && p.DeletionTimestamp != nil, err
		})
		if !taintedAt.IsZero() && time.Since(taintedAt) < time.Duration(secs)*time.Second-500*time.Millisecond {
			t.Fatalf("evicted %s after the taint, before its %ds toleration", time.Since(taintedAt), secs)
		}
	})
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// prevReady reports whether the pod before name (db-1 for db-2) was Ready; db-0
// has no predecessor.
func prevReady(ready map[string]bool, name string) bool {
	i := strings.LastIndex(name, "-")
	var n int
	fmt.Sscanf(name[i+1:], "%d", &n)
	if n == 0 {
		return true
	}
	return ready[fmt.Sprintf("%s-%d", name[:i], n-1)]
}
