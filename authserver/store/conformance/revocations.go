package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// eventTimeout bounds the wait for a published revocation.
const eventTimeout = 5 * time.Second

func subscribe(t *testing.T, f *fixture, ctx context.Context) <-chan store.RevocationEvent {
	t.Helper()
	ch, err := f.s.SubscribeRevocations(ctx)
	must(t, err, "subscribe")
	return ch
}

func nextEvent(t *testing.T, ch <-chan store.RevocationEvent) store.RevocationEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed while waiting for an event")
		}
		return ev
	case <-time.After(eventTimeout):
		t.Fatalf("no revocation event within %s", eventTimeout)
	}
	return store.RevocationEvent{}
}

func expectRevocation(t *testing.T, ch <-chan store.RevocationEvent, want store.Revocation) {
	t.Helper()
	ev := nextEvent(t, ch)
	if ev.Resync {
		t.Fatalf("got a resync, want %+v", want)
	}
	if d := diff(want, ev.Revocation); d != "" {
		t.Errorf("revocation: %s", d)
	}
}

func testRevocationEvents(t *testing.T, f *fixture) {
	a, b := subscribe(t, f, f.ctx), subscribe(t, f, f.ctx)
	both := func(want store.Revocation) {
		t.Helper()
		expectRevocation(t, a, want)
		expectRevocation(t, b, want)
	}
	u := f.createUser("bea@example.com")

	s, secret := f.createSession(u)
	// A refused revoke announces nothing: the next event is the logout below.
	_, err := f.s.RevokeSession(f.ctx, s.Ref(), hashOf("wrong"), store.ReasonLogout, f.now)
	wantErr(t, err, store.ErrInvalidToken, "refused revoke")
	at := f.tick(time.Second)
	_, err = f.s.RevokeSession(f.ctx, s.Ref(), hashOf(secret), store.ReasonLogout, at)
	must(t, err, "logout")
	both(store.Revocation{UserID: u.ID, SessionID: s.ID, Reason: store.ReasonLogout, At: at})

	s1, _ := f.createSession(u)
	s2, _ := f.createSession(u, func(s *store.Session) { s.Dialect = "account" })
	at = f.tick(time.Second)
	ended, err := f.s.RevokeAllSessions(f.ctx, u.ID, "", store.ReasonRevokeAll, at)
	must(t, err, "revoke all")
	if len(ended) != 2 {
		t.Fatalf("revoke-all ended %v", ended)
	}
	got := map[string]bool{}
	for range 2 {
		ev := nextEvent(t, a)
		if ev.Resync || ev.Revocation.Reason != store.ReasonRevokeAll || ev.Revocation.UserID != u.ID || !ev.Revocation.At.Equal(at) {
			t.Errorf("revoke-all event %+v", ev)
		}
		got[ev.Revocation.SessionID] = true
		nextEvent(t, b)
	}
	if !got[s1.ID] || !got[s2.ID] {
		t.Errorf("revoke-all announced %v, want %s and %s", got, s1.ID, s2.ID)
	}

	s3, _ := f.createSession(u)
	at = f.tick(time.Second)
	_, err = f.s.SetPassword(f.ctx, u.ID, "h2", "", at)
	must(t, err, "set password")
	both(store.Revocation{UserID: u.ID, SessionID: s3.ID, Reason: store.ReasonPasswordChanged, At: at})

	s4, _ := f.createSession(u)
	at = f.tick(time.Second)
	_, err = f.s.CreateSession(f.ctx, store.NewSession{Session: f.session(u, newSecret()), Limit: store.DeviceLimit{Max: 1}, Now: at})
	must(t, err, "create with eviction")
	both(store.Revocation{UserID: u.ID, SessionID: s4.ID, Reason: store.ReasonEvicted, At: at})

	s5, _ := f.createSession(u, func(s *store.Session) { s.Dialect, s.RefreshHash = "keyToken", hashOf("r0") })
	_, _, err = f.s.RefreshSession(f.ctx, store.Refresh{Ref: s5.Ref(), PresentedRefreshHash: hashOf("r0"), NewTokenHash: hashOf("t1"), NewRefreshHash: hashOf("r1"), Now: f.now})
	must(t, err, "refresh")
	at = f.tick(time.Second)
	_, _, err = f.s.RefreshSession(f.ctx, store.Refresh{Ref: s5.Ref(), PresentedRefreshHash: hashOf("r0"), NewTokenHash: hashOf("t2"), NewRefreshHash: hashOf("r2"), Now: at})
	wantErr(t, err, store.ErrTokenReused, "refresh reuse")
	both(store.Revocation{UserID: u.ID, SessionID: s5.ID, Reason: store.ReasonRefreshReuse, At: at})

	r := store.Revocation{UserID: u.ID, SessionID: newID(), Reason: store.ReasonExpired, At: f.tick(time.Second)}
	must(t, f.s.PublishRevocation(f.ctx, r), "publish")
	both(r)

	err = f.s.PublishRevocation(f.ctx, store.Revocation{UserID: u.ID, SessionID: "{}", Reason: store.ReasonAdmin, At: f.now})
	wantErr(t, err, store.ErrInvalidArgument, "publish a malformed revocation")
}

func testRevocationSubscriptionEnds(t *testing.T, f *fixture) {
	ctx, cancel := context.WithCancel(f.ctx)
	ch := subscribe(t, f, ctx)
	other := subscribe(t, f, f.ctx)
	cancel()
	deadline := time.After(eventTimeout)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				// The other subscription is unaffected.
				r := store.Revocation{UserID: newID(), SessionID: newID(), Reason: store.ReasonAdmin, At: f.now}
				must(t, f.s.PublishRevocation(f.ctx, r), "publish")
				expectRevocation(t, other, r)
				return
			}
		case <-deadline:
			t.Fatal("the subscription's channel stayed open after its context ended")
		}
	}
}
