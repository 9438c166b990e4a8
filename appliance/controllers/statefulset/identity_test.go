package statefulset

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/utils/ptr"
)

func TestParentAndOrdinal(t *testing.T) {
	tests := []struct {
		name       string
		pod        string
		wantParent string
		wantOrd    int
	}{
		{name: "plain", pod: "web-0", wantParent: "web", wantOrd: 0},
		{name: "dashes in the set name", pod: "my-db-12", wantParent: "my-db", wantOrd: 12},
		{name: "no ordinal", pod: "web", wantOrd: -1},
		{name: "generated name", pod: "web-7d9f8", wantOrd: -1},
		{name: "too large", pod: "web-99999999999", wantParent: "web", wantOrd: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, ord := parentAndOrdinal(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tt.pod}})
			if parent != tt.wantParent || ord != tt.wantOrd {
				t.Errorf("got %q, %d; want %q, %d", parent, ord, tt.wantParent, tt.wantOrd)
			}
		})
	}
}

func TestNewPod(t *testing.T) {
	set := testSet(3, func(s *appsv1.StatefulSet) {
		s.Spec.Template.Spec.Volumes = []corev1.Volume{
			{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}, // replaced by the claim
			{Name: "config", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		}
	})
	pod := newPod(set, 2)
	if pod.Name != "web-2" || pod.Namespace != "ns" || pod.Spec.Hostname != "web-2" || pod.Spec.Subdomain != "web" {
		t.Errorf("identity: name %s/%s hostname %q subdomain %q", pod.Namespace, pod.Name, pod.Spec.Hostname, pod.Spec.Subdomain)
	}
	if pod.Labels["app"] != "web" || pod.Labels[appsv1.StatefulSetPodNameLabel] != "web-2" || pod.Labels[appsv1.PodIndexLabel] != "2" {
		t.Errorf("labels %v", pod.Labels)
	}
	if ref := metav1.GetControllerOf(pod); ref == nil || ref.UID != set.UID || ref.Kind != "StatefulSet" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("controller %+v", ref)
	}
	var got []string
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil:
			got = append(got, v.Name+"=pvc:"+v.PersistentVolumeClaim.ClaimName)
		default:
			got = append(got, v.Name)
		}
	}
	if want := []string{"data=pvc:data-web-2", "config"}; !slices.Equal(got, want) {
		t.Errorf("volumes %v, want %v", got, want)
	}
	if !identityMatches(set, pod) || !storageMatches(set, pod) {
		t.Errorf("a new pod does not match its own identity or storage")
	}
	if len(set.Spec.Template.Labels) != 1 {
		t.Errorf("template labels changed: %v", set.Spec.Template.Labels)
	}
	broken := pod.DeepCopy()
	delete(broken.Labels, appsv1.StatefulSetPodNameLabel)
	if identityMatches(set, broken) {
		t.Errorf("identity matches without the pod-name label")
	}
	updateIdentity(set, broken)
	if !identityMatches(set, broken) {
		t.Errorf("updateIdentity did not restore it")
	}
}

func TestClaimsFor(t *testing.T) {
	set := testSet(3, func(s *appsv1.StatefulSet) {
		s.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{
			{ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: map[string]string{"tier": "db"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "logs"}},
		}
	})
	claims := claimsFor(set, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-1"}})
	if len(claims) != 2 || claims["data"].Name != "data-web-1" || claims["logs"].Name != "logs-web-1" {
		t.Fatalf("claims %v", claims)
	}
	if l := claims["data"].Labels; l["app"] != "web" || l["tier"] != "db" {
		t.Errorf("data labels %v", l)
	}
	if l := claims["logs"].Labels; l["app"] != "web" {
		t.Errorf("logs labels %v", l)
	}
	if len(set.Spec.VolumeClaimTemplates[0].Labels) != 1 {
		t.Errorf("template labels changed: %v", set.Spec.VolumeClaimTemplates[0].Labels)
	}
}

func TestClaimOwners(t *testing.T) {
	const retain, del = appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType
	tests := []struct {
		name        string
		whenDeleted appsv1.PersistentVolumeClaimRetentionPolicyType
		whenScaled  appsv1.PersistentVolumeClaimRetentionPolicyType
		ordinal     int // of the pod; the set has 2 replicas
		wantSet     bool
		wantPod     bool
	}{
		{name: "retain retain", whenDeleted: retain, whenScaled: retain, ordinal: 0},
		{name: "retain retain, condemned", whenDeleted: retain, whenScaled: retain, ordinal: 3},
		{name: "deleted: delete", whenDeleted: del, whenScaled: retain, ordinal: 0, wantSet: true},
		{name: "deleted: delete, condemned", whenDeleted: del, whenScaled: retain, ordinal: 3, wantSet: true},
		{name: "scaled: delete, in range", whenDeleted: retain, whenScaled: del, ordinal: 1},
		{name: "scaled: delete, condemned", whenDeleted: retain, whenScaled: del, ordinal: 2, wantPod: true},
		{name: "both delete, in range", whenDeleted: del, whenScaled: del, ordinal: 0, wantSet: true},
		{name: "both delete, condemned", whenDeleted: del, whenScaled: del, ordinal: 2, wantPod: true},
		{name: "unset means retain", ordinal: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := testSet(2)
			set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: tt.whenDeleted, WhenScaled: tt.whenScaled}
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", tt.ordinal), UID: "pod-uid"}}
			// Start from the opposite of what is wanted, plus an unrelated owner.
			other := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "x", UID: "other"}
			claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data-" + pod.Name, OwnerReferences: []metav1.OwnerReference{other}}}
			if !tt.wantSet {
				claim.OwnerReferences = append(claim.OwnerReferences, metav1.OwnerReference{Kind: "StatefulSet", Name: "web", UID: set.UID})
			}
			if !tt.wantPod {
				claim.OwnerReferences = append(claim.OwnerReferences, metav1.OwnerReference{Kind: "Pod", Name: pod.Name, UID: pod.UID})
			}
			if claimOwnersMatch(claim, set, pod) {
				t.Fatalf("opposite owners match")
			}
			if !setClaimOwners(claim, set, pod) {
				t.Fatalf("setClaimOwners changed nothing")
			}
			if hasOwnerRef(claim, set.UID) != tt.wantSet || hasOwnerRef(claim, pod.UID) != tt.wantPod || !hasOwnerRef(claim, "other") {
				t.Errorf("owners %+v", claim.OwnerReferences)
			}
			if !claimOwnersMatch(claim, set, pod) || setClaimOwners(claim, set, pod) {
				t.Errorf("not stable after setting: %+v", claim.OwnerReferences)
			}
			for _, ref := range claim.OwnerReferences {
				if ref.Controller != nil && *ref.Controller {
					t.Errorf("owner %+v is a controller", ref)
				}
			}
		})
	}
	// A claim another controller controls is left alone.
	set := testSet(2)
	set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{WhenDeleted: del, WhenScaled: del}
	claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{
		{Kind: "Something", Name: "x", UID: "foreign", Controller: ptr.To(true)}}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", UID: "pod"}}
	if !claimOwnersMatch(claim, set, pod) || setClaimOwners(claim, set, pod) {
		t.Errorf("a claim controlled by someone else was changed")
	}
}

// TestRevisionRoundTrip: the data of a revision, applied to the set as a
// strategic merge patch (by the controller, and by `kubectl rollout undo`),
// gives back the template it was made from.
func TestRevisionRoundTrip(t *testing.T) {
	v1 := testSet(3)
	rev, err := newRevision(v1, 1, ptr.To[int32](0))
	if err != nil {
		t.Fatal(err)
	}
	if rev.Name != "web-"+rev.Labels[appsv1.ControllerRevisionHashLabelKey] || rev.Labels["app"] != "web" || rev.Revision != 1 {
		t.Errorf("revision %s labels %v", rev.Name, rev.Labels)
	}
	if ref := metav1.GetControllerOf(rev); ref == nil || ref.UID != v1.UID {
		t.Errorf("revision controller %+v", ref)
	}
	v2 := testSet(3, image("web:2"), func(s *appsv1.StatefulSet) {
		s.Spec.Template.Spec.Containers = append(s.Spec.Template.Spec.Containers, corev1.Container{Name: "side", Image: "side:1"})
		s.Spec.Replicas = ptr.To[int32](5)
	})
	back, err := applyRevision(v2, rev)
	if err != nil {
		t.Fatal(err)
	}
	if !equality.Semantic.DeepEqual(back.Spec.Template, v1.Spec.Template) {
		t.Errorf("template %+v\nwant %+v", back.Spec.Template, v1.Spec.Template)
	}
	if *back.Spec.Replicas != 5 || back.UID != v2.UID {
		t.Errorf("applying a revision changed more than the template")
	}
	// kubectl applies the same data with its own strategic merge.
	raw, _ := json.Marshal(v2)
	if _, err := strategicpatch.StrategicMergePatch(raw, rev.Data.Raw, &appsv1.StatefulSet{}); err != nil {
		t.Errorf("not a strategic merge patch: %v", err)
	}
	rev2, _ := newRevision(v2, 2, ptr.To[int32](0))
	if rev2.Name == rev.Name {
		t.Errorf("different templates, same revision name %s", rev.Name)
	}
	if again, _ := newRevision(v1, 7, ptr.To[int32](0)); again.Name != rev.Name {
		t.Errorf("same template, different name: %s vs %s", again.Name, rev.Name)
	}
	if bumped, _ := newRevision(v1, 1, ptr.To[int32](1)); bumped.Name == rev.Name {
		t.Errorf("collision count does not change the name")
	}
}

// fakeRevisions is a revisionStore in memory.
type fakeRevisions struct {
	byName  map[string]*appsv1.ControllerRevision
	deleted []string
}

func (f *fakeRevisions) createRevision(_ context.Context, set *appsv1.StatefulSet, rev *appsv1.ControllerRevision, cc *int32) (*appsv1.ControllerRevision, error) {
	for {
		hash := hashRevision(rev.Data.Raw, cc)
		clone := rev.DeepCopy()
		clone.Name = revisionName(set.Name, hash)
		clone.Labels[appsv1.ControllerRevisionHashLabelKey] = hash
		existing, ok := f.byName[clone.Name]
		if !ok {
			f.byName[clone.Name] = clone
			return clone, nil
		}
		if equalRevision(existing, clone) {
			return existing, nil
		}
		*cc++
	}
}

func (f *fakeRevisions) renumberRevision(_ context.Context, rev *appsv1.ControllerRevision, n int64) (*appsv1.ControllerRevision, error) {
	r := rev.DeepCopy()
	r.Revision = n
	f.byName[r.Name] = r
	return r, nil
}

func (f *fakeRevisions) deleteRevision(_ context.Context, rev *appsv1.ControllerRevision) error {
	if _, ok := f.byName[rev.Name]; !ok {
		return apierrors.NewNotFound(appsv1.Resource("controllerrevisions"), rev.Name)
	}
	delete(f.byName, rev.Name)
	f.deleted = append(f.deleted, rev.Name)
	return nil
}

func (f *fakeRevisions) sorted() []*appsv1.ControllerRevision {
	var out []*appsv1.ControllerRevision
	for _, r := range f.byName {
		out = append(out, r)
	}
	sortRevisions(out)
	return out
}

func TestGetRevisions(t *testing.T) {
	ctx := context.Background()
	store := &fakeRevisions{byName: map[string]*appsv1.ControllerRevision{}}
	v1 := testSet(3)

	cur, upd, _, err := getRevisions(ctx, store, v1, store.sorted())
	if err != nil || cur != upd || upd.Revision != 1 {
		t.Fatalf("first sync: current %v update %v err %v", cur, upd, err)
	}
	first := upd.Name
	v1.Status.CurrentRevision = first

	v2 := testSet(3, image("web:2"))
	v2.Status.CurrentRevision = first
	cur, upd, _, err = getRevisions(ctx, store, v2, store.sorted())
	if err != nil || cur.Name != first || upd.Name == first || upd.Revision != 2 {
		t.Fatalf("after a template change: current %s update %s (%d) err %v", cur.Name, upd.Name, upd.Revision, err)
	}
	second := upd.Name

	// Nothing changed: the same revisions, no new one.
	if _, again, _, _ := getRevisions(ctx, store, v2, store.sorted()); again.Name != second || len(store.byName) != 2 {
		t.Errorf("a second sync made revision %s (%d revisions)", again.Name, len(store.byName))
	}

	// Rolling back to the first template renumbers its revision.
	back := testSet(3)
	back.Status.CurrentRevision = second
	cur, upd, _, err = getRevisions(ctx, store, back, store.sorted())
	if err != nil || upd.Name != first || upd.Revision != 3 || cur.Name != second || len(store.byName) != 2 {
		t.Fatalf("rollback: current %s update %s (%d) err %v, %d revisions", cur.Name, upd.Name, upd.Revision, err, len(store.byName))
	}

	// A name taken by another template: the collision count moves on.
	v3 := testSet(3, image("web:3"))
	want, _ := newRevision(v3, 4, ptr.To[int32](0))
	squatter := want.DeepCopy()
	squatter.Data.Raw = []byte(`{"spec":{"template":{"$patch":"replace"}}}`)
	store.byName[squatter.Name] = squatter
	_, upd, cc, err := getRevisions(ctx, store, v3, store.sorted())
	if err != nil || cc != 1 || upd.Name == squatter.Name {
		t.Errorf("collision: update %s, collision count %d, err %v", upd.Name, cc, err)
	}
}

func TestTruncateHistory(t *testing.T) {
	ctx := context.Background()
	store := &fakeRevisions{byName: map[string]*appsv1.ControllerRevision{}}
	set := testSet(2, func(s *appsv1.StatefulSet) { s.Spec.RevisionHistoryLimit = ptr.To[int32](1) })
	for i := 1; i <= 5; i++ {
		store.byName[fmt.Sprintf("web-r%d", i)] = &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-r%d", i)}, Revision: int64(i)}
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", UID: types.UID("p"), Labels: map[string]string{appsv1.StatefulSetRevisionLabel: "web-r1"}}}
	sorted := store.sorted()
	if err := truncateHistory(ctx, store, set, []*corev1.Pod{pod}, sorted, store.byName["web-r4"], store.byName["web-r5"]); err != nil {
		t.Fatal(err)
	}
	// Live: r1 (a pod), r4 (current), r5 (update); history r2, r3 with room
	// for one: the oldest, r2, goes.
	if !slices.Equal(store.deleted, []string{"web-r2"}) {
		t.Errorf("deleted %v, want [web-r2]", store.deleted)
	}
}
