package volumes

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
)

func TestMounts(t *testing.T) {
	m, src, _ := newTestManager(t)
	src.putConfigMap("shop", "cfg", map[string]string{"app.yaml": "x: 1"}, nil)
	host := t.TempDir()
	pod := podWith(
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: host}}},
	)
	paths, err := m.Setup(context.Background(), pod, nil)
	if err != nil {
		t.Fatal(err)
	}
	scratch, cfg := paths["scratch"], paths["cfg"]
	realCfg, err := filepath.EvalSymlinks(filepath.Join(cfg, "app.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	hostToCtr := corev1.MountPropagationHostToContainer
	bidi := corev1.MountPropagationBidirectional
	c := &corev1.Container{
		Name: "app",
		Env:  []corev1.EnvVar{{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
		VolumeMounts: []corev1.VolumeMount{
			{Name: "scratch", MountPath: "/tmp/work"},
			{Name: "scratch", MountPath: "/ro", ReadOnly: true},
			{Name: "cfg", MountPath: "/etc/app"},
			{Name: "cfg", MountPath: "/etc/app.yaml", SubPath: "app.yaml"},
			{Name: "scratch", MountPath: "/logs", SubPath: "logs/app"},
			{Name: "scratch", MountPath: "/per-pod", SubPathExpr: "pods/$(POD)"},
			{Name: "host", MountPath: "/host", MountPropagation: &hostToCtr},
			{Name: "host", MountPath: "/host-shared", MountPropagation: &bidi},
		},
	}
	got, err := m.Mounts(pod, c, paths)
	if err != nil {
		t.Fatal(err)
	}
	want := []specs.Mount{
		{Destination: "/tmp/work", Type: "bind", Source: scratch, Options: []string{"rbind", "rprivate", "rw"}},
		{Destination: "/ro", Type: "bind", Source: scratch, Options: []string{"rbind", "rprivate", "ro"}},
		{Destination: "/etc/app", Type: "bind", Source: cfg, Options: []string{"rbind", "rprivate", "ro"}},
		{Destination: "/etc/app.yaml", Type: "bind", Source: realCfg, Options: []string{"rbind", "rprivate", "ro"}},
		{Destination: "/logs", Type: "bind", Source: filepath.Join(scratch, "logs/app"), Options: []string{"rbind", "rprivate", "rw"}},
		{Destination: "/per-pod", Type: "bind", Source: filepath.Join(scratch, "pods/web"), Options: []string{"rbind", "rprivate", "rw"}},
		{Destination: "/host", Type: "bind", Source: host, Options: []string{"rbind", "rslave", "rw"}},
		{Destination: "/host-shared", Type: "bind", Source: host, Options: []string{"rbind", "rshared", "rw"}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d mounts, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Destination != w.Destination || g.Type != w.Type || g.Source != w.Source || !slices.Equal(g.Options, w.Options) {
			t.Errorf("mount %d = %+v, want %+v", i, g, w)
		}
	}
	// subPaths were created in the emptyDir with its mode.
	for _, sub := range []string{"logs/app", "pods/web"} {
		st, err := os.Stat(filepath.Join(scratch, sub))
		if err != nil || !st.IsDir() || st.Mode().Perm() != 0o777 {
			t.Errorf("subPath %s: %v, %v", sub, st, err)
		}
	}
}

func TestMountsRejects(t *testing.T) {
	m, src, _ := newTestManager(t)
	src.putConfigMap("shop", "cfg", map[string]string{"a": "1"}, nil)
	outside := t.TempDir()
	pod := podWith(
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		corev1.Volume{Name: "later", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	)
	paths, err := m.Setup(context.Background(), pod, nil)
	if err != nil {
		t.Fatal(err)
	}
	delete(paths, "later")
	// A container could plant this symlink in its emptyDir.
	if err := os.Symlink(outside, filepath.Join(paths["scratch"], "escape")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		vm   corev1.VolumeMount
		err  string
	}{
		{"unknown volume", corev1.VolumeMount{Name: "nope", MountPath: "/x"}, `no volume named "nope"`},
		{"not set up", corev1.VolumeMount{Name: "later", MountPath: "/x"}, `volume "later" is not set up`},
		{"relative mount path", corev1.VolumeMount{Name: "scratch", MountPath: "x"}, "must be absolute"},
		{"absolute subPath", corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "/etc"}, "must not be an absolute path"},
		{"backstep subPath", corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "a/../../etc"}, "must not contain '..'"},
		{"symlink out", corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "escape"}, "leads outside the volume"},
		{"symlink out then create", corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPath: "escape/new"}, "leads outside the volume"},
		{"missing key in configMap", corev1.VolumeMount{Name: "cfg", MountPath: "/x", SubPath: "b"}, `subPath "b" does not exist`},
		{"subPathExpr backstep", corev1.VolumeMount{Name: "scratch", MountPath: "/x", SubPathExpr: "$(UP)/etc"}, "must not contain '..'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &corev1.Container{Name: "app", Env: []corev1.EnvVar{{Name: "UP", Value: ".."}}, VolumeMounts: []corev1.VolumeMount{tt.vm}}
			_, err := m.Mounts(pod, c, paths)
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), `container "app": volumeMount "`+tt.vm.Name+`"`) {
				t.Fatalf("error = %v, want containing %q", err, tt.err)
			}
		})
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("a rejected subPath created %v outside the volume", entries)
	}
}
