package statefulset

import (
	"context"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
)

// apiPodControl is the podControl that talks to the API server. Its events
// are worded as Kubernetes' StatefulSet controller words them ("create Pod
// web-0 in StatefulSet web successful"), since users and scripts grep them.
type apiPodControl struct {
	client    kubernetes.Interface
	podLister corelisters.PodLister
	pvcLister corelisters.PersistentVolumeClaimLister
	recorder  func() record.EventRecorder
}

func (pc *apiPodControl) createPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	// Claims first: a pod whose claim is missing could not start, and the
	// claim must exist before anything could bind the pod.
	if err := pc.createClaims(ctx, set, pod); err != nil {
		pc.podEvent("create", set, pod, err)
		return err
	}
	_, err := pc.client.CoreV1().Pods(set.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return err // a stale cache, not news
	}
	pc.podEvent("create", set, pod, err)
	return err
}

func (pc *apiPodControl) updatePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	attempted := false
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		consistent := true
		if !identityMatches(set, pod) {
			updateIdentity(set, pod)
			consistent = false
		}
		// A pod's volumes cannot change after creation: for a pod that lacks
		// its claims (the set was recreated with other templates), the
		// claims are made so a recreation of the pod finds them.
		if !storageMatches(set, pod) {
			if err := pc.createClaims(ctx, set, pod); err != nil {
				pc.podEvent("update", set, pod, err)
				return err
			}
		}
		if err := pc.updateClaimsForPolicy(ctx, set, pod); err != nil {
			pc.podEvent("update", set, pod, err)
			return err
		}
		if consistent {
			return nil
		}
		attempted = true
		_, err := pc.client.CoreV1().Pods(set.Namespace).Update(ctx, pod, metav1.UpdateOptions{})
		if err == nil {
			return nil
		}
		if fresh, getErr := pc.podLister.Pods(set.Namespace).Get(pod.Name); getErr == nil {
			*pod = *fresh.DeepCopy()
		}
		return err
	})
	if attempted {
		pc.podEvent("update", set, pod, err)
	}
	return err
}

func (pc *apiPodControl) deletePod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	// The UID precondition keeps a stale cache from deleting the pod that
	// took this name after it was recreated.
	err := pc.client.CoreV1().Pods(set.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	pc.podEvent("delete", set, pod, err)
	return err
}

func (pc *apiPodControl) claimsMatchPolicy(set *appsv1.StatefulSet, pod *corev1.Pod) (bool, error) {
	for _, claim := range claimsFor(set, pod) {
		cur, err := pc.pvcLister.PersistentVolumeClaims(claim.Namespace).Get(claim.Name)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return false, err
		}
		if !claimOwnersMatch(cur, set, pod) {
			return false, nil
		}
	}
	return true, nil
}

func (pc *apiPodControl) updateClaimsForPolicy(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	var errs []error
	for _, claim := range claimsFor(set, pod) {
		cur, err := pc.pvcLister.PersistentVolumeClaims(claim.Namespace).Get(claim.Name)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		upd := cur.DeepCopy()
		if !setClaimOwners(upd, set, pod) {
			continue
		}
		if _, err := pc.client.CoreV1().PersistentVolumeClaims(upd.Namespace).Update(ctx, upd, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("set owners of claim %s: %w", upd.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (pc *apiPodControl) claimIsStale(set *appsv1.StatefulSet, pod *corev1.Pod) (bool, error) {
	for _, claim := range claimsFor(set, pod) {
		cur, err := pc.pvcLister.PersistentVolumeClaims(claim.Namespace).Get(claim.Name)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return false, err
		}
		if cur.DeletionTimestamp != nil {
			return true, nil
		}
		if retentionPolicy(set).WhenScaled == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
			for _, ref := range cur.OwnerReferences {
				if ref.Kind == "Pod" && ref.Name == pod.Name && ref.UID != pod.UID {
					return true, nil // the garbage collector is about to delete it
				}
			}
		}
	}
	return false, nil
}

func (pc *apiPodControl) createMissingClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	return pc.createClaims(ctx, set, pod)
}

// createClaims creates the claims of pod that do not exist yet, owned as the
// retention policy wants; a claim being deleted is an error (the pod waits).
func (pc *apiPodControl) createClaims(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod) error {
	var errs []error
	for _, claim := range claimsFor(set, pod) {
		cur, err := pc.pvcLister.PersistentVolumeClaims(claim.Namespace).Get(claim.Name)
		switch {
		case apierrors.IsNotFound(err):
			setClaimOwners(&claim, set, pod)
			_, err := pc.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Create(ctx, &claim, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				continue // the cache was behind
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("create claim %s: %w", claim.Name, err))
			}
			pc.claimEvent(set, pod, &claim, err)
		case err != nil:
			errs = append(errs, fmt.Errorf("get claim %s: %w", claim.Name, err))
			pc.claimEvent(set, pod, &claim, err)
		case cur.DeletionTimestamp != nil:
			errs = append(errs, fmt.Errorf("claim %s is being deleted", claim.Name))
		}
	}
	return errors.Join(errs...)
}

func (pc *apiPodControl) podEvent(verb string, set *appsv1.StatefulSet, pod *corev1.Pod, err error) {
	title := strings.ToUpper(verb[:1]) + verb[1:]
	if err == nil {
		pc.recorder().Eventf(set, corev1.EventTypeNormal, "Successful"+title, "%s Pod %s in StatefulSet %s successful", verb, pod.Name, set.Name)
		return
	}
	pc.recorder().Eventf(set, corev1.EventTypeWarning, "Failed"+title, "%s Pod %s in StatefulSet %s failed error: %s", verb, pod.Name, set.Name, err)
}

func (pc *apiPodControl) claimEvent(set *appsv1.StatefulSet, pod *corev1.Pod, claim *corev1.PersistentVolumeClaim, err error) {
	if err == nil {
		pc.recorder().Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Claim %s Pod %s in StatefulSet %s success", claim.Name, pod.Name, set.Name)
		return
	}
	pc.recorder().Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Claim %s for Pod %s in StatefulSet %s failed error: %s", claim.Name, pod.Name, set.Name, err)
}
