package statefulset

import (
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/appliance/appliance/appliance/controllers/controllerutil"
)

// A StatefulSet pod's identity is its ordinal: the name <set>-<ordinal>, the
// hostname and subdomain (so <set>-<ordinal>.<service> resolves through the
// headless service), the labels statefulset.kubernetes.io/pod-name and
// apps.kubernetes.io/pod-index, and its claims <template>-<set>-<ordinal>,
// which outlive the pod so a recreated pod finds its data again.

// podNameRegexp splits a pod name into its set name and ordinal, as Kubernetes
// does: the last dash followed only by digits.
var podNameRegexp = regexp.MustCompile("(.*)-([0-9]+)$")

// parentAndOrdinal returns the set name and ordinal encoded in a pod's name,
// or ordinal -1 if the name has none.
func parentAndOrdinal(pod *corev1.Pod) (string, int) {
	m := podNameRegexp.FindStringSubmatch(pod.Name)
	if len(m) < 3 {
		return "", -1
	}
	i, err := strconv.ParseInt(m[2], 10, 32)
	if err != nil {
		return m[1], -1
	}
	return m[1], int(i)
}

func ordinalOf(pod *corev1.Pod) int {
	_, ord := parentAndOrdinal(pod)
	return ord
}

// isMemberOf: the pod's name says it is one of set's.
func isMemberOf(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, ord := parentAndOrdinal(pod)
	return ord >= 0 && parent == set.Name
}

func podName(set *appsv1.StatefulSet, ordinal int) string {
	return fmt.Sprintf("%s-%d", set.Name, ordinal)
}

func claimName(set *appsv1.StatefulSet, template *corev1.PersistentVolumeClaim, ordinal int) string {
	return fmt.Sprintf("%s-%s-%d", template.Name, set.Name, ordinal)
}

// startOrdinal is spec.ordinals.start (0 without it).
func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

func replicasOf(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas == nil {
		return 1
	}
	return int(*set.Spec.Replicas)
}

// endOrdinal is the last ordinal the set wants (start-1 when it wants none).
func endOrdinal(set *appsv1.StatefulSet) int {
	return startOrdinal(set) + replicasOf(set) - 1
}

// inOrdinalRange: the pod is one the set currently wants.
func inOrdinalRange(pod *corev1.Pod, set *appsv1.StatefulSet) bool {
	ord := ordinalOf(pod)
	return ord >= startOrdinal(set) && ord <= endOrdinal(set)
}

// identityMatches: the pod carries its identity labels. Hostname and subdomain
// are set at creation and immutable, so they are not checked.
func identityMatches(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	parent, ord := parentAndOrdinal(pod)
	return ord >= 0 && parent == set.Name && pod.Name == podName(set, ord) && pod.Namespace == set.Namespace &&
		pod.Labels[appsv1.StatefulSetPodNameLabel] == pod.Name &&
		pod.Labels[appsv1.PodIndexLabel] == strconv.Itoa(ord)
}

// updateIdentity sets the identity labels.
func updateIdentity(set *appsv1.StatefulSet, pod *corev1.Pod) {
	ord := ordinalOf(pod)
	pod.Name = podName(set, ord)
	pod.Namespace = set.Namespace
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.StatefulSetPodNameLabel] = pod.Name
	pod.Labels[appsv1.PodIndexLabel] = strconv.Itoa(ord)
}

// storageMatches: each claim template is mounted from the pod's own claim.
func storageMatches(set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	ord := ordinalOf(pod)
	if ord < 0 {
		return false
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = v
	}
	for i := range set.Spec.VolumeClaimTemplates {
		t := &set.Spec.VolumeClaimTemplates[i]
		v, ok := volumes[t.Name]
		if !ok || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != claimName(set, t, ord) {
			return false
		}
	}
	return true
}

// claimsFor returns the claims a pod of set needs, by template name: the
// template with the per-ordinal name, in the set's namespace, labelled with the
// set's selector labels (so `kubectl get pvc -l` finds them), as Kubernetes
// makes them.
func claimsFor(set *appsv1.StatefulSet, pod *corev1.Pod) map[string]corev1.PersistentVolumeClaim {
	ord := ordinalOf(pod)
	claims := make(map[string]corev1.PersistentVolumeClaim, len(set.Spec.VolumeClaimTemplates))
	for i := range set.Spec.VolumeClaimTemplates {
		t := set.Spec.VolumeClaimTemplates[i].DeepCopy()
		claim := corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{
				Name:        claimName(set, t, ord),
				Namespace:   set.Namespace,
				Labels:      maps.Clone(t.Labels),
				Annotations: maps.Clone(t.Annotations),
				Finalizers:  t.Finalizers,
			},
			Spec: t.Spec,
		}
		if set.Spec.Selector != nil && len(set.Spec.Selector.MatchLabels) > 0 {
			if claim.Labels == nil {
				claim.Labels = map[string]string{}
			}
			maps.Copy(claim.Labels, set.Spec.Selector.MatchLabels)
		}
		claims[t.Name] = claim
	}
	return claims
}

// updateStorage mounts the pod's claims for the templates' volume names,
// replacing any pod volume of the same name.
func updateStorage(set *appsv1.StatefulSet, pod *corev1.Pod) {
	claims := claimsFor(set, pod)
	var volumes []corev1.Volume
	// Template order, so the pod spec does not depend on map order.
	for i := range set.Spec.VolumeClaimTemplates {
		name := set.Spec.VolumeClaimTemplates[i].Name
		volumes = append(volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claims[name].Name},
		}})
	}
	for _, v := range pod.Spec.Volumes {
		if _, ok := claims[v.Name]; !ok {
			volumes = append(volumes, v)
		}
	}
	pod.Spec.Volumes = volumes
}

// newPod makes the pod of set at ordinal from set's template: controlled by
// the set, named and labelled for its ordinal, hostname and subdomain set, its
// claims mounted.
func newPod(set *appsv1.StatefulSet, ordinal int) *corev1.Pod {
	t := set.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            podName(set, ordinal),
			Namespace:       set.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
		},
		Spec: t.Spec,
	}
	updateIdentity(set, pod)
	pod.Spec.Hostname = pod.Name
	pod.Spec.Subdomain = set.Spec.ServiceName
	updateStorage(set, pod)
	return pod
}

// newVersionedPod makes the pod at ordinal at the revision it should have:
// during a RollingUpdate, ordinals below the partition stay at the current
// revision (a recreated web-0 must not jump ahead of a canary partition);
// everything else, and every pod of an OnDelete set, gets the update revision.
func newVersionedPod(currentSet, updateSet *appsv1.StatefulSet, currentRevision, updateRevision string, ordinal int) *corev1.Pod {
	if currentSet.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType {
		ru := currentSet.Spec.UpdateStrategy.RollingUpdate
		var below int
		if ru == nil {
			// No partition: pods the current revision still covers keep it.
			below = startOrdinal(currentSet) + int(currentSet.Status.CurrentReplicas)
		} else {
			below = startOrdinal(currentSet) + int(ptrOr(ru.Partition, 0))
		}
		if ordinal < below {
			pod := newPod(currentSet, ordinal)
			setRevision(pod, currentRevision)
			return pod
		}
	}
	pod := newPod(updateSet, ordinal)
	setRevision(pod, updateRevision)
	return pod
}

func ptrOr[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

func setRevision(pod *corev1.Pod, revision string) {
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[appsv1.StatefulSetRevisionLabel] = revision
}

func revisionOf(pod *corev1.Pod) string { return pod.Labels[appsv1.StatefulSetRevisionLabel] }

// Pod states, as the StatefulSet controller reads them.

// isCreated: the API server has the pod (a pod the controller only plans to
// create has no phase).
func isCreated(pod *corev1.Pod) bool   { return pod.Status.Phase != "" }
func isPending(pod *corev1.Pod) bool   { return pod.Status.Phase == corev1.PodPending }
func isFailed(pod *corev1.Pod) bool    { return pod.Status.Phase == corev1.PodFailed }
func isSucceeded(pod *corev1.Pod) bool { return pod.Status.Phase == corev1.PodSucceeded }
func isTerminating(pod *corev1.Pod) bool {
	return pod.DeletionTimestamp != nil
}

func isRunningAndReady(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodRunning && controllerutil.IsPodReady(pod)
}

func isRunningAndAvailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	return pod.Status.Phase == corev1.PodRunning && controllerutil.IsPodAvailable(pod, minReadySeconds, now)
}

func isHealthy(pod *corev1.Pod) bool { return isRunningAndReady(pod) && !isTerminating(pod) }

// isUnavailable: not counted as serving (not healthy, or not yet ready for
// minReadySeconds).
func isUnavailable(pod *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	return !isHealthy(pod) || !isRunningAndAvailable(pod, minReadySeconds, now)
}

// PersistentVolumeClaim retention (persistentVolumeClaimRetentionPolicy).
// Claims are deleted by the garbage collector through ownerReferences, as in
// Kubernetes: whenDeleted=Delete makes the set an owner of every claim;
// whenScaled=Delete makes a condemned pod (one above the wanted ordinals) the
// owner of its claims before it is deleted. Retain (the default) leaves the
// claims unowned, so they outlive both.

func retentionPolicy(set *appsv1.StatefulSet) appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy {
	p := appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
		WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
	}
	if rp := set.Spec.PersistentVolumeClaimRetentionPolicy; rp != nil {
		if rp.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
			p.WhenDeleted = rp.WhenDeleted
		}
		if rp.WhenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
			p.WhenScaled = rp.WhenScaled
		}
	}
	return p
}

// wantedClaimOwners says which of set and pod should own a claim of pod.
func wantedClaimOwners(set *appsv1.StatefulSet, pod *corev1.Pod) (bySet, byPod bool) {
	p := retentionPolicy(set)
	const del = appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	scaledDown := !inOrdinalRange(pod, set)
	switch {
	case p.WhenScaled == del && p.WhenDeleted == del:
		return !scaledDown, scaledDown
	case p.WhenScaled == del:
		return false, scaledDown
	case p.WhenDeleted == del:
		return true, false
	}
	return false, false
}

func hasOwnerRef(claim *corev1.PersistentVolumeClaim, uid types.UID) bool {
	for _, ref := range claim.OwnerReferences {
		if ref.UID == uid {
			return true
		}
	}
	return false
}

// hasForeignController: someone else controls the claim; it is not ours to
// change.
func hasForeignController(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	ref := metav1.GetControllerOfNoCopy(claim)
	return ref != nil && ref.UID != set.UID && ref.UID != pod.UID
}

// claimOwnersMatch: the claim's ownerReferences are what the retention
// policy wants for pod.
func claimOwnersMatch(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	if hasForeignController(claim, set, pod) {
		return true
	}
	bySet, byPod := wantedClaimOwners(set, pod)
	return hasOwnerRef(claim, set.UID) == bySet && (pod.UID == "" || hasOwnerRef(claim, pod.UID) == byPod)
}

// setClaimOwners makes claim's ownerReferences what the policy wants and
// reports whether it changed anything. The references are not controllers and
// do not block deletion: they only tell the garbage collector when the claim
// may go.
func setClaimOwners(claim *corev1.PersistentVolumeClaim, set *appsv1.StatefulSet, pod *corev1.Pod) bool {
	if hasForeignController(claim, set, pod) {
		return false
	}
	bySet, byPod := wantedClaimOwners(set, pod)
	changed := setOwnerRef(claim, metav1.OwnerReference{APIVersion: controllerKind.GroupVersion().String(), Kind: controllerKind.Kind, Name: set.Name, UID: set.UID}, bySet)
	if pod.UID != "" {
		changed = setOwnerRef(claim, metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID}, byPod) || changed
	}
	return changed
}

func setOwnerRef(claim *corev1.PersistentVolumeClaim, ref metav1.OwnerReference, want bool) bool {
	has := hasOwnerRef(claim, ref.UID)
	switch {
	case want && !has:
		claim.OwnerReferences = append(claim.OwnerReferences, ref)
		return true
	case !want && has:
		var keep []metav1.OwnerReference
		for _, r := range claim.OwnerReferences {
			if r.UID != ref.UID {
				keep = append(keep, r)
			}
		}
		claim.OwnerReferences = keep
		return true
	}
	return false
}
