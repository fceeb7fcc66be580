package kubenode

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartT starts a node for a test, which fails at once if the node does not come up, and
// stops it when the test ends (restoring the host; a failure to restore fails the test).
// When the test has failed, the components' last log lines are logged first. Progress lines
// go to the test's log unless o.Progress is set.
func StartT(t testing.TB, o Options) *Node {
	t.Helper()
	HoldHostT(t)
	if o.Progress == nil {
		o.Progress = &testLog{t: t}
	}
	n, err := Start(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if logs := n.Logs(30); t.Failed() && logs != "" {
			t.Log(logs)
		}
		if err := n.Stop(); err != nil {
			t.Error(err)
		}
	})
	return n
}

// testLog writes whole lines to a test's log.
type testLog struct {
	t   testing.TB
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *testLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line) // no newline yet: keep it for the next write
			return len(p), nil
		}
		w.t.Log(line[:len(line)-1])
	}
}

// TestLog is a writer of whole lines to t's log, for the Progress of a node started by other
// test helpers (devcluster.StartT).
func TestLog(t testing.TB) io.Writer { return &testLog{t: t} }

// CheckRestrictedProcess checks a pod's process as the kernel sees it, as the restricted
// security context asks: its uid, no capabilities, no_new_privs, a seccomp filter and a
// read-only root (the first mount at / of its mount namespace).
func CheckRestrictedProcess(t testing.TB, pid string, uid int) {
	t.Helper()
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	status := map[string]string{}
	for s := bufio.NewScanner(f); s.Scan(); {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok {
			status[k] = strings.TrimSpace(v)
		}
	}
	want := map[string]string{
		"Uid":        fmt.Sprintf("%d\t%d\t%d\t%d", uid, uid, uid, uid),
		"CapEff":     "0000000000000000",
		"CapPrm":     "0000000000000000",
		"CapBnd":     "0000000000000000",
		"NoNewPrivs": "1",
		"Seccomp":    "2",
	}
	for k, v := range want {
		if status[k] != v {
			t.Errorf("process %s (%s): %s = %q, want %q", pid, status["Name"], k, status[k], v)
		}
	}
	mi, _ := os.ReadFile("/proc/" + pid + "/mountinfo")
	for line := range strings.SplitSeq(string(mi), "\n") {
		if f := strings.Fields(line); len(f) > 5 && f[4] == "/" {
			if !slices.Contains(strings.Split(f[5], ","), "ro") {
				t.Errorf("process %s (%s): its root is mounted %s, want ro", pid, status["Name"], f[5])
			}
			return
		}
	}
	t.Errorf("process %s: no root mount in its mountinfo", pid)
}

// testHostLock is held by a test process for as long as one of its tests uses a node. The
// node's own lock (hostlock.go) covers a node's life; this one covers a test's, which is
// longer: a test that records the host before its node and compares it after must not see
// another package's node come or go meanwhile (go test ./... runs packages side by side).
const testHostLock = "/run/lock/latch-node-tests.lock"

// testHostWait bounds how long a test waits for another's to finish with the host, and
// testHostWork is what it keeps of its own deadline (go test -timeout) for its node: it gives
// up waiting, and says why, while a failure can still be reported, rather than being killed
// by the deadline with its node up and nothing said.
const (
	testHostWait = 20 * time.Minute
	testHostWork = 8 * time.Minute
)

// hostWait is how long t may wait for the host: testHostWait, less when t's deadline is
// nearer than that and testHostWork.
func hostWait(t testing.TB) time.Duration {
	wait := testHostWait
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, ok := dt.Deadline(); ok {
			wait = min(wait, max(time.Until(deadline)-testHostWork, 0))
		}
	}
	return wait
}

var testHost struct {
	sync.Mutex
	f       *os.File
	holders int
}

// HoldHostT makes t's test process the only one using a node on this host until t ends,
// waiting (with a log line every 30 s) while another test process holds it. Tests of one
// process may hold it together; StartT and devcluster.StartT take it, and a test that looks
// at the host before it starts a node takes it first.
func HoldHostT(t testing.TB) {
	t.Helper()
	testHost.Lock()
	defer testHost.Unlock()
	if testHost.holders == 0 {
		f, err := os.OpenFile(testHostLock, os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatalf("kubenode: the tests' host lock: %v", err)
		}
		began, said, wait := time.Now(), time.Now(), hostWait(t)
		for syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			if time.Since(began) > wait {
				_ = f.Close()
				t.Fatalf("kubenode: another test process has used the host's node for more than %s (%s), as long as this test could wait (%s at most, and %s of its deadline kept for its own node)",
					wait.Round(time.Second), testHostLock, testHostWait, testHostWork)
			}
			if time.Since(said) > 30*time.Second {
				t.Logf("waiting for another test process to finish with the host's node (%.0f s so far)", time.Since(began).Seconds())
				said = time.Now()
			}
			time.Sleep(200 * time.Millisecond)
		}
		testHost.f = f
	}
	testHost.holders++
	t.Cleanup(func() {
		testHost.Lock()
		defer testHost.Unlock()
		if testHost.holders--; testHost.holders == 0 {
			_ = syscall.Flock(int(testHost.f.Fd()), syscall.LOCK_UN)
			_ = testHost.f.Close()
			testHost.f = nil
		}
	})
}
