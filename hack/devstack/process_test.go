package devstack

import (
	"bytes"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchauth/latch/internal/childproc"
)

// TestStopKillsTheWholeGroup starts a shell that leaves a child behind in its group and
// ignores SIGTERM: stop must still leave nothing running.
func TestStopKillsTheWholeGroup(t *testing.T) {
	var out childproc.Buffer
	log := &syncWriter{w: &out}
	p, err := startProcess(command{Name: "sh", Path: "/bin/sh", Args: []string{"-c", `trap '' TERM; sleep 300 & echo "child $!"; wait`}}, newLineWriter(log, "sh"))
	if err != nil {
		t.Fatal(err)
	}
	child := waitForChild(t, &out)
	if pgid, err := syscall.Getpgid(p.PID()); err != nil || pgid != p.PID() {
		t.Fatalf("the process does not lead its own group: pgid %d, %v", pgid, err)
	}
	if pgid, _ := syscall.Getpgid(child); pgid != p.PID() {
		t.Fatalf("the child %d is not in the group %d (it is in %d)", child, p.PID(), pgid)
	}
	start := time.Now()
	p.Stop(300 * time.Millisecond)
	if time.Since(start) > 10*time.Second {
		t.Errorf("stop took %s", time.Since(start))
	}
	if alive(p.PID()) {
		t.Errorf("the leader %d survived", p.PID())
	}
	// The grandchild is no child of ours: it is reparented and reaped by init, so wait a moment
	// for it to be gone.
	deadline := time.Now().Add(5 * time.Second)
	for alive(child) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(child) {
		t.Errorf("the child %d in the group survived", child)
	}
}

func waitForChild(t *testing.T, out *childproc.Buffer) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(out.String(), "\n") {
			var pid int
			if _, err := fmt.Sscanf(line, "sh | child %d", &pid); err == nil {
				return pid
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the shell never reported its child; output:\n%s", out.String())
	return 0
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	p, err := readProc(pid)
	return err == nil && p.State != 'Z'
}

func TestSupervisorRestartsWithBackoffUntilStopped(t *testing.T) {
	var out childproc.Buffer
	log := &syncWriter{w: &out}
	exits := make(chan struct{}, 10)
	s := supervise(command{Name: "flaky", Path: "/bin/sh", Args: []string{"-c", "echo up; exit 3"}}, log, time.Second, func() {
		exits <- struct{}{}
	})
	for i := 0; i < 3; i++ {
		select {
		case <-exits:
		case <-time.After(20 * time.Second):
			t.Fatalf("exit %d never came; output:\n%s", i+1, out.String())
		}
	}
	s.Stop()
	if r := s.Restarts(); r < 2 {
		t.Errorf("restarts = %d after three exits", r)
	}
	text := out.String()
	for _, want := range []string{"flaky | up\n", "devstack | flaky: exit status 3; restarting in 500ms\n", "restarting in 1s\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	// After Stop, nothing restarts it.
	n := strings.Count(out.String(), "flaky | up")
	time.Sleep(3 * time.Second)
	if m := strings.Count(out.String(), "flaky | up"); m != n {
		t.Errorf("the process ran %d more times after Stop", m-n)
	}
}

func TestLineWriterKeepsLinesWhole(t *testing.T) {
	var out bytes.Buffer
	log := &syncWriter{w: &out}
	a, b := newLineWriter(log, "a"), newLineWriter(log, "b")
	_, _ = a.Write([]byte("one "))
	_, _ = b.Write([]byte("two\nthr"))
	_, _ = a.Write([]byte("half\n"))
	_, _ = b.Write([]byte("ee"))
	b.Flush()
	a.Flush() // nothing pending: writes nothing
	want := "b | two\na | one half\nb | three\n"
	if out.String() != want {
		t.Errorf("output:\n%q\nwant\n%q", out.String(), want)
	}
}
