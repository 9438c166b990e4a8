package kubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	containerd "github.com/containerd/containerd/v2/client"

	rtcontainerd "github.com/appliance/appliance/runtime/containerd"
	"github.com/appliance/appliance/runtime/logs"
	"github.com/appliance/appliance/volumes"
)

// sync brings one pod's containers to what its spec asks, then reports status.
// It returns finished once the pod is gone for good (deleted and cleaned up).
func (w *podWorker) sync(ctx context.Context, pod *corev1.Pod, removed bool) (finished bool, err error) {
	k := w.k
	if pod == nil {
		return true, nil
	}
	l, err := k.listPod(ctx, pod.UID)
	if err != nil {
		return false, err
	}
	if removed || pod.DeletionTimestamp != nil {
		return w.terminate(ctx, pod, l, removed)
	}
	if w.startTime.IsZero() {
		w.startTime = time.Now()
		if pod.Status.StartTime != nil {
			w.startTime = pod.Status.StartTime.Time
		}
	}
	w.mu.Lock()
	evicted := w.evicted
	w.mu.Unlock()
	if evicted != "" && !isTerminal(pod.Status.Phase) {
		return false, w.finishEviction(ctx, pod, l, evicted)
	}
	if isTerminal(pod.Status.Phase) {
		// A finished pod keeps its containers (for logs) but not its sandbox.
		w.releaseSandbox(ctx, pod, l)
		return false, nil
	}
	syncErr := w.syncContainers(ctx, pod, l)
	// The containers this sync started are in l already; list again only when
	// it stopped or removed some.
	if l.stale {
		if l, err = k.listPod(ctx, pod.UID); err != nil {
			return false, err
		}
	}
	if err := w.updateStatus(ctx, pod, l); err != nil {
		return false, err
	}
	if syncErr != nil {
		return false, syncErr
	}
	if st := w.lastStatus; st != nil && isTerminal(st.Phase) {
		w.releaseSandbox(ctx, pod, l)
	}
	return false, nil
}

func isTerminal(p corev1.PodPhase) bool { return p == corev1.PodSucceeded || p == corev1.PodFailed }

// syncContainers: volumes, sandbox, init containers in order, app containers.
func (w *podWorker) syncContainers(ctx context.Context, pod *corev1.Pod, l *cList) (err error) {
	k := w.k
	node := k.getNode()
	vols, err := k.vols.Setup(ctx, pod, node)
	if err != nil {
		k.rec.Eventf(pod, corev1.EventTypeWarning, "FailedMount", "MountVolume.SetUp failed: %v", err)
		w.kickAfter(5 * time.Second)
		return nil
	}
	sb := l.sandbox
	if sb == nil || !sb.running {
		if sb != nil {
			// The sandbox died: every container goes, as in Kubernetes.
			k.rec.Eventf(pod, corev1.EventTypeNormal, "SandboxChanged", "Pod sandbox changed, it will be killed and re-created.")
			for _, rs := range l.containers {
				for _, r := range rs {
					if r.running {
						k.stopContainer(ctx, r, 2*time.Second)
					}
				}
			}
			k.removeContainer(ctx, sb)
			l.stale = true
		}
		sb, err = w.createSandbox(ctx, pod)
		if err != nil {
			k.rec.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			return err
		}
		l.sandbox = sb
		// The pause process starts meanwhile; this sync ends only once it has.
		defer func() {
			if serr := sb.sandboxStarted(); serr != nil {
				k.rec.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", serr)
				err = errors.Join(err, serr)
			}
		}()
	}
	w.sandboxReady = true
	w.podIP = sb.labels[labelPodIP]

	// Init containers, one at a time, each to success.
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		r := l.latest(c.Name)
		switch {
		case r == nil:
			return w.start(ctx, pod, l, c, kindInit, 0, sb, vols)
		case r.running:
			return nil
		case r.exited && r.exitCode == 0:
			continue
		case r.exited:
			if pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				return nil // the pod fails (status)
			}
			if w.inBackoff(pod, c.Name, r) {
				return nil
			}
			return w.start(ctx, pod, l, c, kindInit, r.restart+1, sb, vols)
		default:
			// Created, never started: the kubelet stopped between the two.
			return w.start(ctx, pod, l, c, kindInit, r.restart, sb, vols)
		}
	}
	var errs []error
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		r := l.latest(c.Name)
		switch {
		case r == nil:
			errs = append(errs, w.start(ctx, pod, l, c, kindApp, 0, sb, vols))
		case r.running:
			w.ensureProbes(pod, c, r)
		case r.exited:
			if !shouldRestart(pod.Spec.RestartPolicy, r.exitCode) {
				continue
			}
			if w.inBackoff(pod, c.Name, r) {
				continue
			}
			errs = append(errs, w.start(ctx, pod, l, c, kindApp, r.restart+1, sb, vols))
		default:
			// Created, never started (the kubelet stopped between the two):
			// the same instance again, in place of the leftover.
			errs = append(errs, w.start(ctx, pod, l, c, kindApp, r.restart, sb, vols))
		}
		k.pruneInstances(ctx, l.containers[c.Name])
	}
	return errors.Join(errs...)
}

func shouldRestart(p corev1.RestartPolicy, code int32) bool {
	switch p {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return code != 0
	}
	return true
}

// inBackoff applies CrashLoopBackOff as the kubelet's doBackOff does: a
// container that exits is restarted at once the first time; an exit within the
// current delay of its finish waits the delay out (10 s, doubling to 5 min),
// then restarts and doubles the delay for the next exit. 10 minutes between
// two exits reset it.
func (w *podWorker) inBackoff(pod *corev1.Pod, name string, r *record) bool {
	b := w.backoff[name]
	if b == nil {
		b = &backoff{}
		w.backoff[name] = b
	}
	until := r.finished.Add(b.delay)
	if b.delay > 0 && !b.expired(r.finished) && time.Now().Before(until) {
		if b.reported != r.id {
			b.reported = r.id
			w.waiting[name] = corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff",
				Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", b.delay, name, pod.Name, pod.Namespace, pod.UID)}
			w.k.rec.Eventf(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", name, pod.Name, pod.Namespace, pod.UID)
		}
		w.kickAfter(time.Until(until) + 10*time.Millisecond)
		return true
	}
	b.next(r.finished)
	return false
}

// start pulls the image if needed and starts one instance of the container.
func (w *podWorker) start(ctx context.Context, pod *corev1.Pod, l *cList, c *corev1.Container, kind string, restart int, sb *record, vols map[string]string) error {
	k := w.k
	if b := w.pullBackoff[c.Name]; b != nil && time.Now().Before(b.until) {
		if w.waiting[c.Name].Reason != "ImagePullBackOff" {
			// Once per failed pull, as the kubelet's image manager reports it.
			k.rec.Eventf(pod, corev1.EventTypeNormal, "BackOff", "Back-off pulling image %q", c.Image)
		}
		w.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: fmt.Sprintf("Back-off pulling image %q", c.Image)}
		w.kickAfter(time.Until(b.until) + 10*time.Millisecond)
		return nil
	}
	img, err := w.ensureImage(ctx, pod, c)
	if err != nil {
		return nil // reported as ErrImagePull / ErrImageNeverPull
	}
	delete(w.pullBackoff, c.Name)
	var leftover *record
	id := containerID(pod.UID, c.Name, restart)
	rest := l.containers[c.Name][:0:0]
	for _, o := range l.containers[c.Name] {
		if o.id == id {
			leftover = o
			continue
		}
		rest = append(rest, o)
	}
	r, err := k.startContainer(ctx, pod, c, kind, restart, sb, leftover, img, vols)
	l.containers[c.Name] = rest // the leftover is gone either way
	if err != nil {
		reason := "CreateContainerError"
		if isConfigError(err) {
			reason = "CreateContainerConfigError"
		}
		w.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()}
		k.rec.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		w.kickAfter(10 * time.Second)
		return nil
	}
	delete(w.waiting, c.Name)
	l.containers[c.Name] = append([]*record{r}, rest...)
	k.rec.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	k.rec.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	if kind == kindApp {
		w.ensureProbes(pod, c, r)
		if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
			if err := w.runHook(ctx, pod, c, r, c.Lifecycle.PostStart); err != nil {
				k.rec.Eventf(pod, corev1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed: %v", err)
				k.stopContainer(ctx, r, gracePeriod(pod))
				l.stale = true
			}
		}
	}
	return nil
}

func (w *podWorker) ensureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (containerd.Image, error) {
	k := w.k
	var secrets []corev1.Secret
	for _, ref := range pod.Spec.ImagePullSecrets {
		if s, err := k.sources.Secret(pod.Namespace, ref.Name); err == nil {
			secrets = append(secrets, *s)
		}
	}
	img, pulled, err := k.rt.EnsureImage(ctx, c.Image, c.ImagePullPolicy, secrets, func() {
		k.rec.Eventf(pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	})
	if err == nil {
		if pulled {
			k.rec.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q", c.Image)
		} else {
			k.rec.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
		}
		return img, nil
	}
	b := w.pullBackoff[c.Name]
	if b == nil {
		b = &backoff{}
		w.pullBackoff[c.Name] = b
	}
	b.next(time.Now())
	reason := "ErrImagePull"
	if errors.Is(err, rtcontainerd.ErrImageNeverPull) {
		reason = "ErrImageNeverPull"
	}
	w.waiting[c.Name] = corev1.ContainerStateWaiting{Reason: reason, Message: err.Error()}
	k.rec.Eventf(pod, corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %v", c.Image, err)
	k.rec.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %s", reason)
	w.kickAfter(time.Until(b.until) + 10*time.Millisecond)
	return nil, err
}

// createSandbox sets the pod network up and starts the pause container.
func (w *podWorker) createSandbox(ctx context.Context, pod *corev1.Pod) (*record, error) {
	k := w.k
	netns, podIP := "", k.cfg.NodeIP.String()
	if !pod.Spec.HostNetwork {
		var err error
		netns, err = k.net.CreatePodNetNS(string(pod.UID))
		if err != nil {
			return nil, fmt.Errorf("network namespace: %w", err)
		}
		ip, err := k.net.Attach(ctx, string(pod.UID), netns)
		if err != nil {
			return nil, fmt.Errorf("pod network: %w", err)
		}
		podIP = ip.String()
	}
	if err := k.writePodFiles(pod, podIP); err != nil {
		return nil, fmt.Errorf("pod files: %w", err)
	}
	if err := k.ensurePodCgroup(pod); err != nil {
		return nil, err
	}
	return k.createSandbox(ctx, pod, netns, podIP, qosCgroup(pod))
}

// releaseSandbox stops a finished pod's sandbox and gives its IP back.
func (w *podWorker) releaseSandbox(ctx context.Context, pod *corev1.Pod, l *cList) {
	w.stopProbes()
	for _, rs := range l.containers {
		for _, r := range rs {
			if r.running {
				w.k.stopContainer(ctx, r, gracePeriod(pod))
			}
		}
	}
	if sb := l.sandbox; sb != nil {
		w.k.removeContainer(ctx, sb)
		if ns := sb.labels[labelNetNS]; ns != "" {
			if err := w.k.net.Detach(ctx, string(pod.UID), ns); err != nil {
				w.k.log.Warn("detach pod network", "pod", pod.Name, "err", err)
			}
		}
	}
}

func gracePeriod(pod *corev1.Pod) time.Duration {
	if pod.DeletionGracePeriodSeconds != nil {
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// terminate stops a deleted pod: preStop hooks, SIGTERM, SIGKILL after the grace
// period, then the sandbox, network and volumes; finally the pod object is
// removed from the API (grace period 0), as the kubelet does.
func (w *podWorker) terminate(ctx context.Context, pod *corev1.Pod, l *cList, removed bool) (bool, error) {
	k := w.k
	w.stopProbes()
	grace := gracePeriod(pod)
	if removed {
		grace = 0
	}
	deadline := time.Now().Add(grace)
	done := make(chan struct{})
	n := 0
	for _, rs := range l.containers {
		for _, r := range rs {
			if !r.running {
				continue
			}
			n++
			go func(r *record) {
				defer func() { done <- struct{}{} }()
				if c := volumes.FindContainer(pod, r.name()); c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil && grace > 0 {
					hctx, cancel := context.WithDeadline(ctx, deadline)
					if err := w.runHook(hctx, pod, c, r, c.Lifecycle.PreStop); err != nil {
						k.rec.Eventf(pod, corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %v", err)
					}
					cancel()
				}
				k.rec.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", r.name())
				k.stopContainer(ctx, r, time.Until(deadline))
			}(r)
		}
	}
	for ; n > 0; n-- {
		<-done
	}
	if l.sandbox != nil {
		k.removeContainer(ctx, l.sandbox)
		if ns := l.sandbox.labels[labelNetNS]; ns != "" {
			if err := k.net.Detach(ctx, string(pod.UID), ns); err != nil {
				return false, fmt.Errorf("detach network: %w", err)
			}
		}
	}
	if !removed {
		// Report the final container states before the object goes.
		if l2, err := k.listPod(ctx, pod.UID); err == nil {
			_ = w.updateStatus(ctx, pod, l2)
		}
		err := k.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: new(int64),
			Preconditions:      &metav1.Preconditions{UID: &pod.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return false, fmt.Errorf("delete pod: %w", err)
		}
		// The informer's delete event finishes the cleanup.
		return false, nil
	}
	// Gone from the API: remove containers, volumes and logs.
	for _, rs := range l.containers {
		for _, r := range rs {
			k.removeContainer(ctx, r)
		}
	}
	if err := k.vols.Teardown(pod.UID); err != nil {
		return false, fmt.Errorf("tear down volumes: %w", err)
	}
	removePodCgroups(pod.UID)
	if err := k.updateQOSCgroups(nil); err != nil {
		k.log.Warn("update QoS cgroups", "err", err)
	}
	_ = os.RemoveAll(filepath.Join(k.cfg.PodsDir, "pods", string(pod.UID)))
	_ = os.RemoveAll(logs.PodLogDir(k.cfg.PodLogsDir, pod.Namespace, pod.Name, pod.UID))
	return true, nil
}

// pruneInstances keeps the current and the previous instance of a container
// (for `kubectl logs --previous`) and deletes older ones with their logs.
func (k *Kubelet) pruneInstances(ctx context.Context, rs []*record) {
	if len(rs) <= 2 {
		return
	}
	for _, r := range rs[2:] {
		if r.running {
			continue
		}
		k.removeContainer(ctx, r)
		if p := r.labels[labelLogPath]; p != "" {
			_ = os.Remove(p)
		}
	}
}
