package childproc

import (
	"os/exec"
	"syscall"
)

// DieWithParent makes the kernel kill cmd's process (SIGKILL) when the process that started
// it dies without cleaning up (a panic, a test timeout, a kill), so no redis-server or auth
// server is left behind. Call it before cmd.Start. It replaces cmd.SysProcAttr.
func DieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
