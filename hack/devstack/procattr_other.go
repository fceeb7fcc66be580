//go:build !linux

package devstack

import "syscall"

// childAttrs puts a child in its own process group (see process). Only Linux can also tie
// the child's life to the stack's.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
