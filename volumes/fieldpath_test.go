package volumes

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: "shop", UID: "0b4f6c1e-1111-2222-3333-444455556666",
			Labels:      map[string]string{"tier": "front", "app": "web"},
			Annotations: map[string]string{"note": `say "hi"` + "\n" + "bye"},
		},
		Spec: corev1.PodSpec{
			NodeName: "node-1", ServiceAccountName: "builder",
			Containers: []corev1.Container{{
				Name: "app",
				Resources: corev1.ResourceRequirements{
					Limits: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("250m"),
						corev1.ResourceMemory: resource.MustParse("64Mi"),
					},
					Requests: corev1.ResourceList{
						corev1.ResourceCPU:    resource.MustParse("1200m"),
						corev1.ResourceMemory: resource.MustParse("32Mi"),
					},
				},
			}, {Name: "side"}},
			InitContainers: []corev1.Container{{
				Name: "init",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
					corev1.ResourceEphemeralStorage: resource.MustParse("1Gi"),
				}},
			}},
		},
		Status: corev1.PodStatus{
			HostIP: "10.0.0.5", HostIPs: []corev1.HostIP{{IP: "10.0.0.5"}, {IP: "fd00::5"}},
			PodIP: "10.42.0.7", PodIPs: []corev1.PodIP{{IP: "10.42.0.7"}, {IP: "fd42::7"}},
		},
	}
}

func TestFieldPath(t *testing.T) {
	pod := testPod()
	tests := []struct {
		name, path, want, err string
	}{
		{name: "name", path: "metadata.name", want: "web"},
		{name: "namespace", path: "metadata.namespace", want: "shop"},
		{name: "uid", path: "metadata.uid", want: "0b4f6c1e-1111-2222-3333-444455556666"},
		{name: "labels sorted and quoted", path: "metadata.labels", want: "app=\"web\"\ntier=\"front\""},
		{name: "annotations escape newlines and quotes", path: "metadata.annotations", want: `note="say \"hi\"\nbye"`},
		{name: "one label", path: "metadata.labels['tier']", want: "front"},
		{name: "missing label is empty", path: "metadata.labels['nope']", want: ""},
		{name: "one annotation", path: "metadata.annotations['note']", want: "say \"hi\"\nbye"},
		{name: "node name", path: "spec.nodeName", want: "node-1"},
		{name: "service account", path: "spec.serviceAccountName", want: "builder"},
		{name: "host ip", path: "status.hostIP", want: "10.0.0.5"},
		{name: "host ips", path: "status.hostIPs", want: "10.0.0.5,fd00::5"},
		{name: "pod ip", path: "status.podIP", want: "10.42.0.7"},
		{name: "pod ips", path: "status.podIPs", want: "10.42.0.7,fd42::7"},
		{name: "unknown", path: "spec.hostname", err: `unsupported field path "spec.hostname"`},
		{name: "subscript on name", path: "metadata.name['x']", err: "unsupported field path"},
		{name: "bad subscript", path: "metadata.labels[tier]", err: "unsupported field path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FieldPath(pod, tt.path)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("FieldPath(%q) error = %v, want containing %q", tt.path, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("FieldPath(%q): %v", tt.path, err)
			}
			if got != tt.want {
				t.Fatalf("FieldPath(%q) = %q, want %q", tt.path, got, tt.want)
			}
		})
	}
}

func TestResourceField(t *testing.T) {
	pod := testPod()
	alloc := corev1.ResourceList{
		corev1.ResourceCPU:              resource.MustParse("4"),
		corev1.ResourceMemory:           resource.MustParse("8Gi"),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	q := resource.MustParse
	tests := []struct {
		name, container, res string
		divisor              resource.Quantity
		want, err            string
	}{
		{name: "cpu limit rounds up to cores", container: "app", res: "limits.cpu", want: "1"},
		{name: "cpu limit in millicores", container: "app", res: "limits.cpu", divisor: q("1m"), want: "250"},
		{name: "cpu request rounds up", container: "app", res: "requests.cpu", want: "2"},
		{name: "memory limit bytes", container: "app", res: "limits.memory", want: "67108864"},
		{name: "memory limit Mi", container: "app", res: "limits.memory", divisor: q("1Mi"), want: "64"},
		{name: "memory request rounds up", container: "app", res: "requests.memory", divisor: q("1Gi"), want: "1"},
		{name: "unset limit is node allocatable", container: "side", res: "limits.memory", divisor: q("1Gi"), want: "8"},
		{name: "unset cpu limit is node allocatable", container: "side", res: "limits.cpu", want: "4"},
		{name: "unset request is zero", container: "side", res: "requests.cpu", want: "0"},
		{name: "init container", container: "init", res: "limits.ephemeral-storage", divisor: q("1Mi"), want: "1024"},
		{name: "ephemeral from allocatable", container: "app", res: "limits.ephemeral-storage", divisor: q("1Gi"), want: "100"},
		{name: "unknown container", container: "nope", res: "limits.cpu", err: `container "nope" not found`},
		{name: "unknown resource", container: "app", res: "limits.gpu", err: `unsupported container resource "limits.gpu"`},
		{name: "no kind", container: "app", res: "cpu", err: "unsupported container resource"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ref := &corev1.ResourceFieldSelector{Resource: tt.res, Divisor: tt.divisor}
			got, err := ResourceField(pod, tt.container, ref, alloc)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("ResourceField(%s, %s, %s) = %q, want %q", tt.container, tt.res, tt.divisor.String(), got, tt.want)
			}
		})
	}
}

func TestValidateSubPath(t *testing.T) {
	tests := []struct {
		name, sub string
		ok        bool
	}{
		{"empty", "", true},
		{"plain", "data", true},
		{"nested", "a/b/c", true},
		{"dots in name", "a..b/..c", true},
		{"absolute", "/etc", false},
		{"backstep", "../x", false},
		{"inner backstep", "a/../../x", false},
		{"trailing backstep", "a/..", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateSubPath(tt.sub)
			if (err == nil) != tt.ok {
				t.Fatalf("ValidateSubPath(%q) = %v, want ok=%v", tt.sub, err, tt.ok)
			}
		})
	}
}

func TestExpandVars(t *testing.T) {
	env := map[string]string{"POD": "web", "NS": "shop"}
	tests := []struct{ name, in, want string }{
		{"one", "$(POD)", "web"},
		{"two", "$(NS)/$(POD)/logs", "shop/web/logs"},
		{"unknown stays", "$(NOPE)/x", "$(NOPE)/x"},
		{"escaped", "$$(POD)", "$(POD)"},
		{"unterminated", "a$(POD", "a$(POD"},
		{"lone dollar", "a$b", "a$b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExpandVars(tt.in, env); got != tt.want {
				t.Fatalf("ExpandVars(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMemoryVolumeSize(t *testing.T) {
	q := resource.MustParse
	withLimits := func(limits ...string) *corev1.Pod {
		p := &corev1.Pod{}
		for _, l := range limits {
			c := corev1.Container{}
			if l != "" {
				c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: q(l)}
			}
			p.Spec.Containers = append(p.Spec.Containers, c)
		}
		return p
	}
	alloc := corev1.ResourceList{corev1.ResourceMemory: q("1Gi")}
	size := func(s string) *resource.Quantity { v := q(s); return &v }
	tests := []struct {
		name  string
		pod   *corev1.Pod
		limit *resource.Quantity
		alloc corev1.ResourceList
		want  int64
	}{
		{"node allocatable", withLimits("", "64Mi"), nil, alloc, 1 << 30},
		{"pod limit", withLimits("64Mi", "64Mi"), nil, alloc, 128 << 20},
		{"size limit", withLimits("64Mi", "64Mi"), size("16Mi"), alloc, 16 << 20},
		{"size limit above pod limit", withLimits("64Mi"), size("512Mi"), alloc, 64 << 20},
		{"nothing known", withLimits(""), nil, nil, 0},
		{"only size limit", withLimits(""), size("8Mi"), nil, 8 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := memoryVolumeSize(tt.pod, tt.limit, tt.alloc); got != tt.want {
				t.Fatalf("memoryVolumeSize = %d, want %d", got, tt.want)
			}
		})
	}
}
