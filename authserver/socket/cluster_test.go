package socket_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/latchauth/latch/authserver/socket"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/memory"
	"github.com/latchauth/latch/authserver/store/redistest"
)

// crossReplicaBudget is how soon a session ended on one replica must close its sockets on
// every other.
const crossReplicaBudget = time.Second

// TestRevocationReachesEveryReplica: two replicas, each with its own Redis client on one
// Redis. A logout through replica A closes every tab of the session on both replicas within
// the budget; other sessions' sockets and unbound sockets get nothing.
func TestRevocationReachesEveryReplica(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newID() + ":"
	a := startReplica(t, redisConfig(srv.Addr, prefix), socket.Config{})
	b := startReplica(t, redisConfig(srv.Addr, prefix), socket.Config{})
	now := time.Now()
	uid := createUser(t, a.st, now)
	target := createSession(t, a.st, uid, now, time.Hour, 0)
	bystander := createSession(t, a.st, createUser(t, a.st, now), now, time.Hour, 0)

	var tabs []*client
	for range 5 {
		c := dial(t, b.url)
		c.bind(target)
		tabs = append(tabs, c)
	}
	onA := dial(t, a.url)
	onA.bind(target)
	tabs = append(tabs, onA)
	others := []*client{dial(t, a.url), dial(t, b.url), dial(t, b.url)}
	others[0].bind(bystander)
	others[1].bind(bystander)
	// others[2] stays unbound.

	start := time.Now()
	_, err := a.st.RevokeSession(t.Context(), target, "", store.ReasonLogout, start)
	must(t, err)
	var slowest time.Duration
	for _, c := range tabs {
		m := c.expect(string(closePush), crossReplicaBudget)
		slowest = max(slowest, m.at.Sub(start))
	}
	t.Logf("revoke on A to close on all %d tabs (5 on B, 1 on A): %s", len(tabs), slowest.Round(time.Microsecond))
	for _, c := range others {
		c.expectSilence(silence)
	}
	if s := b.Stats(); s.ClosesPushed != 5 || s.BoundSessions != 1 || s.BoundConnections != 1 {
		t.Errorf("replica B stats: %+v", s)
	}
}

// TestPubSubKillRecovered: the replica's pub/sub connection is killed on the Redis server;
// the subscription comes back, and a revocation made right after the kill still closes the
// socket, whether it arrives as an event or is found by the resync that follows the gap.
func TestPubSubKillRecovered(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newID() + ":"
	a := startReplica(t, redisConfig(srv.Addr, prefix), socket.Config{})
	b := startReplica(t, redisConfig(srv.Addr, prefix), socket.Config{})
	now := time.Now()
	uid := createUser(t, a.st, now)
	first, second := createSession(t, a.st, uid, now, time.Hour, 0), createSession(t, a.st, uid, now, time.Hour, 0)
	c1, c2 := dial(t, b.url), dial(t, b.url)
	c1.bind(first)
	c2.bind(second)
	resyncs := b.Stats().Resyncs

	admin := srv.Client()
	killed, err := admin.ClientKillByFilter(t.Context(), "TYPE", "pubsub").Result()
	must(t, err)
	if killed < 2 {
		t.Fatalf("CLIENT KILL TYPE pubsub killed %d clients, want both replicas'", killed)
	}
	_, err = a.st.RevokeSession(t.Context(), first, "", store.ReasonAdmin, time.Now())
	must(t, err)
	c1.expect(string(closePush), 5*time.Second)
	waitFor(t, 5*time.Second, "a resync after the reconnect", func() bool { return b.Stats().Resyncs > resyncs })

	// The subscription is live again: the next revocation arrives as an event.
	start := time.Now()
	_, err = a.st.RevokeSession(t.Context(), second, "", store.ReasonAdmin, start)
	must(t, err)
	m := c2.expect(string(closePush), crossReplicaBudget)
	t.Logf("after the reconnect, revoke to close: %s", m.at.Sub(start).Round(time.Microsecond))
}

// TestRevocationDuringGapClosedByResync: replica B is cut off from Redis (a partition between
// it and Redis, by a proxy), a session is revoked through A meanwhile, so B never gets that
// event; when B reconnects, its resync finds the session gone and closes the socket.
func TestRevocationDuringGapClosedByResync(t *testing.T) {
	srv := redistest.Start(t)
	prefix := newID() + ":"
	a := startReplica(t, redisConfig(srv.Addr, prefix), socket.Config{})
	p := startProxy(t, srv.Addr)
	b := startReplica(t, redisConfig(p.addr, prefix), socket.Config{})
	now := time.Now()
	uid := createUser(t, a.st, now)
	revoked, kept := createSession(t, a.st, uid, now, time.Hour, 0), createSession(t, a.st, uid, now, time.Hour, 0)
	gone, stays := dial(t, b.url), dial(t, b.url)
	gone.bind(revoked)
	stays.bind(kept)
	resyncs := b.Stats().Resyncs

	p.cut()
	_, err := a.st.RevokeSession(t.Context(), revoked, "", store.ReasonAdmin, time.Now())
	must(t, err)
	gone.expectSilence(silence) // B cannot know yet
	p.restore()
	restored := time.Now()

	m := gone.expect(string(closePush), 5*time.Second)
	t.Logf("closed %s after B's link to Redis came back", m.at.Sub(restored).Round(time.Millisecond))
	// The push is sent from inside the resync, which counts itself once all its checks are
	// done.
	waitFor(t, 2*time.Second, "the resync to finish", func() bool { return b.Stats().Resyncs > resyncs })
	stays.expectSilence(silence)
}

// revocationFeed is a Revocations whose subscriptions the test controls: each call takes the
// next outcome queued in subs.
type revocationFeed struct {
	subs  chan subscription
	calls chan struct{}
}

type subscription struct {
	ch  chan store.RevocationEvent
	err error
}

func (f *revocationFeed) PublishRevocation(context.Context, store.Revocation) error { return nil }

func (f *revocationFeed) SubscribeRevocations(ctx context.Context) (<-chan store.RevocationEvent, error) {
	f.calls <- struct{}{}
	select {
	case s := <-f.subs:
		return s.ch, s.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestListenResubscribesWhenFeedCloses: a feed that closes under a live context is subscribed
// again (after a failed attempt, with back-off), and the resync that follows closes a session
// that ended while nobody listened.
func TestListenResubscribesWhenFeedCloses(t *testing.T) {
	st := memory.New()
	t.Cleanup(func() { _ = st.Close() })
	now := time.Now()
	ref := createSession(t, st, createUser(t, st, now), now, time.Hour, 0)
	h := startHub(t, socket.Config{Sessions: st}, nil)
	feed := &revocationFeed{subs: make(chan subscription, 3), calls: make(chan struct{}, 3)}
	first := make(chan store.RevocationEvent)
	feed.subs <- subscription{ch: first}
	feed.subs <- subscription{err: store.ErrUnavailable}
	feed.subs <- subscription{ch: make(chan store.RevocationEvent)}
	listen(t, h.Hub, feed)
	c := dial(t, h.url)
	c.bind(ref)

	// Ended in the store; the feed carries nothing of it, and then closes.
	_, err := st.RevokeSession(t.Context(), ref, "", store.ReasonAdmin, time.Now())
	must(t, err)
	c.expectSilence(silence)
	close(first)
	c.expect(string(closePush), 5*time.Second)
	if n := len(feed.calls); n != 3 {
		t.Errorf("SubscribeRevocations called %d times, want 3", n)
	}
	if !h.Stats().Subscribed {
		t.Error("not subscribed after the recovery")
	}
}

// TestShutdownEndsNoSession: a rolling restart closes the sockets with 1001 and leaves every
// session in Redis, announcing nothing.
func TestShutdownEndsNoSession(t *testing.T) {
	srv := redistest.Start(t)
	r := startReplica(t, redisConfig(srv.Addr, newID()+":"), socket.Config{})
	feed, err := r.st.SubscribeRevocations(t.Context())
	must(t, err)
	now := time.Now()
	uid := createUser(t, r.st, now)
	var refs []store.SessionRef
	var clients []*client
	for range 3 {
		ref := createSession(t, r.st, uid, now, time.Hour, 0)
		c := dial(t, r.url)
		c.bind(ref)
		refs, clients = append(refs, ref), append(clients, c)
	}
	clients = append(clients, dial(t, r.url)) // unbound

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	must(t, r.Shutdown(ctx))
	for _, c := range clients {
		c.expectClosed(websocket.CloseGoingAway, time.Second)
	}
	if s := r.Stats(); s.Connections != 0 || s.ClosesPushed != 0 || s.SessionsEnded != 0 {
		t.Errorf("stats after shutdown: %+v", s)
	}
	for _, ref := range refs {
		if _, err := r.st.GetSession(t.Context(), ref, time.Now()); err != nil {
			t.Errorf("session %s after shutdown: %v", ref.SessionID, err)
		}
	}
	select {
	case ev := <-feed:
		t.Errorf("shutdown announced %+v", ev)
	case <-time.After(silence):
	}
}

// TestResyncRetriesAtOnceWhenAskedAgain: resyncs that fail during a store outage back off,
// doubling. A session ends meanwhile. When the store is back and the subscription asks again
// (a reconnection's Resync), the resync must run at once, not when the grown back-off
// ends: the clock here never moves, so only an immediate retry closes the socket.
func TestResyncRetriesAtOnceWhenAskedAgain(t *testing.T) {
	clock := newFakeClock()
	mem := newMemory(t)
	st := &flakyStore{SessionChecker: mem}
	ref := createSession(t, mem, createUser(t, mem, clock.Now()), clock.Now(), time.Hour, 0)
	h := startHub(t, socket.Config{Sessions: st, Clock: clock}, nil)
	feed := &revocationFeed{subs: make(chan subscription, 1), calls: make(chan struct{}, 1)}
	events := make(chan store.RevocationEvent, 4)
	feed.subs <- subscription{ch: events}
	listen(t, h.Hub, feed)
	c := dial(t, h.url)
	c.bind(ref)
	pending := clock.Pending() // the session's expiry timer

	st.setDown(true)
	events <- store.RevocationEvent{Resync: true}
	for i := range 3 { // three failed attempts: the back-off has grown to 0.8 s
		waitFor(t, 2*time.Second, fmt.Sprintf("failed resync %d to wait", i+1), func() bool { return clock.Pending() > pending })
		clock.Advance(resyncBackoffCeiling)
	}
	waitFor(t, 2*time.Second, "the fourth wait", func() bool { return clock.Pending() > pending })
	_, err := mem.RevokeSession(t.Context(), ref, "", store.ReasonAdmin, clock.Now())
	must(t, err)
	c.expectSilence(silence)

	st.setDown(false)
	events <- store.RevocationEvent{Resync: true}
	c.expect(string(closePush), 2*time.Second)
}

// resyncBackoffCeiling is more than any of the first three resync back-offs (0.2, 0.4, 0.8 s
// with ±20 % jitter).
const resyncBackoffCeiling = time.Second
