package socket_test

import (
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/socket"
	"github.com/latchauth/latch/authserver/store/redistest"
)

// TestExpiryRechecksBeforeClosing: at a session's deadline the hub asks the store; a session
// whose idle window slid meanwhile (used through another replica) is kept and re-armed, and
// it is closed at its real end. One timer serves every tab of the session.
func TestExpiryRechecksBeforeClosing(t *testing.T) {
	const idle = 10 * time.Minute
	clock := newFakeClock()
	st := newMemory(t)
	ref := createSession(t, st, createUser(t, st, clock.Now()), clock.Now(), 24*time.Hour, idle)
	h := startHub(t, socket.Config{Sessions: st, Clock: clock}, nil)
	tabs := []*client{dial(t, h.url), dial(t, h.url), dial(t, h.url)}
	for _, c := range tabs {
		c.bind(ref)
	}
	if n := clock.Pending(); n != 1 {
		t.Fatalf("%d timers for one session, want 1", n)
	}

	// Halfway, another replica uses the session: its idle window now ends 5 minutes later
	// than the deadline the tabs were bound with.
	clock.Advance(idle / 2)
	_, err := st.TouchSession(t.Context(), ref, clock.Now())
	must(t, err)

	clock.Advance(idle/2 + time.Second) // past the deadline known at bind time
	waitFor(t, 2*time.Second, "the expiry re-check", func() bool { return h.Stats().ExpiryChecks == 1 })
	waitFor(t, 2*time.Second, "the timer to be re-armed", func() bool { return clock.Pending() == 1 })
	for _, c := range tabs {
		c.expectSilence(silence / 3)
	}

	clock.Advance(idle / 2) // past the slid deadline
	for _, c := range tabs {
		c.expect(string(closePush), 2*time.Second)
	}
	if s := h.Stats(); s.ExpiryChecks != 2 || s.BoundSessions != 0 || s.ClosesPushed != 3 {
		t.Errorf("stats: %+v", s)
	}
}

// TestExpiryWaitsOutAStoreOutage: a deadline that comes while the store cannot answer closes
// nothing (the session may be live); the re-check is retried and closes once the store
// confirms the end.
func TestExpiryWaitsOutAStoreOutage(t *testing.T) {
	clock := newFakeClock()
	st := &flakyStore{SessionChecker: newMemory(t)}
	mem := st.SessionChecker.(sessionStore)
	ref := createSession(t, mem, createUser(t, mem, clock.Now()), clock.Now(), time.Hour, 0)
	h := startHub(t, socket.Config{Sessions: st, Clock: clock}, nil)
	c := dial(t, h.url)
	c.bind(ref)

	st.setDown(true)
	clock.Advance(time.Hour)
	waitFor(t, 2*time.Second, "the failed re-check to re-arm", func() bool {
		return h.Stats().ExpiryChecks == 1 && clock.Pending() == 1
	})
	c.expectSilence(silence)

	st.setDown(false)
	clock.Advance(time.Minute) // beyond the longest first retry
	c.expect(string(closePush), 2*time.Second)
	if n := h.Stats().ExpiryChecks; n != 2 {
		t.Errorf("ExpiryChecks = %d, want 2", n)
	}
}

// TestExpiryClosesWithoutPublish: on real Redis and the real clock, a socket is closed at its
// session's expiry, though nothing announced it: no revocation is published for an expiry.
func TestExpiryClosesWithoutPublish(t *testing.T) {
	const life = 1500 * time.Millisecond
	srv := redistest.Start(t)
	r := startReplica(t, redisConfig(srv.Addr, newID()+":"), socket.Config{})
	feed, err := r.st.SubscribeRevocations(t.Context())
	must(t, err)
	now := time.Now()
	ref := createSession(t, r.st, createUser(t, r.st, now), now, life, 0)
	c := dial(t, r.url)
	c.bind(ref)
	m := c.expect(string(closePush), life+2*time.Second)
	late := m.at.Sub(now.Add(life))
	t.Logf("closed %s after the session's expiry", late.Round(time.Millisecond))
	if late < -10*time.Millisecond || late > time.Second { // ms rounding of stored times
		t.Errorf("closed %s after the expiry, want at it", late)
	}
	select {
	case ev := <-feed:
		t.Errorf("an expiry published %+v", ev)
	default:
	}
	if s := r.Stats(); s.ExpiryChecks != 1 || s.SessionsEnded != 1 {
		t.Errorf("stats: %+v", s)
	}
}
