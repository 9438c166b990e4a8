package simulate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// ours reports whether a pod is bound to one of this simulator's nodes. The
// prefix test is cheap; the map lookup keeps simulators with overlapping
// prefixes apart.
func (s *Simulator) ours(nodeName string) *simNode {
	if nodeName == "" || !strings.HasPrefix(nodeName, s.cfg.NamePrefix) {
		return nil
	}
	return s.nodes[nodeName]
}

func (s *Simulator) onPod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || s.ours(pod.Spec.NodeName) == nil {
		return
	}
	key, err := cache.MetaNamespaceKeyFunc(pod)
	if err == nil {
		s.queue.Add(key)
	}
}

func (s *Simulator) onPodDelete(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		if tomb, isTomb := obj.(cache.DeletedFinalStateUnknown); isTomb {
			pod, ok = tomb.Obj.(*corev1.Pod)
		}
	}
	if !ok {
		return
	}
	n := s.ours(pod.Spec.NodeName)
	if n == nil {
		return
	}
	n.ips.release(string(pod.UID))
	key, _ := cache.MetaNamespaceKeyFunc(pod)
	s.mu.Lock()
	delete(s.first, key)
	s.mu.Unlock()
}

func (s *Simulator) work(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(key)
	next, err := s.sync(ctx, key)
	switch {
	case err != nil:
		if ctx.Err() == nil && !apierrors.IsConflict(err) {
			s.log.Warn("pod", "pod", key, "err", err)
		}
		s.queue.AddRateLimited(key)
	case next > 0:
		s.queue.Forget(key)
		s.queue.AddAfter(key, next)
	default:
		s.queue.Forget(key)
	}
	return true
}

// jobLike: a pod that runs to completion. Job pods, and any pod whose
// restartPolicy is Never or OnFailure, finish; the others run until deleted.
func jobLike(pod *corev1.Pod) bool {
	for _, ref := range pod.OwnerReferences {
		if ref.Kind == "Job" {
			return true
		}
	}
	return pod.Spec.RestartPolicy == corev1.RestartPolicyNever || pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure
}

func durationAnnotation(pod *corev1.Pod, key string, def time.Duration) time.Duration {
	if v, ok := pod.Annotations[key]; ok {
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			return d
		}
	}
	return def
}

func exitCode(pod *corev1.Pod) int32 {
	if v, ok := pod.Annotations[AnnotationExitCode]; ok {
		if n, err := strconv.ParseInt(v, 10, 32); err == nil {
			return int32(n)
		}
	}
	return 0
}

// sync moves one pod along its hollow life and returns when to look again
// (0: only on the next change).
func (s *Simulator) sync(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	pod, err := s.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := s.ours(pod.Spec.NodeName)
	if n == nil || s.isFrozen(n.name) {
		return 0, nil
	}
	if pod.DeletionTimestamp != nil {
		// The containers "stop" at once; confirm the deletion as a kubelet
		// does when they have: grace period 0, for this very pod only.
		n.ips.release(string(pod.UID))
		zero := int64(0)
		uid := pod.UID
		err := s.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return 0, nil
		}
		return 0, err
	}
	now := time.Now()
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		n.ips.release(string(pod.UID))
		return 0, nil
	case corev1.PodRunning:
		if pod.Status.PodIP != "" {
			n.ips.reserve(string(pod.UID), pod.Status.PodIP)
		}
		if st, changed := readiness(pod, now); changed {
			// The sim-ready annotation or a readiness gate changed.
			p := pod.DeepCopy()
			p.Status = st
			if _, err := s.client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return 0, err
			}
		}
		if !jobLike(pod) {
			return 0, nil
		}
		started := runningSince(pod)
		due := started.Add(durationAnnotation(pod, AnnotationRunDuration, s.cfg.RunDuration))
		if wait := due.Sub(now); wait > 0 {
			return wait, nil
		}
		return s.finish(ctx, pod, n, now)
	}
	// Pending on our node: start it after the delay, counted from when this
	// simulator first saw it bound.
	s.mu.Lock()
	first, seen := s.first[key]
	if !seen {
		first = now
		s.first[key] = now
	}
	s.mu.Unlock()
	if wait := first.Add(durationAnnotation(pod, AnnotationStartDelay, s.cfg.StartDelay)).Sub(now); wait > 0 {
		return wait, nil
	}
	ip, err := n.ips.allocate(string(pod.UID), n.fallbackPrefix())
	if err != nil {
		return 0, err
	}
	p := pod.DeepCopy()
	p.Status = runningStatus(pod, nodeIP(n.index).String(), ip.String(), now)
	if _, err := s.client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			n.ips.release(string(pod.UID))
			return 0, nil
		}
		return 0, err
	}
	s.mu.Lock()
	delete(s.first, key)
	s.mu.Unlock()
	if jobLike(pod) {
		return durationAnnotation(pod, AnnotationRunDuration, s.cfg.RunDuration), nil
	}
	return 0, nil
}

// finish ends a run: Succeeded (exit 0) or, for a non-zero exit code, Failed
// with restartPolicy Never or a container restart with OnFailure.
func (s *Simulator) finish(ctx context.Context, pod *corev1.Pod, n *simNode, now time.Time) (time.Duration, error) {
	code := exitCode(pod)
	p := pod.DeepCopy()
	if code != 0 && pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure {
		p.Status = restartedStatus(pod, code, now)
		if _, err := s.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return 0, err
		}
		return durationAnnotation(pod, AnnotationRunDuration, s.cfg.RunDuration), nil
	}
	p.Status = finishedStatus(pod, code, now)
	if _, err := s.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return 0, err
	}
	n.ips.release(string(pod.UID))
	return 0, nil
}

// runningSince is when the pod's current run started: the latest container
// start, else the pod's start time.
func runningSince(pod *corev1.Pod) time.Time {
	var t time.Time
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Running != nil && cs.State.Running.StartedAt.After(t) {
			t = cs.State.Running.StartedAt.Time
		}
	}
	if t.IsZero() && pod.Status.StartTime != nil {
		t = pod.Status.StartTime.Time
	}
	return t
}

// imageRef is how a kubelet reports an image: fully qualified
// ("busybox" -> "docker.io/library/busybox:latest").
func imageRef(image string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	return reference.TagNameOnly(named).String()
}

func digest(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "/")))
	return hex.EncodeToString(sum[:])
}

func containerID(pod *corev1.Pod, name string, restarts int32) string {
	return "containerd://" + digest(string(pod.UID), name, strconv.Itoa(int(restarts)))
}

func imageID(image string) string {
	ref := imageRef(image)
	if i := strings.LastIndexAny(ref, ":@"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref + "@sha256:" + digest(image)
}

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

// setCondition sets a pod condition; its transition time moves only when its
// status does, as the kubelet's status manager keeps it.
func setCondition(st *corev1.PodStatus, c corev1.PodCondition, now metav1.Time) {
	for i := range st.Conditions {
		if st.Conditions[i].Type != c.Type {
			continue
		}
		c.LastTransitionTime = st.Conditions[i].LastTransitionTime
		if st.Conditions[i].Status != c.Status || c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = now
		}
		st.Conditions[i] = c
		return
	}
	c.LastTransitionTime = now
	st.Conditions = append(st.Conditions, c)
}

func previousStatus(pod *corev1.Pod, name string) *corev1.ContainerStatus {
	for i := range pod.Status.ContainerStatuses {
		if pod.Status.ContainerStatuses[i].Name == name {
			return &pod.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// runningStatus is what a kubelet reports once the sandbox and containers
// run: phase Running, the pod and host IPs, init containers completed
// (sidecars running), every container running and ready, and the conditions
// PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled.
func runningStatus(pod *corev1.Pod, hostIP, podIP string, at time.Time) corev1.PodStatus {
	now := metav1.NewTime(at)
	st := *pod.Status.DeepCopy()
	st.Phase = corev1.PodRunning
	st.Reason, st.Message = "", ""
	st.HostIP, st.HostIPs = hostIP, []corev1.HostIP{{IP: hostIP}}
	st.PodIP, st.PodIPs = podIP, []corev1.PodIP{{IP: podIP}}
	if st.StartTime == nil {
		st.StartTime = &now
	}
	ready := pod.Annotations[AnnotationReady] != "false"

	st.InitContainerStatuses = nil
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := corev1.ContainerStatus{Name: c.Name, Image: imageRef(c.Image), ImageID: imageID(c.Image), ContainerID: containerID(pod, c.Name, 0)}
		if isSidecar(c) {
			started := true
			cs.Ready, cs.Started = true, &started
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
		} else {
			started := false
			cs.Started = &started
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now, ContainerID: cs.ContainerID}
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	st.ContainerStatuses = nil
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		started := true
		cs := corev1.ContainerStatus{
			Name: c.Name, Image: imageRef(c.Image), ImageID: imageID(c.Image), ContainerID: containerID(pod, c.Name, 0),
			Ready: ready, Started: &started,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		}
		if prev := previousStatus(pod, c.Name); prev != nil {
			cs.RestartCount, cs.LastTerminationState = prev.RestartCount, prev.LastTerminationState
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}

	setCondition(&st, corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue}, now)
	setCondition(&st, corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}, now)
	setReadiness(&st, pod, ready, now)
	setCondition(&st, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, now)
	return st
}

// setReadiness sets ContainersReady and Ready as the kubelet's status manager
// does: Ready needs the containers ready and every readiness gate's condition
// True.
func setReadiness(st *corev1.PodStatus, pod *corev1.Pod, containersReady bool, now metav1.Time) {
	// Ready first, then ContainersReady: the order a kubelet reports them in.
	if !containersReady {
		msg := "containers with unready status: [" + containerNames(pod) + "]"
		setCondition(st, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", Message: msg}, now)
		setCondition(st, corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: "ContainersNotReady", Message: msg}, now)
		return
	}
	ready := corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue}
	for _, g := range pod.Spec.ReadinessGates {
		c := findCondition(st, g.ConditionType)
		if c == nil || c.Status != corev1.ConditionTrue {
			msg := fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", g.ConditionType)
			if c != nil {
				msg = fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %v", g.ConditionType, c.Status)
			}
			ready = corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "ReadinessGatesNotReady", Message: msg}
			break
		}
	}
	setCondition(st, ready, now)
	setCondition(st, corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}, now)
}

func findCondition(st *corev1.PodStatus, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

// readiness recomputes a running pod's readiness and reports whether it
// changed (the sim-ready annotation was flipped, or a readiness gate's
// condition was set by its controller).
func readiness(pod *corev1.Pod, at time.Time) (corev1.PodStatus, bool) {
	st := *pod.Status.DeepCopy()
	ready := pod.Annotations[AnnotationReady] != "false"
	for i := range st.ContainerStatuses {
		if st.ContainerStatuses[i].State.Running != nil {
			st.ContainerStatuses[i].Ready = ready
		}
	}
	setReadiness(&st, pod, ready, metav1.NewTime(at))
	was, now := findCondition(&pod.Status, corev1.PodReady), findCondition(&st, corev1.PodReady)
	wasC, nowC := findCondition(&pod.Status, corev1.ContainersReady), findCondition(&st, corev1.ContainersReady)
	changed := was == nil || wasC == nil || was.Status != now.Status || was.Reason != now.Reason || wasC.Status != nowC.Status
	return st, changed
}

func containerNames(pod *corev1.Pod) string {
	var names []string
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	return strings.Join(names, " ")
}

// finishedStatus: every container terminated with code (0: "Completed",
// else "Error"); the pod Succeeded or Failed, no longer ready (PodCompleted /
// PodFailed), its sandbox gone.
func finishedStatus(pod *corev1.Pod, code int32, at time.Time) corev1.PodStatus {
	now := metav1.NewTime(at)
	st := *pod.Status.DeepCopy()
	phase, reason, readyReason := corev1.PodSucceeded, "Completed", "PodCompleted"
	if code != 0 {
		phase, reason, readyReason = corev1.PodFailed, "Error", "PodFailed"
	}
	st.Phase = phase
	for i := range st.ContainerStatuses {
		cs := &st.ContainerStatuses[i]
		startedAt := now
		if cs.State.Running != nil {
			startedAt = cs.State.Running.StartedAt
		}
		started := false
		cs.Ready, cs.Started = false, &started
		cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, Reason: reason, StartedAt: startedAt, FinishedAt: now, ContainerID: cs.ContainerID,
		}}
	}
	for i := range st.InitContainerStatuses {
		cs := &st.InitContainerStatuses[i]
		if cs.State.Running != nil { // sidecars stop with the pod
			started := false
			cs.Ready, cs.Started = false, &started
			cs.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 0, Reason: "Completed", StartedAt: cs.State.Running.StartedAt, FinishedAt: now, ContainerID: cs.ContainerID,
			}}
		}
	}
	setCondition(&st, corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionFalse}, now)
	setCondition(&st, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: readyReason}, now)
	setCondition(&st, corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionFalse, Reason: readyReason}, now)
	return st
}

// restartedStatus: an OnFailure pod's containers exited with code and were
// restarted in place: restartCount up, the exit in lastState, running again.
func restartedStatus(pod *corev1.Pod, code int32, at time.Time) corev1.PodStatus {
	now := metav1.NewTime(at)
	st := *pod.Status.DeepCopy()
	for i := range st.ContainerStatuses {
		cs := &st.ContainerStatuses[i]
		startedAt := now
		if cs.State.Running != nil {
			startedAt = cs.State.Running.StartedAt
		}
		cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, Reason: "Error", StartedAt: startedAt, FinishedAt: now, ContainerID: cs.ContainerID,
		}}
		cs.RestartCount++
		cs.ContainerID = containerID(pod, cs.Name, cs.RestartCount)
		cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
	}
	return st
}
