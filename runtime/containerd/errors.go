package containerd

import "errors"

// Error kinds, tested with errors.Is. A failed pull always wraps ErrPullFailed
// (the kubelet's ErrImagePull) and, when the registry has no such image, also
// ErrImageNotFound.
var (
	ErrImageNotFound    = errors.New("image not found")
	ErrImageNeverPull   = errors.New("image not present and pull policy is Never")
	ErrPullFailed       = errors.New("pull image failed")
	ErrInvalidImageName = errors.New("invalid image name")
	ErrMissingBinaries  = errors.New("missing binaries")
	ErrNotRunning       = errors.New("containerd socket not found (is the appliance running?)")
)
