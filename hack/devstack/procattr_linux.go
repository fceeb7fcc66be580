package devstack

import "syscall"

// childAttrs puts a child in its own process group (see process) and has the kernel kill it
// if the stack dies without stopping it (SIGKILL, a crash), rather than leave it holding its
// ports.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
