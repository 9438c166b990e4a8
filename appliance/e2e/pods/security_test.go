package pods

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/appliance/appliance/appliance/testcluster"
)

// TestSecurityContextAndPodFeatures: runAsUser/runAsGroup, a read-only root
// filesystem, dropped capabilities, runAsNonRoot against a root image, a shared
// PID namespace and a downwardAPI volume, as users write them in pod specs.
func TestSecurityContextAndPodFeatures(t *testing.T) {
	c, _ := testcluster.StartWithAgent(t)
	ctx := context.Background()
	ns := "default"

	locked := busyboxPod("locked", "sleep", "3600")
	locked.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
		RunAsUser: ptr.To(int64(1000)), RunAsGroup: ptr.To(int64(2000)),
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
	shared := busyboxPod("shared", "sleep", "3600")
	shared.Spec.ShareProcessNamespace = ptr.To(true)
	shared.Spec.Containers = append(shared.Spec.Containers, corev1.Container{
		Name: "sidecar", Image: testcluster.BusyboxImage, ImagePullPolicy: corev1.PullNever, Command: []string{"sleep", "7200"},
	})
	shared.ObjectMeta.Labels["tier"] = "backend"
	shared.Spec.Volumes = []corev1.Volume{{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
		Items: []corev1.DownwardAPIVolumeFile{{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}},
	}}}}
	shared.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "info", MountPath: "/etc/podinfo"}}
	nonroot := busyboxPod("nonroot", "sleep", "3600")
	nonroot.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}
	for _, p := range []*corev1.Pod{locked, shared, nonroot} {
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	waitPod(t, c, ns, "locked", "Running", running)
	if id := strings.TrimSpace(c.Kubectl(t, "exec", "locked", "--", "id")); !strings.Contains(id, "uid=1000") || !strings.Contains(id, "gid=2000") {
		t.Fatalf("id = %q, want uid=1000 gid=2000", id)
	}
	if out, _, err := c.TryKubectl(t, nil, "exec", "locked", "--", "touch", "/newfile"); err == nil {
		t.Fatalf("touch on a read-only root filesystem succeeded: %q", out)
	}
	if st := c.Kubectl(t, "exec", "locked", "--", "cat", "/proc/1/status"); !strings.Contains(st, "CapEff:\t0000000000000000") || !strings.Contains(st, "NoNewPrivs:\t1") {
		t.Fatalf("capabilities not dropped or no_new_privs unset:\n%s", st)
	}

	waitPod(t, c, ns, "shared", "Running", running)
	ps := c.Kubectl(t, "exec", "shared", "-c", "main", "--", "ps")
	if !strings.Contains(ps, "sleep 7200") || !strings.Contains(ps, "pause") {
		t.Fatalf("shareProcessNamespace: main does not see the sidecar and the sandbox:\n%s", ps)
	}
	if labels := c.Kubectl(t, "exec", "shared", "-c", "main", "--", "cat", "/etc/podinfo/labels"); !strings.Contains(labels, `tier="backend"`) {
		t.Fatalf("downwardAPI labels file = %q", labels)
	}

	p := waitPod(t, c, ns, "nonroot", "refused", func(p *corev1.Pod) bool {
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && w.Reason == "CreateContainerConfigError" {
				return true
			}
		}
		return false
	})
	if msg := p.Status.ContainerStatuses[0].State.Waiting.Message; !strings.Contains(msg, "runAsNonRoot") {
		t.Fatalf("CreateContainerConfigError message %q does not say why", msg)
	}
}
