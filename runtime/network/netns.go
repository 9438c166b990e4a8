package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// InNetNS runs fn on a locked OS thread that has joined the network namespace
// at path (the CNI ns.Do pattern). Sockets opened and processes started by fn
// (iptables) live in that namespace. path "" runs fn in the process's own
// namespace. If the thread cannot be moved back, it is left locked so the Go
// runtime throws it away instead of reusing a thread in the wrong namespace.
func InNetNS(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	target, err := netns.GetFromPath(path)
	if err != nil {
		return fmt.Errorf("open netns %q: %w", path, err)
	}
	defer target.Close()

	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter netns %q: %w", path, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Keep the thread locked: it dies with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("leave netns %q: %w", path, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// nsfsMagic is the statfs type of a bind-mounted namespace file.
const nsfsMagic = 0x6e736673

func isNetNSMount(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == nsfsMagic
}

// PodNetNSPath is where CreatePodNetNS bind-mounts the namespace of sandbox id.
func (n *Network) PodNetNSPath(id string) string {
	return filepath.Join(n.cfg.NetNSDir, id)
}

// CreatePodNetNS creates a new, empty network namespace for sandbox id and
// bind-mounts it at NetNSDir/<id>, so it outlives the thread that made it and
// containerd can hand the path to runc. It is idempotent: an existing
// namespace mount at that path is returned as is.
func (n *Network) CreatePodNetNS(id string) (string, error) {
	if err := validID(id); err != nil {
		return "", fmt.Errorf("create pod netns: %w", err)
	}
	path := n.PodNetNSPath(id)
	if isNetNSMount(path) {
		return path, nil
	}
	if err := os.MkdirAll(n.cfg.NetNSDir, 0o755); err != nil {
		return "", fmt.Errorf("create pod netns %q: %w", id, err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o444)
	if err != nil {
		return "", fmt.Errorf("create pod netns %q: mount point: %w", id, err)
	}
	f.Close()

	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("get current netns: %w", err)
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("unshare: %w", err)
			return
		}
		src := "/proc/self/task/" + strconv.Itoa(unix.Gettid()) + "/ns/net"
		merr := unix.Mount(src, path, "none", unix.MS_BIND, "")
		if merr != nil {
			merr = fmt.Errorf("bind mount %s: %w", src, merr)
		}
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(merr, fmt.Errorf("restore netns: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- merr
	}()
	if err := <-errc; err != nil {
		os.Remove(path)
		return "", fmt.Errorf("create pod netns %q: %w", id, err)
	}
	n.log.Debug("pod netns created", "sandbox-id", id, "path", path)
	return path, nil
}

// removeNetNS unmounts and removes a namespace mount point; missing or
// already unmounted paths are fine (Detach tolerates half-created state).
func removeNetNS(path string) error {
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil &&
		!errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %q: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %q: %w", path, err)
	}
	return nil
}

// DialContext dials from the node's network namespace, as the kubelet's
// probes do when they connect to a pod IP.
func (n *Network) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return DialInNetNS(ctx, n.cfg.NodeNetNS, network, addr)
}

// DialInNetNS dials from inside the network namespace at netnsPath ("" = the
// process's own), as port-forward does when it connects to localhost:port in
// a pod. Host names are resolved first, in the caller's namespace ("localhost"
// then means the pod's own loopback); the addresses are then dialled one by
// one on the namespaced thread, so no dial escapes to another thread.
func DialInNetNS(ctx context.Context, netnsPath, network, addr string) (net.Conn, error) {
	if netnsPath == "" {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s in netns %q: %w", addr, netnsPath, err)
	}
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		ipAddrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("dial %s in netns %q: %w", addr, netnsPath, err)
		}
		for _, a := range ipAddrs {
			ips = append(ips, a.IP)
		}
	}
	var conn net.Conn
	err = InNetNS(netnsPath, func() error {
		d := net.Dialer{FallbackDelay: -1}
		var errs []error
		for _, ip := range ips {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
			if err == nil {
				conn = c
				return nil
			}
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s in netns %q: %w", addr, netnsPath, err)
	}
	return conn, nil
}
