package nodelifecycle

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// evictAt says when a pod with these tolerations has to leave a node with these
// taints, as Kubernetes' taint eviction controller decides. Each NoExecute
// taint is matched with the first toleration that tolerates it: none means at
// once; one without tolerationSeconds means never for that taint; otherwise
// the taint allows tolerationSeconds (zero or less: none) from when it
// appeared (start). The earliest deadline wins; evict is false when no taint
// ever requires leaving.
func evictAt(tolerations []corev1.Toleration, taints []corev1.Taint, start func(corev1.Taint) time.Time) (at time.Time, evict bool) {
	for _, taint := range taints {
		if taint.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		var used *corev1.Toleration
		for i := range tolerations {
			if tolerations[i].ToleratesTaint(klog.Logger{}, &taint, true) {
				used = &tolerations[i]
				break
			}
		}
		if used == nil {
			return time.Time{}, true
		}
		if used.TolerationSeconds == nil {
			continue
		}
		deadline := start(taint)
		if secs := *used.TolerationSeconds; secs > 0 {
			deadline = deadline.Add(time.Duration(secs) * time.Second)
		}
		if !evict || deadline.Before(at) {
			at, evict = deadline, true
		}
	}
	return at, evict
}

// taintClock remembers when this controller first saw each NoExecute taint.
// A taint's timeAdded travels with second precision only, so for a taint added
// while we watch, our own sighting (milliseconds later) is the better start;
// for one older than us (a controller restart) timeAdded is, so pods are not
// given their whole toleration again.
type taintClock struct {
	mu   sync.Mutex
	seen map[string]map[string]time.Time // node -> key/effect -> first seen
}

func taintID(t corev1.Taint) string { return t.Key + "/" + string(t.Effect) }

// observe records the node's NoExecute taints and reports whether the set
// differs from the one recorded before.
func (tc *taintClock) observe(node *corev1.Node, now time.Time) bool {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	old := tc.seen[node.Name]
	cur := map[string]time.Time{}
	for _, t := range node.Spec.Taints {
		if t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		id := taintID(t)
		if when, ok := old[id]; ok {
			cur[id] = when
		} else {
			cur[id] = now
		}
	}
	changed := len(cur) != len(old)
	for id := range cur {
		if _, ok := old[id]; !ok {
			changed = true
		}
	}
	if len(cur) == 0 {
		delete(tc.seen, node.Name)
	} else {
		tc.seen[node.Name] = cur
	}
	return changed
}

func (tc *taintClock) forget(node string) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	delete(tc.seen, node)
}

// start is when the taint on node began to count.
func (tc *taintClock) start(node string, t corev1.Taint, now time.Time) time.Time {
	tc.mu.Lock()
	seen, ok := tc.seen[node][taintID(t)]
	tc.mu.Unlock()
	if !ok {
		seen = now
	}
	if t.TimeAdded == nil {
		return seen
	}
	added := t.TimeAdded.Time
	if seen.After(added) && seen.Sub(added) < 2*time.Second {
		return seen
	}
	return added
}

// syncPod evicts the pod if its node's NoExecute taints say so, or asks to be
// called again when they will.
func (c *Controller) syncPod(ctx context.Context, key string) (retryAfter time.Duration, err error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	pod, err := c.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if pod.Spec.NodeName == "" || pod.DeletionTimestamp != nil {
		return 0, nil
	}
	node, err := c.nodes.Get(pod.Spec.NodeName)
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	now := c.now()
	at, evict := evictAt(pod.Spec.Tolerations, node.Spec.Taints, func(t corev1.Taint) time.Time {
		return c.taintClock.start(node.Name, t, now)
	})
	if !evict {
		return 0, nil
	}
	if wait := at.Sub(now); wait > 0 {
		return wait, nil
	}
	return 0, c.evict(ctx, pod)
}

// evict deletes the pod as Kubernetes' taint eviction controller does: first a
// DisruptionTarget condition, so that whoever owns the pod (a Job's pod failure
// policy) can tell why it went, then a graceful delete; the kubelet, if it is
// still there, stops the containers.
func (c *Controller) evict(ctx context.Context, pod *corev1.Pod) error {
	p := pod.DeepCopy()
	cond := corev1.PodCondition{
		Type:               corev1.DisruptionTarget,
		Status:             corev1.ConditionTrue,
		Reason:             "DeletionByTaintManager",
		Message:            "Taint manager: deleting due to NoExecute taint",
		LastTransitionTime: metav1.NewTime(c.now()),
	}
	replaced := false
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.DisruptionTarget {
			p.Status.Conditions[i], replaced = cond, true
		}
	}
	if !replaced {
		p.Status.Conditions = append(p.Status.Conditions, cond)
	}
	if _, err := c.client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		// Not worth keeping the pod for: the deletion is what matters.
		c.log.Debug("set pod disruption condition", "pod", p.Namespace+"/"+p.Name, "err", err)
	}
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("evict pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	c.record.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s/%s", pod.Namespace, pod.Name)
	c.log.Info("pod evicted", "pod", pod.Namespace+"/"+pod.Name, "node", pod.Spec.NodeName)
	return nil
}
