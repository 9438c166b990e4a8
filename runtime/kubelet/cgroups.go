package kubelet

import (
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/types"
)

// removePodCgroups removes the pod's cgroup (kubepods[/qos]/pod<uid>) in every
// hierarchy once its containers are gone, as the kubelet's pod container
// manager does: runc removes only the containers' own cgroups, so without this
// every pod leaves empty directories behind. A cgroup still in use stays
// (rmdir fails with EBUSY).
func removePodCgroups(uid types.UID) {
	roots := []string{"/sys/fs/cgroup"}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		roots, _ = filepath.Glob("/sys/fs/cgroup/*") // v1: a hierarchy per controller
	}
	for _, root := range roots {
		for _, qos := range []string{"", "burstable", "besteffort"} {
			_ = os.Remove(filepath.Join(root, "kubepods", qos, "pod"+string(uid)))
		}
	}
}
