package volumes

import (
	"fmt"
	"os"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// defaultMode is the API's default for configMap, secret, downwardAPI and projected files.
const defaultMode = 0o644

func modeOr(mode *int32, def os.FileMode) os.FileMode {
	if mode != nil {
		return os.FileMode(*mode) & 0o777
	}
	return def
}

// notFoundError keeps the short message a FailedMount event shows (`configmap "x" not
// found`) while still unwrapping to the API's NotFound error.
type notFoundError struct {
	kind, name string
	err        error
}

func (e *notFoundError) Error() string { return fmt.Sprintf("%s %q not found", e.kind, e.name) }
func (e *notFoundError) Unwrap() error { return e.err }

func (m *Manager) getConfigMap(namespace, name string, optional *bool) (*corev1.ConfigMap, error) {
	if name == "" {
		return nil, fmt.Errorf("configmap name is empty")
	}
	cm, err := m.src.ConfigMap(namespace, name)
	if apierrors.IsNotFound(err) {
		if optional != nil && *optional {
			return nil, nil
		}
		return nil, &notFoundError{kind: "configmap", name: name, err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("get configmap %q: %w", name, err)
	}
	return cm, nil
}

func (m *Manager) getSecret(namespace, name string, optional *bool) (*corev1.Secret, error) {
	if name == "" {
		return nil, fmt.Errorf("secret name is empty")
	}
	s, err := m.src.Secret(namespace, name)
	if apierrors.IsNotFound(err) {
		if optional != nil && *optional {
			return nil, nil
		}
		return nil, &notFoundError{kind: "secret", name: name, err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("get secret %q: %w", name, err)
	}
	return s, nil
}

// configMapData merges data and binaryData as the kubelet does.
func configMapData(cm *corev1.ConfigMap) map[string][]byte {
	out := make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		out[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		out[k] = v
	}
	return out
}

// keysPayload projects data into files: every key when items is empty, else only the
// listed keys at their paths. A listed key that is missing is an error unless optional.
func keysPayload(payload map[string]file, kind, name string, data map[string][]byte, items []corev1.KeyToPath, mode os.FileMode, optional *bool) error {
	if len(items) == 0 {
		for k, v := range data {
			payload[k] = file{data: v, mode: mode}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional != nil && *optional {
				continue
			}
			return fmt.Errorf("%s %q references non-existent key %q", kind, name, it.Key)
		}
		if it.Path == "" {
			return fmt.Errorf("%s %q key %q: path is empty", kind, name, it.Key)
		}
		payload[it.Path] = file{data: v, mode: modeOr(it.Mode, mode)}
	}
	return nil
}

func (m *Manager) configMapPayload(namespace string, s *corev1.ConfigMapVolumeSource) (map[string]file, error) {
	payload := map[string]file{}
	cm, err := m.getConfigMap(namespace, s.Name, s.Optional)
	if err != nil || cm == nil {
		return payload, err
	}
	return payload, keysPayload(payload, "configmap", s.Name, configMapData(cm), s.Items, modeOr(s.DefaultMode, defaultMode), s.Optional)
}

func (m *Manager) secretPayload(namespace string, s *corev1.SecretVolumeSource) (map[string]file, error) {
	payload := map[string]file{}
	sec, err := m.getSecret(namespace, s.SecretName, s.Optional)
	if err != nil || sec == nil {
		return payload, err
	}
	return payload, keysPayload(payload, "secret", s.SecretName, sec.Data, s.Items, modeOr(s.DefaultMode, defaultMode), s.Optional)
}

// downwardAPIPayload renders downward API items. As the kubelet does, fieldRef values
// have their lines sorted; resourceFieldRef needs a containerName in volumes.
func downwardAPIPayload(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defMode *int32, allocatable corev1.ResourceList) (map[string]file, error) {
	payload := map[string]file{}
	if err := addDownwardAPI(payload, pod, items, modeOr(defMode, defaultMode), allocatable); err != nil {
		return nil, err
	}
	return payload, nil
}

func addDownwardAPI(payload map[string]file, pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, mode os.FileMode, allocatable corev1.ResourceList) error {
	for _, it := range items {
		if it.Path == "" {
			return fmt.Errorf("downwardAPI item: path is empty")
		}
		var value string
		switch {
		case it.FieldRef != nil:
			v, err := FieldPath(pod, it.FieldRef.FieldPath)
			if err != nil {
				return fmt.Errorf("downwardAPI %q: %w", it.Path, err)
			}
			value = sortLines(v)
		case it.ResourceFieldRef != nil:
			if it.ResourceFieldRef.ContainerName == "" {
				return fmt.Errorf("downwardAPI %q: resourceFieldRef needs a containerName in a volume", it.Path)
			}
			v, err := ResourceField(pod, it.ResourceFieldRef.ContainerName, it.ResourceFieldRef, allocatable)
			if err != nil {
				return fmt.Errorf("downwardAPI %q: %w", it.Path, err)
			}
			value = v
		default:
			return fmt.Errorf("downwardAPI %q: needs a fieldRef or a resourceFieldRef", it.Path)
		}
		payload[it.Path] = file{data: []byte(value), mode: modeOr(it.Mode, mode)}
	}
	return nil
}

func sortLines(s string) string {
	lines := strings.Split(s, "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// projectedPayload merges the sources of a projected volume in order; a later source
// overwrites an earlier one at the same path, as the kubelet's does.
func (m *Manager) projectedPayload(pod *corev1.Pod, s *corev1.ProjectedVolumeSource, allocatable corev1.ResourceList) (map[string]file, error) {
	payload := map[string]file{}
	mode := modeOr(s.DefaultMode, defaultMode)
	for i, src := range s.Sources {
		switch {
		case src.ConfigMap != nil:
			cm, err := m.getConfigMap(pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Optional)
			if err != nil {
				return nil, err
			}
			if cm == nil {
				continue
			}
			if err := keysPayload(payload, "configmap", cm.Name, configMapData(cm), src.ConfigMap.Items, mode, src.ConfigMap.Optional); err != nil {
				return nil, err
			}
		case src.Secret != nil:
			sec, err := m.getSecret(pod.Namespace, src.Secret.Name, src.Secret.Optional)
			if err != nil {
				return nil, err
			}
			if sec == nil {
				continue
			}
			if err := keysPayload(payload, "secret", sec.Name, sec.Data, src.Secret.Items, mode, src.Secret.Optional); err != nil {
				return nil, err
			}
		case src.DownwardAPI != nil:
			if err := addDownwardAPI(payload, pod, src.DownwardAPI.Items, mode, allocatable); err != nil {
				return nil, err
			}
		case src.ServiceAccountToken != nil:
			return nil, fmt.Errorf("projected serviceAccountToken (path %q) is %w", src.ServiceAccountToken.Path, ErrUnsupported)
		case src.ClusterTrustBundle != nil:
			return nil, fmt.Errorf("projected clusterTrustBundle is %w", ErrUnsupported)
		default:
			return nil, fmt.Errorf("projected source %d: unknown or %w", i, ErrUnsupported)
		}
	}
	return payload, nil
}
