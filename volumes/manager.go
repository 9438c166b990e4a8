// Package volumes prepares a pod's volumes on the node for the kubelet (runtime/).
//
// In the pod creation flow it runs after the kubelet sees a pod bound to its node and
// before the sandbox's containers start: Setup creates each volume under
// <root>/pods/<uid>/volumes/kubernetes.io~<plugin>/<name> (hostPath volumes are the
// host path itself), Mounts turns a container's volumeMounts into OCI bind mounts, and
// Teardown removes everything once the pod is gone. The kubelet calls Setup again
// while the pod runs; configMap, secret, downwardAPI and projected volumes are then
// rewritten the way Kubernetes' AtomicWriter does, so running containers see new
// content through the same paths.
package volumes

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Sources is what the kubelet gives the manager to read API objects. Both methods
// return an apimachinery NotFound error when the object does not exist.
type Sources interface {
	ConfigMap(namespace, name string) (*corev1.ConfigMap, error)
	Secret(namespace, name string) (*corev1.Secret, error)
}

// Plugin directory names, as the kubelet escapes "kubernetes.io/<plugin>".
const (
	pluginEmptyDir    = "kubernetes.io~empty-dir"
	pluginConfigMap   = "kubernetes.io~configmap"
	pluginSecret      = "kubernetes.io~secret"
	pluginDownwardAPI = "kubernetes.io~downward-api"
	pluginProjected   = "kubernetes.io~projected"
)

// Manager sets up, refreshes and tears down pod volumes under one root directory.
// It is safe for concurrent use; calls for the same pod are serialised.
type Manager struct {
	root string
	src  Sources
	log  *slog.Logger

	mu    sync.Mutex
	locks map[types.UID]*sync.Mutex
}

// New returns a Manager that keeps pod directories under root (the kubelet's
// /var/lib/kubelet) and reads configMaps and secrets from src.
func New(root string, src Sources, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.Default()
	}
	return &Manager{root: root, src: src, log: log.With("part", "volumes"), locks: map[types.UID]*sync.Mutex{}}
}

func (m *Manager) lock(uid types.UID) func() {
	m.mu.Lock()
	l, ok := m.locks[uid]
	if !ok {
		l = &sync.Mutex{}
		m.locks[uid] = l
	}
	m.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func (m *Manager) podDir(uid types.UID) string {
	return filepath.Join(m.root, "pods", string(uid))
}

func (m *Manager) volumeDir(uid types.UID, plugin, name string) string {
	return filepath.Join(m.podDir(uid), "volumes", plugin, name)
}

// Setup creates or refreshes every volume of pod and returns volume name -> host path.
// node supplies allocatable resources (downward API limits, memory emptyDir size) and
// may be nil. It is idempotent. Each error names its volume and cause, fit for a
// FailedMount event; volumes that succeeded are in the map even when others failed.
func (m *Manager) Setup(ctx context.Context, pod *corev1.Pod, node *corev1.Node) (map[string]string, error) {
	if pod == nil {
		return nil, fmt.Errorf("setup volumes: no pod")
	}
	if pod.UID == "" {
		return nil, fmt.Errorf("setup volumes of pod %s/%s: pod has no uid", pod.Namespace, pod.Name)
	}
	unlock := m.lock(pod.UID)
	defer unlock()

	var allocatable corev1.ResourceList
	if node != nil {
		allocatable = node.Status.Allocatable
	}
	paths := make(map[string]string, len(pod.Spec.Volumes))
	var errs []error
	for i := range pod.Spec.Volumes {
		if err := ctx.Err(); err != nil {
			errs = append(errs, fmt.Errorf("setup volumes of pod %s/%s: %w", pod.Namespace, pod.Name, err))
			break
		}
		v := &pod.Spec.Volumes[i]
		p, err := m.setupVolume(pod, v, allocatable)
		if err != nil {
			m.log.Warn("volume setup failed", "pod", pod.Namespace+"/"+pod.Name, "volume", v.Name, "err", err)
			errs = append(errs, fmt.Errorf("volume %q: %w", v.Name, err))
			continue
		}
		paths[v.Name] = p
	}
	return paths, errors.Join(errs...)
}

func (m *Manager) setupVolume(pod *corev1.Pod, v *corev1.Volume, allocatable corev1.ResourceList) (string, error) {
	s := &v.VolumeSource
	switch {
	case s.EmptyDir != nil:
		return m.setupEmptyDir(pod, v, allocatable)
	case s.HostPath != nil:
		return setupHostPath(s.HostPath)
	case s.ConfigMap != nil:
		dir := m.volumeDir(pod.UID, pluginConfigMap, v.Name)
		payload, err := m.configMapPayload(pod.Namespace, s.ConfigMap)
		if err != nil {
			return "", err
		}
		return dir, m.writeVolume(pod, dir, false, 0, payload)
	case s.Secret != nil:
		dir := m.volumeDir(pod.UID, pluginSecret, v.Name)
		payload, err := m.secretPayload(pod.Namespace, s.Secret)
		if err != nil {
			return "", err
		}
		return dir, m.writeVolume(pod, dir, true, memoryVolumeSize(pod, nil, allocatable), payload)
	case s.DownwardAPI != nil:
		dir := m.volumeDir(pod.UID, pluginDownwardAPI, v.Name)
		payload, err := downwardAPIPayload(pod, s.DownwardAPI.Items, s.DownwardAPI.DefaultMode, allocatable)
		if err != nil {
			return "", err
		}
		return dir, m.writeVolume(pod, dir, false, 0, payload)
	case s.Projected != nil:
		dir := m.volumeDir(pod.UID, pluginProjected, v.Name)
		payload, err := m.projectedPayload(pod, s.Projected, allocatable)
		if err != nil {
			return "", err
		}
		return dir, m.writeVolume(pod, dir, true, memoryVolumeSize(pod, nil, allocatable), payload)
	}
	return "", fmt.Errorf("%s volumes are %w", sourceKind(s), ErrUnsupported)
}

// ErrUnsupported marks volume kinds and sources this kubelet cannot set up yet.
var ErrUnsupported = errors.New("not supported yet")

// writeVolume creates dir (a tmpfs when memory is set, as the kubelet keeps secrets and
// projected volumes off disk) and writes payload into it atomically.
//
// With a pod fsGroup, as the kubelet's SetVolumeOwnership does for these read-only
// volumes, files belong to that group and are group-readable.
func (m *Manager) writeVolume(pod *corev1.Pod, dir string, memory bool, size int64, payload map[string]file) error {
	gid := fsGroup(pod)
	if gid >= 0 {
		for p, f := range payload {
			f.mode |= 0o440
			payload[p] = f
		}
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("create volume directory: %w", err)
	}
	if memory {
		if err := mountTmpfs(dir, size); err != nil {
			return err
		}
	} else if err := os.Chmod(dir, 0o777); err != nil {
		return err
	}
	changed, err := writeAtomic(dir, payload, gid)
	if err != nil {
		return fmt.Errorf("write volume content: %w", err)
	}
	if changed {
		m.log.Debug("volume content written", "dir", dir, "files", len(payload))
	}
	return nil
}

// fsGroup returns the pod's fsGroup, or -1.
func fsGroup(pod *corev1.Pod) int {
	if sc := pod.Spec.SecurityContext; sc != nil && sc.FSGroup != nil && *sc.FSGroup >= 0 {
		return int(*sc.FSGroup)
	}
	return -1
}

// sourceKind names a volume source the way the API spells it, for errors.
func sourceKind(s *corev1.VolumeSource) string {
	switch {
	case s.PersistentVolumeClaim != nil:
		return "persistentVolumeClaim"
	case s.NFS != nil:
		return "nfs"
	case s.CSI != nil:
		return "csi"
	case s.Ephemeral != nil:
		return "ephemeral"
	case s.ISCSI != nil:
		return "iscsi"
	case s.Image != nil:
		return "image"
	case s.GitRepo != nil:
		return "gitRepo"
	case s.FC != nil:
		return "fc"
	case s.RBD != nil:
		return "rbd"
	case s.CephFS != nil:
		return "cephfs"
	case s.Glusterfs != nil:
		return "glusterfs"
	case s.Cinder != nil:
		return "cinder"
	case s.FlexVolume != nil:
		return "flexVolume"
	}
	return "unknown"
}

// Teardown unmounts the pod's tmpfs volumes and removes its directory. It is
// idempotent: a pod with no directory is already torn down.
func (m *Manager) Teardown(podUID types.UID) error {
	if podUID == "" || podUID == "." || podUID == ".." || filepath.Base(string(podUID)) != string(podUID) {
		return fmt.Errorf("teardown volumes: invalid pod uid %q", podUID)
	}
	unlock := m.lock(podUID)
	defer func() {
		unlock()
		m.mu.Lock()
		delete(m.locks, podUID)
		m.mu.Unlock()
	}()
	dir := m.podDir(podUID)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err := unmountAll(dir); err != nil {
		return fmt.Errorf("teardown volumes of pod %s: %w", podUID, err)
	}
	// Never let RemoveAll walk into something still mounted (a host directory).
	left, err := mountPoints(dir)
	if err != nil {
		return fmt.Errorf("teardown volumes of pod %s: %w", podUID, err)
	}
	if len(left) > 0 {
		return fmt.Errorf("teardown volumes of pod %s: still mounted: %v", podUID, left)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("teardown volumes of pod %s: %w", podUID, err)
	}
	m.log.Info("pod volumes removed", "pod-uid", podUID)
	return nil
}

// Pods lists the pod directories present on disk, so the kubelet can tear down pods
// deleted while it was down.
func (m *Manager) Pods() ([]types.UID, error) {
	entries, err := os.ReadDir(filepath.Join(m.root, "pods"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list pod volume directories: %w", err)
	}
	var out []types.UID
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, types.UID(e.Name()))
		}
	}
	return out, nil
}
