package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// The sockets suite: idle reactAuth sockets held by one replica, the memory each costs it,
// and how fast a session ended on another replica closes its socket.

// Socket targets (issue 6).
const (
	targetSockets         = 10000
	targetBytesPerSocket  = 12 << 10
	targetRevokeToCloseMS = 50
)

// sessionsPerUser is how many of the sockets' sessions each bench user holds.
const sessionsPerUser = 100

// socketRun is one repetition: a fresh replica A holding the sockets.
type socketRun struct {
	sockets, bound      int
	dialTime            time.Duration
	rssBefore, rssAfter int64
	heapBefore, heap    float64 // go_memstats_heap_inuse_bytes after a forced collection
	stackBefore, stack  float64 // go_memstats_stack_inuse_bytes
	goroutinesBefore    float64
	goroutines          float64
	revoked, closed     int
	latencies           []time.Duration // sorted revoke-to-close
	revokeErrors        int
}

func (r socketRun) perSocket(before, after float64) float64 {
	return (after - before) / float64(max(r.bound, 1))
}

// socketSession is one session a socket binds to.
type socketSession struct {
	userID, token string
}

func (b *bench) socketSuite() error {
	o := b.opts
	// Replica B ends the sessions; each run starts a fresh replica A holding the sockets.
	realm, err := b.startSocketRealm("sockets", o.sockets)
	if err != nil {
		return err
	}
	defer realm.store.Close()
	var runs []socketRun
	for rep := 1; rep <= o.reps; rep++ {
		if err := b.ctx.Err(); err != nil {
			return err
		}
		r, err := b.socketRun(rep, realm)
		if err != nil {
			return fmt.Errorf("run %d: %w", rep, err)
		}
		runs = append(runs, r)
		logf("sockets run %d/%d: %d/%d bound in %s; per socket RSS %s, heap %s, stacks %s; revoke-to-close p50 %s p99 %s (%d/%d closed)",
			rep, o.reps, r.bound, r.sockets, fmtDur(r.dialTime),
			fmtBytes(r.perSocket(float64(r.rssBefore), float64(r.rssAfter))), fmtBytes(r.perSocket(r.heapBefore, r.heap)),
			fmtBytes(r.perSocket(r.stackBefore, r.stack)), fmtDur(percentile(r.latencies, 50)), fmtDur(percentile(r.latencies, 99)),
			r.closed, r.revoked)
	}
	b.reportSockets(runs)
	return nil
}

// socketSessions creates n sessions of the reactAuth dialect directly in the store (n
// password logins would spend minutes hashing, and the suite does not measure logins), over
// fresh users of sessionsPerUser sessions each.
func (b *bench) socketSessions(realm *socketRealm, rep, n int) ([]socketSession, error) {
	now := time.Now()
	users := (n + sessionsPerUser - 1) / sessionsPerUser
	ids := make([]string, users)
	if err := parallel(users, 16, func(i int) error {
		id, err := token.NewID()
		if err != nil {
			return err
		}
		login := fmt.Sprintf("sockets-%d-%s@bench.test", rep, id)
		_, err = realm.store.CreateUser(b.ctx, store.User{ID: id, Login: login, Email: login, Status: store.StatusActive}, now)
		ids[i] = id
		return err
	}); err != nil {
		return nil, fmt.Errorf("create users: %w", err)
	}
	out := make([]socketSession, n)
	err := parallel(n, 32, func(i int) (err error) {
		out[i], err = realm.newSession(b, ids[i/sessionsPerUser], now, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create sessions: %w", err)
	}
	return out, nil
}

func (b *bench) socketRun(rep int, realm *socketRealm) (socketRun, error) {
	o := b.opts
	r := socketRun{sockets: o.sockets}
	sessions, err := b.socketSessions(realm, rep, o.sockets)
	if err != nil {
		return r, err
	}
	replicaB := realm.replica
	a, err := b.startLatch(fmt.Sprintf("sockets-latch-a-%d", rep), realm.cfg)
	if err != nil {
		return r, err
	}
	defer a.stop()

	// Before: a collected heap of a server that has served nothing yet.
	before, err := b.socketMemory(a)
	if err != nil {
		return r, err
	}
	r.rssBefore, r.heapBefore, r.stackBefore, r.goroutinesBefore = before.rss, before.heap, before.stack, before.goroutines

	// Dial and bind every socket, from several source addresses.
	url := "ws://" + a.public + "/react-auth/socket"
	t0 := time.Now()
	held, err := holdSockets(b, url, sessions, o.sourceAddrs)
	defer held.close()
	closedAt := held.closedAt
	r.dialTime = time.Since(t0)
	if err != nil {
		return r, err
	}
	bound, err := waitMetric(b.ctx, a, "latch_socket_bound_connections", float64(o.sockets), 30*time.Second)
	r.bound = int(bound)
	if err != nil {
		return r, err
	}
	// Let the dialing's garbage be collected and the runtime settle before reading memory.
	time.Sleep(2 * time.Second)
	after, err := b.socketMemory(a)
	if err != nil {
		return r, err
	}
	r.rssAfter, r.heap, r.stack, r.goroutines = after.rss, after.heap, after.stack, after.goroutines
	if o.profileDir != "" && rep == 1 {
		if err := saveURL(b.ctx, "http://"+a.admin+"/debug/pprof/heap?gc=1", filepath.Join(o.profileDir, "sockets.heap.pprof")); err != nil {
			logf("profile: %v", err)
		}
		if err := saveURL(b.ctx, "http://"+a.admin+"/debug/pprof/goroutine", filepath.Join(o.profileDir, "sockets.goroutine.pprof")); err != nil {
			logf("profile: %v", err)
		}
	}

	// Revocations: the first sessions end on replica B, at a steady rate; each latency runs
	// from just before B is asked to the close push's arrival on A's socket.
	r.revoked = o.revocations
	startedAt := make([]int64, o.revocations)
	r.revokeErrors, err = b.revoke(replicaB, sessions[:o.revocations], startedAt)
	if err != nil {
		return r, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.closed = 0
		for i := range o.revocations {
			if closedAt[i].Load() != 0 {
				r.closed++
			}
		}
		if r.closed == o.revocations-r.revokeErrors || time.Now().After(deadline) || b.ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := range o.revocations {
		if at := closedAt[i].Load(); at != 0 && startedAt[i] != 0 {
			r.latencies = append(r.latencies, time.Duration(at-startedAt[i]))
		}
	}
	slices.Sort(r.latencies)
	// A socket whose session did not end must not have heard a close push.
	for i := o.revocations; i < o.sockets; i++ {
		if closedAt[i].Load() != 0 {
			return r, fmt.Errorf("socket %d got a close push, but its session was not ended", i)
		}
	}
	return r, nil
}

// sourceAddr spreads the sockets over 127.0.0.2, 127.0.0.3, ...: one source address has only
// the ephemeral port range (about 28,000 ports) to connect from.
func sourceAddr(i, n int) *net.TCPAddr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%n))}
}

// dialSocket opens a reactAuth socket from local and binds it to s with socket/resume.
func dialSocket(ctx context.Context, url string, local *net.TCPAddr, s socketSession) (*websocket.Conn, error) {
	nd := &net.Dialer{LocalAddr: local, Timeout: 10 * time.Second}
	d := websocket.Dialer{
		NetDialContext:   nd.DialContext,
		HandshakeTimeout: 10 * time.Second,
		// The client side is not measured; small buffers keep 10,000 of them cheap.
		ReadBufferSize: 512, WriteBufferSize: 512,
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		return nil, err
	}
	_ = resp.Body.Close()
	msg, _ := json.Marshal(map[string]any{
		"type": "fantaptik/react-auth/socket/resume", "session": s.token, "user": map[string]string{"id": s.userID},
	})
	_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
		c.Close()
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, reply, err := c.ReadMessage()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("resume reply: %w", err)
	}
	var ok struct {
		Success bool `json:"success"`
	}
	if json.Unmarshal(reply, &ok) != nil || !ok.Success {
		c.Close()
		return nil, fmt.Errorf("resume refused: %s", reply)
	}
	return c, nil
}

// gcCycles is how many collections precede a memory reading.
const gcCycles = 4

// serverMemory is one reading of a server's memory.
type serverMemory struct {
	rss                     int64
	heap, stack, goroutines float64
}

// socketMemory forces a collection in the server, then reads its heap, stacks and RSS.
func (b *bench) socketMemory(p *latchProc) (serverMemory, error) {
	// Several collections: each may halve an idle goroutine's stack (the runtime shrinks a
	// stack using under a quarter of it, by half, once per cycle), as the periodic collections
	// of a long-running server do.
	for range gcCycles {
		if err := p.forceGC(b.ctx); err != nil {
			return serverMemory{}, err
		}
	}
	m, err := p.metrics(b.ctx)
	if err != nil {
		return serverMemory{}, err
	}
	mem, err := readMemory(p.PID())
	if err != nil {
		return serverMemory{}, err
	}
	return serverMemory{
		rss: mem.RSS, heap: m.Sum("go_memstats_heap_inuse_bytes", nil), stack: m.Sum("go_memstats_stack_inuse_bytes", nil),
		goroutines: m.Sum("go_goroutines", nil),
	}, nil
}

// waitMetric polls a gauge until it reaches want or timeout passes; it returns the last value.
func waitMetric(ctx context.Context, p *latchProc, name string, want float64, timeout time.Duration) (float64, error) {
	deadline := time.Now().Add(timeout)
	for {
		m, err := p.metrics(ctx)
		if err != nil {
			return 0, err
		}
		v := m.Sum(name, nil)
		if v >= want {
			return v, nil
		}
		if time.Now().After(deadline) {
			return v, fmt.Errorf("%s is %.0f after %s, want %.0f", name, v, timeout, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// revokeWorkers bounds the logout requests in flight on replica B.
const revokeWorkers = 16

// revoke ends each session with the account dialect's logout on replica B, starting them at
// -revoke-rate per second; startedAt[i] is set (Unix ns) just before request i is sent.
func (b *bench) revoke(p *latchProc, sessions []socketSession, startedAt []int64) (failed int, err error) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	var failures atomic.Int64
	var firstErr atomic.Value
	for range revokeWorkers {
		wg.Go(func() {
			hc := newHTTPConn(p.public, nil)
			defer hc.close()
			for i := range jobs {
				req := []byte("POST /account/logout HTTP/1.1\r\nHost: " + p.public + "\r\nCookie: latch_session=" +
					sessions[i].token + "\r\nContent-Length: 0\r\n\r\n")
				startedAt[i] = time.Now().UnixNano()
				if err := hc.roundTrip(req, nil); err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	interval := time.Second / time.Duration(max(b.opts.revokeRate, 1))
	start := time.Now()
	for i := range sessions {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		if b.ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if n := failures.Load(); n > 0 {
		logf("revocations: %d failed, first: %v", n, firstErr.Load())
		if int(n) == len(sessions) {
			return int(n), fmt.Errorf("every logout on replica B failed: %v", firstErr.Load())
		}
	}
	return int(failures.Load()), nil
}

func (b *bench) reportSockets(runs []socketRun) {
	o := b.opts
	var w strings.Builder
	fmt.Fprintf(&w, "## 3. Idle sockets and revoke-to-close\n\n")
	fmt.Fprintf(&w, "%d reactAuth WebSockets (`GET /react-auth/socket`, each bound to its own session with\n", o.sockets)
	fmt.Fprintf(&w, "`fantaptik/react-auth/socket/resume`) held by one replica, A, from the bench's own client on %d source\n", o.sourceAddrs)
	fmt.Fprintf(&w, "addresses (127.0.0.2 and up), with `RLIMIT_NOFILE` raised by the bench (setrlimit; the server inherits it).\n")
	fmt.Fprintf(&w, "The sessions (%d per user) are written to Redis through the store, as a login would (the suite does not\n", sessionsPerUser)
	fmt.Fprintf(&w, "measure logins). Each run starts a fresh replica A. Memory is read from A before the first socket and\n")
	fmt.Fprintf(&w, "2 s after the last is bound, each time right after a forced collection (`/debug/pprof/heap?gc=1` on the\n")
	fmt.Fprintf(&w, "admin port, `listen.pprof`): RSS from `/proc/PID/status`, heap and goroutine stacks from the admin\n")
	fmt.Fprintf(&w, "`/metrics` (`go_memstats_heap_inuse_bytes`, `go_memstats_stack_inuse_bytes`), %d collections first (each may\n", gcCycles)
	fmt.Fprintf(&w, "halve an idle goroutine's stack, as a long-running server's periodic collections do). Per socket = delta /\n")
	fmt.Fprintf(&w, "sockets. RSS also counts what the runtime keeps around heap and stacks (span slack, GC metadata, the\n")
	fmt.Fprintf(&w, "poller's descriptors, pages freed after the dialing burst and not yet returned to the kernel); the\n")
	fmt.Fprintf(&w, "kernel's socket buffers are not in it.\n\n")
	fmt.Fprintf(&w, "Then %d of the sessions are ended on replica B (`POST /account/logout`, %d per second, at most %d in\n", o.revocations, o.revokeRate, revokeWorkers)
	fmt.Fprintf(&w, "flight); revoke-to-close runs from just before B is asked to the close push's arrival on A's socket.\n")
	fmt.Fprintf(&w, "B learns nothing of A: the revocation travels through Redis pub/sub.\n\n")
	fmt.Fprintf(&w, "| run | sockets bound | dial + bind | RSS before → after | RSS / socket | heap / socket | stacks / socket | goroutines / socket | revoke-to-close p50 | p99 | max | closed / ended |\n")
	fmt.Fprintf(&w, "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	var rss, heap, stack, p50, p99 []float64
	allBound, allClosed := true, true
	for i, r := range runs {
		rs, hp, sk := r.perSocket(float64(r.rssBefore), float64(r.rssAfter)), r.perSocket(r.heapBefore, r.heap), r.perSocket(r.stackBefore, r.stack)
		rss, heap, stack = append(rss, rs), append(heap, hp), append(stack, sk)
		p50 = append(p50, percentile(r.latencies, 50).Seconds())
		p99 = append(p99, percentile(r.latencies, 99).Seconds())
		allBound = allBound && r.bound >= r.sockets
		allClosed = allClosed && r.closed == r.revoked
		var maxLat time.Duration
		if len(r.latencies) > 0 {
			maxLat = r.latencies[len(r.latencies)-1]
		}
		fmt.Fprintf(&w, "| %d | %d / %d | %s | %s → %s | %s | %s | %s | %.2f | %s | %s | %s | %d / %d |\n", i+1, r.bound, r.sockets,
			fmtDur(r.dialTime), fmtBytes(float64(r.rssBefore)), fmtBytes(float64(r.rssAfter)), fmtBytes(rs), fmtBytes(hp), fmtBytes(sk),
			r.perSocket(r.goroutinesBefore, r.goroutines), fmtDur(percentile(r.latencies, 50)), fmtDur(percentile(r.latencies, 99)),
			fmtDur(maxLat), r.closed, r.revoked)
	}
	fmt.Fprintf(&w, "| median | | | | %s | %s | %s | | %s | %s | | |\n\n", fmtBytes(median(rss)), fmtBytes(median(heap)),
		fmtBytes(median(stack)), fmtDur(secs(median(p50))), fmtDur(secs(median(p99))))
	b.report.section("sockets", w.String())

	held := fmt.Sprintf("%d of %d bound in every run", runs[0].sockets, o.sockets)
	if !allBound {
		held = "not every socket was bound in every run"
	}
	heldOK := allBound && o.sockets >= targetSockets
	if o.sockets < targetSockets {
		held += fmt.Sprintf(" — only %d attempted (-sockets)", o.sockets)
	}
	b.report.target("sockets", "≥ 10,000 idle sockets per replica", held, heldOK)
	goMem := median(heap) + median(stack)
	b.report.target("sockets", "≤ 12 KiB per idle socket — Go heap + goroutine stacks",
		fmt.Sprintf("%s (heap %s + stacks %s)%s", fmtBytes(goMem), fmtBytes(median(heap)), fmtBytes(median(stack)),
			shortfall(goMem > targetBytesPerSocket, fmt.Sprintf("%s over", fmtBytes(goMem-targetBytesPerSocket)))),
		goMem <= targetBytesPerSocket)
	b.report.target("sockets", "≤ 12 KiB per idle socket — process RSS",
		fmt.Sprintf("%s%s", fmtBytes(median(rss)),
			shortfall(median(rss) > targetBytesPerSocket, fmt.Sprintf("%s over", fmtBytes(median(rss)-targetBytesPerSocket)))),
		median(rss) <= targetBytesPerSocket)
	p99v := secs(median(p99))
	b.report.target("sockets", "revoke-to-close p99 < 50 ms (1,000 revocations across two replicas)",
		fmt.Sprintf("p99 %s, p50 %s%s", fmtDur(p99v), fmtDur(secs(median(p50))),
			shortfall(!allClosed, "some sockets never got the close push")),
		allClosed && p99v < targetRevokeToCloseMS*time.Millisecond)
}
