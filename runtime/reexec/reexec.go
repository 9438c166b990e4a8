// Package reexec lets the appliance binary play its small helper programs: the
// pod sandbox's pause process and the containers' log driver. containerd starts
// them by path (a bind mount at /pause inside the sandbox, a symlink named
// appliance-log-driver for the shim), so the program is chosen by argv[0]'s base
// name. The check runs in this package's init, before the Kubernetes packages
// initialise, which keeps each helper process at a few MiB. It must import only
// the standard library and other stdlib-only packages.
package reexec

import (
	"os"
	"path/filepath"

	"github.com/appliance/appliance/runtime/logs/driver"
	"github.com/appliance/appliance/runtime/pause"
)

// Names of the helper programs, as argv[0] base names.
const (
	Pause     = "pause"
	LogDriver = "appliance-log-driver"
)

func init() {
	if len(os.Args) == 0 {
		return
	}
	switch filepath.Base(os.Args[0]) {
	case Pause:
		os.Exit(pause.Main())
	case LogDriver:
		os.Exit(driver.Main(os.Args[1:]))
	}
}
