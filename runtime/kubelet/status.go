package kubelet

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// imageID is a container's status.imageID as the kubelet reports it: the
// image's repository digest, its normalized name without tag at the digest
// the image resolved to when the container started ("busybox:1.36" and
// sha256:ab.. -> docker.io/library/busybox@sha256:ab..). Without a digest (a
// container started before the kubelet recorded it) or for a name that does
// not parse, it is the image as the spec names it.
func imageID(image, dgst string) string {
	if dgst == "" {
		return image
	}
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	return reference.TrimNamed(named).String() + "@" + dgst
}

// updateStatus computes the pod's status from its containers and reports it when
// it changed.
func (w *podWorker) updateStatus(ctx context.Context, pod *corev1.Pod, l *cList) error {
	return w.writeStatus(ctx, pod, w.computeStatus(pod, l))
}

// writeStatus reports st unless the stored status already says the same.
func (w *podWorker) writeStatus(ctx context.Context, pod *corev1.Pod, st corev1.PodStatus) error {
	w.lastStatus = &st
	merged := mergeStatus(pod.Status, st)
	if apiequality.Semantic.DeepEqual(merged, pod.Status) {
		return nil
	}
	cur := pod.DeepCopy()
	cur.Status = merged
	for attempt := 0; attempt < 3; attempt++ {
		updated, err := w.k.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		if err == nil {
			w.adopt(updated, pod.ResourceVersion, cur.ResourceVersion)
			return nil
		}
		if apierrors.IsNotFound(err) {
			return nil
		}
		if !apierrors.IsConflict(err) {
			return err
		}
		fresh, gerr := w.k.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		if fresh.UID != pod.UID {
			return nil
		}
		fresh.Status = mergeStatus(fresh.Status, st)
		cur = fresh
	}
	w.kickAfter(time.Second)
	return nil
}

// mergeStatus applies the kubelet's fields onto the stored status, keeping
// conditions owned by others (PodScheduled, DisruptionTarget, readiness gates).
func mergeStatus(old, st corev1.PodStatus) corev1.PodStatus {
	out := *old.DeepCopy()
	out.Phase = st.Phase
	out.Reason, out.Message = st.Reason, st.Message
	out.HostIP, out.HostIPs = st.HostIP, st.HostIPs
	out.PodIP, out.PodIPs = st.PodIP, st.PodIPs
	out.StartTime = st.StartTime
	out.InitContainerStatuses = st.InitContainerStatuses
	out.ContainerStatuses = st.ContainerStatuses
	if st.QOSClass != "" {
		out.QOSClass = st.QOSClass
	}
	owned := map[corev1.PodConditionType]bool{}
	for _, c := range st.Conditions {
		owned[c.Type] = true
	}
	var conds []corev1.PodCondition
	for _, c := range old.Conditions {
		if !owned[c.Type] {
			conds = append(conds, c)
		}
	}
	for _, c := range st.Conditions {
		for _, o := range old.Conditions {
			if o.Type == c.Type && o.Status == c.Status && !o.LastTransitionTime.IsZero() {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		conds = append(conds, c)
	}
	if len(conds) == 0 {
		conds = nil
	}
	out.Conditions = conds
	return out
}

func (w *podWorker) computeStatus(pod *corev1.Pod, l *cList) corev1.PodStatus {
	k := w.k
	st := corev1.PodStatus{QOSClass: pod.Status.QOSClass}
	hostIP := k.cfg.NodeIP.String()
	st.HostIP = hostIP
	st.HostIPs = []corev1.HostIP{{IP: hostIP}}
	if w.sandboxReady && w.podIP != "" && l.sandbox != nil {
		st.PodIP = w.podIP
		st.PodIPs = []corev1.PodIP{{IP: w.podIP}}
	} else if pod.Status.PodIP != "" && isTerminal(pod.Status.Phase) {
		st.PodIP, st.PodIPs = pod.Status.PodIP, pod.Status.PodIPs
	}
	start := metav1.NewTime(w.startTime.Truncate(time.Second))
	st.StartTime = &start

	initDone := true
	initFailed := false
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := w.containerStatus(pod, c, l, "PodInitializing")
		cs.Ready = cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0
		if !cs.Ready {
			initDone = false
			if t := cs.State.Terminated; t != nil && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				initFailed = true
			} else if t := cs.LastTerminationState.Terminated; t != nil && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				initFailed = true
			}
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	waitReason := "ContainerCreating"
	if !initDone {
		waitReason = "PodInitializing"
	}
	allReady := true
	var waiting, running, stopped, succeeded int
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs := w.containerStatus(pod, c, l, waitReason)
		if !cs.Ready {
			allReady = false
		}
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil && cs.LastTerminationState.Terminated != nil:
			stopped++
			if cs.LastTerminationState.Terminated.ExitCode == 0 {
				succeeded++
			}
		default:
			waiting++
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	n := len(pod.Spec.Containers)
	switch {
	case initFailed:
		st.Phase = corev1.PodFailed
	case !initDone:
		st.Phase = corev1.PodPending
	case waiting > 0:
		st.Phase = corev1.PodPending
	case running > 0:
		st.Phase = corev1.PodRunning
	case stopped == n && n > 0:
		switch {
		case pod.Spec.RestartPolicy == corev1.RestartPolicyAlways || pod.Spec.RestartPolicy == "":
			st.Phase = corev1.PodRunning
		case stopped == succeeded:
			st.Phase = corev1.PodSucceeded
		case pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
			st.Phase = corev1.PodFailed
		default:
			st.Phase = corev1.PodRunning
		}
	default:
		st.Phase = corev1.PodPending
	}
	if isTerminal(st.Phase) {
		st.PodIP, st.PodIPs = pod.Status.PodIP, pod.Status.PodIPs
		if st.PodIP == "" && w.podIP != "" {
			st.PodIP, st.PodIPs = w.podIP, []corev1.PodIP{{IP: w.podIP}}
		}
		for i := range st.ContainerStatuses {
			st.ContainerStatuses[i].Ready = false
		}
		allReady = false
	}

	sandboxOK := l.sandbox != nil && l.sandbox.running
	conds := []corev1.PodCondition{
		podCond(corev1.PodReadyToStartContainers, sandboxOK && !isTerminal(st.Phase), ""),
		podCond(corev1.PodInitialized, initDone, "ContainersNotInitialized"),
		podCond(corev1.ContainersReady, allReady, "ContainersNotReady"),
		podCond(corev1.PodReady, allReady && readinessGatesOK(pod), "ContainersNotReady"),
	}
	if isTerminal(st.Phase) {
		conds[2].Reason, conds[3].Reason = "PodCompleted", "PodCompleted"
	}
	if !initDone {
		conds[1].Message = "containers with incomplete status: [" + strings.Join(notDone(st.InitContainerStatuses), " ") + "]"
	}
	if !allReady && !isTerminal(st.Phase) {
		msg := "containers with unready status: [" + strings.Join(notReady(st.ContainerStatuses), " ") + "]"
		conds[2].Message, conds[3].Message = msg, msg
	}
	now := metav1.Now()
	for i := range conds {
		conds[i].LastTransitionTime = now
	}
	st.Conditions = conds
	return st
}

func podCond(t corev1.PodConditionType, ok bool, reason string) corev1.PodCondition {
	if ok {
		return corev1.PodCondition{Type: t, Status: corev1.ConditionTrue}
	}
	return corev1.PodCondition{Type: t, Status: corev1.ConditionFalse, Reason: reason}
}

func readinessGatesOK(pod *corev1.Pod) bool {
	for _, g := range pod.Spec.ReadinessGates {
		ok := false
		for _, c := range pod.Status.Conditions {
			if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func notDone(cs []corev1.ContainerStatus) []string {
	var out []string
	for _, c := range cs {
		if !c.Ready {
			out = append(out, c.Name)
		}
	}
	return out
}

func notReady(cs []corev1.ContainerStatus) []string { return notDone(cs) }

// containerStatus is one container's status: state, last state, restarts,
// readiness from probes.
func (w *podWorker) containerStatus(pod *corev1.Pod, c *corev1.Container, l *cList, waitReason string) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
	rs := l.containers[c.Name]
	if len(rs) == 0 {
		wt := corev1.ContainerStateWaiting{Reason: waitReason}
		if ws, ok := w.waiting[c.Name]; ok {
			wt = ws
		}
		cs.State.Waiting = &wt
		cs.Started = new(bool)
		return cs
	}
	cur := rs[0]
	cs.RestartCount = int32(cur.restart)
	cs.ContainerID = "containerd://" + cur.id
	cs.ImageID = imageID(cur.labels[labelImage], cur.labels[labelImageDigest])
	if len(rs) > 1 && rs[1].exited {
		cs.LastTerminationState.Terminated = terminatedState(rs[1], w.k)
	}
	switch {
	case cur.running:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(cur.started.Truncate(time.Second))}
		started, ready := true, true
		if p := w.probes[cur.id]; p != nil {
			started, ready = p.status()
		}
		cs.Started = &started
		cs.Ready = ready && started
	case cur.exited:
		term := terminatedState(cur, w.k)
		f := false
		cs.Started = &f
		restart := shouldRestart(pod.Spec.RestartPolicy, cur.exitCode) && isApp(pod, c.Name)
		if ws, ok := w.waiting[c.Name]; ok && restart && ws.Reason == "CrashLoopBackOff" {
			cs.State.Waiting = &ws
			cs.LastTerminationState.Terminated = term
		} else {
			cs.State.Terminated = term
		}
	default:
		wt := corev1.ContainerStateWaiting{Reason: waitReason}
		cs.State.Waiting = &wt
	}
	return cs
}

func isApp(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.Containers {
		if c.Name == name {
			return true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

func terminatedState(r *record, k *Kubelet) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{
		ExitCode:    r.exitCode,
		Reason:      r.reason,
		StartedAt:   metav1.NewTime(r.started.Truncate(time.Second)),
		FinishedAt:  metav1.NewTime(r.finished.Truncate(time.Second)),
		ContainerID: "containerd://" + r.id,
	}
	if r.exitCode > 128 && r.reason == "Error" {
		t.Signal = r.exitCode - 128
	}
	if msg := k.terminationMessage(r); msg != "" {
		t.Message = msg
	}
	return t
}

// terminationMessage reads what the container wrote to its termination-log.
func (k *Kubelet) terminationMessage(r *record) string {
	uid, name := r.labels[labelPodUID], r.name()
	b, err := os.ReadFile(k.cfg.PodsDir + "/pods/" + uid + "/containers/" + name + "/termination-log")
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 4096 {
		b = b[:4096]
	}
	return string(b)
}
