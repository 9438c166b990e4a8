package pods

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/testcluster"
)

// TestPodLifecycle runs the kubelet's container life cycle against real
// containers: probes, restarts and their back-off, OOM kills, cgroup limits,
// image pull failures, init containers, run-to-completion pods and graceful
// deletion with a preStop hook. One cluster; the subtests run side by side.
func TestPodLifecycle(t *testing.T) {
	c, _ := testcluster.StartWithAgent(t)
	lc := &lifecycle{c: c, ns: "default"}

	// The subtests call t.Parallel; the cluster's cleanup waits for them all.
	t.Run("LivenessProbeRestarts", lc.livenessProbeRestarts)
	t.Run("CrashLoopBackOff", lc.crashLoopBackOff)
	t.Run("OOMKilled", lc.oomKilled)
	t.Run("CgroupLimits", lc.cgroupLimits)
	t.Run("ImagePullBackOff", lc.imagePullBackOff)
	t.Run("InitContainersInOrder", lc.initContainersInOrder)
	t.Run("RunToCompletion", lc.runToCompletion)
	t.Run("GracefulDeletePreStop", lc.gracefulDeletePreStop)
	t.Run("GRPCProbes", lc.grpcProbes)
	t.Run("HTTPGetLiveness", lc.httpGetLiveness)
}

type lifecycle struct {
	c  *testcluster.Cluster
	ns string
}

func (lc *lifecycle) create(t *testing.T, p *corev1.Pod) {
	t.Helper()
	if _, err := lc.c.Client.CoreV1().Pods(lc.ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
}

// waitFor polls the pod until cond holds or timeout passes.
func (lc *lifecycle) waitFor(t *testing.T, name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		p, err := lc.c.Client.CoreV1().Pods(lc.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		return cond(p), nil
	})
	if err != nil {
		t.Fatalf("pod %s: %s: %v\nlast status: %s\nevents:\n%s", name, what, err, statusOf(last), lc.eventsText(name))
	}
	return last
}

func (lc *lifecycle) events(name string) []corev1.Event {
	list, err := lc.c.Client.CoreV1().Events(lc.ns).List(context.Background(), metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("involvedObject.name", name).String(),
	})
	if err != nil {
		return nil
	}
	return list.Items
}

func (lc *lifecycle) eventsText(name string) string {
	var b strings.Builder
	for _, e := range lc.events(name) {
		fmt.Fprintf(&b, "  %s %s x%d: %s\n", e.Type, e.Reason, e.Count, e.Message)
	}
	return b.String()
}

// waitEvent waits for an event on the pod with the reason and a message
// containing substr.
func (lc *lifecycle) waitEvent(t *testing.T, name, reason, substr string) corev1.Event {
	t.Helper()
	var found corev1.Event
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		for _, e := range lc.events(name) {
			if e.Reason == reason && strings.Contains(e.Message, substr) {
				found = e
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no event %s %q on pod %s; events:\n%s", reason, substr, name, lc.eventsText(name))
	}
	return found
}

// watchPod records every version of the pod the API server stores, from
// before it is created, so short-lived states (ErrImagePull) are not missed.
func (lc *lifecycle) watchPod(t *testing.T, name string) <-chan watch.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := lc.c.Client.CoreV1().Pods(lc.ns).Watch(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(),
	})
	if err != nil {
		t.Fatalf("watch pod %s: %v", name, err)
	}
	t.Cleanup(w.Stop)
	return w.ResultChan()
}

func (lc *lifecycle) deletePod(t *testing.T, name string) {
	t.Helper()
	err := lc.c.Client.CoreV1().Pods(lc.ns).Delete(context.Background(), name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete pod %s: %v", name, err)
	}
}

func mainStatus(p *corev1.Pod) *corev1.ContainerStatus {
	if p == nil {
		return nil
	}
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == "main" {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// 1. A failing exec liveness probe kills the container and the kubelet starts
// it again: restartCount grows, with Unhealthy and Killing events.
func (lc *lifecycle) livenessProbeRestarts(t *testing.T) {
	t.Parallel()
	// Healthy for 2 s, or 6 s once the preStop hook below has run (time for
	// kubectl exec to look), then the probe fails.
	p := busyboxPod("liveness", "sh", "-c", "touch /tmp/healthy; sleep $([ -e /run/hook/log ] && echo 6 || echo 2); rm /tmp/healthy; sleep 1000")
	p.Spec.Containers[0].LivenessProbe = &corev1.Probe{
		ProbeHandler:     corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"cat", "/tmp/healthy"}}},
		PeriodSeconds:    1,
		FailureThreshold: 1,
	}
	// A kill by the probe runs the preStop hook first, as any stop does; it
	// leaves a line in an emptyDir that the next instance sees. (sh as PID 1
	// ignores SIGTERM: each kill ends with SIGKILL after the 3 s grace.)
	p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](3)
	p.Spec.Volumes = []corev1.Volume{{Name: "hook", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "hook", MountPath: "/run/hook"}}
	p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
		Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo prestop >> /run/hook/log"}},
	}}
	testcluster.Binary(t) // for kubectl exec within the next instance's life
	lc.create(t, p)
	defer lc.deletePod(t, p.Name)

	lc.waitFor(t, p.Name, 60*time.Second, "running again after the first restart", func(p *corev1.Pod) bool {
		cs := mainStatus(p)
		return cs != nil && cs.RestartCount >= 1 && cs.State.Running != nil
	})
	if out, errOut, err := lc.c.TryKubectl(t, nil, "exec", p.Name, "--", "cat", "/run/hook/log"); err != nil || !strings.Contains(out, "prestop") {
		t.Errorf("after a restart by the liveness probe, the preStop hook's file holds %q (%v %s), want a line from the hook", out, err, errOut)
	}

	// Twice: the probe watches each new instance too (the second restart waits
	// out a 10 s back-off).
	got := lc.waitFor(t, p.Name, 120*time.Second, "restarted twice by its liveness probe", func(p *corev1.Pod) bool {
		cs := mainStatus(p)
		return cs != nil && cs.RestartCount >= 2 && cs.LastTerminationState.Terminated != nil
	})
	// Killed by a signal (SIGTERM then maybe SIGKILL), not exited by itself.
	if term := mainStatus(got).LastTerminationState.Terminated; term.ExitCode < 128 {
		t.Errorf("previous instance exit code %d, want a signal (>128): %+v", term.ExitCode, term)
	}
	lc.waitEvent(t, p.Name, "Unhealthy", "Liveness probe failed")
	lc.waitEvent(t, p.Name, "Killing", "failed liveness probe")
}

// An httpGet liveness probe passes while the page answers 200, sending the
// probe's own headers, and restarts the container once it answers 404.
func (lc *lifecycle) httpGetLiveness(t *testing.T) {
	t.Parallel()
	// httpd serves /www; a CGI script answers /cgi-bin/healthz with 200 while
	// /www/healthy exists and the probe sent X-Probe: appliance, else 404.
	script := `mkdir -p /www/cgi-bin; touch /www/healthy; ` +
		`printf '#!/bin/sh\nif [ -e /www/healthy ] && [ "$HTTP_X_PROBE" = appliance ]; then printf "Status: 200 OK\\r\\n\\r\\nok"; else printf "Status: 404 Not Found\\r\\n\\r\\nno"; fi\n' > /www/cgi-bin/healthz; ` +
		`chmod +x /www/cgi-bin/healthz; (sleep 4; rm /www/healthy) & exec httpd -f -p 8080 -h /www`
	p := busyboxPod("http-liveness", "sh", "-c", script)
	p.Spec.Containers[0].LivenessProbe = &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/cgi-bin/healthz", Port: intstr.FromInt32(8080),
			HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Probe", Value: "appliance"}}}},
		InitialDelaySeconds: 1,
		PeriodSeconds:       1,
		FailureThreshold:    1,
	}
	p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
	lc.create(t, p)
	defer lc.deletePod(t, p.Name)

	got := lc.waitFor(t, p.Name, 60*time.Second, "restarted by its httpGet liveness probe", func(p *corev1.Pod) bool {
		cs := mainStatus(p)
		return cs != nil && cs.RestartCount >= 1 && cs.LastTerminationState.Terminated != nil
	})
	// The first instance lived until its page turned 404: the probe passed
	// (headers included) for those 4 s.
	term := mainStatus(got).LastTerminationState.Terminated
	if lived := term.FinishedAt.Sub(term.StartedAt.Time); lived < 4*time.Second {
		t.Errorf("the first instance lived %s, want at least the 4 s its page answered 200", lived)
	}
	lc.waitEvent(t, p.Name, "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 404")
}

// 2. A container that keeps exiting goes to CrashLoopBackOff. As in Kubernetes
// the first restart is immediate, then each exit waits a delay that doubles
// from 10 s: the pod reports "back-off 10s", then "back-off 20s", and the gaps
// between an instance's finish and the next start follow.
func (lc *lifecycle) crashLoopBackOff(t *testing.T) {
	t.Parallel()
	// Each run prints its number (1 for restartCount 0), counted in an
	// emptyDir that outlives the instances.
	p := busyboxPod("crashloop", "sh", "-c", `n=$(( $(cat /run/count/n 2>/dev/null || echo 0) + 1 )); echo $n > /run/count/n; echo run-$n; exit 1`)
	p.Spec.Volumes = []corev1.Volume{{Name: "count", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "count", MountPath: "/run/count"}}
	testcluster.Binary(t) // kubectl below runs within a back-off: no build then
	events := lc.watchPod(t, p.Name)
	lc.create(t, p)
	defer lc.deletePod(t, p.Name)

	var messages []string // distinct CrashLoopBackOff messages, in order
	started, finished := map[int32]time.Time{}, map[int32]time.Time{}
	deadline := time.After(150 * time.Second)
	for {
		if _, ok := started[3]; ok && !finished[2].IsZero() {
			break
		}
		var pod *corev1.Pod
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("watch ended; messages %q", messages)
			}
			pod, _ = ev.Object.(*corev1.Pod)
		case <-deadline:
			t.Fatalf("no third restart: messages %q, started %v, finished %v; events:\n%s", messages, started, finished, lc.eventsText(p.Name))
		}
		cs := mainStatus(pod)
		if cs == nil {
			continue
		}
		n := cs.RestartCount
		if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
			if len(messages) == 0 || messages[len(messages)-1] != w.Message {
				messages = append(messages, w.Message)
			}
			// Backing off, lastState is the instance that just ended, and
			// `kubectl logs --previous` shows it, as the kubelet does.
			if term := cs.LastTerminationState.Terminated; term != nil {
				if _, seen := finished[n]; !seen && n >= 1 {
					out, errOut, err := lc.c.TryKubectl(t, nil, "logs", p.Name, "--previous")
					if want := fmt.Sprintf("run-%d", n+1); err != nil || strings.TrimSpace(out) != want {
						t.Errorf("backing off after restart %d: logs --previous = %q (%v %s), want %q (the instance that just ended)", n, out, err, errOut, want)
					}
				}
				started[n], finished[n] = term.StartedAt.Time, term.FinishedAt.Time
			}
			continue
		}
		if term := cs.LastTerminationState.Terminated; term != nil && n >= 1 {
			started[n-1], finished[n-1] = term.StartedAt.Time, term.FinishedAt.Time
		}
		if r := cs.State.Running; r != nil {
			started[n] = r.StartedAt.Time
		}
		if term := cs.State.Terminated; term != nil {
			started[n], finished[n] = term.StartedAt.Time, term.FinishedAt.Time
		}
	}
	t.Logf("back-off messages: %q", messages)
	if len(messages) < 2 || !strings.HasPrefix(messages[0], "back-off 10s restarting failed container=main pod=crashloop_default(") ||
		!strings.HasPrefix(messages[1], "back-off 20s restarting failed container=main pod=crashloop_default(") {
		t.Errorf("CrashLoopBackOff messages = %q, want back-off 10s then back-off 20s", messages)
	}
	// Times in the status are whole seconds: allow a second of truncation.
	var gaps []time.Duration
	for i := int32(1); i <= 3; i++ {
		if finished[i-1].IsZero() {
			t.Fatalf("finish of instance %d not seen: started %v, finished %v", i-1, started, finished)
		}
		gaps = append(gaps, started[i].Sub(finished[i-1]))
	}
	t.Logf("gaps between an exit and the next start: %v", gaps)
	if gaps[0] > 7*time.Second || gaps[1] < 9*time.Second || gaps[2] < 19*time.Second || gaps[2] < gaps[1]+8*time.Second {
		t.Errorf("restart gaps %v, want about 0s, 10s, 20s", gaps)
	}
	if gaps[1] > 40*time.Second || gaps[2] > 60*time.Second {
		t.Errorf("restart gaps %v, far more than 10s and 20s", gaps)
	}
	lc.waitEvent(t, p.Name, "BackOff", "Back-off restarting failed container main")
}

// 3. A container that allocates past its memory limit is killed by the kernel
// and reported OOMKilled with exit code 137.
func (lc *lifecycle) oomKilled(t *testing.T) {
	t.Parallel()
	// dd allocates a 64 MiB buffer and fills it from /dev/zero.
	p := busyboxPod("oom", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1")
	p.Spec.RestartPolicy = corev1.RestartPolicyNever
	p.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("16Mi")},
	}
	lc.create(t, p)
	defer lc.deletePod(t, p.Name)

	got := lc.waitFor(t, p.Name, 120*time.Second, "Failed", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodFailed
	})
	term := mainStatus(got).State.Terminated
	if term == nil || term.Reason != "OOMKilled" || term.ExitCode != 137 {
		t.Fatalf("terminated state %+v, want reason OOMKilled exit code 137", term)
	}
}

// 4. The container's cgroup holds its limits: memory 64Mi, cpu 250m as a CFS
// quota of 25000 µs per 100000 µs (cgroup v1 or v2, whichever is mounted).
// Processes get the kubelet's oom_score_adj for their QoS class: -997 for
// Guaranteed, 1000 for BestEffort, -998 for the pause process.
func (lc *lifecycle) cgroupLimits(t *testing.T) {
	t.Parallel()
	p := busyboxPod("limits", "sleep", "1000")
	res := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi"), corev1.ResourceCPU: resource.MustParse("250m")}
	p.Spec.Containers[0].Resources = corev1.ResourceRequirements{Limits: res, Requests: res}
	lc.create(t, p)
	defer lc.deletePod(t, p.Name)
	// BestEffort, sharing its process namespace: /proc/1 is the pause process.
	be := busyboxPod("besteffort", "sleep", "1000")
	share := true
	be.Spec.ShareProcessNamespace = &share
	lc.create(t, be)
	defer lc.deletePod(t, be.Name)
	got := lc.waitFor(t, p.Name, 120*time.Second, "Running", running)
	if got.Status.QOSClass != corev1.PodQOSGuaranteed {
		t.Errorf("qosClass %q, want Guaranteed", got.Status.QOSClass)
	}
	id := strings.TrimPrefix(mainStatus(got).ContainerID, "containerd://")

	guaranteed, pause := oomScoreAdjAtLeast(t, -997), oomScoreAdjAtLeast(t, -998)
	if out := strings.TrimSpace(lc.c.Kubectl(t, "exec", p.Name, "--", "cat", "/proc/1/oom_score_adj")); out != guaranteed {
		t.Errorf("Guaranteed container's oom_score_adj = %q, want %s", out, guaranteed)
	}
	gotBE := lc.waitFor(t, be.Name, 120*time.Second, "Running", running)
	if gotBE.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("qosClass %q, want BestEffort", gotBE.Status.QOSClass)
	}
	out := lc.c.Kubectl(t, "exec", be.Name, "--", "sh", "-c", "cat /proc/1/oom_score_adj /proc/$(pidof sleep)/oom_score_adj")
	if f := strings.Fields(out); len(f) != 2 || f[0] != pause || f[1] != "1000" {
		t.Errorf("pause and BestEffort container's oom_score_adj = %q, want %s and 1000", out, pause)
	}

	// Where the container's own process is, as it sees it.
	self := lc.c.Kubectl(t, "exec", p.Name, "--", "cat", "/proc/self/cgroup")
	paths := parseProcCgroup(self)
	t.Logf("/proc/self/cgroup in the container:\n%s", self)

	v2 := fileExists("/sys/fs/cgroup/cgroup.controllers")
	if v2 {
		dir := paths[""]
		if dir == "" || dir == "/" { // a cgroup namespace hides the path: find it by the container ID
			dir = findCgroupDir(t, "/sys/fs/cgroup", id)
		}
		if !strings.Contains(dir, string(got.UID)) {
			t.Errorf("cgroup %q is not under the pod's cgroup (uid %s)", dir, got.UID)
		}
		expectFile(t, filepath.Join("/sys/fs/cgroup", dir, "memory.max"), "67108864")
		expectFile(t, filepath.Join("/sys/fs/cgroup", dir, "cpu.max"), "25000 100000")
		// The pod's cgroup holds the pod to its limits as a whole; BestEffort
		// pods share the least weight.
		pod := filepath.Dir(dir)
		expectFile(t, filepath.Join("/sys/fs/cgroup", pod, "memory.max"), "67108864")
		expectFile(t, filepath.Join("/sys/fs/cgroup", pod, "cpu.max"), "25000 100000")
		expectFile(t, "/sys/fs/cgroup/kubepods/besteffort/cpu.weight", "1")
		expectFile(t, filepath.Join("/sys/fs/cgroup/kubepods/besteffort", "pod"+string(gotBE.UID), "cpu.weight"), "1")
		return
	}
	mem, cpu := paths["memory"], paths["cpu"]
	if mem == "" || mem == "/" {
		mem = findCgroupDir(t, "/sys/fs/cgroup/memory", id)
	}
	if cpu == "" || cpu == "/" {
		cpu = findCgroupDir(t, cpuMount(), id)
	}
	for _, dir := range []string{mem, cpu} {
		if !strings.Contains(dir, string(got.UID)) {
			t.Errorf("cgroup %q is not under the pod's cgroup (uid %s)", dir, got.UID)
		}
	}
	expectFile(t, filepath.Join("/sys/fs/cgroup/memory", mem, "memory.limit_in_bytes"), "67108864")
	expectFile(t, filepath.Join(cpuMount(), cpu, "cpu.cfs_quota_us"), "25000")
	expectFile(t, filepath.Join(cpuMount(), cpu, "cpu.cfs_period_us"), "100000")
	expectFile(t, filepath.Join(cpuMount(), cpu, "cpu.shares"), "256") // 250m * 1024 / 1000
	// The pod's cgroup holds the pod to its limits as a whole (the pause
	// container and every container in it); BestEffort pods and their QoS
	// class get the least CPU weight, so they only use what others leave.
	podMem, podCPU := filepath.Dir(mem), filepath.Dir(cpu)
	if want := "/kubepods/pod" + string(got.UID); podMem != want || podCPU != want {
		t.Errorf("pod cgroups %s and %s, want %s", podMem, podCPU, want)
	}
	expectFile(t, filepath.Join("/sys/fs/cgroup/memory", podMem, "memory.limit_in_bytes"), "67108864")
	expectFile(t, filepath.Join(cpuMount(), podCPU, "cpu.cfs_quota_us"), "25000")
	expectFile(t, filepath.Join(cpuMount(), podCPU, "cpu.shares"), "256")
	expectFile(t, filepath.Join(cpuMount(), "kubepods/besteffort/cpu.shares"), "2")
	expectFile(t, filepath.Join(cpuMount(), "kubepods/besteffort", "pod"+string(gotBE.UID), "cpu.shares"), "2")
	expectFile(t, filepath.Join("/sys/fs/cgroup/memory/kubepods/besteffort", "pod"+string(gotBE.UID), "memory.limit_in_bytes"), unlimitedV1(t))
}

// unlimitedV1 is what memory.limit_in_bytes reads when no limit is set.
func unlimitedV1(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/sys/fs/cgroup/memory/memory.limit_in_bytes")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// oomScoreAdjAtLeast is the oom_score_adj a container gets for want: want
// itself, or, where the kubelet (this process) lacks CAP_SYS_RESOURCE and
// cannot lower scores, its own score if that is higher.
func oomScoreAdjAtLeast(t *testing.T, want int) string {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			if caps&(1<<24) == 0 { // no CAP_SYS_RESOURCE
				b, err := os.ReadFile("/proc/self/oom_score_adj")
				if err != nil {
					t.Fatal(err)
				}
				own, _ := strconv.Atoi(strings.TrimSpace(string(b)))
				t.Logf("no CAP_SYS_RESOURCE: scores below %d cannot be set", own)
				want = max(want, own)
			}
		}
	}
	return strconv.Itoa(want)
}

// parseProcCgroup maps each controller of /proc/<pid>/cgroup to its path; the
// v2 unified line is under "".
func parseProcCgroup(s string) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		parts := strings.SplitN(strings.TrimSpace(sc.Text()), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, ctrl := range strings.Split(parts[1], ",") {
			out[ctrl] = parts[2]
		}
	}
	return out
}

// cpuMount is the v1 hierarchy with the cpu controller (cpu, or cpu,cpuacct).
func cpuMount() string {
	for _, d := range []string{"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"} {
		if fileExists(filepath.Join(d, "cpu.shares")) {
			return d
		}
	}
	return "/sys/fs/cgroup/cpu"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// findCgroupDir finds the cgroup directory named after the container under root
// and returns it relative to root.
func findCgroupDir(t *testing.T, root, id string) string {
	t.Helper()
	var found string
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || found != "" || !d.IsDir() {
			return nil
		}
		if d.Name() == id {
			found = path
			return filepath.SkipAll
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no cgroup named %s under %s", id, root)
	}
	rel, _ := filepath.Rel(root, found)
	return "/" + rel
}

func expectFile(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("read %s: %v", path, err)
		return
	}
	if got := strings.TrimSpace(string(b)); got != want {
		t.Errorf("%s = %q, want %q", path, got, want)
	}
}

// 5. An image that cannot be pulled: ErrImagePull, then ImagePullBackOff, with
// Failed and BackOff events. The registry is a closed loopback port, so the
// pull fails at once and nothing leaves the machine.
func (lc *lifecycle) imagePullBackOff(t *testing.T) {
	t.Parallel()
	const image = "127.0.0.1:1/nope:1"
	p := busyboxPod("pullfail", "sh")
	p.Spec.Containers[0].Image = image
	p.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways
	events := lc.watchPod(t, p.Name)
	lc.create(t, p)
	defer lc.deletePod(t, p.Name)

	var reasons []string // distinct waiting reasons, in order
	deadline := time.After(120 * time.Second)
	for done := false; !done; {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("watch ended; waiting reasons so far %q", reasons)
			}
			pod, isPod := ev.Object.(*corev1.Pod)
			if !isPod {
				continue
			}
			cs := mainStatus(pod)
			if cs == nil || cs.State.Waiting == nil {
				if cs != nil && (cs.State.Running != nil || cs.State.Terminated != nil) {
					t.Fatalf("container left waiting: %+v", cs.State)
				}
				continue
			}
			r := cs.State.Waiting.Reason
			if len(reasons) == 0 || reasons[len(reasons)-1] != r {
				reasons = append(reasons, r)
			}
			if r == "ImagePullBackOff" && !strings.Contains(cs.State.Waiting.Message, image) {
				t.Errorf("ImagePullBackOff message %q does not name the image", cs.State.Waiting.Message)
			}
			done = r == "ImagePullBackOff" && contains(reasons, "ErrImagePull")
		case <-deadline:
			t.Fatalf("waiting reasons %q, want ErrImagePull then ImagePullBackOff; events:\n%s", reasons, lc.eventsText(p.Name))
		}
	}
	t.Logf("waiting reasons: %q", reasons)
	if i, j := index(reasons, "ErrImagePull"), index(reasons, "ImagePullBackOff"); i > j {
		t.Errorf("waiting reasons %q: ErrImagePull should come first", reasons)
	}
	lc.waitEvent(t, p.Name, "Failed", "Failed to pull image \""+image+"\"")
	lc.waitEvent(t, p.Name, "Failed", "ErrImagePull")
	lc.waitEvent(t, p.Name, "BackOff", "Back-off pulling image \""+image+"\"")
}

func contains(ss []string, s string) bool { return index(ss, s) >= 0 }

func index(ss []string, s string) int {
	for i, v := range ss {
		if v == s {
			return i
		}
	}
	return -1
}

// 6a. Init containers run one after the other, each to completion, before the
// app container: the first sleeps before writing, so a parallel start would
// write "two" first, and the app would find no file if it started early.
func (lc *lifecycle) initContainersInOrder(t *testing.T) {
	t.Parallel()
	p := busyboxPod("initorder", "cat", "/shared/order")
	p.Spec.RestartPolicy = corev1.RestartPolicyNever
	p.Spec.Volumes = []corev1.Volume{{Name: "work", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	mount := []corev1.VolumeMount{{Name: "work", MountPath: "/shared"}}
	p.Spec.Containers[0].VolumeMounts = mount
	for _, ic := range []struct{ name, script string }{
		{"first", "sleep 2; echo one >> /shared/order"},
		{"second", "echo two >> /shared/order"},
	} {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{
			Name: ic.name, Image: testcluster.BusyboxImage, ImagePullPolicy: corev1.PullNever,
			Command: []string{"sh", "-c", ic.script}, VolumeMounts: mount,
		})
	}
	lc.create(t, p)
	defer lc.deletePod(t, p.Name)

	got := lc.waitFor(t, p.Name, 120*time.Second, "Succeeded", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	if got.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("phase %s: %s", got.Status.Phase, statusOf(got))
	}
	if logs := lc.c.Kubectl(t, "logs", p.Name, "-c", "main"); logs != "one\ntwo\n" {
		t.Errorf("kubectl logs = %q, want the init containers' lines in order", logs)
	}
	if len(got.Status.InitContainerStatuses) != 2 {
		t.Fatalf("init container statuses: %+v", got.Status.InitContainerStatuses)
	}
	first, second := got.Status.InitContainerStatuses[0].State.Terminated, got.Status.InitContainerStatuses[1].State.Terminated
	app := mainStatus(got).State.Terminated
	if first == nil || second == nil || app == nil || first.Reason != "Completed" || second.Reason != "Completed" {
		t.Fatalf("statuses: %s; init: %+v", statusOf(got), got.Status.InitContainerStatuses)
	}
	if second.StartedAt.Before(&first.FinishedAt) || app.StartedAt.Before(&second.FinishedAt) {
		t.Errorf("start times out of order: first %s-%s, second %s-%s, app from %s",
			first.StartedAt, first.FinishedAt, second.StartedAt, second.FinishedAt, app.StartedAt)
	}
}

// 6b. Pods that run to completion (restartPolicy Never): exit 0 is Succeeded,
// exit 2 is Failed with the exit code in the status.
func (lc *lifecycle) runToCompletion(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		code   int32
		phase  corev1.PodPhase
		reason string
	}{
		{"job-ok", 0, corev1.PodSucceeded, "Completed"},
		{"job-fail", 2, corev1.PodFailed, "Error"},
	}
	for _, tc := range cases {
		p := busyboxPod(tc.name, "sh", "-c", "echo done; exit "+strconv.Itoa(int(tc.code)))
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		lc.create(t, p)
		defer lc.deletePod(t, p.Name)
	}
	for _, tc := range cases {
		got := lc.waitFor(t, tc.name, 120*time.Second, "finished", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
		})
		cs := mainStatus(got)
		if got.Status.Phase != tc.phase || cs == nil || cs.State.Terminated == nil || cs.State.Terminated.ExitCode != tc.code ||
			cs.State.Terminated.Reason != tc.reason || cs.RestartCount != 0 {
			t.Errorf("%s: %s, want phase %s, terminated %s exit code %d, no restart", tc.name, statusOf(got), tc.phase, tc.reason, tc.code)
		}
		if logs := lc.c.Kubectl(t, "logs", tc.name); logs != "done\n" {
			t.Errorf("%s: kubectl logs = %q", tc.name, logs)
		}
	}
}

// 7. Deleting a pod runs its preStop hook, then SIGTERM; a process that ignores
// SIGTERM is killed after the grace period (3 s) and the pod object goes. The
// hook and the TERM trap append to a hostPath file the test reads.
func (lc *lifecycle) gracefulDeletePreStop(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := busyboxPod("graceful", "sh", "-c", `trap "echo term >> /hp/log" TERM; echo started >> /hp/log; while true; do sleep 1; done`)
	grace := int64(3)
	p.Spec.TerminationGracePeriodSeconds = &grace
	p.Spec.Volumes = []corev1.Volume{{Name: "hp", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}}}}
	p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "hp", MountPath: "/hp"}}
	p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
		Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo prestop >> /hp/log"}},
	}}
	lc.create(t, p)
	defer lc.deletePod(t, p.Name)
	lc.waitFor(t, p.Name, 120*time.Second, "Running", running)
	logFile := filepath.Join(dir, "log")
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		b, _ := os.ReadFile(logFile)
		return string(b) == "started\n", nil
	}); err != nil {
		b, _ := os.ReadFile(logFile)
		t.Fatalf("container did not write to the hostPath: %q", b)
	}

	events := lc.watchPod(t, p.Name)
	start := time.Now()
	if err := lc.c.Client.CoreV1().Pods(lc.ns).Delete(context.Background(), p.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var last *corev1.Pod
	deadline := time.After(90 * time.Second)
	for gone := false; !gone; {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("watch ended before the pod was deleted")
			}
			if pod, isPod := ev.Object.(*corev1.Pod); isPod {
				if ev.Type == watch.Deleted {
					gone = true
				} else {
					last = pod
				}
			}
		case <-deadline:
			t.Fatalf("pod not removed 90s after delete; last %s", statusOf(last))
		}
	}
	took := time.Since(start)
	t.Logf("pod removed %s after delete", took)
	if took < 3*time.Second {
		t.Errorf("pod removed after %s, before its 3s grace period", took)
	}
	if took > 30*time.Second {
		t.Errorf("pod removed after %s, long after its 3s grace period", took)
	}
	b, _ := os.ReadFile(logFile)
	if string(b) != "started\nprestop\nterm\n" {
		t.Errorf("hostPath log %q, want started, prestop, term: the hook before SIGTERM, and SIGTERM trapped", b)
	}
	// The kubelet reports the final state before the object goes: killed by
	// SIGKILL (137), since the shell survived SIGTERM.
	if cs := mainStatus(last); cs == nil || cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 137 {
		t.Errorf("final status before deletion: %s, want terminated with exit code 137", statusOf(last))
	}
	lc.waitEvent(t, p.Name, "Killing", "Stopping container main")
}

// 8. gRPC probes (grpc.health.v1): a server that reports SERVING passes the
// readiness and liveness probes, and the pod becomes Ready with no restart;
// a service it reports NOT_SERVING fails the readiness probe, and that pod
// stays not Ready with an Unhealthy event. The server is a small static
// program (testdata/grpchealth) mounted into busybox by hostPath.
func (lc *lifecycle) grpcProbes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "grpchealth"), "./testdata/grpchealth")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the gRPC health server: %v\n%s", err, out)
	}
	pod := func(name, service string) *corev1.Pod {
		p := busyboxPod(name, "/hp/grpchealth", "50051")
		p.Spec.Volumes = []corev1.Volume{{Name: "hp", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}}}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "hp", MountPath: "/hp"}}
		probe := func(service string, failures int32) *corev1.Probe {
			g := &corev1.GRPCAction{Port: 50051}
			if service != "" {
				g.Service = &service
			}
			return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: g}, PeriodSeconds: 1, FailureThreshold: failures}
		}
		p.Spec.Containers[0].ReadinessProbe = probe(service, 1)
		// Kubernetes' default threshold: the server may not listen yet at
		// the first probe.
		p.Spec.Containers[0].LivenessProbe = probe("ok", 3)
		return p
	}
	up, down := pod("grpc-up", ""), pod("grpc-down", "down")
	for _, p := range []*corev1.Pod{up, down} {
		lc.create(t, p)
		defer lc.deletePod(t, p.Name)
	}
	got := lc.waitFor(t, up.Name, 120*time.Second, "Ready through its gRPC readiness probe", running)
	if cs := mainStatus(got); cs == nil || cs.RestartCount != 0 {
		t.Errorf("grpc-up restarted (its gRPC liveness probe failed?): %s", statusOf(got))
	}
	lc.waitEvent(t, down.Name, "Unhealthy", "Readiness probe failed")
	got = lc.waitFor(t, down.Name, 60*time.Second, "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if running(got) {
		t.Errorf("grpc-down is Ready although its service reports NOT_SERVING: %s", statusOf(got))
	}
}
