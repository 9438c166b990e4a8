// Package pause is the pod sandbox's process: it holds the pod's network, IPC and
// UTS namespaces open, reaps zombies when it is PID 1 of a shared PID namespace,
// and exits on SIGINT or SIGTERM. It is built into the appliance binary (no image
// to download) and started through runtime/reexec, so it must import nothing but
// the standard library: it runs before the heavy packages initialise.
package pause

import (
	"os"
	"os/signal"
	"syscall"
)

// Main runs the pause loop and returns the exit code.
func Main() int {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		switch s {
		case syscall.SIGCHLD:
			reap()
		default:
			return 0
		}
	}
	return 0
}

func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
