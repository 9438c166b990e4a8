// Package servicetest holds the fixtures of the tests of the controllers that
// follow Services' pods (endpointslice, endpoints). Their integration tests
// run a controller against a real appliance without a kubelet: pods are
// created bound to a registered node and their IP and readiness are written
// through pods/status, as a kubelet reports them (CreatePod, SetPodStatus).
// Their unit tests fill informer caches with Service and Pod.
package servicetest

import (
	"context"
	"github.com/appliance/appliance/appliance/testcluster/testlog"
	"log/slog"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// Case is one subtest of RunCases; c is what the test runs against (the
// cluster).
type Case[C any] struct {
	Name string
	Run  func(t *testing.T, c C, ns string)
}

// RunCases runs each case as a parallel subtest in a namespace of its own,
// prefix followed by the case's name with dashes for spaces.
func RunCases[C any](t *testing.T, client kubernetes.Interface, c C, prefix string, cases []Case[C]) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			ns := prefix + strings.ReplaceAll(tc.Name, " ", "-")
			if _, err := client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			tc.Run(t, c, ns)
		})
	}
}

// Controller is what StartController runs: a controller's Run.
type Controller interface {
	Run(ctx context.Context, workers int)
}

// StartController runs ctl with 4 workers until the test ends, then shuts
// factory (the informers ctl was made on) down.
func StartController(t *testing.T, factory informers.SharedInformerFactory, ctl Controller) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ctl.Run(ctx, 4) }()
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })
}

// Logger logs warnings and errors into the test's log.
func Logger(t *testing.T) *slog.Logger { return testlog.Warnings(t) }

// Service is a Service with one port, http 80/TCP, to target, selecting
// selector (nil: a Service without a selector).
func Service(ns, name string, selector map[string]string, target intstr.IntOrString) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: selector,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: target}},
		},
	}
}

// CreateService creates svc and returns it as the API server stored it.
func CreateService(t *testing.T, client kubernetes.Interface, svc *corev1.Service) *corev1.Service {
	t.Helper()
	got, err := client.CoreV1().Services(svc.Namespace).Create(context.Background(), svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create service: %v", err)
	}
	return got
}

// UpdateService applies mutate to the Service ns/name, again on a conflict.
func UpdateService(t *testing.T, client kubernetes.Interface, ns, name string, mutate func(*corev1.Service)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := client.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		mutate(s)
		_, err = client.CoreV1().Services(ns).Update(context.Background(), s, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("update service: %v", err)
	}
}

// CreatePod creates the pod ns/name bound to node, labelled lbls, with a
// container port named http, then reports it Running with ip, Ready or not,
// as a kubelet would.
func CreatePod(t *testing.T, client kubernetes.Interface, node, ns, name, ip string, ready bool, lbls map[string]string, port int32) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: lbls},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "web", Image: "busybox",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP}}}}},
	}
	if _, err := client.CoreV1().Pods(ns).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	SetPodStatus(t, client, ns, name, ip, ready)
}

// SetPodStatus writes through pods/status what a kubelet reports of a
// started pod: Running with ip, and ContainersReady and Ready both true or
// both false.
func SetPodStatus(t *testing.T, client kubernetes.Interface, ns, name, ip string, ready bool) {
	t.Helper()
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP, p.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
		p.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.ContainersReady, Status: status, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: status, LastTransitionTime: now},
		}
		_, err = client.CoreV1().Pods(ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("pod status: %v", err)
	}
}

// Pod is a pod as the unit tests put it in the informer cache: ns/name on
// node-a (UID name-uid), its container's port http 8080/TCP, Running with
// ip and Ready or not; mutate changes it further.
func Pod(ns, name, ip string, ready bool, mutate ...func(*corev1.Pod)) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(name + "-uid")},
		Spec: corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "c",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}
