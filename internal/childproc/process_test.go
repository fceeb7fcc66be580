package childproc_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/latchauth/latch/internal/childproc"
)

// sh starts /bin/sh -c script with its output in a Buffer, killed at cleanup.
func sh(t *testing.T, script string, group bool) (*childproc.Process, *childproc.Buffer) {
	t.Helper()
	out := &childproc.Buffer{}
	p, err := childproc.Start(childproc.Spec{Path: "/bin/sh", Args: []string{"-c", script}, Stdout: out, Stderr: out, Group: group})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p, out
}

// waitOutput waits until the child's output holds want.
func waitOutput(t *testing.T, out *childproc.Buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the output:\n%s", want, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWaitReadyTimesOutWithTheOutputInTheError(t *testing.T) {
	p, _ := sh(t, "echo warming up the flux capacitor; exec sleep 60", false)
	start := time.Now()
	err := p.WaitReady(300*time.Millisecond, func(context.Context) error { return errors.New("no answer on the port") })
	if err == nil {
		t.Fatal("WaitReady = nil for a check that never passes")
	}
	for _, want := range []string{"not ready after 300ms", "no answer on the port", "warming up the flux capacitor"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q: %v", want, err)
		}
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("WaitReady gave up after %s, want 300ms", d)
	}
}

func TestWaitReadyStopsWhenTheChildExits(t *testing.T) {
	p, _ := sh(t, "echo cannot bind >&2; exit 3", false)
	start := time.Now()
	err := p.WaitReady(time.Minute, func(context.Context) error { return errors.New("not yet") })
	if err == nil {
		t.Fatal("WaitReady = nil for a child that exited")
	}
	for _, want := range []string{"exited during startup", "exit status 3", "cannot bind"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error lacks %q: %v", want, err)
		}
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("WaitReady took %s to see the exit", d)
	}
}

func TestWaitReadyWithGetOK(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	p, _ := sh(t, "exec sleep 60", false)
	if err := p.WaitReady(10*time.Second, func(ctx context.Context) error { return childproc.GetOK(ctx, srv.URL) }); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("ready after %d GETs, want 3 (two 503s, then 200)", n)
	}
	err := childproc.GetOK(t.Context(), srv.URL+"/x")
	if err != nil {
		t.Fatalf("GetOK after readiness: %v", err)
	}
	srv.Close()
	if err := childproc.GetOK(t.Context(), srv.URL); err == nil {
		t.Error("GetOK of a closed server = nil")
	}
}

func TestPollReturnsTheLastCheckError(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	n := 0
	err := childproc.Poll(ctx, 10*time.Millisecond, func(context.Context) error {
		n++
		return fmt.Errorf("replica %d not in sync", n)
	})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), fmt.Sprintf("replica %d not in sync", n)) {
		t.Fatalf("Poll = %v after %d checks, want the deadline and the last check's error", err, n)
	}
	if n < 2 {
		t.Errorf("Poll checked %d times in 200ms at 10ms intervals", n)
	}
	if err := childproc.Poll(t.Context(), time.Hour, func(context.Context) error { return nil }); err != nil {
		t.Errorf("Poll of a passing check = %v", err)
	}
}

func TestStopKillsAChildThatIgnoresSIGTERM(t *testing.T) {
	p, out := sh(t, `trap '' TERM; echo trapped; while :; do sleep 0.05; done`, false)
	waitOutput(t, out, "trapped")
	start := time.Now()
	if !p.Stop(300 * time.Millisecond) {
		t.Error("Stop reports no kill of a child that ignores SIGTERM")
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 10*time.Second {
		t.Errorf("Stop took %s, want the 300ms grace and a kill", d)
	}
	if !p.Exited() {
		t.Fatal("the child still runs after Stop")
	}
	var ee interface{ Sys() any }
	if !errors.As(p.Err(), &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("Err = %v, want killed by SIGKILL", p.Err())
	}
}

func TestStopEndsAChildThatHonoursSIGTERMWithinTheGrace(t *testing.T) {
	p, out := sh(t, `trap 'echo bye; exit 0' TERM; echo trapped; while :; do sleep 0.05; done`, false)
	waitOutput(t, out, "trapped")
	if p.Stop(time.Minute) {
		t.Error("Stop killed a child that exits on SIGTERM")
	}
	if p.Err() != nil {
		t.Errorf("Err = %v, want a clean exit", p.Err())
	}
	if !strings.Contains(out.String(), "bye") {
		t.Errorf("the child's last output was not copied before Done: %q", out.String())
	}
	// A second Stop of an exited child returns at once.
	start := time.Now()
	if p.Stop(time.Minute) || time.Since(start) > time.Second {
		t.Error("a second Stop waited or killed")
	}
}

func TestLogFileReceivesTheOutput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "child.log")
	if err := os.WriteFile(path, []byte("a previous run\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for i := range 30 {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	p, err := childproc.Start(childproc.Spec{Path: "/bin/sh", Args: append([]string{"-c", `for l in "$@"; do echo "$l"; done; echo oops >&2`, "sh"}, lines...), LogFile: path})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join(lines, "\n") + "\noops\n"
	if string(b) != want {
		t.Errorf("log file:\n%q\nwant (created afresh, stdout and stderr):\n%q", b, want)
	}
	tail := p.Output()
	if !strings.HasPrefix(tail, "line 11\n") || !strings.HasSuffix(tail, "line 29\noops") {
		t.Errorf("Output = %q, want the last 20 lines of the log file", tail)
	}
}

func TestBufferTakesConcurrentWriters(t *testing.T) {
	var b childproc.Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("0123456789\n"))
				_ = b.Len()
			}
		})
	}
	wg.Wait()
	if b.Len() != 8*100*11 || strings.Count(b.String(), "0123456789\n") != 800 {
		t.Errorf("Buffer holds %d bytes, want 8800 in whole writes", b.Len())
	}
}

func TestLastLines(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 5, "a\nb\nc"},
		{"", 3, ""},
		{"a\n\n\n", 1, "a"},
	} {
		if got := childproc.LastLines(c.in, c.n); got != c.want {
			t.Errorf("LastLines(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
