package volumes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
)

// setupHostPath checks the host path against its type, creating it for the *OrCreate
// types, and returns the path itself. As in Kubernetes, FileOrCreate does not create
// the parent directory and the empty type checks nothing.
func setupHostPath(hp *corev1.HostPathVolumeSource) (string, error) {
	p := hp.Path
	if p == "" || !filepath.IsAbs(p) {
		return "", fmt.Errorf("hostPath %q: path must be absolute", p)
	}
	p = filepath.Clean(p)
	var typ corev1.HostPathType
	if hp.Type != nil {
		typ = *hp.Type
	}
	if typ == corev1.HostPathUnset {
		return p, nil
	}
	st, err := os.Stat(p)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("hostPath type check failed: %s: %w", p, err)
	}
	switch typ {
	case corev1.HostPathDirectoryOrCreate:
		if !exists {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return "", fmt.Errorf("hostPath %s: create directory: %w", p, err)
			}
			return p, nil
		}
		if !st.IsDir() {
			return "", fmt.Errorf("hostPath type check failed: %s is not a directory", p)
		}
	case corev1.HostPathDirectory:
		if !exists {
			return "", fmt.Errorf("hostPath type check failed: %s does not exist", p)
		}
		if !st.IsDir() {
			return "", fmt.Errorf("hostPath type check failed: %s is not a directory", p)
		}
	case corev1.HostPathFileOrCreate:
		if !exists {
			f, err := os.OpenFile(p, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil && !errors.Is(err, fs.ErrExist) {
				return "", fmt.Errorf("hostPath %s: create file: %w", p, err)
			}
			if f != nil {
				f.Close()
			}
			return p, nil
		}
		if st.IsDir() {
			return "", fmt.Errorf("hostPath type check failed: %s is not a file", p)
		}
	case corev1.HostPathFile:
		if !exists {
			return "", fmt.Errorf("hostPath type check failed: %s does not exist", p)
		}
		if st.IsDir() {
			return "", fmt.Errorf("hostPath type check failed: %s is not a file", p)
		}
	case corev1.HostPathSocket:
		if !exists || st.Mode().Type() != fs.ModeSocket {
			return "", fmt.Errorf("hostPath type check failed: %s is not a socket file", p)
		}
	case corev1.HostPathCharDev:
		if !exists || st.Mode().Type() != fs.ModeDevice|fs.ModeCharDevice {
			return "", fmt.Errorf("hostPath type check failed: %s is not a character device", p)
		}
	case corev1.HostPathBlockDev:
		if !exists || st.Mode().Type() != fs.ModeDevice {
			return "", fmt.Errorf("hostPath type check failed: %s is not a block device", p)
		}
	default:
		return "", fmt.Errorf("hostPath %s: unknown type %q", p, typ)
	}
	return p, nil
}
