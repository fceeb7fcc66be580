package redisstore_test

import (
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redistest"
)

// TestSubscriptionReportsReconnect: when the pub/sub connection drops, revocations published
// until go-redis resubscribes are lost, so the subscriber is told to resync; events flow again
// after it.
func TestSubscriptionReportsReconnect(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := openStore(t, redisConfig(config.RedisStandalone, srv.Addr))
	events, err := s.SubscribeRevocations(t.Context())
	must(t, err)
	must(t, srv.Client().Do(t.Context(), "CLIENT", "KILL", "TYPE", "pubsub").Err())
	waitResync(t, events)
	r := store.Revocation{UserID: newID(), SessionID: newID(), Reason: store.ReasonAdmin, At: msNow()}
	must(t, s.PublishRevocation(t.Context(), r))
	waitRevocation(t, events, r.SessionID)
}

// TestRevocationsReachEveryReplica: two replicas (two stores over one cluster, one key
// prefix). Sessions ended on one, whatever node their user's slot lives on, are announced to
// the other, from inside the scripts that end them.
func TestRevocationsReachEveryReplica(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	cfg := redisConfig(config.RedisCluster, cluster.Addrs...)
	a, b := openStore(t, cfg), openStore(t, cfg)
	events, err := b.SubscribeRevocations(t.Context())
	must(t, err)
	ctx, now := t.Context(), msNow()
	// Enough users that their slots cover all three masters.
	want := map[string]bool{}
	for range 12 {
		u, err := a.CreateUser(ctx, store.User{ID: newID(), Login: newID(), Status: store.StatusActive}, now)
		must(t, err)
		sess := store.Session{ID: newID(), UserID: u.ID, Dialect: "account", TokenHash: hashOf("t"), ExpiresAt: now.Add(time.Hour)}
		_, err = a.CreateSession(ctx, store.NewSession{Session: sess, Now: now})
		must(t, err)
		_, err = a.RevokeSession(ctx, sess.Ref(), hashOf("t"), store.ReasonLogout, now)
		must(t, err)
		want[sess.ID] = true
	}
	timeout := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case ev := <-events:
			if ev.Resync || ev.Revocation.Reason != store.ReasonLogout {
				t.Fatalf("unexpected event %+v", ev)
			}
			delete(want, ev.Revocation.SessionID)
		case <-timeout:
			t.Fatalf("%d revocations never reached the other replica", len(want))
		}
	}
	masters := map[string]bool{}
	for _, n := range cluster.Nodes {
		if size, err := n.Client().DBSize(ctx).Result(); err == nil && size > 0 {
			masters[n.Addr] = true
		}
	}
	if len(masters) < 2 {
		t.Errorf("the users' keys landed on %d master(s); the test needs several", len(masters))
	}
}
