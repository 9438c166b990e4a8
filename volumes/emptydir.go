package volumes

import (
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// setupEmptyDir creates an emptyDir: a 0777 directory on the kubelet's disk, or a tmpfs
// for medium Memory.
func (m *Manager) setupEmptyDir(pod *corev1.Pod, v *corev1.Volume, allocatable corev1.ResourceList) (string, error) {
	dir := m.volumeDir(pod.UID, pluginEmptyDir, v.Name)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return "", fmt.Errorf("create emptyDir: %w", err)
	}
	switch v.EmptyDir.Medium {
	case corev1.StorageMediumDefault:
		// As the kubelet does: world-writable, so any container user can use it.
		if err := os.Chmod(dir, 0o777); err != nil {
			return "", fmt.Errorf("create emptyDir: %w", err)
		}
	case corev1.StorageMediumMemory:
		if err := mountTmpfs(dir, memoryVolumeSize(pod, v.EmptyDir.SizeLimit, allocatable)); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("emptyDir medium %q is %w", v.EmptyDir.Medium, ErrUnsupported)
	}
	if gid := fsGroup(pod); gid >= 0 {
		// As SetVolumeOwnership does: the fsGroup owns the volume and, through the
		// setgid bit, everything created in it.
		if err := os.Lchown(dir, -1, gid); err != nil {
			return "", fmt.Errorf("emptyDir fsGroup: %w", err)
		}
		st, err := os.Stat(dir)
		if err != nil {
			return "", err
		}
		if err := os.Chmod(dir, st.Mode()&(os.ModePerm|os.ModeSticky)|0o770|os.ModeSetgid); err != nil {
			return "", fmt.Errorf("emptyDir fsGroup: %w", err)
		}
	}
	return dir, nil
}

// memoryVolumeSize sizes a memory-backed volume as the kubelet does (SizeMemoryBackedVolumes):
// the smallest positive of node allocatable memory, the pod's memory limit (when every
// container sets one) and the volume's sizeLimit. 0 means no size known (kernel default).
func memoryVolumeSize(pod *corev1.Pod, sizeLimit *resource.Quantity, allocatable corev1.ResourceList) int64 {
	var size int64
	if q, ok := allocatable[corev1.ResourceMemory]; ok {
		size = q.Value()
	}
	smaller := func(v int64) {
		if v > 0 && (size <= 0 || v <= size) {
			size = v
		}
	}
	smaller(podMemoryLimit(pod))
	if sizeLimit != nil {
		smaller(sizeLimit.Value())
	}
	return size
}

// podMemoryLimit is the pod cgroup's memory limit: the larger of the sum of the app
// containers' limits and the largest init container limit, plus overhead; 0 when some
// container has no limit.
func podMemoryLimit(pod *corev1.Pod) int64 {
	var sum int64
	for _, c := range pod.Spec.Containers {
		q, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok || q.IsZero() {
			return 0
		}
		sum += q.Value()
	}
	for _, c := range pod.Spec.InitContainers {
		q, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok || q.IsZero() {
			return 0
		}
		sum = max(sum, q.Value())
	}
	if q, ok := pod.Spec.Overhead[corev1.ResourceMemory]; ok {
		sum += q.Value()
	}
	return sum
}
