//go:build !linux

package childproc

import "syscall"

// procAttr cannot tie the child's life to the parent's: only Linux has a parent-death signal.
func procAttr(group bool, _ syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: group}
}
