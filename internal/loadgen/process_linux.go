package loadgen

import (
	"os/exec"
	"syscall"
)

// stopWithParent has the kernel stop cmd (SIGTERM) if this process dies
// without stopping it.
func stopWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
