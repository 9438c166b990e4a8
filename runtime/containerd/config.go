package containerd

import (
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
)

// Defaults, as k3s lays out its agent.
const (
	DefaultNamespace   = "appliance"
	DefaultSnapshotter = "overlayfs"
	DefaultState       = "/run/appliance/containerd"
	// DefaultSocket is where the appliance's own containerd listens (CLI default).
	DefaultSocket = DefaultState + "/containerd.sock"
	// maxSocketPath leaves room under sun_path's 108 bytes (and the ".ttrpc"
	// suffix containerd appends for its ttrpc socket).
	maxSocketPath = 100
)

// Config says which containerd the kubelet uses: an existing one (Endpoint) or
// a private child process with its own root, state and socket.
type Config struct {
	// Endpoint is the socket of an existing containerd
	// (--container-runtime-endpoint, "unix://" optional). Empty: start our own.
	Endpoint string
	// Root is our own containerd's root (images, snapshots, content), e.g.
	// <data-dir>/agent/containerd. Its log is Root/containerd.log.
	Root string
	// State is our own containerd's state dir: socket, config.toml, pid file,
	// shims' bundles, e.g. /run/appliance/containerd.
	State string
	// Namespace is the containerd namespace for images and containers
	// (default "appliance").
	Namespace string
	// Snapshotter is "overlayfs" (default) or "native". overlayfs falls back
	// to native when overlay cannot be mounted on Root's filesystem.
	Snapshotter string
	// RegistriesFile is a k3s-style registries.yaml (mirrors and configs). A
	// missing file means no mirrors and no registry credentials.
	RegistriesFile string
	// DisableDefaultEndpoint: a registry with mirrors is pulled from its
	// mirrors only, never from the registry itself (k3s's
	// --disable-default-registry-endpoint; air-gapped sites).
	DisableDefaultEndpoint bool
	// Log is the logger (default slog.Default()); the part adds part=containerd.
	Log *slog.Logger
}

// Socket is the address our own containerd listens on.
func (c *Config) Socket() string {
	if c.Endpoint != "" {
		return strings.TrimPrefix(c.Endpoint, "unix://")
	}
	return filepath.Join(c.State, "containerd.sock")
}

// Validate fills the defaults (Namespace, Snapshotter, Log) and checks the rest.
func (c *Config) Validate() error {
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	var errs []error
	switch c.Snapshotter {
	case "":
		// Own containerd: overlayfs unless Root cannot host it. Existing
		// containerd: the namespace's default label, else overlayfs (decided in Start).
	case "overlayfs", "native":
	default:
		errs = append(errs, fmt.Errorf("snapshotter %q: want overlayfs or native", c.Snapshotter))
	}
	if strings.ContainsAny(c.Namespace, "/ ") {
		errs = append(errs, fmt.Errorf("namespace %q: must not contain '/' or spaces", c.Namespace))
	}
	if c.Endpoint != "" {
		ep := strings.TrimPrefix(c.Endpoint, "unix://")
		if strings.Contains(ep, "://") {
			errs = append(errs, fmt.Errorf("endpoint %q: only unix sockets are supported", c.Endpoint))
		} else if !filepath.IsAbs(ep) {
			errs = append(errs, fmt.Errorf("endpoint %q: want an absolute socket path", c.Endpoint))
		}
		return errors.Join(errs...)
	}
	if c.Root == "" || !filepath.IsAbs(c.Root) {
		errs = append(errs, fmt.Errorf("root %q: want an absolute directory for our own containerd", c.Root))
	}
	if c.State == "" || !filepath.IsAbs(c.State) {
		errs = append(errs, fmt.Errorf("state %q: want an absolute directory for our own containerd", c.State))
	} else if s := c.Socket(); len(s) >= maxSocketPath {
		errs = append(errs, fmt.Errorf("state %q: socket path %s is %d bytes, the limit is %d", c.State, s, len(s), maxSocketPath-1))
	}
	if c.Root != "" && c.Root == c.State {
		errs = append(errs, fmt.Errorf("root and state are both %q: they must differ", c.Root))
	}
	return errors.Join(errs...)
}

// binaries our own containerd needs: the daemon, the runc v2 shim it starts
// for every container, and runc itself.
var binaries = []string{"containerd", "containerd-shim-runc-v2", "runc"}

// CheckBinaries reports which of containerd, containerd-shim-runc-v2 and runc
// are missing from PATH.
func CheckBinaries() error {
	var missing []string
	for _, b := range binaries {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s not found in PATH; install Debian package containerd / runc (apt-get install containerd runc)",
			ErrMissingBinaries, strings.Join(missing, ", "))
	}
	return nil
}
