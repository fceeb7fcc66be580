package socket_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/socket"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redisstore"
)

func TestMain(m *testing.M) {
	// go-redis logs every failed redial; the outage tests cause many on purpose.
	redis.SetLogger(quietLogger{})
	if url := os.Getenv(clientProcessEnv); url != "" {
		os.Exit(runClientProcess(url))
	}
	os.Exit(m.Run())
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// closePush stands in for the dialect's close push.
var closePush = []byte(`{"type":"close"}`)

// discard is the hubs' logger: hub goroutines may log after a test has finished with it.
var discard = slog.New(slog.DiscardHandler)

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ---- the test dialect ----

// dialect is a minimal line protocol over the hub:
//
//	bind <userID> <sessionID>  -> "bound" (Bind's reply) or "denied: <error>"
//	echo <text>                -> <text>
//	unbind                     -> "unbound"
type dialect struct {
	sessions socket.SessionChecker
	clock    socket.Clock
}

func (d dialect) HandleMessage(ctx context.Context, c *socket.Conn, msg []byte) {
	cmd, arg, _ := strings.Cut(string(msg), " ")
	switch cmd {
	case "bind":
		uid, sid, _ := strings.Cut(arg, " ")
		ref := store.SessionRef{UserID: uid, SessionID: sid}
		err := c.Bind(ctx, ref, func(ctx context.Context) (time.Time, error) {
			s, err := d.sessions.GetSession(ctx, ref, d.clock.Now())
			return s.Deadline(), err
		}, []byte("bound"))
		if err != nil {
			_ = c.Send([]byte("denied: " + err.Error()))
		}
	case "echo":
		_ = c.Send([]byte(arg))
	case "unbind":
		c.Unbind()
		_ = c.Send([]byte("unbound"))
	default:
		_ = c.Send([]byte("unknown command"))
	}
}

// ---- a hub behind an HTTP server on loopback ----

type testHub struct {
	*socket.Hub
	url string
	// conns receives the server side of every connection, for tests that drive it directly.
	conns chan *socket.Conn
}

// startHub serves a hub over httptest (127.0.0.1) and shuts both down at cleanup.
func startHub(t testing.TB, cfg socket.Config, handler socket.Handler) *testHub {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = discard
	}
	if cfg.ClosePush == nil {
		cfg.ClosePush = closePush
	}
	hub, err := socket.New(cfg)
	must(t, err)
	if handler == nil {
		clock := cfg.Clock
		if clock == nil {
			clock = socket.RealClock{}
		}
		handler = dialect{sessions: cfg.Sessions, clock: clock}
	}
	th := &testHub{Hub: hub, conns: make(chan *socket.Conn, 64)}
	up := socket.NewUpgrader(nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered
		}
		if c, err := hub.Serve(ws, handler); err == nil {
			select {
			case th.conns <- c:
			default: // nobody is collecting them
			}
		}
	}))
	th.url = "ws" + strings.TrimPrefix(srv.URL, "http")
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hub.Shutdown(ctx)
	})
	return th
}

// listen runs hub.Listen until the test ends and waits for the subscription.
func listen(t testing.TB, hub *socket.Hub, revs store.Revocations) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hub.Listen(ctx, revs)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	// Every subscription starts a resync; waiting for it gives tests a settled Resyncs count.
	waitFor(t, 5*time.Second, "revocation subscription", func() bool {
		s := hub.Stats()
		return s.Subscribed && s.Resyncs > 0
	})
}

// waitFor polls cond until it holds or within passes.
func waitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ---- clients ----

type received struct {
	data string
	at   time.Time
}

// client is a browser tab: a gorilla client that reads everything into msgs.
type client struct {
	t    testing.TB
	ws   *websocket.Conn
	msgs chan received
	done chan struct{} // closed when the read loop ends; err is set then
	err  error
}

func dialWS(t testing.TB, url string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	_ = resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

func dial(t testing.TB, url string) *client {
	t.Helper()
	c := &client{t: t, ws: dialWS(t, url), msgs: make(chan received, 1024), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			_, msg, err := c.ws.ReadMessage()
			if err != nil {
				c.err = err
				return
			}
			c.msgs <- received{data: string(msg), at: time.Now()}
		}
	}()
	return c
}

func (c *client) send(msg string) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		c.t.Fatalf("write %q: %v", msg, err)
	}
}

// next waits for the next message.
func (c *client) next(within time.Duration) received {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-c.done:
		select { // a message queued before the close comes first (see expect)
		case m := <-c.msgs:
			return m
		default:
		}
		c.t.Fatalf("connection ended (%v) while waiting for a message", c.err)
	case <-time.After(within):
		c.t.Fatalf("no message within %s", within)
	}
	return received{}
}

// expect waits for the next message and requires it to be want.
func (c *client) expect(want string, within time.Duration) received {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		if m.data != want {
			c.t.Fatalf("got message %q, want %q", m.data, want)
		}
		return m
	case <-c.done:
		// The reader queues a message before it sees the close that follows it, but a
		// select between the two picks at random: a message already queued comes first.
		select {
		case m := <-c.msgs:
			if m.data != want {
				c.t.Fatalf("got message %q, want %q", m.data, want)
			}
			return m
		default:
		}
		c.t.Fatalf("connection ended (%v) while waiting for %q", c.err, want)
	case <-time.After(within):
		c.t.Fatalf("no message within %s, want %q", within, want)
	}
	return received{}
}

// expectSilence requires that no message arrives for d.
func (c *client) expectSilence(d time.Duration) {
	c.t.Helper()
	select {
	case m := <-c.msgs:
		c.t.Fatalf("got unexpected message %q", m.data)
	case <-time.After(d):
	}
}

// expectClosed waits for the connection to end with a close frame of code.
func (c *client) expectClosed(code int, within time.Duration) {
	c.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m := <-c.msgs:
			c.t.Fatalf("got message %q, want close %d", m.data, code)
		case <-c.done:
			if !websocket.IsCloseError(c.err, code) {
				c.t.Fatalf("connection ended with %v, want close code %d", c.err, code)
			}
			return
		case <-deadline:
			c.t.Fatalf("connection not closed within %s", within)
		}
	}
}

// bind binds the client's connection to ref and waits for the reply.
func (c *client) bind(ref store.SessionRef) {
	c.t.Helper()
	c.send("bind " + ref.UserID + " " + ref.SessionID)
	c.expect("bound", 5*time.Second)
}

// ---- store fixtures ----

var tokenHash = newID() // any well-formed hash: these tests never authenticate a token

// sessionStore is what the fixtures need from a backend.
type sessionStore interface {
	CreateUser(ctx context.Context, u store.User, now time.Time) (store.User, error)
	CreateSession(ctx context.Context, req store.NewSession) ([]string, error)
}

func createUser(t testing.TB, st sessionStore, now time.Time) string {
	t.Helper()
	id := newID()
	_, err := st.CreateUser(context.Background(), store.User{ID: id, Login: id + "@example.com", Status: store.StatusActive}, now)
	must(t, err)
	return id
}

// createSession stores a session of user that ends at now+life, or after idle without use.
func createSession(t testing.TB, st sessionStore, userID string, now time.Time, life, idle time.Duration) store.SessionRef {
	t.Helper()
	ref, err := storeSession(st, userID, now, life, idle)
	must(t, err)
	return ref
}

// storeSession is createSession for goroutines other than the test's.
func storeSession(st sessionStore, userID string, now time.Time, life, idle time.Duration) (store.SessionRef, error) {
	s := store.Session{ID: newID(), UserID: userID, Dialect: "reactAuth", TokenHash: tokenHash,
		IdleTimeout: idle, ExpiresAt: now.Add(life)}
	_, err := st.CreateSession(context.Background(), store.NewSession{Session: s, Now: now})
	return s.Ref(), err
}

// ---- Redis ----

// redisConfig is a replica's Redis config; replicas of one realm share prefix.
func redisConfig(addr, prefix string) config.Redis {
	return config.Redis{
		Mode:         config.RedisStandalone,
		Addresses:    []string{addr},
		KeyPrefix:    prefix,
		DialTimeout:  config.D(time.Second),
		ReadTimeout:  config.D(2 * time.Second),
		WriteTimeout: config.D(2 * time.Second),
	}
}

func openRedis(t testing.TB, cfg config.Redis) *redisstore.Store {
	t.Helper()
	st, err := redisstore.Open(&cfg)
	must(t, err)
	t.Cleanup(func() { _ = st.Close() })
	must(t, st.LoadScripts(context.Background()))
	return st
}

// replica is one auth-server replica: its own Redis client, hub and HTTP server.
type replica struct {
	*testHub
	st *redisstore.Store
}

func startReplica(t testing.TB, cfg config.Redis, hubCfg socket.Config) *replica {
	t.Helper()
	st := openRedis(t, cfg)
	hubCfg.Sessions = st
	r := &replica{testHub: startHub(t, hubCfg, nil), st: st}
	listen(t, r.Hub, st)
	return r
}

// ---- a TCP proxy that can cut a replica off from Redis ----

// proxy forwards loopback TCP to a target. cut closes every forwarded connection and refuses
// new ones until restore: a network partition between one replica and Redis.
type proxy struct {
	addr   string
	target string
	ln     net.Listener

	mu    sync.Mutex
	up    bool
	conns map[net.Conn]struct{}
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	p := &proxy{addr: ln.Addr().String(), target: target, ln: ln, up: true, conns: map[net.Conn]struct{}{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		p.cut()
	})
	return p
}

func (p *proxy) forward(c net.Conn) {
	p.mu.Lock()
	if !p.up {
		p.mu.Unlock()
		_ = c.Close()
		return
	}
	up, err := net.DialTimeout("tcp", p.target, time.Second)
	if err != nil {
		p.mu.Unlock()
		_ = c.Close()
		return
	}
	p.conns[c], p.conns[up] = struct{}{}, struct{}{}
	p.mu.Unlock()
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		_ = dst.Close()
		_ = src.Close()
	}
	go pipe(up, c)
	pipe(c, up)
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = false
	for c := range p.conns {
		_ = c.Close()
	}
}

func (p *proxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = true
}

// ---- a fake clock for expiry ----

type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]struct{}
}

type fakeTimer struct {
	c  *fakeClock
	at time.Time
	f  func()
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.UnixMilli(time.Now().UnixMilli()), timers: map[*fakeTimer]struct{}{}}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) socket.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	if d <= 0 {
		go f()
		return t
	}
	c.timers[t] = struct{}{}
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	_, pending := t.c.timers[t]
	delete(t.c.timers, t)
	return pending
}

// Advance moves time forward and runs the timers that came due, each in its own goroutine
// as time.AfterFunc does.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	for t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t)
			delete(c.timers, t)
		}
	}
	c.mu.Unlock()
	for _, t := range due {
		go t.f()
	}
}

// Pending is the number of timers waiting.
func (c *fakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// flakyStore fails GetSession with ErrUnavailable while down is set: a Redis outage.
type flakyStore struct {
	socket.SessionChecker
	mu   sync.Mutex
	down bool
}

func (f *flakyStore) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

func (f *flakyStore) GetSession(ctx context.Context, ref store.SessionRef, now time.Time) (store.Session, error) {
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return store.Session{}, fmt.Errorf("flaky: %w", store.ErrUnavailable)
	}
	return f.SessionChecker.GetSession(ctx, ref, now)
}
