package tui

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/kubectl/pkg/describe"
	"sigs.k8s.io/yaml"

	corev1 "k8s.io/api/core/v1"
)

// ObjRef names an object the user picked.
type ObjRef struct{ Kind, Namespace, Name string }

func (r ObjRef) String() string {
	if r.Namespace == "" {
		return strings.ToLower(r.Kind) + "/" + r.Name
	}
	return strings.ToLower(r.Kind) + " " + r.Namespace + "/" + r.Name
}

// LogRequest is one container's log stream, or with All the streams of all
// those containers ("container", or "pod/container" for a workload's pods)
// merged, each line prefixed [source] as `kubectl logs --all-containers
// --prefix` does.
type LogRequest struct {
	Namespace, Pod, Container string
	All                       []string
	Previous, Timestamps      bool
	TailLines                 int64
}

// Backend is what the console asks of the cluster beyond watching it. The
// model calls it only inside commands; tests give it a fake.
type Backend interface {
	Describe(ctx context.Context, ref ObjRef) (string, error)
	YAML(ctx context.Context, ref ObjRef) (string, error)
	Delete(ctx context.Context, ref ObjRef) error
	Scale(ctx context.Context, ref ObjRef, replicas int32) error
	Restart(ctx context.Context, ref ObjRef) error
	Logs(ctx context.Context, req LogRequest) (io.ReadCloser, error)
	// Shell is the command that opens a shell in a container; the console
	// suspends while it runs.
	Shell(ref ObjRef, container string) *exec.Cmd
}

// gvrs maps the kinds the console lists to their resources.
var gvrs = map[string]schema.GroupVersionResource{
	"Pod":         {Version: "v1", Resource: "pods"},
	"Node":        {Version: "v1", Resource: "nodes"},
	"Service":     {Version: "v1", Resource: "services"},
	"Event":       {Version: "v1", Resource: "events"},
	"Namespace":   {Version: "v1", Resource: "namespaces"},
	"Deployment":  {Group: "apps", Version: "v1", Resource: "deployments"},
	"ReplicaSet":  {Group: "apps", Version: "v1", Resource: "replicasets"},
	"StatefulSet": {Group: "apps", Version: "v1", Resource: "statefulsets"},
	"DaemonSet":   {Group: "apps", Version: "v1", Resource: "daemonsets"},
	"Job":         {Group: "batch", Version: "v1", Resource: "jobs"},
	"CronJob":     {Group: "batch", Version: "v1", Resource: "cronjobs"},
	"Ingress":     {Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
}

var groups = map[string]string{"Deployment": "apps", "ReplicaSet": "apps", "StatefulSet": "apps", "DaemonSet": "apps",
	"Job": "batch", "CronJob": "batch", "Ingress": "networking.k8s.io"}

// KubeBackend is the Backend of a real cluster.
type KubeBackend struct {
	REST       *rest.Config
	Client     kubernetes.Interface
	Dynamic    dynamic.Interface
	Kubeconfig string
	// Self is the appliance binary, for `appliance kubectl exec`.
	Self string
}

// NewKubeBackend builds the clients from a REST config.
func NewKubeBackend(rc *rest.Config, kubeconfig string) (*KubeBackend, error) {
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	d, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	self, _ := os.Executable()
	return &KubeBackend{REST: rc, Client: c, Dynamic: d, Kubeconfig: kubeconfig, Self: self}, nil
}

func (b *KubeBackend) resource(ref ObjRef) (dynamic.ResourceInterface, error) {
	gvr, ok := gvrs[ref.Kind]
	if !ok {
		return nil, fmt.Errorf("the console does not know the kind %q", ref.Kind)
	}
	if ref.Namespace == "" {
		return b.Dynamic.Resource(gvr), nil
	}
	return b.Dynamic.Resource(gvr).Namespace(ref.Namespace), nil
}

func (b *KubeBackend) Describe(_ context.Context, ref ObjRef) (string, error) {
	d, ok := describe.DescriberFor(schema.GroupKind{Group: groups[ref.Kind], Kind: ref.Kind}, b.REST)
	if !ok {
		return b.YAML(context.Background(), ref)
	}
	return d.Describe(ref.Namespace, ref.Name, describe.DescriberSettings{ShowEvents: true, ChunkSize: 500})
}

func (b *KubeBackend) YAML(ctx context.Context, ref ObjRef) (string, error) {
	r, err := b.resource(ref)
	if err != nil {
		return "", err
	}
	u, err := r.Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
	out, err := yaml.Marshal(u.Object)
	return string(out), err
}

func (b *KubeBackend) Delete(ctx context.Context, ref ObjRef) error {
	r, err := b.resource(ref)
	if err != nil {
		return err
	}
	policy := metav1.DeletePropagationBackground
	return r.Delete(ctx, ref.Name, metav1.DeleteOptions{PropagationPolicy: &policy})
}

func (b *KubeBackend) Scale(ctx context.Context, ref ObjRef, n int32) error {
	r, err := b.resource(ref)
	if err != nil {
		return err
	}
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	_, err = r.Patch(ctx, ref.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

// Restart does what `kubectl rollout restart` does: a new template
// annotation, so the controller rolls every pod.
func (b *KubeBackend) Restart(ctx context.Context, ref ObjRef) error {
	r, err := b.resource(ref)
	if err != nil {
		return err
	}
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, time.Now().Format(time.RFC3339))
	_, err = r.Patch(ctx, ref.Name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
	return err
}

func (b *KubeBackend) Logs(ctx context.Context, req LogRequest) (io.ReadCloser, error) {
	opts := &corev1.PodLogOptions{Container: req.Container, Follow: !req.Previous, Previous: req.Previous, Timestamps: req.Timestamps}
	if req.TailLines > 0 {
		opts.TailLines = &req.TailLines
	}
	return b.Client.CoreV1().Pods(req.Namespace).GetLogs(req.Pod, opts).Stream(ctx)
}

func (b *KubeBackend) Shell(ref ObjRef, container string) *exec.Cmd {
	args := []string{"kubectl", "--kubeconfig", b.Kubeconfig, "exec", "-it", "-n", ref.Namespace, ref.Name}
	if container != "" {
		args = append(args, "-c", container)
	}
	args = append(args, "--", "sh", "-c", "command -v bash >/dev/null && exec bash || exec sh")
	return exec.Command(b.Self, args...)
}
