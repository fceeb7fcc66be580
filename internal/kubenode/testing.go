package kubenode

import (
	"bytes"
	"io"
	"sync"
	"testing"
)

// StartT starts a node for a test, which fails at once if the node does not come up, and
// stops it when the test ends (restoring the host; a failure to restore fails the test).
// When the test has failed, the components' last log lines are logged first. Progress lines
// go to the test's log unless o.Progress is set.
func StartT(t testing.TB, o Options) *Node {
	t.Helper()
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
