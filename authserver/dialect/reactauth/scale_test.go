package reactauth_test

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/dialect/reactauth/reactauthtest"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redisstore"
	"github.com/latchauth/latch/authserver/token"
)

// idleSockets is how many sockets TestIdleSocketsRevokeAll holds on one server process.
const idleSockets = 2000

// TestIdleSocketsRevokeAll opens 2,000 sockets to one server process, each bound to its own
// session of one user, leaves them idle, and ends every session with one password reset
// (revoke-all: 2,000 revocations through Redis pub/sub). Every socket must be served and
// every one must get the close push. It logs the server process's memory per idle socket
// (its RSS, and the Go heap and stacks from its /metrics, before and after the sockets) and
// the reset-to-close latency percentiles.
func TestIdleSocketsRevokeAll(t *testing.T) {
	// Both ends of every socket live on this machine: the test's 2,000 here, the server's in
	// the child, which inherits the limit.
	raiseFileLimit(t, 2*idleSockets+1024)
	s := start(t, nil)
	u := newUser(t, s)
	toks := issueSessions(t, s, u, idleSockets)
	// They are the realm's sessions like any other: the server resumes them.
	wantSuccess(t, resumeHTTP(t, s, toks[0]))

	before := memory(t, s)
	socks := make([]*reactauthtest.Socket, idleSockets)
	for i, tok := range toks {
		// The sockets are opened one after another on purpose: the figure wanted is what idle
		// sockets cost, not what a burst of handshakes does.
		socks[i] = reactauthtest.Dial(t, s, nil)
		if !socks[i].Resume(tok) {
			t.Fatalf("socket %d: resume failed", i)
		}
	}
	waitMetric(t, s, "latch_socket_bound_connections", idleSockets, 10*time.Second)
	waitMetric(t, s, "latch_socket_bound_sessions", idleSockets, 10*time.Second)
	// Let the handshakes' garbage be collected before reading the heap.
	time.Sleep(2 * time.Second)
	after := memory(t, s)
	per := func(a, b float64) float64 { return (b - a) / idleSockets }
	t.Logf("%d idle bound sockets on one server process (race detector: %v): RSS %.0f B/socket (%.1f -> %.1f MiB), "+
		"Go heap in use %.0f B/socket, goroutine stacks %.0f B/socket, goroutines %.2f/socket",
		idleSockets, raceEnabled, per(before.rss, after.rss), before.rss/(1<<20), after.rss/(1<<20),
		per(before.heap, after.heap), per(before.stack, after.stack), per(before.goroutines, after.goroutines))

	sent := resetPassword(t, s, u, "the password after the reset")
	latencies := make([]time.Duration, idleSockets)
	for i, sock := range socks {
		latencies[i] = sock.WaitClose(30 * time.Second).Sub(sent)
	}
	slices.Sort(latencies)
	pct := func(p int) time.Duration { return latencies[(len(latencies)-1)*p/100].Round(time.Microsecond) }
	t.Logf("password reset (revoke-all of %d sessions) to close push: p50 %s, p99 %s, max %s",
		idleSockets, pct(50), pct(99), latencies[len(latencies)-1].Round(time.Microsecond))

	if n := s.Metric(t, "latch_socket_close_pushes_total", nil); n != idleSockets {
		t.Errorf("latch_socket_close_pushes_total = %v, want %d", n, idleSockets)
	}
	if n := s.Metric(t, "latch_socket_sessions_ended_total", nil); n != idleSockets {
		t.Errorf("latch_socket_sessions_ended_total = %v, want %d", n, idleSockets)
	}
	if n := s.Metric(t, "latch_socket_slow_peers_dropped_total", nil); n != 0 {
		t.Errorf("latch_socket_slow_peers_dropped_total = %v, want 0", n)
	}
	waitMetric(t, s, "latch_socket_bound_connections", 0, 10*time.Second)
	// The sockets stay open after the push: the client closes its own.
	if n := s.Metric(t, "latch_socket_connections", nil); n != idleSockets {
		t.Errorf("latch_socket_connections = %v, want %d", n, idleSockets)
	}
}

// issueSessions creates n sessions of u straight in the realm's Redis, as a login would
// (same key prefix, same token hash key), and returns their tokens. Logging in 2,000 times
// over HTTP would measure argon2id, not sockets, and under the race detector starves the
// machine's Redis of CPU.
func issueSessions(t *testing.T, s *servertest.Server, u account, n int) []string {
	t.Helper()
	st, err := redisstore.Open(s.Config.Redis)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	hasher, err := token.NewHasherFromConfig(s.Config.TokenHashKey)
	if err != nil {
		t.Fatal(err)
	}
	toks := make([]string, n)
	for i := range toks {
		sid, err := token.NewID()
		if err != nil {
			t.Fatal(err)
		}
		secret, err := token.New()
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		_, err = st.CreateSession(t.Context(), store.NewSession{
			Session: store.Session{
				ID: sid, UserID: u.id, Dialect: "reactAuth", TokenHash: hasher.Hash(secret),
				IdleTimeout: s.Config.Sessions.IdleTimeout.Duration, ExpiresAt: now.Add(time.Hour),
			},
			Now: now,
		})
		if err != nil {
			t.Fatalf("create session %d: %v", i, err)
		}
		toks[i] = token.SessionToken{UserID: u.id, SessionID: sid, Secret: secret}.String()
	}
	return toks
}

// usage is a server process's memory at one moment.
type usage struct {
	// rss is the process's resident set (VmRSS), in bytes.
	rss float64
	// heap and stack are the Go runtime's heap and goroutine stacks in use, in bytes.
	heap, stack, goroutines float64
}

func memory(t *testing.T, s *servertest.Server) usage {
	t.Helper()
	return usage{
		rss:        vmRSS(t, s.PID()),
		heap:       s.Metric(t, "go_memstats_heap_inuse_bytes", nil),
		stack:      s.Metric(t, "go_memstats_stack_inuse_bytes", nil),
		goroutines: s.Metric(t, "go_goroutines", nil),
	}
}

// vmRSS reads a process's resident set size from /proc/PID/status.
func vmRSS(t *testing.T, pid int) float64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the server's memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			return kb * 1024
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status (%v)", pid, sc.Err())
	return 0
}

// raiseFileLimit lifts RLIMIT_NOFILE to at least n, raising the hard limit too where allowed.
func raiseFileLimit(t *testing.T, n uint64) {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if lim.Cur >= n {
		return
	}
	lim.Cur, lim.Max = n, max(lim.Max, n)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("raise the open-file limit to %d: %v", n, err)
	}
}
