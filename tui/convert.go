package tui

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Convert turns an object an informer delivered into a Change, or reports
// false for objects the console does not show.
func Convert(obj any, deleted bool) (Change, bool) {
	if v := reflect.ValueOf(obj); !v.IsValid() || v.Kind() == reflect.Pointer && v.IsNil() {
		return Change{}, false
	}
	var c Change
	switch o := obj.(type) {
	case *corev1.Pod:
		c = Change{Kind: KindPod, Key: o.Namespace + "/" + o.Name, Obj: ConvertPod(o)}
	case *corev1.Node:
		c = Change{Kind: KindNode, Key: o.Name, Obj: convertNode(o)}
	case *corev1.Service:
		c = Change{Kind: KindService, Key: o.Namespace + "/" + o.Name, Obj: convertService(o)}
	case *corev1.Namespace:
		c = Change{Kind: KindNamespace, Key: o.Name}
	case *corev1.Event:
		c = Change{Kind: KindEvent, Key: o.Namespace + "/" + o.Name, Obj: convertEvent(o)}
	case *networkingv1.Ingress:
		c = Change{Kind: KindIngress, Key: o.Namespace + "/" + o.Name, Obj: convertIngress(o)}
	case *discoveryv1.EndpointSlice:
		ready := 0
		for _, e := range o.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				ready += len(e.Addresses)
			}
		}
		c = Change{Kind: KindEndpointSlice, Key: o.Namespace + "/" + o.Name, Obj: &EndpointSlice{
			Namespace: o.Namespace, Name: o.Name, Service: o.Labels[discoveryv1.LabelServiceName], Ready: ready}}
	case *coordinationv1.Lease:
		l := &Lease{Namespace: o.Namespace, Name: o.Name}
		if o.Spec.HolderIdentity != nil {
			l.Holder = *o.Spec.HolderIdentity
		}
		if o.Spec.RenewTime != nil {
			l.Renewed = o.Spec.RenewTime.Time
		}
		if o.Spec.LeaseDurationSeconds != nil {
			l.Duration = time.Duration(*o.Spec.LeaseDurationSeconds) * time.Second
		}
		c = Change{Kind: KindLease, Key: o.Namespace + "/" + o.Name, Obj: l}
	case *appsv1.Deployment:
		w := workload("Deployment", o.ObjectMeta)
		w.Desired, w.Ready, w.Updated, w.Available = replicas(o.Spec.Replicas), o.Status.ReadyReplicas, o.Status.UpdatedReplicas, o.Status.AvailableReplicas
		c = wchange(w)
	case *appsv1.ReplicaSet:
		w := workload("ReplicaSet", o.ObjectMeta)
		w.Desired, w.Ready, w.Updated, w.Available = replicas(o.Spec.Replicas), o.Status.ReadyReplicas, o.Status.FullyLabeledReplicas, o.Status.AvailableReplicas
		c = wchange(w)
	case *appsv1.StatefulSet:
		w := workload("StatefulSet", o.ObjectMeta)
		w.Desired, w.Ready, w.Updated, w.Available = replicas(o.Spec.Replicas), o.Status.ReadyReplicas, o.Status.UpdatedReplicas, o.Status.AvailableReplicas
		c = wchange(w)
	case *appsv1.DaemonSet:
		w := workload("DaemonSet", o.ObjectMeta)
		w.Desired, w.Ready, w.Updated, w.Available = o.Status.DesiredNumberScheduled, o.Status.NumberReady, o.Status.UpdatedNumberScheduled, o.Status.NumberAvailable
		c = wchange(w)
	case *batchv1.Job:
		w := workload("Job", o.ObjectMeta)
		w.Desired = 1
		if o.Spec.Completions != nil {
			w.Desired = *o.Spec.Completions
		}
		w.Ready, w.Updated, w.Available = o.Status.Succeeded, o.Status.Active, o.Status.Succeeded
		for _, cond := range o.Status.Conditions {
			if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
				w.Note = string(cond.Type)
			}
		}
		c = wchange(w)
	case *batchv1.CronJob:
		w := workload("CronJob", o.ObjectMeta)
		w.Desired, w.Ready = 1, int32(len(o.Status.Active))
		w.Note = o.Spec.Schedule
		if o.Spec.Suspend != nil && *o.Spec.Suspend {
			w.Note += " (suspended)"
		}
		c = wchange(w)
	default:
		return Change{}, false
	}
	c.Deleted = deleted
	return c, true
}

func replicas(r *int32) int32 {
	if r == nil {
		return 1
	}
	return *r
}

func workload(kind string, m metav1.ObjectMeta) *Workload {
	w := &Workload{Kind: kind, Namespace: m.Namespace, Name: m.Name, Created: m.CreationTimestamp.Time}
	if ref := metav1.GetControllerOf(&m); ref != nil {
		w.OwnerKind, w.OwnerName = ref.Kind, ref.Name
	}
	return w
}

func wchange(w *Workload) Change { return Change{Kind: w.Kind, Key: w.Key(), Obj: w} }

// ConvertPod reduces a pod to what the console shows, including its flow.
func ConvertPod(o *corev1.Pod) *Pod {
	p := &Pod{
		Namespace: o.Namespace, Name: o.Name, UID: string(o.UID),
		Node: o.Spec.NodeName, IP: o.Status.PodIP, Phase: string(o.Status.Phase),
		Created: o.CreationTimestamp.Time, Deleting: o.DeletionTimestamp != nil,
		Total: len(o.Spec.Containers),
	}
	if ref := metav1.GetControllerOf(o); ref != nil {
		p.OwnerKind, p.OwnerName = ref.Kind, ref.Name
	}
	for _, c := range o.Spec.Containers {
		p.Containers = append(p.Containers, c.Name)
		p.CPUMilli += c.Resources.Requests.Cpu().MilliValue()
		p.MemBytes += c.Resources.Requests.Memory().Value()
	}
	for _, cond := range o.Status.Conditions {
		switch cond.Type {
		case corev1.PodScheduled:
			if cond.Status == corev1.ConditionTrue {
				p.ScheduledAt = cond.LastTransitionTime.Time
			} else if cond.Reason == corev1.PodReasonUnschedulable {
				p.Unschedulable = cond.Message
			}
		case corev1.PodReadyToStartContainers:
			if cond.Status == corev1.ConditionTrue {
				p.SandboxAt = cond.LastTransitionTime.Time
			}
		case corev1.PodReady:
			if cond.Status == corev1.ConditionTrue {
				p.ReadyAt = cond.LastTransitionTime.Time
			}
		}
	}
	allStarted := len(o.Status.ContainerStatuses) == len(o.Spec.Containers) && len(o.Spec.Containers) > 0
	for _, cs := range o.Status.ContainerStatuses {
		p.Restarts += int(cs.RestartCount)
		if cs.Ready {
			p.Ready++
		}
		var started time.Time
		switch {
		case cs.State.Running != nil:
			started = cs.State.Running.StartedAt.Time
		case cs.State.Terminated != nil:
			started = cs.State.Terminated.StartedAt.Time
			if cs.State.Terminated.FinishedAt.After(p.FinishedAt) {
				p.FinishedAt = cs.State.Terminated.FinishedAt.Time
			}
		}
		if cs.State.Waiting != nil {
			if p.ContainerWaiting == nil {
				p.ContainerWaiting = map[string]string{}
			}
			p.ContainerWaiting[cs.Name] = cs.State.Waiting.Reason
			if cs.State.Waiting.Reason != "ContainerCreating" && cs.State.Waiting.Reason != "" && p.WaitingReason == "" {
				p.WaitingReason, p.WaitingMessage = cs.State.Waiting.Reason, cs.State.Waiting.Message
			}
		}
		if started.IsZero() {
			allStarted = false
		} else if started.After(p.StartedAt) {
			p.StartedAt = started
		}
	}
	if !allStarted {
		p.StartedAt = time.Time{}
	}
	if p.Phase == "Succeeded" || p.Phase == "Failed" {
		// A finished pod's containers all ran.
		p.WaitingReason = ""
	}
	p.Status = podStatus(o)
	return p
}

// podStatus is kubectl's STATUS column (printers' printPod, reduced).
func podStatus(o *corev1.Pod) string {
	reason := string(o.Status.Phase)
	if o.Status.Reason != "" {
		reason = o.Status.Reason
	}
	for i, cs := range o.Status.InitContainerStatuses {
		switch {
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
			continue
		case cs.State.Terminated != nil:
			if cs.State.Terminated.Reason != "" {
				return "Init:" + cs.State.Terminated.Reason
			}
			return fmt.Sprintf("Init:ExitCode:%d", cs.State.Terminated.ExitCode)
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "PodInitializing":
			return "Init:" + cs.State.Waiting.Reason
		default:
			return fmt.Sprintf("Init:%d/%d", i, len(o.Spec.InitContainers))
		}
	}
	running := false
	for i := len(o.Status.ContainerStatuses) - 1; i >= 0; i-- {
		cs := o.Status.ContainerStatuses[i]
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
			reason = cs.State.Waiting.Reason
		case cs.State.Terminated != nil && cs.State.Terminated.Reason != "":
			reason = cs.State.Terminated.Reason
		case cs.State.Terminated != nil:
			reason = fmt.Sprintf("ExitCode:%d", cs.State.Terminated.ExitCode)
		case cs.State.Running != nil && cs.Ready:
			running = true
		}
	}
	if reason == "Completed" && running {
		reason = "Running"
	}
	if o.DeletionTimestamp != nil {
		if o.Status.Reason == "NodeLost" {
			return "Unknown"
		}
		return "Terminating"
	}
	return reason
}

func convertNode(o *corev1.Node) *Node {
	n := &Node{Name: o.Name, Ready: "Unknown", Unschedulable: o.Spec.Unschedulable,
		CPUMilli: o.Status.Allocatable.Cpu().MilliValue(), MemBytes: o.Status.Allocatable.Memory().Value(),
		MaxPods: o.Status.Allocatable.Pods().Value(), Created: o.CreationTimestamp.Time}
	for _, a := range o.Status.Addresses {
		if a.Type == corev1.NodeInternalIP && n.InternalIP == "" {
			n.InternalIP = a.Address
		}
	}
	for _, c := range o.Status.Conditions {
		if c.Type == corev1.NodeReady {
			switch c.Status {
			case corev1.ConditionTrue:
				n.Ready = "Ready"
			case corev1.ConditionFalse:
				n.Ready = "NotReady"
			}
		}
	}
	return n
}

func convertService(o *corev1.Service) *Service {
	s := &Service{Namespace: o.Namespace, Name: o.Name, Type: string(o.Spec.Type), ClusterIP: o.Spec.ClusterIP}
	s.ExternalIPs = append(s.ExternalIPs, o.Spec.ExternalIPs...)
	for _, in := range o.Status.LoadBalancer.Ingress {
		if in.IP != "" {
			s.ExternalIPs = append(s.ExternalIPs, in.IP)
		} else if in.Hostname != "" {
			s.ExternalIPs = append(s.ExternalIPs, in.Hostname)
		}
	}
	var ports []string
	for _, p := range o.Spec.Ports {
		s := fmt.Sprintf("%d", p.Port)
		if p.NodePort != 0 {
			s += fmt.Sprintf(":%d", p.NodePort)
		}
		ports = append(ports, s+"/"+string(p.Protocol))
	}
	s.Ports = strings.Join(ports, ",")
	return s
}

func convertIngress(o *networkingv1.Ingress) *Ingress {
	in := &Ingress{Namespace: o.Namespace, Name: o.Name, Ports: "80", Created: o.CreationTimestamp.Time}
	if len(o.Spec.TLS) > 0 {
		in.Ports = "80, 443"
	}
	if o.Spec.IngressClassName != nil {
		in.Class = *o.Spec.IngressClassName
	}
	var hosts, addrs []string
	for _, r := range o.Spec.Rules {
		if r.Host != "" {
			hosts = append(hosts, r.Host)
		}
	}
	for _, lb := range o.Status.LoadBalancer.Ingress {
		if lb.IP != "" {
			addrs = append(addrs, lb.IP)
		} else if lb.Hostname != "" {
			addrs = append(addrs, lb.Hostname)
		}
	}
	in.Hosts = strings.Join(hosts, ",")
	if in.Hosts == "" {
		in.Hosts = "*"
	}
	in.Address = strings.Join(addrs, ",")
	return in
}

func convertEvent(o *corev1.Event) *Event {
	e := &Event{Namespace: o.Namespace, Name: o.Name, Type: o.Type, Reason: o.Reason, Message: strings.TrimSpace(o.Message),
		ObjKind: o.InvolvedObject.Kind, ObjName: o.InvolvedObject.Name, ObjUID: string(o.InvolvedObject.UID), Count: o.Count}
	switch {
	case o.Series != nil && !o.Series.LastObservedTime.IsZero():
		e.Last = o.Series.LastObservedTime.Time
	case !o.LastTimestamp.IsZero():
		e.Last = o.LastTimestamp.Time
	case !o.EventTime.IsZero():
		e.Last = o.EventTime.Time
	default:
		e.Last = o.CreationTimestamp.Time
	}
	if e.Count == 0 {
		e.Count = 1
	}
	return e
}
