package childproc_test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchauth/latch/internal/childproc"
)

// alive reports whether pid exists and is not a zombie (a zombie is dead, only not reaped yet:
// a grandchild reparented to a reaper that is slow about it).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}

func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(pid) {
		t.Errorf("%s %d survived", what, pid)
	}
}

// childPID waits for the grandchild to report its pid, which it does once it ignores SIGTERM.
func childPID(t *testing.T, out *childproc.Buffer) int {
	t.Helper()
	waitOutput(t, out, "\n")
	var pid int
	if _, err := fmt.Sscanf(out.String(), "child %d", &pid); err != nil {
		t.Fatalf("the shell did not report its child: %q", out.String())
	}
	return pid
}

// A child that leads its group and ignores SIGTERM, with a grandchild in its group that
// ignores it too: Stop leaves neither behind.
func TestStopOfAGroupLeavesNothingBehind(t *testing.T) {
	p, out := sh(t, `trap '' TERM; sh -c 'trap "" TERM; echo "child $$"; exec sleep 300' & while :; do sleep 0.05; done`, true)
	grandchild := childPID(t, out)
	if pgid, err := syscall.Getpgid(p.PID()); err != nil || pgid != p.PID() {
		t.Fatalf("the child does not lead its own group: pgid %d, %v", pgid, err)
	}
	if pgid, _ := syscall.Getpgid(grandchild); pgid != p.PID() {
		t.Fatalf("the grandchild %d is not in the group %d", grandchild, p.PID())
	}
	if !p.Stop(300 * time.Millisecond) {
		t.Error("Stop reports no kill of a group that ignores SIGTERM")
	}
	waitGone(t, p.PID(), "the child")
	waitGone(t, grandchild, "the grandchild")
}

// Without Group the child stays in the parent's group, so a terminal's Ctrl-C reaches it as
// it reaches the parent (a test run's children stop with it).
func TestWithoutGroupTheChildSharesTheParentsGroup(t *testing.T) {
	p, _ := sh(t, "exec sleep 60", false)
	if pgid, _ := syscall.Getpgid(p.PID()); pgid != syscall.Getpgrp() {
		t.Errorf("the child's group is %d, want the parent's %d", pgid, syscall.Getpgrp())
	}
}

// helperEnv makes the test binary, run again, the parent under test: it starts a child with
// the kit, prints the child's pid and waits to be killed.
const helperEnv = "CHILDPROC_TEST_PARENT"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		p, err := childproc.Start(childproc.Spec{Path: "/bin/sleep", Args: []string{"300"}})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(p.PID())
		<-p.Done()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A parent that dies without stopping its child (SIGKILL: no cleanup runs) takes the child
// with it.
func TestTheChildDiesWithItsParent(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var line string
	if _, err := fmt.Fscanln(stdout, &line); err != nil {
		t.Fatalf("the parent printed no pid: %v", err)
	}
	child, err := strconv.Atoi(line)
	if err != nil {
		t.Fatalf("the parent printed %q", line)
	}
	if !alive(child) {
		t.Fatalf("the child %d is not running", child)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	waitGone(t, child, "the orphaned child")
	if alive(child) {
		_ = syscall.Kill(child, syscall.SIGKILL)
	}
}

// A leader that exits on SIGTERM while what it started in its group ignores it: Stop kills
// the rest of the group once the leader is gone. The grandchild holds the output pipe open,
// so only WaitDelay lets Done close before it is gone (as the dev stack sets it).
func TestStopKillsWhatTheLeaderLeftInItsGroup(t *testing.T) {
	out := &childproc.Buffer{}
	p, err := childproc.Start(childproc.Spec{
		Path: "/bin/sh", Args: []string{"-c", `sh -c 'trap "" TERM; echo "child $$"; exec sleep 300' & exec sleep 300`},
		Stdout: out, Stderr: out, Group: true, WaitDelay: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	grandchild := childPID(t, out)
	if p.Stop(10 * time.Second) {
		t.Error("Stop killed a leader that exits on SIGTERM")
	}
	waitGone(t, grandchild, "the grandchild left in the group")
}
