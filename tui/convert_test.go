package tui

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func mt(s int) metav1.Time { return metav1.NewTime(t0.Add(time.Duration(s) * time.Second)) }

func ptr[T any](v T) *T { return &v }

func meta(ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: mt(-100)}
}

// TestConvert: each kind the console watches becomes the plain struct the
// views read, with the values kubectl would print.
func TestConvert(t *testing.T) {
	owned := meta("shop", "web-7d9f")
	owned.OwnerReferences = []metav1.OwnerReference{{Kind: "Deployment", Name: "web", Controller: ptr(true)}}
	tests := []struct {
		name    string
		obj     any
		kind    string
		key     string
		want    string // fmt %+v of the converted object
		deleted bool
	}{
		{"ready node", &corev1.Node{ObjectMeta: meta("", "node-a"), Spec: corev1.NodeSpec{Unschedulable: true},
			Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "node-a"}, {Type: corev1.NodeInternalIP, Address: "10.0.0.11"}, {Type: corev1.NodeInternalIP, Address: "fd00::11"}},
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3500m"),
					corev1.ResourceMemory: resource.MustParse("8Gi"), corev1.ResourcePods: resource.MustParse("110")},
				Conditions: []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}},
			KindNode, "node-a", fmt.Sprintf("&{Name:node-a Ready:Ready CPUMilli:3500 MemBytes:8589934592 MaxPods:110 Unschedulable:true InternalIP:10.0.0.11 Created:%v}", t0.Add(-100*time.Second)), false},
		{"not ready node", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionFalse}}}},
			KindNode, "b", "&{Name:b Ready:NotReady CPUMilli:0 MemBytes:0 MaxPods:0 Unschedulable:false InternalIP: Created:0001-01-01 00:00:00 +0000 UTC}", false},
		{"node without a Ready condition", &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "c"}},
			KindNode, "c", "&{Name:c Ready:Unknown CPUMilli:0 MemBytes:0 MaxPods:0 Unschedulable:false InternalIP: Created:0001-01-01 00:00:00 +0000 UTC}", false},
		{"load balancer service", &corev1.Service{ObjectMeta: meta("shop", "web"),
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.43.0.7", ExternalIPs: []string{"1.2.3.4"},
				Ports: []corev1.ServicePort{{Port: 80, NodePort: 31380, Protocol: corev1.ProtocolTCP}, {Port: 53, Protocol: corev1.ProtocolUDP}}},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "192.168.1.20"}, {Hostname: "lb.example"}}}}},
			KindService, "shop/web", "&{Namespace:shop Name:web Type:LoadBalancer ClusterIP:10.43.0.7 ExternalIPs:[1.2.3.4 192.168.1.20 lb.example] Ports:80:31380/TCP,53/UDP}", false},
		{"ingress with TLS", &networkingv1.Ingress{ObjectMeta: meta("shop", "web"),
			Spec: networkingv1.IngressSpec{IngressClassName: ptr("traefik"), TLS: []networkingv1.IngressTLS{{Hosts: []string{"a.lan"}}},
				Rules: []networkingv1.IngressRule{{Host: "a.lan"}, {Host: ""}, {Host: "b.lan"}}},
			Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: "192.168.1.20"}, {Hostname: "lb.lan"}}}}},
			KindIngress, "shop/web", fmt.Sprintf("&{Namespace:shop Name:web Class:traefik Hosts:a.lan,b.lan Address:192.168.1.20,lb.lan Ports:80, 443 Created:%v}", t0.Add(-100*time.Second)), false},
		{"ingress without rules or class", &networkingv1.Ingress{ObjectMeta: meta("shop", "all")},
			KindIngress, "shop/all", fmt.Sprintf("&{Namespace:shop Name:all Class: Hosts:* Address: Ports:80 Created:%v}", t0.Add(-100*time.Second)), false},
		{"event with a series", &corev1.Event{ObjectMeta: meta("shop", "ev1"), Type: "Warning", Reason: "BackOff", Message: " Back-off restarting\n",
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "w", UID: "u"}, Count: 0, LastTimestamp: mt(-50),
			Series: &corev1.EventSeries{LastObservedTime: metav1.NewMicroTime(t0.Add(-5 * time.Second))}},
			KindEvent, "shop/ev1", fmt.Sprintf("&{Namespace:shop Name:ev1 Type:Warning Reason:BackOff Message:Back-off restarting ObjKind:Pod ObjName:w ObjUID:u Count:1 Last:%v}", t0.Add(-5*time.Second)), false},
		{"event with a last timestamp", &corev1.Event{ObjectMeta: meta("shop", "ev2"), Type: "Normal", Reason: "Pulled", Count: 3, LastTimestamp: mt(-50), EventTime: metav1.NewMicroTime(t0.Add(-70 * time.Second))},
			KindEvent, "shop/ev2", fmt.Sprintf("&{Namespace:shop Name:ev2 Type:Normal Reason:Pulled Message: ObjKind: ObjName: ObjUID: Count:3 Last:%v}", t0.Add(-50*time.Second)), false},
		{"event with only an event time", &corev1.Event{ObjectMeta: meta("shop", "ev3"), Count: 1, EventTime: metav1.NewMicroTime(t0.Add(-70 * time.Second))},
			KindEvent, "shop/ev3", fmt.Sprintf("&{Namespace:shop Name:ev3 Type: Reason: Message: ObjKind: ObjName: ObjUID: Count:1 Last:%v}", t0.Add(-70*time.Second)), false},
		{"event with no time but its creation", &corev1.Event{ObjectMeta: meta("shop", "ev4")},
			KindEvent, "shop/ev4", fmt.Sprintf("&{Namespace:shop Name:ev4 Type: Reason: Message: ObjKind: ObjName: ObjUID: Count:1 Last:%v}", t0.Add(-100*time.Second)), false},
		{"deployment, replicas unset", &appsv1.Deployment{ObjectMeta: meta("shop", "web"), Status: appsv1.DeploymentStatus{ReadyReplicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1}},
			"Deployment", "Deployment/shop/web", wl("Deployment", "shop", "web", 1, 1, 1, 1, "", "", ""), false},
		{"replicaset owned by a deployment", &appsv1.ReplicaSet{ObjectMeta: owned, Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(3))}, Status: appsv1.ReplicaSetStatus{ReadyReplicas: 2, FullyLabeledReplicas: 3, AvailableReplicas: 2}},
			"ReplicaSet", "ReplicaSet/shop/web-7d9f", wl("ReplicaSet", "shop", "web-7d9f", 3, 2, 3, 2, "Deployment", "web", ""), false},
		{"statefulset", &appsv1.StatefulSet{ObjectMeta: meta("shop", "db"), Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(0))}},
			"StatefulSet", "StatefulSet/shop/db", wl("StatefulSet", "shop", "db", 0, 0, 0, 0, "", "", ""), false},
		{"daemonset", &appsv1.DaemonSet{ObjectMeta: meta("kube-system", "kube-proxy"), Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 3, NumberReady: 2, UpdatedNumberScheduled: 3, NumberAvailable: 2}},
			"DaemonSet", "DaemonSet/kube-system/kube-proxy", wl("DaemonSet", "kube-system", "kube-proxy", 3, 2, 3, 2, "", "", ""), false},
		{"complete job", &batchv1.Job{ObjectMeta: meta("shop", "migrate"), Spec: batchv1.JobSpec{Completions: ptr(int32(2))},
			Status: batchv1.JobStatus{Succeeded: 2, Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}},
			"Job", "Job/shop/migrate", wl("Job", "shop", "migrate", 2, 2, 0, 2, "", "", "Complete"), false},
		{"failed job, completions unset", &batchv1.Job{ObjectMeta: meta("shop", "bad"),
			Status: batchv1.JobStatus{Active: 0, Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}}},
			"Job", "Job/shop/bad", wl("Job", "shop", "bad", 1, 0, 0, 0, "", "", "Failed"), false},
		{"running job", &batchv1.Job{ObjectMeta: meta("shop", "run"), Status: batchv1.JobStatus{Active: 1}},
			"Job", "Job/shop/run", wl("Job", "shop", "run", 1, 0, 1, 0, "", "", ""), false},
		{"suspended cronjob", &batchv1.CronJob{ObjectMeta: meta("default", "backup"), Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *", Suspend: ptr(true)}},
			"CronJob", "CronJob/default/backup", wl("CronJob", "default", "backup", 1, 0, 0, 0, "", "", "0 3 * * * (suspended)"), false},
		{"deleted daemonset", &appsv1.DaemonSet{ObjectMeta: meta("kube-system", "gone")},
			"DaemonSet", "DaemonSet/kube-system/gone", wl("DaemonSet", "kube-system", "gone", 0, 0, 0, 0, "", "", ""), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := Convert(tt.obj, tt.deleted)
			if !ok {
				t.Fatal("not converted")
			}
			if c.Kind != tt.kind || c.Key != tt.key || c.Deleted != tt.deleted {
				t.Errorf("change %s %s deleted=%v, want %s %s deleted=%v", c.Kind, c.Key, c.Deleted, tt.kind, tt.key, tt.deleted)
			}
			if got := fmt.Sprintf("%+v", c.Obj); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func wl(kind, ns, name string, desired, ready, updated, available int32, ownerKind, ownerName, note string) string {
	return fmt.Sprintf("%+v", &Workload{Kind: kind, Namespace: ns, Name: name, Desired: desired, Ready: ready, Updated: updated, Available: available,
		OwnerKind: ownerKind, OwnerName: ownerName, Created: t0.Add(-100 * time.Second), Note: note})
}

// TestConvertUnknown: objects of kinds the console does not show are
// refused, and a change of a kind it does not know leaves the store alone.
func TestConvertUnknown(t *testing.T) {
	for _, obj := range []any{&corev1.ConfigMap{ObjectMeta: meta("a", "b")}, &corev1.Secret{}, "a string", nil, 42, (*corev1.Pod)(nil)} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("Convert(%T) panicked: %v", obj, r)
				}
			}()
			if c, ok := Convert(obj, false); ok {
				t.Errorf("Convert(%T) = %+v, true; want false", obj, c)
			}
		}()
	}
	s := NewStore()
	s.Apply([]Change{{Kind: "Widget", Key: "a/b", Obj: 42}, {Kind: KindPod, Key: "a/b", Obj: "not a pod"}, {Kind: "Deployment", Key: "x", Obj: &Node{}}}, t0)
	if len(s.Workloads)+len(s.Pods)+len(s.Nodes) != 0 {
		t.Errorf("unknown changes stored: %d workloads, %d pods", len(s.Workloads), len(s.Pods))
	}
}
