//go:build linux

package childproc_test

import (
	"os/exec"
	"syscall"
	"testing"

	"github.com/latchauth/latch/authserver/childproc"
)

func TestDieWithParentAsksForSIGKILL(t *testing.T) {
	cmd := exec.Command("true")
	childproc.DieWithParent(cmd)
	if cmd.SysProcAttr == nil || cmd.SysProcAttr.Pdeathsig != syscall.SIGKILL {
		t.Fatalf("SysProcAttr = %+v, want Pdeathsig SIGKILL", cmd.SysProcAttr)
	}
	if err := cmd.Run(); err != nil {
		t.Fatalf("a command with the attribute does not run: %v", err)
	}
}
