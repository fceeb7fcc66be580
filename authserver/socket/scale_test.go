package socket_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/latchauth/latch/authserver/socket"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redistest"
)

// idleSockets is how many sockets TestIdleSocketsRevokeAll holds.
const idleSockets = 2000

// clientProcessEnv, when set to a hub's URL, makes the test binary a client process instead
// (see runClientProcess).
const clientProcessEnv = "LATCH_SOCKET_TEST_CLIENTS"

// TestIdleSocketsRevokeAll holds 2,000 idle sockets on one hub, each bound to its own session
// of one user, and ends them all with one revoke-all on real Redis: 2,000 revocation events
// through pub/sub, 2,000 close pushes. It reports the hub's memory per idle socket and the
// revoke-to-close latency percentiles.
//
// The clients run in a child process (this test binary, re-executed), so the memory measured
// here is the server side only: hub, gorilla connection, buffers, goroutines.
func TestIdleSocketsRevokeAll(t *testing.T) {
	raiseFileLimit(t, 2*idleSockets+1024)
	srv := redistest.Start(t)
	r := startReplica(t, redisConfig(srv.Addr, newID()+":"), socket.Config{})
	now := time.Now()
	uid := createUser(t, r.st, now)
	refs := make([]store.SessionRef, idleSockets)
	var wg sync.WaitGroup
	errs := make([]error, idleSockets)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < idleSockets; i += 8 {
				refs[i], errs[i] = storeSession(r.st, uid, now, time.Hour, 0)
			}
		})
	}
	wg.Wait()
	must(t, errors.Join(errs...))

	var input bytes.Buffer
	for _, ref := range refs {
		fmt.Fprintln(&input, ref.UserID, ref.SessionID)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), clientProcessEnv+"="+r.url)
	cmd.Stdin = &input
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	lines := make(chan string, idleSockets+16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func(within time.Duration) string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("client process ended early: %v\n%s", cmd.Wait(), stderr.String())
			}
			return l
		case <-time.After(within):
			t.Fatalf("client process silent for %s\n%s", within, stderr.String())
		}
		return ""
	}

	before := heapAfterGC()
	must(t, cmd.Start())
	if l := next(time.Minute); l != "ready" {
		t.Fatalf("client process said %q, want ready\n%s", l, stderr.String())
	}
	waitFor(t, 10*time.Second, "every socket bound", func() bool { return r.Stats().BoundConnections == idleSockets })
	after := heapAfterGC()
	heapPer := (int64(after.HeapInuse) - int64(before.HeapInuse)) / idleSockets
	stackPer := (int64(after.StackInuse) - int64(before.StackInuse)) / idleSockets

	start := time.Now()
	ended, err := r.st.RevokeAllSessions(ctx, uid, "", store.ReasonRevokeAll, start)
	must(t, err)
	if len(ended) != idleSockets {
		t.Fatalf("revoke-all ended %d sessions, want %d", len(ended), idleSockets)
	}
	var latencies []time.Duration
	for {
		l := next(time.Minute)
		if l == "done" {
			break
		}
		at, err := strconv.ParseInt(strings.TrimPrefix(l, "closed "), 10, 64)
		if err != nil || at < 0 {
			t.Fatalf("client process: %q", l)
		}
		latencies = append(latencies, time.Unix(0, at).Sub(start))
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("client process: %v\n%s", err, stderr.String())
	}
	if len(latencies) != idleSockets {
		t.Fatalf("%d of %d sockets got the close push", len(latencies), idleSockets)
	}
	slices.Sort(latencies)
	pct := func(p int) time.Duration { return latencies[(len(latencies)-1)*p/100] }
	s := r.Stats()
	t.Logf("%d idle sockets: heap %d B/socket, goroutine stacks %d B/socket, total %d B/socket (%s)",
		idleSockets, heapPer, stackPer, heapPer+stackPer, raceNote)
	t.Logf("revoke-all of %d sessions to close push: p50 %s, p99 %s, max %s (resyncs %d)",
		idleSockets, pct(50).Round(time.Microsecond), pct(99).Round(time.Microsecond),
		latencies[len(latencies)-1].Round(time.Microsecond), s.Resyncs)
	if s.ClosesPushed != idleSockets || s.SessionsEnded != idleSockets || s.SlowPeersDropped != 0 {
		t.Errorf("stats: %+v", s)
	}
	if p99 := pct(99); p99 > 5*time.Second {
		t.Errorf("p99 revoke-to-close %s", p99)
	}
}

func heapAfterGC() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// raiseFileLimit lifts RLIMIT_NOFILE to at least n (both sockets of each connection may live
// in one process), raising the hard limit too where allowed (root).
func raiseFileLimit(t testing.TB, n uint64) {
	t.Helper()
	if err := setFileLimit(n); err != nil {
		t.Fatalf("raise the open-file limit to %d: %v", n, err)
	}
}

func setFileLimit(n uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur >= n {
		return nil
	}
	lim.Cur = n
	lim.Max = max(lim.Max, n)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("setrlimit: %w", err)
	}
	return nil
}

// runClientProcess is the child side of TestIdleSocketsRevokeAll: it reads "userID sessionID"
// lines from stdin, opens one socket per line and binds it, prints "ready", then prints
// "closed <unix nanoseconds>" as each socket receives the close push (-1 for anything else),
// and "done".
func runClientProcess(url string) int {
	if err := setFileLimit(2*idleSockets + 1024); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	refs := strings.Split(strings.TrimSpace(string(in)), "\n")
	conns := make([]*websocket.Conn, len(refs))
	errs := make(chan error, len(refs))
	var wg sync.WaitGroup
	const dialers = 32
	for w := range dialers {
		wg.Go(func() {
			for i := w; i < len(refs); i += dialers {
				ws, err := bindClient(url, refs[i])
				if err != nil {
					errs <- err
					return
				}
				conns[i] = ws
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	_ = out.Flush()

	results := make(chan int64, len(conns))
	for _, ws := range conns {
		go func() {
			_ = ws.SetReadDeadline(time.Now().Add(time.Minute))
			_, msg, err := ws.ReadMessage()
			if err != nil || !bytes.Equal(msg, closePush) {
				results <- -1
				return
			}
			results <- time.Now().UnixNano()
		}()
	}
	for range conns {
		fmt.Fprintln(out, "closed", <-results)
	}
	fmt.Fprintln(out, "done")
	_ = out.Flush()
	for _, ws := range conns {
		_ = ws.Close()
	}
	return 0
}

func bindClient(url, ref string) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, resp, err := d.Dial(url, nil)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	_ = resp.Body.Close()
	if err := ws.WriteMessage(websocket.TextMessage, []byte("bind "+ref)); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, msg, err := ws.ReadMessage()
	if err != nil {
		return nil, fmt.Errorf("bind reply: %w", err)
	}
	if string(msg) != "bound" {
		return nil, fmt.Errorf("bind reply %q", msg)
	}
	return ws, nil
}
