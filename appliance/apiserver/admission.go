package apiserver

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	schedulinglisters "k8s.io/client-go/listers/scheduling/v1"
)

// podAdmission does for new pods what Kubernetes' Priority and
// DefaultTolerationSeconds admission plugins do:
//   - spec.priority (and preemptionPolicy) from the pod's PriorityClass, or from
//     the global default class, or 0; an unknown class is refused;
//   - tolerations of the not-ready and unreachable NoExecute taints for 300 s, so
//     pods are evicted from a lost node after five minutes, not at once.
type podAdmission struct {
	*admission.Handler
	classes schedulinglisters.PriorityClassLister
}

// defaultTolerationSeconds is Kubernetes' --default-not-ready-toleration-seconds
// and --default-unreachable-toleration-seconds.
const defaultTolerationSeconds int64 = 300

func newPodAdmission(f informers.SharedInformerFactory) *podAdmission {
	inf := f.Scheduling().V1().PriorityClasses()
	p := &podAdmission{Handler: admission.NewHandler(admission.Create), classes: inf.Lister()}
	p.SetReadyFunc(inf.Informer().HasSynced)
	return p
}

func (p *podAdmission) Admit(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetResource().GroupResource() != corev1.Resource("pods") || a.GetSubresource() != "" {
		return nil
	}
	pod, ok := a.GetObject().(*corev1.Pod)
	if !ok {
		return nil
	}
	if !p.WaitForReady() {
		return admission.NewForbidden(a, fmt.Errorf("not yet ready to handle request"))
	}
	if err := p.setPriority(a, pod); err != nil {
		return err
	}
	addToleration(pod, corev1.TaintNodeNotReady)
	addToleration(pod, corev1.TaintNodeUnreachable)
	return nil
}

func (p *podAdmission) setPriority(a admission.Attributes, pod *corev1.Pod) error {
	name := pod.Spec.PriorityClassName
	var class *schedulingv1.PriorityClass
	if name != "" {
		c, err := p.classes.Get(name)
		if apierrors.IsNotFound(err) {
			return admission.NewForbidden(a, fmt.Errorf("no PriorityClass with name %v was found", name))
		}
		if err != nil {
			return apierrors.NewInternalError(err)
		}
		class = c
	} else {
		all, _ := p.classes.List(labels.Everything())
		for _, c := range all {
			if c.GlobalDefault && (class == nil || c.Value > class.Value) {
				class = c
			}
		}
	}
	value := int32(0)
	preempt := corev1.PreemptLowerPriority
	if class != nil {
		value = class.Value
		if class.PreemptionPolicy != nil {
			preempt = *class.PreemptionPolicy
		}
		if pod.Spec.PriorityClassName == "" {
			pod.Spec.PriorityClassName = class.Name
		}
	}
	if pod.Spec.Priority != nil && *pod.Spec.Priority != value {
		return admission.NewForbidden(a, fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *pod.Spec.Priority, value))
	}
	pod.Spec.Priority = &value
	if pod.Spec.PreemptionPolicy == nil {
		pod.Spec.PreemptionPolicy = &preempt
	}
	return nil
}

func addToleration(pod *corev1.Pod, key string) {
	for _, t := range pod.Spec.Tolerations {
		if (t.Key == key || t.Key == "") && (t.Effect == corev1.TaintEffectNoExecute || t.Effect == "") &&
			(t.Operator == corev1.TolerationOpExists || t.Key == key) {
			return
		}
	}
	secs := defaultTolerationSeconds
	pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{
		Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &secs,
	})
}

// systemPriorityClasses exist in every cluster.
func bootstrapPriorityClasses(ctx context.Context, client kubernetes.Interface) error {
	for _, pc := range []schedulingv1.PriorityClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "system-node-critical"}, Value: 2000001000,
			Description: "Used for system critical pods that must not be moved from their current node."},
		{ObjectMeta: metav1.ObjectMeta{Name: "system-cluster-critical"}, Value: 2000000000,
			Description: "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."},
	} {
		_, err := client.SchedulingV1().PriorityClasses().Create(ctx, &pc, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create priority class %s: %w", pc.Name, err)
		}
	}
	return nil
}

var _ admission.MutationInterface = &podAdmission{}
