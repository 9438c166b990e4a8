package volumes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
)

// Mounts returns the OCI bind mounts for c's volumeMounts, given the paths Setup
// returned. As in Kubernetes, configMap, secret, downwardAPI and projected volumes are
// always read-only; subPath and subPathExpr must stay inside the volume and are created
// (with the volume's mode) when missing in an emptyDir or hostPath volume.
func (m *Manager) Mounts(pod *corev1.Pod, c *corev1.Container, paths map[string]string) ([]specs.Mount, error) {
	if pod == nil || c == nil {
		return nil, fmt.Errorf("volume mounts: no pod or container")
	}
	vols := make(map[string]*corev1.Volume, len(pod.Spec.Volumes))
	for i := range pod.Spec.Volumes {
		vols[pod.Spec.Volumes[i].Name] = &pod.Spec.Volumes[i]
	}
	out := make([]specs.Mount, 0, len(c.VolumeMounts))
	for _, vm := range c.VolumeMounts {
		mnt, err := m.mount(pod, c, vols, paths, vm)
		if err != nil {
			return nil, fmt.Errorf("container %q: volumeMount %q at %s: %w", c.Name, vm.Name, vm.MountPath, err)
		}
		out = append(out, mnt)
	}
	return out, nil
}

func (m *Manager) mount(pod *corev1.Pod, c *corev1.Container, vols map[string]*corev1.Volume, paths map[string]string, vm corev1.VolumeMount) (specs.Mount, error) {
	v, ok := vols[vm.Name]
	if !ok {
		return specs.Mount{}, fmt.Errorf("no volume named %q in the pod", vm.Name)
	}
	src, ok := paths[vm.Name]
	if !ok || src == "" {
		return specs.Mount{}, fmt.Errorf("volume %q is not set up", vm.Name)
	}
	if vm.MountPath == "" || !strings.HasPrefix(vm.MountPath, "/") {
		return specs.Mount{}, fmt.Errorf("mountPath %q must be absolute", vm.MountPath)
	}
	s := &v.VolumeSource
	apiData := s.ConfigMap != nil || s.Secret != nil || s.DownwardAPI != nil || s.Projected != nil
	readOnly := vm.ReadOnly || apiData

	sub := vm.SubPath
	if vm.SubPathExpr != "" {
		if sub != "" {
			return specs.Mount{}, fmt.Errorf("subPath and subPathExpr are mutually exclusive")
		}
		var err error
		if sub, err = expandSubPath(pod, c, vm.SubPathExpr); err != nil {
			return specs.Mount{}, err
		}
	}
	if sub != "" {
		var err error
		src, err = resolveSubPath(src, sub, !apiData)
		if err != nil {
			return specs.Mount{}, err
		}
	} else if s.HostPath != nil && (s.HostPath.Type == nil || *s.HostPath.Type == corev1.HostPathUnset) {
		// Untyped hostPath: like containerd's CRI plugin, create a missing source
		// as a directory rather than fail the container.
		if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(src, 0o755); err != nil {
				return specs.Mount{}, fmt.Errorf("create hostPath %s: %w", src, err)
			}
		}
	}

	prop := "rprivate"
	if vm.MountPropagation != nil {
		switch *vm.MountPropagation {
		case corev1.MountPropagationNone:
		case corev1.MountPropagationHostToContainer:
			prop = "rslave"
		case corev1.MountPropagationBidirectional:
			prop = "rshared"
		default:
			return specs.Mount{}, fmt.Errorf("unknown mountPropagation %q", *vm.MountPropagation)
		}
	}
	opts := []string{"rbind", prop, "rw"}
	if readOnly {
		opts[2] = "ro"
	}
	return specs.Mount{Destination: vm.MountPath, Type: "bind", Source: src, Options: opts}, nil
}

// ValidateSubPath checks a subPath as Kubernetes does: relative, and no ".." element.
func ValidateSubPath(sub string) error {
	if sub == "" {
		return nil
	}
	if filepath.IsAbs(sub) {
		return fmt.Errorf("subPath %q must not be an absolute path", sub)
	}
	for _, el := range strings.Split(filepath.ToSlash(sub), "/") {
		if el == ".." {
			return fmt.Errorf("subPath %q must not contain '..'", sub)
		}
	}
	return nil
}

// resolveSubPath joins sub to the volume at vol, creating it as a directory when it is
// missing and create is set, and returns the real path after following symlinks, which
// must still lie inside the volume (a symlink in a writable volume must not lead a
// container onto the host).
func resolveSubPath(vol, sub string, create bool) (string, error) {
	if err := ValidateSubPath(sub); err != nil {
		return "", err
	}
	realVol, err := filepath.EvalSymlinks(vol)
	if err != nil {
		return "", fmt.Errorf("resolve volume path: %w", err)
	}
	full := filepath.Join(vol, sub)
	if _, err := os.Lstat(full); errors.Is(err, fs.ErrNotExist) {
		if !create {
			return "", fmt.Errorf("subPath %q does not exist in the volume", sub)
		}
		// Check the deepest existing ancestor before creating anything under it.
		anc := filepath.Dir(full)
		for {
			if _, err := os.Lstat(anc); err == nil {
				break
			}
			anc = filepath.Dir(anc)
		}
		realAnc, err := filepath.EvalSymlinks(anc)
		if err != nil {
			return "", fmt.Errorf("resolve subPath %q: %w", sub, err)
		}
		if !within(realVol, realAnc) {
			return "", fmt.Errorf("subPath %q leads outside the volume", sub)
		}
		st, err := os.Stat(realVol)
		if err != nil {
			return "", err
		}
		// Create each missing element with the volume's mode; chmod because mkdir
		// is subject to the umask (the kubelet's SafeMakeDir does the same).
		rel, err := filepath.Rel(anc, full)
		if err != nil {
			return "", err
		}
		cur := anc
		for _, el := range strings.Split(rel, "/") {
			cur = filepath.Join(cur, el)
			if err := os.Mkdir(cur, st.Mode().Perm()); errors.Is(err, fs.ErrExist) {
				continue
			} else if err != nil {
				return "", fmt.Errorf("create subPath %q: %w", sub, err)
			}
			if err := os.Chmod(cur, st.Mode().Perm()); err != nil {
				return "", fmt.Errorf("create subPath %q: %w", sub, err)
			}
		}
	} else if err != nil {
		return "", fmt.Errorf("subPath %q: %w", sub, err)
	}
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		return "", fmt.Errorf("resolve subPath %q: %w", sub, err)
	}
	if !within(realVol, real) {
		return "", fmt.Errorf("subPath %q leads outside the volume", sub)
	}
	return real, nil
}

func within(root, p string) bool {
	return p == root || strings.HasPrefix(p, root+"/") || root == "/"
}

// expandSubPath expands $(VAR) in subPathExpr from the container's env: literal values
// and downward API fieldRefs. As Kubernetes does, $$ escapes a $, unknown references
// stay as written, and the result is validated like a subPath.
func expandSubPath(pod *corev1.Pod, c *corev1.Container, expr string) (string, error) {
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = ExpandVars(e.Value, env)
		case e.ValueFrom.FieldRef != nil:
			v, err := FieldPath(pod, e.ValueFrom.FieldRef.FieldPath)
			if err != nil {
				return "", fmt.Errorf("subPathExpr: env %q: %w", e.Name, err)
			}
			env[e.Name] = v
		}
	}
	sub := ExpandVars(expr, env)
	if err := ValidateSubPath(sub); err != nil {
		return "", fmt.Errorf("subPathExpr %q: %w", expr, err)
	}
	return sub, nil
}

// ExpandVars implements Kubernetes' $(VAR) expansion (third_party/forked/golang/expansion).
func ExpandVars(s string, env map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := env[name]; ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}
