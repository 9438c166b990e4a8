// Package containerd is the kubelet's container runtime: it starts and
// supervises the appliance's own containerd (or connects to an existing one),
// and manages images: import, list, remove, pull with the pod's pull policy
// and secrets through registries.yaml mirrors, and garbage collection.
//
// In the pod creation flow it is the step between "the kubelet sees the
// binding" and "containerd starts sandbox and containers": the kubelet calls
// EnsureImage for each container's image, then creates containers with
// Client(). The daemon is containerd 1.6 (Debian 12) driven by the v2 Go
// client: classic Pull with the docker resolver and Import, no Transfer or
// sandbox services.
//
// Our own containerd runs in its own process group with a generated
// config.toml, root, state and socket; a pid file lets the next appliance
// process stop a containerd orphaned by kill -9. Shims are never stopped, so
// containers keep running across appliance and containerd restarts.
package containerd
