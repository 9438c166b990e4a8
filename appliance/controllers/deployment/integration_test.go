package deployment_test

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/controllers/controllerutil/fakekubelet"
	"github.com/appliance/appliance/appliance/controllers/controllerutil/simtest"
	"github.com/appliance/appliance/appliance/controllers/deployment"
	"github.com/appliance/appliance/appliance/controllers/replicaset"
	"github.com/appliance/appliance/appliance/testcluster"
)

// TestDeploymentIntegration runs the Deployment and ReplicaSet controllers
// against a real appliance and drives them with kubectl and client-go. No
// kubelet runs: each subtest starts a fake one in its namespace.
func TestDeploymentIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	c := testcluster.Start(t, testcluster.Without("replicaset", "deployment"))
	startControllers(t, c)
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, c *testcluster.Cluster, ns string)
	}{
		{"rollout", testRollout},
		{"recreate", testRecreate},
		{"pause and resume", testPauseResume},
		{"progress deadline", testProgressDeadline},
		{"revision history limit", testRevisionHistoryLimit},
		{"proportional scaling", testProportionalScaling},
		{"adopts replica set", testAdoptsReplicaSet},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := "deploy-" + strings.ReplaceAll(tc.name, " ", "-")
			if _, err := c.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			tc.run(t, c, ns)
		})
	}
}

// startControllers runs both controllers on one informer factory, as the
// daemon would, until the test ends.
func startControllers(t *testing.T, c *testcluster.Cluster) {
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	factory := informers.NewSharedInformerFactory(c.Client, 0)
	rsc := replicaset.New(c.Client, factory, log.With("part", "replicaset-controller"))
	dc := deployment.New(c.Client, factory, log.With("part", "deployment-controller"))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { rsc.Run(ctx, 4) })
	wg.Go(func() { dc.Run(ctx, 4) })
	t.Cleanup(func() { cancel(); wg.Wait(); factory.Shutdown() })
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func kubelet(t *testing.T, c *testcluster.Cluster, ns string, ready func(*corev1.Pod) bool) *fakekubelet.Kubelet {
	return kubeletWithDelay(t, c, ns, ready, 20*time.Millisecond)
}

func kubeletWithDelay(t *testing.T, c *testcluster.Cluster, ns string, ready func(*corev1.Pod) bool, delay time.Duration) *fakekubelet.Kubelet {
	k := fakekubelet.Start(context.Background(), c.Client, fakekubelet.Config{Namespace: ns, Ready: ready, Delay: delay})
	t.Cleanup(k.Stop)
	return k
}

const webYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: %d
  selector:
    matchLabels: {app: web}
  strategy: %s
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1
`

func apply(t *testing.T, c *testcluster.Cluster, ns, manifest string) {
	t.Helper()
	if out, errOut, err := c.TryKubectl(t, []byte(manifest), "-n", ns, "apply", "-f", "-"); err != nil {
		t.Fatalf("kubectl apply: %v\n%s%s", err, out, errOut)
	}
}

func getDeployment(t *testing.T, c *testcluster.Cluster, ns string) *appsv1.Deployment {
	t.Helper()
	d, err := c.Client.AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get deployment: %v", err)
	}
	return d
}

// replicaSets returns web's ReplicaSets by revision.
func replicaSets(t *testing.T, c *testcluster.Cluster, ns string) map[int64]*appsv1.ReplicaSet {
	t.Helper()
	list, err := c.Client.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list replica sets: %v", err)
	}
	out := map[int64]*appsv1.ReplicaSet{}
	for i := range list.Items {
		out[deployment.Revision(&list.Items[i])] = &list.Items[i]
	}
	return out
}

// waitComplete waits until web's status reports a finished rollout of n
// replicas for its current generation.
func waitComplete(t *testing.T, c *testcluster.Cluster, ns string, n int32) *appsv1.Deployment {
	t.Helper()
	var d *appsv1.Deployment
	simtest.Eventually(t, 60*time.Second, fmt.Sprintf("web complete at %d", n), func() (bool, string) {
		d = getDeployment(t, c, ns)
		s := d.Status
		why := fmt.Sprintf("generation %d status %+v", d.Generation, s)
		if s.ObservedGeneration != d.Generation || s.Replicas != n || s.UpdatedReplicas != n ||
			s.ReadyReplicas != n || s.AvailableReplicas != n || s.UnavailableReplicas != 0 {
			return false, why
		}
		p := deployment.GetCondition(s, deployment.ConditionProgressing)
		return p != nil && p.Reason == deployment.ReasonNewRSAvailable, why
	})
	return d
}

func images(t *testing.T, c *testcluster.Cluster, ns string) map[string]int {
	t.Helper()
	pods, err := c.Client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out[p.Spec.Containers[0].Image]++
		}
	}
	return out
}

func events(t *testing.T, c *testcluster.Cluster, ns string, uid types.UID) []string {
	t.Helper()
	list, err := c.Client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(uid)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Reason+": "+e.Message)
	}
	return out
}

// rolloutWatch follows web's pods and ReplicaSets through watches and checks,
// after every event, that available pods (Ready, not being deleted) never drop
// below minAvailable and that the ReplicaSets' sizes never exceed maxTotal.
type rolloutWatch struct {
	mu         sync.Mutex
	lowest     int
	highest    int32
	events     int
	violations []string
	stop       func()
	done       sync.WaitGroup
}

func watchRollout(t *testing.T, c *testcluster.Cluster, ns string, minAvailable int, maxTotal int32) *rolloutWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &rolloutWatch{lowest: 1 << 30, stop: cancel}
	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	podWatch, err := c.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "app=web", ResourceVersion: pods.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	sets, err := c.Client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rsWatch, err := c.Client.AppsV1().ReplicaSets(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: sets.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	available := map[types.UID]bool{}
	for _, p := range pods.Items {
		available[p.UID] = p.DeletionTimestamp == nil && isReady(&p)
	}
	sizes := map[string]int32{}
	for _, rs := range sets.Items {
		sizes[rs.Name] = *rs.Spec.Replicas
	}
	w.done.Add(2)
	go func() {
		defer w.done.Done()
		defer podWatch.Stop()
		for ev := range podWatch.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			switch ev.Type {
			case watch.Deleted:
				delete(available, p.UID)
			case watch.Added, watch.Modified:
				available[p.UID] = p.DeletionTimestamp == nil && isReady(p)
			}
			n := 0
			for _, a := range available {
				if a {
					n++
				}
			}
			w.mu.Lock()
			w.events++
			w.lowest = min(w.lowest, n)
			if n < minAvailable {
				w.violations = append(w.violations, fmt.Sprintf("%s %s: %d available < %d", ev.Type, p.Name, n, minAvailable))
			}
			w.mu.Unlock()
		}
	}()
	go func() {
		defer w.done.Done()
		defer rsWatch.Stop()
		for ev := range rsWatch.ResultChan() {
			rs, ok := ev.Object.(*appsv1.ReplicaSet)
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted {
				delete(sizes, rs.Name)
			} else {
				sizes[rs.Name] = *rs.Spec.Replicas
			}
			var total int32
			for _, n := range sizes {
				total += n
			}
			w.mu.Lock()
			w.highest = max(w.highest, total)
			if total > maxTotal {
				w.violations = append(w.violations, fmt.Sprintf("%s %s: replica sets sized %d > %d", ev.Type, rs.Name, total, maxTotal))
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(w.finish)
	return w
}

func (w *rolloutWatch) finish() {
	w.stop()
	w.done.Wait()
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// testRollout: create, roll an image change, undo, scale and restart, driven
// through kubectl as a user would.
func testRollout(t *testing.T, c *testcluster.Cluster, ns string) {
	// Pods take a while to become ready, so that the rolling update runs at
	// its bounds (old pods removed while new ones are not ready yet).
	kubeletWithDelay(t, c, ns, nil, 300*time.Millisecond)
	apply(t, c, ns, fmt.Sprintf(webYAML, 10, `{type: RollingUpdate, rollingUpdate: {maxSurge: 3, maxUnavailable: 2}}`))

	// 10 replicas reach 10/10 available.
	d := waitComplete(t, c, ns, 10)
	if out := c.Kubectl(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s"); !strings.Contains(out, `deployment "web" successfully rolled out`) {
		t.Errorf("rollout status: %q", out)
	}
	if a := deployment.GetCondition(d.Status, deployment.ConditionAvailable); a == nil || a.Status != corev1.ConditionTrue || a.Reason != deployment.ReasonMinimumAvailable {
		t.Errorf("Available condition %+v", a)
	}
	if d.Annotations[deployment.RevisionAnnotation] != "1" {
		t.Errorf("deployment revision %q, want 1", d.Annotations[deployment.RevisionAnnotation])
	}
	sets := replicaSets(t, c, ns)
	first := sets[1]
	if len(sets) != 1 || first == nil {
		t.Fatalf("replica sets by revision: %v", sets)
	}
	hash := first.Labels[deployment.PodTemplateHashLabel]
	if hash == "" || first.Name != "web-"+hash || first.Spec.Selector.MatchLabels[deployment.PodTemplateHashLabel] != hash ||
		first.Spec.Template.Labels[deployment.PodTemplateHashLabel] != hash {
		t.Errorf("replica set %s: labels %v selector %v template labels %v", first.Name, first.Labels, first.Spec.Selector, first.Spec.Template.Labels)
	}
	if ref := metav1.GetControllerOf(first); ref == nil || ref.UID != d.UID {
		t.Errorf("replica set owners %+v", first.OwnerReferences)
	}
	if first.Annotations[deployment.DesiredReplicasAnnotation] != "10" || first.Annotations[deployment.MaxReplicasAnnotation] != "13" {
		t.Errorf("replica annotations %v", first.Annotations)
	}
	if out := c.Kubectl(t, "-n", ns, "get", "deployment", "web", "--no-headers"); !regexp.MustCompile(`^web\s+10/10\s+10\s+10\s`).MatchString(out) {
		t.Errorf("kubectl get deployment: %q", out)
	}
	simtest.Eventually(t, 10*time.Second, "ScalingReplicaSet event", func() (bool, string) {
		evs := events(t, c, ns, d.UID)
		for _, e := range evs {
			if e == fmt.Sprintf("ScalingReplicaSet: Scaled up replica set %s from 0 to 10", first.Name) {
				return true, ""
			}
		}
		return false, fmt.Sprint(evs)
	})

	// An image change rolls through, maxUnavailable honoured at every moment.
	w := watchRollout(t, c, ns, 10-2, 10+3)
	c.Kubectl(t, "-n", ns, "set", "image", "deployment/web", "web=nginx:2")
	// As Kubernetes' docs do it: the cause is recorded after the change, and
	// copied to the ReplicaSet that is current.
	c.Kubectl(t, "-n", ns, "annotate", "deployment/web", "kubernetes.io/change-cause=image nginx:2")
	if out, errOut, err := c.TryKubectl(t, nil, "-n", ns, "rollout", "status", "deployment/web", "--timeout=90s"); err != nil {
		t.Fatalf("rollout status: %v\n%s%s", err, out, errOut)
	}
	waitComplete(t, c, ns, 10)
	w.finish()
	t.Logf("rolling update: %d pod events, lowest availability %d, largest size %d", w.events, w.lowest, w.highest)
	for _, v := range w.violations {
		t.Error(v)
	}
	if w.highest <= 10 || w.lowest >= 10 {
		t.Errorf("largest size %d, lowest availability %d: the rollout never used maxSurge and maxUnavailable", w.highest, w.lowest)
	}
	if got := images(t, c, ns); got["nginx:2"] != 10 || len(got) != 1 {
		t.Errorf("pods by image %v, want 10 nginx:2", got)
	}
	sets = replicaSets(t, c, ns)
	if len(sets) != 2 || *sets[1].Spec.Replicas != 0 || *sets[2].Spec.Replicas != 10 || getDeployment(t, c, ns).Annotations[deployment.RevisionAnnotation] != "2" {
		t.Errorf("after update: replica sets %v", summary(sets))
	}

	// History lists both revisions, with the change cause.
	hist := c.Kubectl(t, "-n", ns, "rollout", "history", "deployment/web")
	if !regexp.MustCompile(`(?m)^1\s+<none>`).MatchString(hist) || !regexp.MustCompile(`(?m)^2\s+image nginx:2`).MatchString(hist) {
		t.Errorf("rollout history:\n%s", hist)
	}
	if rev := c.Kubectl(t, "-n", ns, "rollout", "history", "deployment/web", "--revision=1"); !strings.Contains(rev, "nginx:1") {
		t.Errorf("rollout history --revision=1:\n%s", rev)
	}

	// Undo returns to the previous template: revision 1's ReplicaSet becomes 3.
	c.Kubectl(t, "-n", ns, "rollout", "undo", "deployment/web")
	c.Kubectl(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=90s")
	d = waitComplete(t, c, ns, 10)
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "nginx:1" {
		t.Errorf("after undo the template has %s", img)
	}
	sets = replicaSets(t, c, ns)
	if len(sets) != 2 || sets[3] == nil || sets[3].Name != first.Name || sets[3].Annotations[deployment.RevisionHistoryAnnotation] != "1" ||
		d.Annotations[deployment.RevisionAnnotation] != "3" {
		t.Errorf("after undo: replica sets %v, deployment revision %s", summary(sets), d.Annotations[deployment.RevisionAnnotation])
	}
	if got := images(t, c, ns); got["nginx:1"] != 10 || len(got) != 1 {
		t.Errorf("pods by image %v, want 10 nginx:1", got)
	}
	hist = c.Kubectl(t, "-n", ns, "rollout", "history", "deployment/web")
	if regexp.MustCompile(`(?m)^1\s`).MatchString(hist) || !regexp.MustCompile(`(?m)^3\s`).MatchString(hist) {
		t.Errorf("rollout history after undo:\n%s", hist)
	}

	// kubectl scale resizes the ReplicaSet.
	c.Kubectl(t, "-n", ns, "scale", "deployment/web", "--replicas=5")
	waitComplete(t, c, ns, 5)
	simtest.Eventually(t, 30*time.Second, "replica set at 5", func() (bool, string) {
		rs := replicaSets(t, c, ns)[3]
		return *rs.Spec.Replicas == 5 && rs.Status.Replicas == 5 && rs.Annotations[deployment.DesiredReplicasAnnotation] == "5",
			fmt.Sprintf("%s: spec %d status %d annotations %v", rs.Name, *rs.Spec.Replicas, rs.Status.Replicas, rs.Annotations)
	})

	// Restart rolls new pods with the same spec.
	c.Kubectl(t, "-n", ns, "rollout", "restart", "deployment/web")
	c.Kubectl(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=90s")
	d = waitComplete(t, c, ns, 5)
	sets = replicaSets(t, c, ns)
	if rs := sets[4]; rs == nil || rs.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" || *rs.Spec.Replicas != 5 {
		t.Errorf("after restart: %v", summary(sets))
	}

	desc := c.Kubectl(t, "-n", ns, "describe", "deployment", "web")
	for _, want := range []string{"NewReplicaSet:", "(5/5 replicas created)", "NewReplicaSetAvailable", "MinimumReplicasAvailable", "ScalingReplicaSet"} {
		if !strings.Contains(desc, want) {
			t.Errorf("kubectl describe deployment lacks %q:\n%s", want, desc)
		}
	}
}

func summary(sets map[int64]*appsv1.ReplicaSet) string {
	var parts []string
	for rev, rs := range sets {
		parts = append(parts, fmt.Sprintf("rev %d %s %d/%d", rev, rs.Name, rs.Status.Replicas, *rs.Spec.Replicas))
	}
	return strings.Join(parts, ", ")
}

// testRecreate: old pods are all gone before any new one exists.
func testRecreate(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := context.Background()
	kubelet(t, c, ns, nil)
	apply(t, c, ns, fmt.Sprintf(webYAML, 3, `{type: Recreate}`))
	waitComplete(t, c, ns, 3)

	pods, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pw, err := c.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: pods.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	var mixed atomic.Int32
	var wg sync.WaitGroup
	wg.Go(func() {
		live := map[types.UID]string{}
		for _, p := range pods.Items {
			live[p.UID] = p.Spec.Containers[0].Image
		}
		for ev := range pw.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			if ev.Type == watch.Deleted {
				delete(live, p.UID)
			} else {
				live[p.UID] = p.Spec.Containers[0].Image
			}
			seen := map[string]bool{}
			for _, img := range live {
				seen[img] = true
			}
			if len(seen) > 1 {
				mixed.Add(1)
			}
		}
	})
	c.Kubectl(t, "-n", ns, "set", "image", "deployment/web", "web=nginx:2")
	c.Kubectl(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
	waitComplete(t, c, ns, 3)
	pw.Stop()
	wg.Wait()
	if n := mixed.Load(); n > 0 {
		t.Errorf("old and new pods coexisted at %d observed moments", n)
	}
	if got := images(t, c, ns); got["nginx:2"] != 3 || len(got) != 1 {
		t.Errorf("pods by image %v", got)
	}
}

// testPauseResume: a paused Deployment takes template changes without rolling
// them out, and scales.
func testPauseResume(t *testing.T, c *testcluster.Cluster, ns string) {
	kubelet(t, c, ns, nil)
	apply(t, c, ns, fmt.Sprintf(webYAML, 2, `{type: RollingUpdate}`))
	waitComplete(t, c, ns, 2)
	c.Kubectl(t, "-n", ns, "rollout", "pause", "deployment/web")
	c.Kubectl(t, "-n", ns, "set", "image", "deployment/web", "web=nginx:2")
	simtest.Eventually(t, 30*time.Second, "paused condition", func() (bool, string) {
		d := getDeployment(t, c, ns)
		p := deployment.GetCondition(d.Status, deployment.ConditionProgressing)
		return d.Status.ObservedGeneration == d.Generation && p != nil && p.Reason == deployment.ReasonPaused && p.Status == corev1.ConditionUnknown,
			fmt.Sprintf("%+v", d.Status)
	})
	if sets := replicaSets(t, c, ns); len(sets) != 1 {
		t.Errorf("a paused deployment rolled out: %v", summary(sets))
	}
	c.Kubectl(t, "-n", ns, "scale", "deployment/web", "--replicas=3")
	simtest.Eventually(t, 30*time.Second, "paused deployment scales", func() (bool, string) {
		n := images(t, c, ns)["nginx:1"]
		return n == 3, fmt.Sprintf("%d nginx:1 pods", n)
	})
	c.Kubectl(t, "-n", ns, "rollout", "resume", "deployment/web")
	c.Kubectl(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
	waitComplete(t, c, ns, 3)
	if got := images(t, c, ns); got["nginx:2"] != 3 || len(got) != 1 {
		t.Errorf("pods by image %v", got)
	}
}

// testProgressDeadline: pods that never become ready make the rollout fail
// after progressDeadlineSeconds, and kubectl rollout status says so.
func testProgressDeadline(t *testing.T, c *testcluster.Cluster, ns string) {
	kubelet(t, c, ns, func(p *corev1.Pod) bool { return p.Spec.Containers[0].Image != "broken" })
	apply(t, c, ns, fmt.Sprintf(webYAML, 2, `{type: RollingUpdate}`))
	waitComplete(t, c, ns, 2)
	patch := `{"spec":{"progressDeadlineSeconds":2,"template":{"spec":{"containers":[{"name":"web","image":"broken"}]}}}}`
	c.Kubectl(t, "-n", ns, "patch", "deployment/web", "-p", patch)
	start := time.Now()
	simtest.Eventually(t, 30*time.Second, "ProgressDeadlineExceeded", func() (bool, string) {
		d := getDeployment(t, c, ns)
		p := deployment.GetCondition(d.Status, deployment.ConditionProgressing)
		return p != nil && p.Reason == deployment.ReasonTimedOut && p.Status == corev1.ConditionFalse, fmt.Sprintf("%+v", d.Status.Conditions)
	})
	t.Logf("timed out after %s", time.Since(start).Round(100*time.Millisecond))
	_, errOut, err := c.TryKubectl(t, nil, "-n", ns, "rollout", "status", "deployment/web", "--timeout=30s")
	if err == nil || !strings.Contains(errOut, "exceeded its progress deadline") {
		t.Errorf("rollout status: err %v, stderr %q", err, errOut)
	}
	// The old pods still serve: maxUnavailable 25% of 2 is 0.
	if n := images(t, c, ns)["nginx:1"]; n != 2 {
		t.Errorf("%d old pods left, want 2", n)
	}
}

// testRevisionHistoryLimit: old ReplicaSets beyond the limit are deleted.
func testRevisionHistoryLimit(t *testing.T, c *testcluster.Cluster, ns string) {
	kubelet(t, c, ns, nil)
	apply(t, c, ns, fmt.Sprintf(webYAML, 1, `{type: RollingUpdate}`))
	c.Kubectl(t, "-n", ns, "patch", "deployment/web", "-p", `{"spec":{"revisionHistoryLimit":1}}`)
	for i := 2; i <= 4; i++ {
		c.Kubectl(t, "-n", ns, "set", "image", "deployment/web", fmt.Sprintf("web=nginx:%d", i))
		c.Kubectl(t, "-n", ns, "rollout", "status", "deployment/web", "--timeout=60s")
	}
	waitComplete(t, c, ns, 1)
	simtest.Eventually(t, 30*time.Second, "history trimmed", func() (bool, string) {
		sets := replicaSets(t, c, ns)
		return len(sets) == 2 && sets[3] != nil && sets[4] != nil, summary(sets)
	})
}

// testProportionalScaling: scaling in the middle of a stuck rollout grows old
// and new ReplicaSets in proportion.
func testProportionalScaling(t *testing.T, c *testcluster.Cluster, ns string) {
	kubelet(t, c, ns, func(p *corev1.Pod) bool { return p.Spec.Containers[0].Image != "nginx:2" })
	apply(t, c, ns, fmt.Sprintf(webYAML, 10, `{type: RollingUpdate, rollingUpdate: {maxSurge: 3, maxUnavailable: 2}}`))
	waitComplete(t, c, ns, 10)
	c.Kubectl(t, "-n", ns, "set", "image", "deployment/web", "web=nginx:2")
	// New pods never become ready: the rollout stops at old 8, new 5.
	simtest.Eventually(t, 30*time.Second, "stuck rollout", func() (bool, string) {
		sets := replicaSets(t, c, ns)
		return len(sets) == 2 && *sets[1].Spec.Replicas == 8 && *sets[2].Spec.Replicas == 5 && sets[2].Status.Replicas == 5, summary(sets)
	})
	c.Kubectl(t, "-n", ns, "scale", "deployment/web", "--replicas=20")
	// At most 13 pods (10 + maxSurge 3) become at most 23: old 8*23/13 = 14.2
	// rounds to 14, new 5*23/13 = 8.8 to 9.
	simtest.Eventually(t, 30*time.Second, "proportional sizes", func() (bool, string) {
		sets := replicaSets(t, c, ns)
		return *sets[1].Spec.Replicas == 14 && *sets[2].Spec.Replicas == 9, summary(sets)
	})
}

// testAdoptsReplicaSet: an orphan ReplicaSet with the Deployment's template is
// adopted and becomes its new ReplicaSet instead of a second one.
func testAdoptsReplicaSet(t *testing.T, c *testcluster.Cluster, ns string) {
	ctx := context.Background()
	kubelet(t, c, ns, nil)
	orphan := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-orphan", Namespace: ns, Labels: map[string]string{"app": "web"}},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](2),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1"}}},
			},
		},
	}
	orphan, err := c.Client.AppsV1().ReplicaSets(ns).Create(ctx, orphan, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	apply(t, c, ns, fmt.Sprintf(webYAML, 3, `{type: RollingUpdate}`))
	d := waitComplete(t, c, ns, 3)
	sets := replicaSets(t, c, ns)
	rs := sets[1]
	if len(sets) != 1 || rs == nil || rs.UID != orphan.UID {
		t.Fatalf("replica sets %v, want the adopted orphan as revision 1", summary(sets))
	}
	if ref := metav1.GetControllerOf(rs); ref == nil || ref.UID != d.UID {
		t.Errorf("orphan not adopted: %+v", rs.OwnerReferences)
	}
}
