package childproc

import "syscall"

func procAttr(group bool, death syscall.Signal) *syscall.SysProcAttr {
	if death == 0 {
		death = syscall.SIGKILL
	}
	return &syscall.SysProcAttr{Setpgid: group, Pdeathsig: death}
}
