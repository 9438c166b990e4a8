package nodelifecycle

import (
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// health is what the controller remembers of a node between passes. Times are
// on the controller's own clock: as in Kubernetes, a heartbeat counts when we
// see it change, never by the timestamp the kubelet wrote, so clock skew
// between machines does not matter.
type health struct {
	probe      time.Time   // when we last saw the node alive
	heartbeat  metav1.Time // the Ready condition's lastHeartbeatTime then
	hasReady   bool
	leaseRenew metav1.MicroTime // the Lease's renewTime last seen
	hasLease   bool
}

// observe updates h with the node and its Lease (nil if none) as seen at now,
// and returns the grace period that applies: nodes that never posted a Ready
// condition get the longer startup grace, counted from their creation.
func observe(h *health, fresh bool, node *corev1.Node, lease *coordinationv1.Lease, now time.Time, grace, startupGrace time.Duration) time.Duration {
	ready := condition(node, corev1.NodeReady)
	switch {
	case fresh && ready == nil:
		h.probe = node.CreationTimestamp.Time
	case fresh:
		h.probe, h.heartbeat, h.hasReady = now, ready.LastHeartbeatTime, true
	case ready != nil && (!h.hasReady || !ready.LastHeartbeatTime.Equal(&h.heartbeat)):
		h.probe, h.heartbeat, h.hasReady = now, ready.LastHeartbeatTime, true
	}
	// A renewed Lease is the cheap heartbeat kubelets send every 10 s; the
	// node status itself is posted only on change or every 5 minutes.
	if lease != nil && lease.Spec.RenewTime != nil && (!h.hasLease || h.leaseRenew.Before(lease.Spec.RenewTime)) {
		h.probe, h.leaseRenew, h.hasLease = now, *lease.Spec.RenewTime, true
	}
	if ready == nil {
		return startupGrace
	}
	return grace
}

// The conditions the controller sets to Unknown when the kubelet goes silent.
// NetworkUnavailable is left alone: the network plugin owns it, as in
// Kubernetes.
var kubeletConditions = []corev1.NodeConditionType{
	corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure,
}

// markUnknown sets the kubelet's conditions to Unknown with the reasons and
// messages Kubernetes' node lifecycle controller writes, and reports whether
// anything changed.
func markUnknown(node *corev1.Node, now time.Time) bool {
	changed := false
	t := metav1.NewTime(now)
	for _, typ := range kubeletConditions {
		c := condition(node, typ)
		switch {
		case c == nil:
			node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{
				Type:               typ,
				Status:             corev1.ConditionUnknown,
				Reason:             "NodeStatusNeverUpdated",
				Message:            "Kubelet never posted node status.",
				LastHeartbeatTime:  node.CreationTimestamp,
				LastTransitionTime: t,
			})
			changed = true
		case c.Status != corev1.ConditionUnknown:
			c.Status = corev1.ConditionUnknown
			c.Reason = "NodeStatusUnknown"
			c.Message = "Kubelet stopped posting node status."
			c.LastTransitionTime = t
			changed = true
		}
	}
	return changed
}

// condition points into node's conditions, or is nil.
func condition(node *corev1.Node, typ corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range node.Status.Conditions {
		if node.Status.Conditions[i].Type == typ {
			return &node.Status.Conditions[i]
		}
	}
	return nil
}

// readyStatus is the node's Ready status; a node without the condition counts
// as Unknown.
func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	if c := condition(node, corev1.NodeReady); c != nil {
		return c.Status
	}
	return corev1.ConditionUnknown
}

// markPodNotReady sets the pod's Ready condition to False, as Kubernetes does
// for the pods of a node that stopped reporting (so endpoints drop them), and
// reports whether it changed. Pods without a Ready condition are left alone.
func markPodNotReady(pod *corev1.Pod, now time.Time) bool {
	for i := range pod.Status.Conditions {
		c := &pod.Status.Conditions[i]
		if c.Type != corev1.PodReady {
			continue
		}
		if c.Status == corev1.ConditionFalse {
			return false
		}
		c.Status = corev1.ConditionFalse
		c.LastTransitionTime = metav1.NewTime(now)
		return true
	}
	return false
}
