//go:build !linux

package e2e

import (
	"os"
	"syscall"
)

// childAttrs leaves the child in the test's process group: only Linux has a parent-death
// signal, and the test needs Debian packages anyway.
func childAttrs() *syscall.SysProcAttr { return nil }

// signalGroup signals the child itself.
func signalGroup(pid int, sig syscall.Signal) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Signal(sig)
}
