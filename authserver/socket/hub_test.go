package socket_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/latchauth/latch/authserver/socket"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/memory"
)

// silence is how long a socket that should get nothing is watched.
const silence = 300 * time.Millisecond

func newMemory(t *testing.T) *memory.Store {
	st := memory.New()
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestNewValidatesConfig(t *testing.T) {
	st := newMemory(t)
	for name, cfg := range map[string]socket.Config{
		"no sessions":         {ClosePush: closePush},
		"no close push":       {Sessions: st},
		"ping after pong":     {Sessions: st, ClosePush: closePush, PongWait: time.Second, PingPeriod: time.Second},
		"negative read limit": {Sessions: st, ClosePush: closePush, ReadLimit: -1},
	} {
		if _, err := socket.New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	if _, err := socket.New(socket.Config{Sessions: st, ClosePush: closePush}); err != nil {
		t.Errorf("New with defaults: %v", err)
	}
}

// TestCloseSessionReachesEveryTabOnly: every tab of the session gets the push once; other
// sessions' sockets and unbound ones get nothing; the tabs stay open, unbound.
func TestCloseSessionReachesEveryTabOnly(t *testing.T) {
	st := newMemory(t)
	now := time.Now()
	uid := createUser(t, st, now)
	s1 := createSession(t, st, uid, now, time.Hour, 0)
	s2 := createSession(t, st, uid, now, time.Hour, 0)
	h := startHub(t, socket.Config{Sessions: st}, nil)

	tabs := make([]*client, 4)
	for i := range tabs {
		tabs[i] = dial(t, h.url)
		tabs[i].bind(s1)
	}
	other, unbound := dial(t, h.url), dial(t, h.url)
	other.bind(s2)
	// The unbound tab has no exchange to wait on: the hub counts it once its handler runs.
	waitFor(t, 2*time.Second, "six connections, five bound to two sessions", func() bool {
		st := h.Stats()
		return st.Connections == 6 && st.BoundConnections == 5 && st.BoundSessions == 2
	})

	if n := h.CloseSession(s1.SessionID, closePush); n != len(tabs) {
		t.Fatalf("CloseSession pushed to %d connections, want %d", n, len(tabs))
	}
	for _, c := range tabs {
		c.expect(string(closePush), time.Second)
	}
	other.expectSilence(silence)
	unbound.expectSilence(0)
	if n := h.CloseSession(s1.SessionID, closePush); n != 0 {
		t.Errorf("second CloseSession pushed to %d connections", n)
	}
	// The tabs are open and unbound: they answer, and get no push for the next session.
	tabs[0].send("echo still here")
	tabs[0].expect("still here", time.Second)
	st2 := h.Stats()
	if st2.Connections != 6 || st2.BoundConnections != 1 || st2.BoundSessions != 1 ||
		st2.ClosesPushed != uint64(len(tabs)) || st2.SessionsEnded != 1 {
		t.Errorf("stats after close: %+v", st2)
	}
}

func TestCloseAfterPushClosesTheSocket(t *testing.T) {
	st := newMemory(t)
	now := time.Now()
	ref := createSession(t, st, createUser(t, st, now), now, time.Hour, 0)
	h := startHub(t, socket.Config{Sessions: st, CloseAfterPush: true}, nil)
	c := dial(t, h.url)
	c.bind(ref)
	h.CloseSession(ref.SessionID, closePush)
	c.expect(string(closePush), time.Second) // the push comes before the close frame
	c.expectClosed(websocket.CloseNormalClosure, 2*time.Second)
	waitFor(t, 2*time.Second, "connection removed", func() bool { return h.Stats().Connections == 0 })
}

func TestBindRefusesEndedSession(t *testing.T) {
	st := newMemory(t)
	now := time.Now()
	ref := createSession(t, st, createUser(t, st, now), now, time.Hour, 0)
	_, err := st.RevokeSession(t.Context(), ref, "", store.ReasonLogout, now)
	must(t, err)
	h := startHub(t, socket.Config{Sessions: st}, nil)
	c := dial(t, h.url)
	c.send("bind " + ref.UserID + " " + ref.SessionID)
	m := c.next(2 * time.Second)
	if !strings.HasPrefix(m.data, "denied:") || !strings.Contains(m.data, store.ErrNotFound.Error()) {
		t.Fatalf("bind of a revoked session answered %q", m.data)
	}
	if s := h.Stats(); s.BoundConnections != 0 || s.BoundSessions != 0 {
		t.Errorf("stats after refused bind: %+v", s)
	}
}

// TestBindRacingAnEnd: an end announced while Bind's check runs (the check said live just
// before the revocation) must not leave the socket bound to a dead session.
func TestBindRacingAnEnd(t *testing.T) {
	st := newMemory(t)
	now := time.Now()
	ref := createSession(t, st, createUser(t, st, now), now, time.Hour, 0)
	checking, release := make(chan struct{}), make(chan struct{})
	bindErr := make(chan error, 1)
	handler := socket.HandlerFunc(func(ctx context.Context, c *socket.Conn, _ []byte) {
		bindErr <- c.Bind(ctx, ref, func(context.Context) (time.Time, error) {
			close(checking)
			<-release
			return now.Add(time.Hour), nil // the store said live before the end
		}, []byte("bound"))
	})
	h := startHub(t, socket.Config{Sessions: st}, handler)
	c := dial(t, h.url)
	c.send("resume")
	<-checking
	if n := h.CloseSession(ref.SessionID, closePush); n != 0 {
		t.Fatalf("CloseSession pushed to %d connections during the check", n)
	}
	close(release)
	if err := <-bindErr; !errors.Is(err, socket.ErrSessionEnded) {
		t.Fatalf("Bind = %v, want ErrSessionEnded", err)
	}
	c.expectSilence(silence) // neither the reply nor a push
	if s := h.Stats(); s.BoundConnections != 0 || s.BoundSessions != 0 {
		t.Errorf("stats: %+v", s)
	}
}

func TestRebindMovesTheConnection(t *testing.T) {
	st := newMemory(t)
	now := time.Now()
	uid := createUser(t, st, now)
	s1, s2 := createSession(t, st, uid, now, time.Hour, 0), createSession(t, st, uid, now, time.Hour, 0)
	h := startHub(t, socket.Config{Sessions: st}, nil)
	c := dial(t, h.url)
	c.bind(s1)
	c.bind(s2)
	if n := h.CloseSession(s1.SessionID, closePush); n != 0 {
		t.Errorf("the old session still reached %d connections", n)
	}
	c.expectSilence(silence)
	if n := h.CloseSession(s2.SessionID, closePush); n != 1 {
		t.Errorf("the new session reached %d connections, want 1", n)
	}
	c.expect(string(closePush), time.Second)
	c.send("unbind")
	c.expect("unbound", time.Second)
}

func TestBindRefusesSessionUnderAnotherUser(t *testing.T) {
	st := newMemory(t)
	now := time.Now()
	ref := createSession(t, st, createUser(t, st, now), now, time.Hour, 0)
	h := startHub(t, socket.Config{Sessions: st}, nil)
	dial(t, h.url).bind(ref)
	c := dial(t, h.url)
	c.send("bind " + newID() + " " + ref.SessionID)
	m := c.next(2 * time.Second)
	if !strings.Contains(m.data, socket.ErrSessionMismatch.Error()) {
		t.Fatalf("bind under another user answered %q", m.data)
	}
}

func TestHandlerPanicClosesOnlyItsConnection(t *testing.T) {
	st := newMemory(t)
	handler := socket.HandlerFunc(func(_ context.Context, c *socket.Conn, msg []byte) {
		if string(msg) == "panic" {
			panic("boom")
		}
		_ = c.Send(msg)
	})
	h := startHub(t, socket.Config{Sessions: st}, handler)
	bad, good := dial(t, h.url), dial(t, h.url)
	bad.send("panic")
	bad.expectClosed(websocket.CloseInternalServerErr, 2*time.Second)
	good.send("hello")
	good.expect("hello", time.Second)
}

func TestBinaryMessagesAreRefused(t *testing.T) {
	h := startHub(t, socket.Config{Sessions: newMemory(t)}, nil)
	c := dial(t, h.url)
	must(t, c.ws.WriteMessage(websocket.BinaryMessage, []byte{1, 2, 3}))
	c.expectClosed(websocket.CloseUnsupportedData, 2*time.Second)
}

func TestServeAfterShutdownRefuses(t *testing.T) {
	h := startHub(t, socket.Config{Sessions: newMemory(t)}, nil)
	must(t, h.Shutdown(t.Context()))
	c := dial(t, h.url)
	c.expectClosed(websocket.CloseGoingAway, 2*time.Second)
}

// TestShutdownDeadlineDropsStragglers: a peer that never answers the close frame does not
// hold Shutdown past its context.
func TestShutdownDeadlineDropsStragglers(t *testing.T) {
	h := startHub(t, socket.Config{Sessions: newMemory(t)}, nil)
	dialWS(t, h.url) // never reads, so never answers the close frame
	waitFor(t, time.Second, "the connection", func() bool { return h.Stats().Connections == 1 })
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := h.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Shutdown took %s with a 100ms context", d)
	}
	waitFor(t, time.Second, "the straggler to be dropped", func() bool { return h.Stats().Connections == 0 })
}
