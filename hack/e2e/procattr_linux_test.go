package e2e

import "syscall"

// childAttrs puts a node child in its own process group, so a stop reaches whatever it started,
// and has the kernel kill it if the test process dies without stopping it.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup signals the process group a child leads.
func signalGroup(pid int, sig syscall.Signal) error { return syscall.Kill(-pid, sig) }
