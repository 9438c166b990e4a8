package printers

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// fixedNow is the clock of every test; ago gives times relative to it.
var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func init() { now = func() time.Time { return fixedNow } }

func ago(d time.Duration) metav1.Time { return metav1.NewTime(fixedNow.Add(-d)) }

func agoPtr(d time.Duration) *metav1.Time { t := ago(d); return &t }

func convert(t *testing.T, gr schema.GroupResource, obj runtime.Object, opts runtime.Object) *metav1.Table {
	t.Helper()
	c, ok := TableConvertor(gr)
	if !ok {
		t.Fatalf("no table convertor for %s", gr)
	}
	table, err := c.ConvertToTable(context.Background(), obj, opts)
	if err != nil {
		t.Fatalf("ConvertToTable(%T): %v", obj, err)
	}
	return table
}

func TestColumns(t *testing.T) {
	tests := []struct {
		name    string
		gr      schema.GroupResource
		list    runtime.Object // a list holding one zero-valued item
		columns []string
		wide    []string // the trailing Priority 1 columns, in order
	}{
		{
			name: "pods", gr: schema.GroupResource{Resource: "pods"}, list: &corev1.PodList{Items: make([]corev1.Pod, 1)},
			columns: []string{"Name", "Ready", "Status", "Restarts", "Age"},
			wide:    []string{"IP", "Node", "Nominated Node", "Readiness Gates"},
		},
		{
			name: "namespaces", gr: schema.GroupResource{Resource: "namespaces"}, list: &corev1.NamespaceList{Items: make([]corev1.Namespace, 1)},
			columns: []string{"Name", "Status", "Age"},
		},
		{
			name: "services", gr: schema.GroupResource{Resource: "services"}, list: &corev1.ServiceList{Items: make([]corev1.Service, 1)},
			columns: []string{"Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"},
			wide:    []string{"Selector"},
		},
		{
			name: "endpoints", gr: schema.GroupResource{Resource: "endpoints"}, list: &corev1.EndpointsList{Items: make([]corev1.Endpoints, 1)},
			columns: []string{"Name", "Endpoints", "Age"},
		},
		{
			name: "configmaps", gr: schema.GroupResource{Resource: "configmaps"}, list: &corev1.ConfigMapList{Items: make([]corev1.ConfigMap, 1)},
			columns: []string{"Name", "Data", "Age"},
		},
		{
			name: "secrets", gr: schema.GroupResource{Resource: "secrets"}, list: &corev1.SecretList{Items: make([]corev1.Secret, 1)},
			columns: []string{"Name", "Type", "Data", "Age"},
		},
		{
			name: "serviceaccounts", gr: schema.GroupResource{Resource: "serviceaccounts"}, list: &corev1.ServiceAccountList{Items: make([]corev1.ServiceAccount, 1)},
			columns: []string{"Name", "Secrets", "Age"},
		},
		{
			name: "nodes", gr: schema.GroupResource{Resource: "nodes"}, list: &corev1.NodeList{Items: make([]corev1.Node, 1)},
			columns: []string{"Name", "Status", "Roles", "Age", "Version"},
			wide:    []string{"Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"},
		},
		{
			name: "persistentvolumes", gr: schema.GroupResource{Resource: "persistentvolumes"}, list: &corev1.PersistentVolumeList{Items: make([]corev1.PersistentVolume, 1)},
			columns: []string{"Name", "Capacity", "Access Modes", "Reclaim Policy", "Status", "Claim", "StorageClass", "VolumeAttributesClass", "Reason", "Age"},
			wide:    []string{"VolumeMode"},
		},
		{
			name: "persistentvolumeclaims", gr: schema.GroupResource{Resource: "persistentvolumeclaims"}, list: &corev1.PersistentVolumeClaimList{Items: make([]corev1.PersistentVolumeClaim, 1)},
			columns: []string{"Name", "Status", "Volume", "Capacity", "Access Modes", "StorageClass", "VolumeAttributesClass", "Age"},
			wide:    []string{"VolumeMode"},
		},
		{
			name: "deployments", gr: schema.GroupResource{Group: "apps", Resource: "deployments"}, list: &appsv1.DeploymentList{Items: make([]appsv1.Deployment, 1)},
			columns: []string{"Name", "Ready", "Up-to-date", "Available", "Age"},
			wide:    []string{"Containers", "Images", "Selector"},
		},
		{
			name: "replicasets", gr: schema.GroupResource{Group: "apps", Resource: "replicasets"}, list: &appsv1.ReplicaSetList{Items: make([]appsv1.ReplicaSet, 1)},
			columns: []string{"Name", "Desired", "Current", "Ready", "Age"},
			wide:    []string{"Containers", "Images", "Selector"},
		},
		{
			name: "statefulsets", gr: schema.GroupResource{Group: "apps", Resource: "statefulsets"}, list: &appsv1.StatefulSetList{Items: make([]appsv1.StatefulSet, 1)},
			columns: []string{"Name", "Ready", "Age"},
			wide:    []string{"Containers", "Images"},
		},
		{
			name: "daemonsets", gr: schema.GroupResource{Group: "apps", Resource: "daemonsets"}, list: &appsv1.DaemonSetList{Items: make([]appsv1.DaemonSet, 1)},
			columns: []string{"Name", "Desired", "Current", "Ready", "Up-to-date", "Available", "Node Selector", "Age"},
			wide:    []string{"Containers", "Images", "Selector"},
		},
		{
			name: "controllerrevisions", gr: schema.GroupResource{Group: "apps", Resource: "controllerrevisions"}, list: &appsv1.ControllerRevisionList{Items: make([]appsv1.ControllerRevision, 1)},
			columns: []string{"Name", "Controller", "Revision", "Age"},
		},
		{
			name: "jobs", gr: schema.GroupResource{Group: "batch", Resource: "jobs"}, list: &batchv1.JobList{Items: make([]batchv1.Job, 1)},
			columns: []string{"Name", "Status", "Completions", "Duration", "Age"},
			wide:    []string{"Containers", "Images", "Selector"},
		},
		{
			name: "cronjobs", gr: schema.GroupResource{Group: "batch", Resource: "cronjobs"}, list: &batchv1.CronJobList{Items: make([]batchv1.CronJob, 1)},
			columns: []string{"Name", "Schedule", "Timezone", "Suspend", "Active", "Last Schedule", "Age"},
			wide:    []string{"Containers", "Images", "Selector"},
		},
		{
			name: "horizontalpodautoscalers", gr: schema.GroupResource{Group: "autoscaling", Resource: "horizontalpodautoscalers"}, list: &autoscalingv2.HorizontalPodAutoscalerList{Items: make([]autoscalingv2.HorizontalPodAutoscaler, 1)},
			columns: []string{"Name", "Reference", "Targets", "MinPods", "MaxPods", "Replicas", "Age"},
		},
		{
			name: "ingresses", gr: schema.GroupResource{Group: "networking.k8s.io", Resource: "ingresses"}, list: &networkingv1.IngressList{Items: make([]networkingv1.Ingress, 1)},
			columns: []string{"Name", "Class", "Hosts", "Address", "Ports", "Age"},
		},
		{
			name: "ingressclasses", gr: schema.GroupResource{Group: "networking.k8s.io", Resource: "ingressclasses"}, list: &networkingv1.IngressClassList{Items: make([]networkingv1.IngressClass, 1)},
			columns: []string{"Name", "Controller", "Parameters", "Age"},
		},
		{
			name: "storageclasses", gr: schema.GroupResource{Group: "storage.k8s.io", Resource: "storageclasses"}, list: &storagev1.StorageClassList{Items: make([]storagev1.StorageClass, 1)},
			columns: []string{"Name", "Provisioner", "ReclaimPolicy", "VolumeBindingMode", "AllowVolumeExpansion", "Age"},
		},
		{
			name: "roles", gr: schema.GroupResource{Group: "rbac.authorization.k8s.io", Resource: "roles"}, list: &rbacv1.RoleList{Items: make([]rbacv1.Role, 1)},
			columns: []string{"Name", "Created At"},
		},
		{
			name: "clusterroles", gr: schema.GroupResource{Group: "rbac.authorization.k8s.io", Resource: "clusterroles"}, list: &rbacv1.ClusterRoleList{Items: make([]rbacv1.ClusterRole, 1)},
			columns: []string{"Name", "Created At"},
		},
		{
			name: "rolebindings", gr: schema.GroupResource{Group: "rbac.authorization.k8s.io", Resource: "rolebindings"}, list: &rbacv1.RoleBindingList{Items: make([]rbacv1.RoleBinding, 1)},
			columns: []string{"Name", "Role", "Age"},
			wide:    []string{"Users", "Groups", "ServiceAccounts"},
		},
		{
			name: "clusterrolebindings", gr: schema.GroupResource{Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"}, list: &rbacv1.ClusterRoleBindingList{Items: make([]rbacv1.ClusterRoleBinding, 1)},
			columns: []string{"Name", "Role", "Age"},
			wide:    []string{"Users", "Groups", "ServiceAccounts"},
		},
		{
			name: "leases", gr: schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, list: &coordinationv1.LeaseList{Items: make([]coordinationv1.Lease, 1)},
			columns: []string{"Name", "Holder", "Age"},
		},
		{
			name: "endpointslices", gr: schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"}, list: &discoveryv1.EndpointSliceList{Items: make([]discoveryv1.EndpointSlice, 1)},
			columns: []string{"Name", "AddressType", "Ports", "Endpoints", "Age"},
		},
		{
			// Upstream shows PREEMPTIONPOLICY without -o wide.
			name: "priorityclasses", gr: schema.GroupResource{Group: "scheduling.k8s.io", Resource: "priorityclasses"}, list: &schedulingv1.PriorityClassList{Items: make([]schedulingv1.PriorityClass, 1)},
			columns: []string{"Name", "Value", "Global-Default", "Age", "PreemptionPolicy"},
		},
		{
			name: "poddisruptionbudgets", gr: schema.GroupResource{Group: "policy", Resource: "poddisruptionbudgets"}, list: &policyv1.PodDisruptionBudgetList{Items: make([]policyv1.PodDisruptionBudget, 1)},
			columns: []string{"Name", "Min Available", "Max Unavailable", "Allowed Disruptions", "Age"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := convert(t, tt.gr, tt.list, nil)
			var names, wide []string
			for _, c := range table.ColumnDefinitions {
				switch c.Priority {
				case 0:
					if len(wide) > 0 {
						t.Errorf("normal column %q follows wide columns", c.Name)
					}
					names = append(names, c.Name)
				case 1:
					wide = append(wide, c.Name)
				default:
					t.Errorf("column %q has priority %d", c.Name, c.Priority)
				}
				if c.Type == "" || c.Description == "" {
					t.Errorf("column %q lacks a type or description: %+v", c.Name, c)
				}
			}
			if !reflect.DeepEqual(names, tt.columns) {
				t.Errorf("columns = %q, want %q", names, tt.columns)
			}
			if !reflect.DeepEqual(wide, tt.wide) {
				t.Errorf("wide columns = %q, want %q", wide, tt.wide)
			}
			if first := table.ColumnDefinitions[0]; first.Name != "Name" || first.Format != "name" {
				t.Errorf("first column = %+v, want Name with format name", first)
			}
			if len(table.Rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(table.Rows))
			}
			if got, want := len(table.Rows[0].Cells), len(table.ColumnDefinitions); got != want {
				t.Errorf("row has %d cells for %d columns: %#v", got, want, table.Rows[0].Cells)
			}
		})
	}
}

// Events lead with LAST SEEN, as kubectl's event printer; NAME is wide only.
func TestEventColumns(t *testing.T) {
	for _, gr := range []schema.GroupResource{{Resource: "events"}, {Group: "events.k8s.io", Resource: "events"}} {
		t.Run(gr.String(), func(t *testing.T) {
			table := convert(t, gr, &corev1.EventList{Items: make([]corev1.Event, 1)}, nil)
			var normal, wide []string
			for _, c := range table.ColumnDefinitions {
				if c.Priority == 1 {
					wide = append(wide, c.Name)
				} else {
					normal = append(normal, c.Name)
				}
			}
			if want := []string{"Last Seen", "Type", "Reason", "Object", "Message"}; !reflect.DeepEqual(normal, want) {
				t.Errorf("columns = %q, want %q", normal, want)
			}
			if want := []string{"Subobject", "Source", "First Seen", "Count", "Name"}; !reflect.DeepEqual(wide, want) {
				t.Errorf("wide columns = %q, want %q", wide, want)
			}
			if got := table.ColumnDefinitions[len(table.ColumnDefinitions)-1]; got.Format != "name" {
				t.Errorf("Name column format = %q, want name", got.Format)
			}
			if got, want := len(table.Rows[0].Cells), len(table.ColumnDefinitions); got != want {
				t.Errorf("row has %d cells for %d columns", got, want)
			}
		})
	}
}

func TestCells(t *testing.T) {
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Hour)}}
	tests := []struct {
		name       string
		gr         schema.GroupResource
		obj        runtime.Object
		cells      []any
		conditions []metav1.TableRowCondition
	}{
		{
			name: "pod in CrashLoopBackOff with restarts",
			gr:   schema.GroupResource{Resource: "pods"},
			obj: &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "crash", CreationTimestamp: ago(time.Hour)},
				Spec:       corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app"}}},
				Status: corev1.PodStatus{
					Phase:  corev1.PodRunning,
					PodIPs: []corev1.PodIP{{IP: "10.244.0.5"}},
					ContainerStatuses: []corev1.ContainerStatus{{
						Name:                 "app",
						RestartCount:         5,
						State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
						LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", FinishedAt: ago(2 * time.Minute)}},
					}},
				},
			},
			cells: []any{"crash", "0/1", "CrashLoopBackOff", "5 (2m ago)", "60m", "10.244.0.5", "node-1", "<none>", "<none>"},
		},
		{
			name: "terminating pod",
			gr:   schema.GroupResource{Resource: "pods"},
			obj: &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "bye", CreationTimestamp: ago(3 * time.Hour), DeletionTimestamp: agoPtr(time.Second)},
				Spec: corev1.PodSpec{
					Containers:     []corev1.Container{{Name: "app"}},
					ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "example.com/gate"}},
				},
				Status: corev1.PodStatus{
					Phase:             corev1.PodRunning,
					Conditions:        []corev1.PodCondition{{Type: "example.com/gate", Status: corev1.ConditionTrue}},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: running}},
				},
			},
			cells: []any{"bye", "1/1", "Terminating", "0", "3h", "<none>", "<none>", "<none>", "1/1"},
		},
		{
			name: "initializing pod",
			gr:   schema.GroupResource{Resource: "pods"},
			obj: &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "init", CreationTimestamp: ago(30 * time.Second)},
				Spec: corev1.PodSpec{
					InitContainers: []corev1.Container{{Name: "setup"}},
					Containers:     []corev1.Container{{Name: "app"}},
				},
				Status: corev1.PodStatus{
					Phase:                 corev1.PodPending,
					InitContainerStatuses: []corev1.ContainerStatus{{Name: "setup", State: running}},
					ContainerStatuses:     []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}},
				},
			},
			cells: []any{"init", "0/1", "Init:0/1", "0", "30s", "<none>", "<none>", "<none>", "<none>"},
		},
		{
			name: "completed pod",
			gr:   schema.GroupResource{Resource: "pods"},
			obj: &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "done", CreationTimestamp: ago(5 * time.Minute)},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}},
				Status: corev1.PodStatus{
					Phase: corev1.PodSucceeded,
					ContainerStatuses: []corev1.ContainerStatus{{
						Name:  "app",
						State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}},
					}},
				},
			},
			cells:      []any{"done", "0/1", "Completed", "0", "5m", "<none>", "<none>", "<none>", "<none>"},
			conditions: []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: "Succeeded", Message: "The pod has completed successfully."}},
		},
		{
			name: "pending LoadBalancer service",
			gr:   schema.GroupResource{Resource: "services"},
			obj: &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(10 * time.Minute)},
				Spec: corev1.ServiceSpec{
					Type:       corev1.ServiceTypeLoadBalancer,
					ClusterIP:  "10.96.0.10",
					ClusterIPs: []string{"10.96.0.10"},
					Selector:   map[string]string{"app": "web"},
					Ports: []corev1.ServicePort{
						{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP},
						{Port: 443, NodePort: 30443, Protocol: corev1.ProtocolTCP},
					},
				},
			},
			cells: []any{"web", "LoadBalancer", "10.96.0.10", "<pending>", "80:30080/TCP,443:30443/TCP", "10m", "app=web"},
		},
		{
			name: "LoadBalancer service with ingress",
			gr:   schema.GroupResource{Resource: "services"},
			obj: &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "lb", CreationTimestamp: ago(10 * time.Minute)},
				Spec: corev1.ServiceSpec{
					Type:       corev1.ServiceTypeLoadBalancer,
					ClusterIPs: []string{"10.96.0.11"},
					Ports:      []corev1.ServicePort{{Port: 80, NodePort: 31000, Protocol: corev1.ProtocolTCP}},
				},
				Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "203.0.113.7"}, {Hostname: "lb.example.com"}}}},
			},
			cells: []any{"lb", "LoadBalancer", "10.96.0.11", "203.0.113.7,lb.example.com", "80:31000/TCP", "10m", "<none>"},
		},
		{
			name: "NodePort service",
			gr:   schema.GroupResource{Resource: "services"},
			obj: &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "np", CreationTimestamp: ago(48 * time.Hour)},
				Spec: corev1.ServiceSpec{
					Type:       corev1.ServiceTypeNodePort,
					ClusterIPs: []string{"10.96.0.12"},
					Selector:   map[string]string{"app": "np"},
					Ports:      []corev1.ServicePort{{Port: 8080, NodePort: 30080, Protocol: corev1.ProtocolTCP}},
				},
			},
			cells: []any{"np", "NodePort", "10.96.0.12", "<none>", "8080:30080/TCP", "2d", "app=np"},
		},
		{
			name: "headless ClusterIP service without ports",
			gr:   schema.GroupResource{Resource: "services"},
			obj: &corev1.Service{
				ObjectMeta: metav1.ObjectMeta{Name: "headless", CreationTimestamp: ago(time.Minute)},
				Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "None"},
			},
			cells: []any{"headless", "ClusterIP", "None", "<none>", "<none>", "60s", "<none>"},
		},
		{
			name: "cordoned ready control-plane node",
			gr:   schema.GroupResource{Resource: "nodes"},
			obj: &corev1.Node{
				ObjectMeta: metav1.ObjectMeta{
					Name:              "cp-1",
					CreationTimestamp: ago(10 * 24 * time.Hour),
					Labels:            map[string]string{"node-role.kubernetes.io/control-plane": "", "kubernetes.io/hostname": "cp-1"},
				},
				Spec: corev1.NodeSpec{Unschedulable: true},
				Status: corev1.NodeStatus{
					Conditions: []corev1.NodeCondition{
						{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
						{Type: corev1.NodeReady, Status: corev1.ConditionTrue},
					},
					Addresses: []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "cp-1"}, {Type: corev1.NodeInternalIP, Address: "192.168.1.10"}},
					NodeInfo: corev1.NodeSystemInfo{
						KubeletVersion:          "v1.37.2",
						OSImage:                 "Debian GNU/Linux 13 (trixie)",
						KernelVersion:           "6.12.0",
						ContainerRuntimeVersion: "containerd://2.1.0",
					},
				},
			},
			cells: []any{"cp-1", "Ready,SchedulingDisabled", "control-plane", "10d", "v1.37.2", "192.168.1.10", "<none>", "Debian GNU/Linux 13 (trixie)", "6.12.0", "containerd://2.1.0"},
		},
		{
			name:  "node without status",
			gr:    schema.GroupResource{Resource: "nodes"},
			obj:   &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "new", Labels: map[string]string{"kubernetes.io/role": "worker"}}},
			cells: []any{"new", "Unknown", "worker", "<unknown>", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"},
		},
		{
			name: "deployment 2/3",
			gr:   schema.GroupResource{Group: "apps", Resource: "deployments"},
			obj: &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(90 * time.Minute)},
				Spec: appsv1.DeploymentSpec{
					Replicas: ptrTo[int32](3),
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
						{Name: "nginx", Image: "nginx:1.27"},
						{Name: "sidecar", Image: "busybox"},
					}}},
				},
				Status: appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 2},
			},
			cells: []any{"web", "2/3", int64(3), int64(2), "90m", "nginx,sidecar", "nginx:1.27,busybox", "app=web"},
		},
		{
			name: "finished job",
			gr:   schema.GroupResource{Group: "batch", Resource: "jobs"},
			obj: &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Name: "pi", CreationTimestamp: ago(10 * time.Minute)},
				Spec: batchv1.JobSpec{
					Completions: ptrTo[int32](1),
					Parallelism: ptrTo[int32](1),
					Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"batch.kubernetes.io/controller-uid": "abc"}},
					Template:    corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "pi", Image: "perl:5.34"}}}},
				},
				Status: batchv1.JobStatus{
					Succeeded:      1,
					StartTime:      agoPtr(10 * time.Minute),
					CompletionTime: agoPtr(9*time.Minute + 22*time.Second),
					Conditions: []batchv1.JobCondition{
						{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue},
						{Type: batchv1.JobComplete, Status: corev1.ConditionTrue},
					},
				},
			},
			cells: []any{"pi", "Complete", "1/1", "38s", "10m", "pi", "perl:5.34", "batch.kubernetes.io/controller-uid=abc"},
		},
		{
			name: "running parallel job",
			gr:   schema.GroupResource{Group: "batch", Resource: "jobs"},
			obj: &batchv1.Job{
				ObjectMeta: metav1.ObjectMeta{Name: "work", CreationTimestamp: ago(5 * time.Minute)},
				Spec:       batchv1.JobSpec{Parallelism: ptrTo[int32](3)},
				Status:     batchv1.JobStatus{StartTime: agoPtr(4 * time.Minute)},
			},
			cells: []any{"work", "Running", "0/1 of 3", "4m", "5m", "", "", "<none>"},
		},
		{
			name: "cronjob",
			gr:   schema.GroupResource{Group: "batch", Resource: "cronjobs"},
			obj: &batchv1.CronJob{
				ObjectMeta: metav1.ObjectMeta{Name: "nightly", CreationTimestamp: ago(3 * 24 * time.Hour)},
				Spec: batchv1.CronJobSpec{
					Schedule: "0 2 * * *",
					Suspend:  ptrTo(false),
					JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
						Containers: []corev1.Container{{Name: "backup", Image: "backup:1"}},
					}}}},
				},
				Status: batchv1.CronJobStatus{LastScheduleTime: agoPtr(10 * time.Hour)},
			},
			cells: []any{"nightly", "0 2 * * *", "<none>", "False", int64(0), "10h", "3d", "backup", "backup:1", "<none>"},
		},
		{
			name: "default storage class",
			gr:   schema.GroupResource{Group: "storage.k8s.io", Resource: "storageclasses"},
			obj: &storagev1.StorageClass{
				ObjectMeta: metav1.ObjectMeta{
					Name:              "standard",
					CreationTimestamp: ago(20 * 24 * time.Hour),
					Annotations:       map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
				},
				Provisioner:       "rancher.io/local-path",
				VolumeBindingMode: ptrTo(storagev1.VolumeBindingWaitForFirstConsumer),
			},
			cells: []any{"standard (default)", "rancher.io/local-path", "Delete", "WaitForFirstConsumer", false, "20d"},
		},
		{
			name: "HPA on cpu utilization",
			gr:   schema.GroupResource{Group: "autoscaling", Resource: "horizontalpodautoscalers"},
			obj: &autoscalingv2.HorizontalPodAutoscaler{
				ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(time.Hour)},
				Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
					ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"},
					MinReplicas:    ptrTo[int32](1),
					MaxReplicas:    10,
					Metrics: []autoscalingv2.MetricSpec{
						{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
							Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptrTo[int32](80)},
						}},
						{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
							Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptrTo(resource.MustParse("1Gi"))},
						}},
						{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
							Target: autoscalingv2.MetricTarget{AverageValue: ptrTo(resource.MustParse("1k"))},
						}},
					},
				},
				Status: autoscalingv2.HorizontalPodAutoscalerStatus{
					CurrentReplicas: 2,
					CurrentMetrics: []autoscalingv2.MetricStatus{{
						Type:     autoscalingv2.ResourceMetricSourceType,
						Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptrTo[int32](42)}},
					}},
				},
			},
			cells: []any{"web", "Deployment/web", "cpu: 42%/80%, memory: <unknown>/1Gi + 1 more...", "1", int64(10), int64(2), "60m"},
		},
		{
			name: "endpoints",
			gr:   schema.GroupResource{Resource: "endpoints"},
			obj: &corev1.Endpoints{
				ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(time.Hour)},
				Subsets: []corev1.EndpointSubset{{
					Addresses: []corev1.EndpointAddress{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}, {IP: "fd00::3"}},
					Ports:     []corev1.EndpointPort{{Name: "http", Port: 80}, {Name: "https", Port: 443}},
				}},
			},
			cells: []any{"web", "10.0.0.1:80,10.0.0.2:80,[fd00::3]:80 + 3 more...", "60m"},
		},
		{
			name: "endpointslice",
			gr:   schema.GroupResource{Group: "discovery.k8s.io", Resource: "endpointslices"},
			obj: &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Name: "web-abc", CreationTimestamp: ago(time.Hour)},
				AddressType: discoveryv1.AddressTypeIPv4,
				Ports:       []discoveryv1.EndpointPort{{Port: ptrTo[int32](80)}, {Name: ptrTo("metrics")}},
				Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}}, {Addresses: []string{"10.0.0.2"}}},
			},
			cells: []any{"web-abc", "IPv4", "80,metrics", "10.0.0.1,10.0.0.2", "60m"},
		},
		{
			name: "ingress",
			gr:   schema.GroupResource{Group: "networking.k8s.io", Resource: "ingresses"},
			obj: &networkingv1.Ingress{
				ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(time.Hour)},
				Spec: networkingv1.IngressSpec{
					IngressClassName: ptrTo("nginx"),
					Rules:            []networkingv1.IngressRule{{Host: "a.example.com"}, {Host: "b.example.com"}},
					TLS:              []networkingv1.IngressTLS{{Hosts: []string{"a.example.com"}}},
				},
				Status: networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: "192.0.2.1"}}}},
			},
			cells: []any{"web", "nginx", "a.example.com,b.example.com", "192.0.2.1", "80, 443", "60m"},
		},
		{
			name: "cluster role binding",
			gr:   schema.GroupResource{Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"},
			obj: &rbacv1.ClusterRoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: "admins", CreationTimestamp: ago(time.Hour)},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
				Subjects: []rbacv1.Subject{
					{Kind: rbacv1.UserKind, Name: "alice"},
					{Kind: rbacv1.UserKind, Name: "bob"},
					{Kind: rbacv1.GroupKind, Name: "system:masters"},
					{Kind: rbacv1.ServiceAccountKind, Namespace: "kube-system", Name: "admin"},
				},
			},
			cells: []any{"admins", "ClusterRole/cluster-admin", "60m", "alice, bob", "system:masters", "kube-system/admin"},
		},
		{
			name: "controller revision",
			gr:   schema.GroupResource{Group: "apps", Resource: "controllerrevisions"},
			obj: &appsv1.ControllerRevision{
				ObjectMeta: metav1.ObjectMeta{
					Name: "web-7d4b9c", CreationTimestamp: ago(time.Hour),
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", Controller: ptrTo(true)}},
				},
				Revision: 2,
			},
			cells: []any{"web-7d4b9c", "statefulset.apps/web", int64(2), "60m"},
		},
		{
			name: "pod disruption budget",
			gr:   schema.GroupResource{Group: "policy", Resource: "poddisruptionbudgets"},
			obj: &policyv1.PodDisruptionBudget{
				ObjectMeta: metav1.ObjectMeta{Name: "web", CreationTimestamp: ago(time.Hour)},
				Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: ptrTo(intstr.FromString("50%"))},
				Status:     policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 1},
			},
			cells: []any{"web", "50%", "N/A", int64(1), "60m"},
		},
		{
			name: "priority class",
			gr:   schema.GroupResource{Group: "scheduling.k8s.io", Resource: "priorityclasses"},
			obj: &schedulingv1.PriorityClass{
				ObjectMeta:       metav1.ObjectMeta{Name: "system-cluster-critical", CreationTimestamp: ago(time.Hour)},
				Value:            2000000000,
				PreemptionPolicy: ptrTo(corev1.PreemptLowerPriority),
			},
			cells: []any{"system-cluster-critical", int64(2000000000), false, "60m", "PreemptLowerPriority"},
		},
		{
			name: "lease",
			gr:   schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"},
			obj: &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: "cp-1", CreationTimestamp: ago(time.Hour)},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptrTo("cp-1")},
			},
			cells: []any{"cp-1", "cp-1", "60m"},
		},
		{
			name: "bound persistent volume claim",
			gr:   schema.GroupResource{Resource: "persistentvolumeclaims"},
			obj: &corev1.PersistentVolumeClaim{
				ObjectMeta: metav1.ObjectMeta{Name: "data", CreationTimestamp: ago(time.Hour)},
				Spec:       corev1.PersistentVolumeClaimSpec{VolumeName: "pv-1", StorageClassName: ptrTo("standard"), VolumeMode: ptrTo(corev1.PersistentVolumeFilesystem)},
				Status: corev1.PersistentVolumeClaimStatus{
					Phase:       corev1.ClaimBound,
					AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod, corev1.ReadWriteOnce},
					Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
				},
			},
			cells: []any{"data", "Bound", "pv-1", "10Gi", "RWO,RWOP", "standard", "<unset>", "60m", "Filesystem"},
		},
		{
			name: "persistent volume",
			gr:   schema.GroupResource{Resource: "persistentvolumes"},
			obj: &corev1.PersistentVolume{
				ObjectMeta: metav1.ObjectMeta{Name: "pv-1", CreationTimestamp: ago(time.Hour)},
				Spec: corev1.PersistentVolumeSpec{
					Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
					AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
					ClaimRef:                      &corev1.ObjectReference{Namespace: "default", Name: "data"},
					StorageClassName:              "standard",
				},
				Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound},
			},
			cells: []any{"pv-1", "10Gi", "RWO", "Retain", "Bound", "default/data", "standard", "<unset>", "", "60m", "<unset>"},
		},
		{
			name: "event",
			gr:   schema.GroupResource{Resource: "events"},
			obj: &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{Name: "crash.17a", CreationTimestamp: ago(time.Hour)},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "crash", FieldPath: "spec.containers{app}"},
				Type:           corev1.EventTypeWarning,
				Reason:         "BackOff",
				Message:        "Back-off restarting failed container\n",
				Source:         corev1.EventSource{Component: "kubelet", Host: "node-1"},
				FirstTimestamp: ago(time.Hour),
				LastTimestamp:  ago(2 * time.Minute),
				Count:          12,
			},
			cells: []any{"2m", "Warning", "BackOff", "pod/crash", "spec.containers{app}", "kubelet, node-1", "Back-off restarting failed container", "60m", int64(12), "crash.17a"},
		},
		{
			name: "events.k8s.io event stored as core event",
			gr:   schema.GroupResource{Group: "events.k8s.io", Resource: "events"},
			obj: &corev1.Event{
				ObjectMeta:          metav1.ObjectMeta{Name: "web.17b", CreationTimestamp: ago(time.Hour)},
				InvolvedObject:      corev1.ObjectReference{Kind: "Deployment", Name: "web"},
				Type:                corev1.EventTypeNormal,
				Reason:              "ScalingReplicaSet",
				Message:             "Scaled up replica set web-1 from 0 to 3",
				EventTime:           metav1.NewMicroTime(fixedNow.Add(-5 * time.Minute)),
				ReportingController: "deployment-controller",
			},
			cells: []any{"5m", "Normal", "ScalingReplicaSet", "deployment/web", "", "deployment-controller", "Scaled up replica set web-1 from 0 to 3", "5m", int64(1), "web.17b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := convert(t, tt.gr, tt.obj, nil)
			if len(table.Rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(table.Rows))
			}
			row := table.Rows[0]
			if !reflect.DeepEqual(row.Cells, tt.cells) {
				t.Errorf("cells:\n got %#v\nwant %#v", row.Cells, tt.cells)
			}
			if !reflect.DeepEqual(row.Conditions, tt.conditions) {
				t.Errorf("conditions = %+v, want %+v", row.Conditions, tt.conditions)
			}
			if row.Object.Object != tt.obj {
				t.Errorf("row object = %p, want the converted object %p", row.Object.Object, tt.obj)
			}
		})
	}
}

func TestListMetaAndOptions(t *testing.T) {
	pods := &corev1.PodList{
		ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "next", RemainingItemCount: ptrTo[int64](7)},
		Items: []corev1.Pod{
			{ObjectMeta: metav1.ObjectMeta{Name: "a"}},
			{ObjectMeta: metav1.ObjectMeta{Name: "b"}},
		},
	}
	tests := []struct {
		name        string
		obj         runtime.Object
		opts        runtime.Object
		wantRows    []string
		wantHeaders bool
		wantMeta    metav1.ListMeta
	}{
		{
			name: "list", obj: pods, opts: &metav1.TableOptions{},
			wantRows: []string{"a", "b"}, wantHeaders: true,
			wantMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "next", RemainingItemCount: ptrTo[int64](7)},
		},
		{
			name: "list without headers", obj: pods, opts: &metav1.TableOptions{NoHeaders: true},
			wantRows: []string{"a", "b"},
			wantMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "next", RemainingItemCount: ptrTo[int64](7)},
		},
		{
			name: "empty list", obj: &corev1.PodList{ListMeta: metav1.ListMeta{ResourceVersion: "9"}},
			wantRows: []string{}, wantHeaders: true, wantMeta: metav1.ListMeta{ResourceVersion: "9"},
		},
		{
			name: "single object", obj: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "solo", ResourceVersion: "17"}},
			wantRows: []string{"solo"}, wantHeaders: true, wantMeta: metav1.ListMeta{ResourceVersion: "17"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := convert(t, schema.GroupResource{Resource: "pods"}, tt.obj, tt.opts)
			if got := len(table.ColumnDefinitions) > 0; got != tt.wantHeaders {
				t.Errorf("has column definitions = %v, want %v", got, tt.wantHeaders)
			}
			if !reflect.DeepEqual(table.ListMeta, tt.wantMeta) {
				t.Errorf("list meta = %+v, want %+v", table.ListMeta, tt.wantMeta)
			}
			rows := []string{}
			for _, r := range table.Rows {
				rows = append(rows, r.Cells[0].(string))
				if r.Object.Object.(*corev1.Pod).Name != r.Cells[0] {
					t.Errorf("row %v carries object %v", r.Cells[0], r.Object.Object)
				}
			}
			if !reflect.DeepEqual(rows, tt.wantRows) {
				t.Errorf("rows = %q, want %q", rows, tt.wantRows)
			}
		})
	}
}

func TestListItemsAreReferencedNotCopied(t *testing.T) {
	list := &appsv1.DeploymentList{Items: make([]appsv1.Deployment, 2)}
	table := convert(t, schema.GroupResource{Group: "apps", Resource: "deployments"}, list, nil)
	for i := range list.Items {
		if table.Rows[i].Object.Object != &list.Items[i] {
			t.Errorf("row %d does not reference list item %d", i, i)
		}
	}
}

func TestErrors(t *testing.T) {
	c, _ := TableConvertor(schema.GroupResource{Resource: "pods"})
	tests := []struct {
		name string
		obj  runtime.Object
		opts runtime.Object
		want string
	}{
		{name: "wrong object type", obj: &corev1.Service{}, want: "cannot print *v1.Service"},
		{name: "wrong list item type", obj: &corev1.ServiceList{Items: make([]corev1.Service, 1)}, want: "cannot print *v1.Service"},
		{name: "wrong options type", obj: &corev1.Pod{}, opts: &corev1.Pod{}, want: "unrecognized type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ConvertToTable(context.Background(), tt.obj, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestUnknownResources(t *testing.T) {
	for _, gr := range []schema.GroupResource{
		{Resource: "replicationcontrollers"},
		{Group: "apps", Resource: "pods"},
		{Group: "example.com", Resource: "widgets"},
	} {
		t.Run(gr.String(), func(t *testing.T) {
			if c, ok := TableConvertor(gr); ok || c != nil {
				t.Errorf("TableConvertor(%s) = %v, %v; want nil, false", gr, c, ok)
			}
		})
	}
}

func TestRolesUseCreatedAt(t *testing.T) {
	created := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "reader", CreationTimestamp: created}}
	table := convert(t, schema.GroupResource{Group: "rbac.authorization.k8s.io", Resource: "roles"}, role, nil)
	if want := []any{"reader", "2026-01-02T03:04:05Z"}; !reflect.DeepEqual(table.Rows[0].Cells, want) {
		t.Errorf("cells = %#v, want %#v", table.Rows[0].Cells, want)
	}
}

func TestRestartableInitContainers(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sidecar", CreationTimestamp: ago(time.Hour)},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "proxy", RestartPolicy: ptrTo(corev1.ContainerRestartPolicyAlways)}},
			Containers:     []corev1.Container{{Name: "app"}},
		},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			InitContainerStatuses: []corev1.ContainerStatus{{
				Name: "proxy", Ready: true, Started: ptrTo(true), RestartCount: 1, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: ago(3 * time.Hour)}},
			}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
		},
	}
	cells := podCells(pod)
	if want := []any{"sidecar", "2/2", "Running", "1 (3h ago)"}; !reflect.DeepEqual(cells[:4], want) {
		t.Errorf("cells = %#v, want prefix %#v", cells, want)
	}
}

func ptrTo[T any](v T) *T { return &v }
