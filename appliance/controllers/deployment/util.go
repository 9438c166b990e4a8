package deployment

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/dump"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/rand"
)

// Annotations and label the Deployment controller keeps on its ReplicaSets, with
// the names kubectl reads (`kubectl rollout history/undo`).
const (
	// RevisionAnnotation numbers a ReplicaSet in the rollout sequence; the
	// Deployment carries its current ReplicaSet's.
	RevisionAnnotation = "deployment.kubernetes.io/revision"
	// RevisionHistoryAnnotation lists the earlier revisions a ReplicaSet served
	// (a rollback to it gives it a new number).
	RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	// DesiredReplicasAnnotation is the Deployment's spec.replicas when the
	// ReplicaSet was last scaled: a difference means the user scaled.
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	// MaxReplicasAnnotation is replicas + maxSurge at that time, the base of
	// proportional scaling.
	MaxReplicasAnnotation = "deployment.kubernetes.io/max-replicas"
	// PodTemplateHashLabel tells the ReplicaSets of one Deployment apart.
	PodTemplateHashLabel = appsv1.DefaultDeploymentUniqueLabelKey

	// maxRevisionHistoryChars bounds the revision-history annotation, as
	// Kubernetes does (oldest revisions drop out first).
	maxRevisionHistoryChars = 2000
)

// Condition reasons, as Kubernetes sets them (kubectl rollout status looks for
// ProgressDeadlineExceeded).
const (
	ReasonNewRSCreated       = "NewReplicaSetCreated"
	ReasonFoundNewRS         = "FoundNewReplicaSet"
	ReasonRSUpdated          = "ReplicaSetUpdated"
	ReasonNewRSAvailable     = "NewReplicaSetAvailable"
	ReasonTimedOut           = "ProgressDeadlineExceeded"
	ReasonPaused             = "DeploymentPaused"
	ReasonResumed            = "DeploymentResumed"
	ReasonFailedRSCreate     = "ReplicaSetCreateError"
	ReasonMinimumAvailable   = "MinimumReplicasAvailable"
	ReasonMinimumUnavailable = "MinimumReplicasUnavailable"
)

const (
	conditionReplicaFailure    = appsv1.DeploymentReplicaFailure
	conditionProgressing       = appsv1.DeploymentProgressing
	conditionAvailable         = appsv1.DeploymentAvailable
	annotationLastAppliedCfg   = corev1.LastAppliedConfigAnnotation
	deprecatedRollbackToAnnot  = "deprecated.deployment.rollback.to"
	scalingReplicaSetEventName = "ScalingReplicaSet"
)

// ComputeHash is the pod-template-hash of a template: FNV-32a over a stable dump
// of the template, plus the Deployment's collisionCount when set (bumped when a
// ReplicaSet of that name exists with another template), encoded with the
// alphabet Kubernetes uses for generated names: the way Kubernetes computes it.
func ComputeHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%v", dump.ForHash(*template))
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// EqualIgnoreHash compares two templates but for their pod-template-hash label:
// how a Deployment recognises its ReplicaSet for the current template (and how
// `kubectl rollout undo` recognises a revision).
func EqualIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, PodTemplateHashLabel)
	delete(b.Labels, PodTemplateHashLabel)
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	if len(b.Labels) == 0 {
		b.Labels = nil
	}
	return apiequality.Semantic.DeepEqual(a, b)
}

// revision is a ReplicaSet's revision number, 0 when absent or invalid.
func revision(rs *appsv1.ReplicaSet) int64 {
	if rs == nil {
		return 0
	}
	n, err := strconv.ParseInt(rs.Annotations[RevisionAnnotation], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func maxRevision(sets []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range sets {
		m = max(m, revision(rs))
	}
	return m
}

func replicasOf(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func isRollingUpdate(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType
}

// resolveFenceposts turns maxSurge and maxUnavailable into pod counts for
// desired replicas: surge rounds up, unavailable rounds down, and when both come
// to zero, unavailable is 1 so the rollout can move at all (surge may be blocked
// by quota). Kubernetes' rule.
func resolveFenceposts(maxSurge, maxUnavailable *intstr.IntOrString, desired int32) (surge, unavailable int32, err error) {
	s, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(maxSurge, intstr.FromInt32(0)), int(desired), true)
	if err != nil {
		return 0, 0, fmt.Errorf("maxSurge: %w", err)
	}
	u, err := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(maxUnavailable, intstr.FromInt32(0)), int(desired), false)
	if err != nil {
		return 0, 0, fmt.Errorf("maxUnavailable: %w", err)
	}
	if s == 0 && u == 0 {
		u = 1
	}
	return int32(s), int32(u), nil
}

func fenceposts(d *appsv1.Deployment) (surge, unavailable int32) {
	if !isRollingUpdate(d) || d.Spec.Strategy.RollingUpdate == nil {
		return 0, 0
	}
	ru := d.Spec.Strategy.RollingUpdate
	s, u, err := resolveFenceposts(ru.MaxSurge, ru.MaxUnavailable, replicasOf(d.Spec.Replicas))
	if err != nil {
		return 0, 1
	}
	return s, u
}

// maxSurgeOf is how many pods above spec.replicas a rolling update may run.
func maxSurgeOf(d *appsv1.Deployment) int32 {
	s, _ := fenceposts(d)
	return s
}

// maxUnavailableOf is how many of spec.replicas may be unavailable during a
// rolling update (never more than spec.replicas; 0 for Recreate).
func maxUnavailableOf(d *appsv1.Deployment) int32 {
	want := replicasOf(d.Spec.Replicas)
	if !isRollingUpdate(d) || want == 0 {
		return 0
	}
	_, u := fenceposts(d)
	return min(u, want)
}

// Counting over a Deployment's ReplicaSets (nil entries are skipped: the new
// ReplicaSet may not exist yet).

func specReplicas(sets []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range sets {
		if rs != nil {
			n += replicasOf(rs.Spec.Replicas)
		}
	}
	return n
}

func statusReplicas(sets []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range sets {
		if rs != nil {
			n += rs.Status.Replicas
		}
	}
	return n
}

func readyReplicas(sets []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range sets {
		if rs != nil {
			n += rs.Status.ReadyReplicas
		}
	}
	return n
}

func availableReplicas(sets []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range sets {
		if rs != nil {
			n += rs.Status.AvailableReplicas
		}
	}
	return n
}

func terminatingReplicas(sets []*appsv1.ReplicaSet) *int32 {
	var n int32
	seen := false
	for _, rs := range sets {
		if rs != nil && rs.Status.TerminatingReplicas != nil {
			n += *rs.Status.TerminatingReplicas
			seen = true
		}
	}
	if !seen {
		return nil
	}
	return &n
}

// safeAvailable is the availability a scale-down decision may count on for one
// ReplicaSet: its reported available pods, but never more than its spec. Right
// after a ReplicaSet was scaled down its status still counts the pods about to
// go; the ReplicaSet controller deletes unavailable pods first, so what remains
// available is min(available, spec). Kubernetes counts status alone and can, in
// that window, scale down twice.
func safeAvailable(rs *appsv1.ReplicaSet) int32 {
	if rs == nil {
		return 0
	}
	return max(min(rs.Status.AvailableReplicas, replicasOf(rs.Spec.Replicas)), 0)
}

func safeAvailableSum(sets []*appsv1.ReplicaSet) int32 {
	var n int32
	for _, rs := range sets {
		n += safeAvailable(rs)
	}
	return n
}

// activeSets: the ReplicaSets with pods wanted.
func activeSets(sets []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range sets {
		if rs != nil && replicasOf(rs.Spec.Replicas) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

// Orderings.

func byCreation(a, b *appsv1.ReplicaSet) bool {
	if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.Name < b.Name
	}
	return a.CreationTimestamp.Before(&b.CreationTimestamp)
}

func sortByCreation(sets []*appsv1.ReplicaSet) {
	sort.SliceStable(sets, func(i, j int) bool { return byCreation(sets[i], sets[j]) })
}

// sortBySize: larger first; among equals older first when olderFirst (scaling
// down takes from the old), newer first otherwise (scaling up gives to the new).
func sortBySize(sets []*appsv1.ReplicaSet, olderFirst bool) {
	sort.SliceStable(sets, func(i, j int) bool {
		a, b := replicasOf(sets[i].Spec.Replicas), replicasOf(sets[j].Spec.Replicas)
		if a != b {
			return a > b
		}
		if olderFirst {
			return byCreation(sets[i], sets[j])
		}
		return byCreation(sets[j], sets[i])
	})
}

func sortByRevision(sets []*appsv1.ReplicaSet) {
	sort.SliceStable(sets, func(i, j int) bool {
		ri, rj := revision(sets[i]), revision(sets[j])
		if ri != rj {
			return ri < rj
		}
		return byCreation(sets[i], sets[j])
	})
}

// Annotations.

var skipCopyAnnotations = map[string]bool{
	annotationLastAppliedCfg:  true,
	RevisionAnnotation:        true,
	RevisionHistoryAnnotation: true,
	DesiredReplicasAnnotation: true,
	MaxReplicasAnnotation:     true,
	deprecatedRollbackToAnnot: true,
}

// copyAnnotations copies the Deployment's annotations to its ReplicaSet (so
// kubernetes.io/change-cause shows in `kubectl rollout history`), except the
// ones that describe the Deployment itself.
func copyAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if skipCopyAnnotations[k] || rs.Annotations[k] == v {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	return changed
}

// setNewRSAnnotations brings the new ReplicaSet's annotations up to date: the
// Deployment's annotations, revision newRevision if that is higher than its own
// (remembering the old one in revision-history: this is a rollback to it), and
// for a ReplicaSet about to be created, the replica annotations.
func setNewRSAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision int64, exists bool) bool {
	changed := copyAnnotations(d, rs)
	old, had := rs.Annotations[RevisionAnnotation]
	oldRev, err := strconv.ParseInt(old, 10, 64)
	if err != nil {
		if old != "" {
			return changed // not ours to fix
		}
		oldRev = 0
	}
	if oldRev < newRevision {
		rs.Annotations[RevisionAnnotation] = strconv.FormatInt(newRevision, 10)
		changed = true
		if had {
			rs.Annotations[RevisionHistoryAnnotation] = appendRevisionHistory(rs.Annotations[RevisionHistoryAnnotation], old)
		}
	}
	if !exists && setReplicasAnnotations(rs, replicasOf(d.Spec.Replicas), replicasOf(d.Spec.Replicas)+maxSurgeOf(d)) {
		changed = true
	}
	return changed
}

func appendRevisionHistory(history, rev string) string {
	if history == "" {
		return rev
	}
	parts := append(strings.Split(history, ","), rev)
	for len(strings.Join(parts, ",")) > maxRevisionHistoryChars && len(parts) > 1 {
		parts = parts[1:]
	}
	return strings.Join(parts, ",")
}

func setReplicasAnnotations(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	d, m := strconv.Itoa(int(desired)), strconv.Itoa(int(maxReplicas))
	if rs.Annotations[DesiredReplicasAnnotation] == d && rs.Annotations[MaxReplicasAnnotation] == m {
		return false
	}
	rs.Annotations[DesiredReplicasAnnotation] = d
	rs.Annotations[MaxReplicasAnnotation] = m
	return true
}

func replicasAnnotation(rs *appsv1.ReplicaSet, key string) (int32, bool) {
	v, ok := rs.Annotations[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(n), true
}

// Conditions.

func newCondition(t appsv1.DeploymentConditionType, status corev1.ConditionStatus, reason, message string, now time.Time) appsv1.DeploymentCondition {
	return appsv1.DeploymentCondition{
		Type: t, Status: status, Reason: reason, Message: message,
		LastUpdateTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now),
	}
}

func getCondition(s appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) *appsv1.DeploymentCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// setCondition sets c unless a condition of its type with the same status and
// reason is there already; lastTransitionTime is kept while the status stays.
func setCondition(s *appsv1.DeploymentStatus, c appsv1.DeploymentCondition) {
	cur := getCondition(*s, c.Type)
	if cur != nil && cur.Status == c.Status && cur.Reason == c.Reason {
		return
	}
	if cur != nil && cur.Status == c.Status {
		c.LastTransitionTime = cur.LastTransitionTime
	}
	removeCondition(s, c.Type)
	s.Conditions = append(s.Conditions, c)
}

func removeCondition(s *appsv1.DeploymentStatus, t appsv1.DeploymentConditionType) {
	var kept []appsv1.DeploymentCondition
	for _, c := range s.Conditions {
		if c.Type != t {
			kept = append(kept, c)
		}
	}
	s.Conditions = kept
}

func hasProgressDeadline(d *appsv1.Deployment) bool {
	return d.Spec.ProgressDeadlineSeconds != nil && *d.Spec.ProgressDeadlineSeconds != math.MaxInt32
}

func hasRevisionHistoryLimit(d *appsv1.Deployment) bool {
	return d.Spec.RevisionHistoryLimit != nil && *d.Spec.RevisionHistoryLimit != math.MaxInt32
}

// deploymentComplete: every wanted replica is updated and available, nothing
// old is left, and the status speaks of the current generation.
func deploymentComplete(d *appsv1.Deployment, s *appsv1.DeploymentStatus) bool {
	want := replicasOf(d.Spec.Replicas)
	return s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas == want &&
		s.ObservedGeneration >= d.Generation
}

// deploymentProgressing: compared with the stored status, more pods are
// updated, ready or available, or fewer old ones remain.
func deploymentProgressing(d *appsv1.Deployment, s *appsv1.DeploymentStatus) bool {
	old := d.Status
	return s.UpdatedReplicas > old.UpdatedReplicas ||
		s.Replicas-s.UpdatedReplicas < old.Replicas-old.UpdatedReplicas ||
		s.ReadyReplicas > old.ReadyReplicas ||
		s.AvailableReplicas > old.AvailableReplicas
}

// deploymentTimedOut: no progress recorded for progressDeadlineSeconds since
// the Progressing condition was last updated.
func deploymentTimedOut(d *appsv1.Deployment, s *appsv1.DeploymentStatus, now time.Time) bool {
	if !hasProgressDeadline(d) {
		return false
	}
	c := getCondition(*s, conditionProgressing)
	if c == nil || c.Reason == ReasonNewRSAvailable {
		return false
	}
	if c.Reason == ReasonTimedOut {
		return true
	}
	deadline := c.LastUpdateTime.Add(time.Duration(*d.Spec.ProgressDeadlineSeconds) * time.Second)
	return deadline.Before(now)
}

// Scaling arithmetic.

// newRSReplicas is the size the new ReplicaSet may grow to now: for a rolling
// update, as far as replicas + maxSurge allows counting every ReplicaSet's spec,
// never above replicas; for Recreate, replicas at once (old pods are gone by
// then).
func newRSReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (int32, error) {
	want := replicasOf(d.Spec.Replicas)
	switch d.Spec.Strategy.Type {
	case appsv1.RollingUpdateDeploymentStrategyType:
		cur := replicasOf(newRS.Spec.Replicas)
		surge := maxSurgeOf(d)
		total := specReplicas(all)
		ceiling := want + surge
		if total >= ceiling {
			return cur, nil
		}
		return cur + min(ceiling-total, want-cur), nil
	case appsv1.RecreateDeploymentStrategyType:
		return want, nil
	}
	return 0, fmt.Errorf("deployment type %q not supported", d.Spec.Strategy.Type)
}

// isSaturated: the new ReplicaSet alone runs all replicas, available.
func isSaturated(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	if rs == nil {
		return false
	}
	desired, ok := replicasAnnotation(rs, DesiredReplicasAnnotation)
	want := replicasOf(d.Spec.Replicas)
	return ok && desired == want && replicasOf(rs.Spec.Replicas) == want && rs.Status.AvailableReplicas == want
}

// activeOrLatest is the only ReplicaSet with pods, or the newest when none has
// any; nil when several have pods (scaling is then proportional).
func activeOrLatest(newRS *appsv1.ReplicaSet, old []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(old) == 0 {
		return nil
	}
	old = append([]*appsv1.ReplicaSet(nil), old...)
	sort.SliceStable(old, func(i, j int) bool { return byCreation(old[j], old[i]) })
	active := activeSets(append(old, newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return old[0]
	case 1:
		return active[0]
	}
	return nil
}

// proportion is rs's share of toAdd replicas (negative when removing), given
// added so far: rs grows in proportion to its size against the Deployment's size
// before the scaling (max-replicas annotation), bounded by what is left to add.
func proportion(rs *appsv1.ReplicaSet, d *appsv1.Deployment, toAdd, added int32) int32 {
	if rs == nil || replicasOf(rs.Spec.Replicas) == 0 || toAdd == 0 || toAdd == added {
		return 0
	}
	fraction := fractionOf(rs, d)
	allowed := toAdd - added
	if toAdd > 0 {
		return min(fraction, allowed)
	}
	return max(fraction, allowed)
}

func fractionOf(rs *appsv1.ReplicaSet, d *appsv1.Deployment) int32 {
	size := replicasOf(rs.Spec.Replicas)
	want := replicasOf(d.Spec.Replicas)
	if want == 0 {
		return -size
	}
	maxNow := want + maxSurgeOf(d)
	before, ok := replicasAnnotation(rs, MaxReplicasAnnotation)
	if !ok || before == 0 {
		// Annotation missing or tampered with: the Deployment's current size is
		// the best guess left.
		before = d.Status.Replicas
		if before == 0 {
			return 0
		}
	}
	scaled := float64(size) * float64(maxNow) / float64(before)
	return int32(math.Round(scaled)) - size
}

// proportionalSizes spreads the difference between the allowed total
// (replicas + maxSurge) and the current total over the active ReplicaSets in
// proportion to their sizes, leftovers to the largest. It returns the new size
// per name and whether the total goes "up" or "down".
func proportionalSizes(d *appsv1.Deployment, active []*appsv1.ReplicaSet) (map[string]int32, string) {
	allowed := int32(0)
	if want := replicasOf(d.Spec.Replicas); want > 0 {
		allowed = want + maxSurgeOf(d)
	}
	toAdd := allowed - specReplicas(active)
	op := ""
	switch {
	case toAdd > 0:
		sortBySize(active, false)
		op = "up"
	case toAdd < 0:
		sortBySize(active, true)
		op = "down"
	}
	sizes := map[string]int32{}
	var added int32
	for _, rs := range active {
		p := proportion(rs, d, toAdd, added)
		sizes[rs.Name] = replicasOf(rs.Spec.Replicas) + p
		added += p
	}
	if len(active) > 0 && toAdd != 0 {
		first := active[0].Name
		sizes[first] = max(sizes[first]+toAdd-added, 0)
	}
	return sizes, op
}
