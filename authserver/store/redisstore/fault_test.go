package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redisstore"
	"github.com/latchauth/latch/authserver/store/redistest"
)

// startReplicated starts a master and one replica of it and waits until the replica is
// linked and in sync.
func startReplicated(t *testing.T) (master, replica *redistest.Server) {
	t.Helper()
	master = redistest.Start(t)
	_, port, _ := strings.Cut(master.Addr, ":")
	replica = redistest.Start(t, "--replicaof", "127.0.0.1 "+port)
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	rc := replica.Client()
	for {
		info, err := rc.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return master, replica
		}
		select {
		case <-ctx.Done():
			t.Fatalf("replica never linked: %v\n%s", err, info)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// promote makes the replica a master, as Sentinel does in a failover.
func promote(t *testing.T, replica *redistest.Server) {
	t.Helper()
	must(t, replica.Client().Do(t.Context(), "REPLICAOF", "NO", "ONE").Err())
}

// TestFencedLogoutIsNotUndoneByFailover is the failover that brought logged-out sessions
// back: the replica lags (here: it is stopped), a user logs out, the master dies, the replica
// is promoted. Without a fence the logout answers success and the promoted replica still
// accepts the session. With one, the logout is never answered as a success unless the
// replica holds it.
func TestFencedLogoutIsNotUndoneByFailover(t *testing.T) {
	t.Parallel()
	master, replica := startReplicated(t)
	cfg := redisConfig(config.RedisStandalone, master.Addr)
	cfg.Fence = fenced(1, time.Second)
	s := openStore(t, cfg)
	ctx := t.Context()
	now := msNow()
	u, err := s.CreateUser(ctx, store.User{ID: newID(), Login: "fence@example.com", Status: store.StatusActive, PasswordHash: "h"}, now)
	must(t, err)
	newSession := func(tok string) store.Session {
		sess := store.Session{ID: newID(), UserID: u.ID, Dialect: "account", TokenHash: hashOf(tok), ExpiresAt: now.Add(time.Hour)}
		_, err := s.CreateSession(ctx, store.NewSession{Session: sess, Now: now})
		must(t, err)
		return sess
	}
	onReplica := withPrefix(t, replica.Addr, cfg.KeyPrefix)

	// A healthy replica: the logout answers, and the replica holds it the moment it does.
	healthy := newSession("healthy")
	if _, err := s.RevokeSession(ctx, healthy.Ref(), "", store.ReasonLogout, now); err != nil {
		t.Fatalf("fenced logout with a healthy replica: %v", err)
	}
	if _, err := onReplica.GetSession(ctx, healthy.Ref(), now); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the replica still holds a session whose logout was answered: %v", err)
	}

	// The attack: the replica falls behind (stopped, and its link dropped so nothing new
	// reaches it, as when it is being promoted), the victim logs out, the master dies, the
	// replica is promoted.
	victim := newSession("victim")
	replica.Pause()
	must(t, master.Client().ClientKillByFilter(ctx, "TYPE", "replica").Err())
	_, logoutErr := s.RevokeSession(ctx, victim.Ref(), "", store.ReasonLogout, now)
	master.Kill()
	replica.Resume()
	promote(t, replica)
	_, _, checkErr := onReplica.ValidateSession(ctx, victim.Ref(), hashOf("victim"), now)
	if logoutErr == nil && checkErr == nil {
		t.Fatal("revoked but accepted: the logout answered success, and after the failover the session is live again")
	}
	if !errors.Is(logoutErr, store.ErrUnavailable) {
		t.Fatalf("an unacknowledged logout must answer ErrUnavailable, got %v", logoutErr)
	}
	if got := s.Stats().FenceFailures; got != 1 {
		t.Fatalf("fence failures = %d, want 1", got)
	}
}

// withPrefix opens a store on addr that shares a realm's key prefix.
func withPrefix(t *testing.T, addr, prefix string) *redisstore.Store {
	t.Helper()
	cfg := redisConfig(config.RedisStandalone, addr)
	cfg.KeyPrefix = prefix
	return openStore(t, cfg)
}

// TestFenceWithoutReplicaFailsClosed: a fence asking for a replica that does not exist makes
// every fenced write fail, with a message that says so, and deletes nothing.
func TestFenceWithoutReplicaFailsClosed(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cfg := redisConfig(config.RedisStandalone, srv.Addr)
	cfg.Fence = fenced(1, 50*time.Millisecond)
	s := openStore(t, cfg)
	var logs strings.Builder
	s.SetLogger(slog.New(slog.NewJSONHandler(&logs, nil)))
	for i := range 3 {
		_, err := s.CreateUser(t.Context(), store.User{ID: newID(), Login: fmt.Sprintf("alone%d@example.com", i), Status: store.StatusActive, PasswordHash: "h"}, msNow())
		if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "0 of 1 replicas") {
			t.Fatalf("create user without a replica to acknowledge it: got %v", err)
		}
	}
	// The operator hears of it once, not per request: the health monitor sees no error (the
	// WAIT itself succeeded).
	if n := strings.Count(logs.String(), "not acknowledged by replicas"); n != 1 {
		t.Fatalf("%d log lines for 3 unacknowledged writes, want 1:\n%s", n, logs.String())
	}
}

// TestSessionChecksAnswerWhenRedisRefusesWrites: Redis out of memory under noeviction
// refuses the idle-window slide, which is a write. Session checks must still answer, from a
// read; writes fail closed; nothing is deleted; once memory is back, checks slide again.
func TestSessionChecksAnswerWhenRedisRefusesWrites(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cfg := redisConfig(config.RedisStandalone, srv.Addr)
	s := openStore(t, cfg)
	ctx := t.Context()
	now := msNow()
	u, err := s.CreateUser(ctx, store.User{ID: newID(), Login: "oom@example.com", Status: store.StatusActive, PasswordHash: "h"}, now)
	must(t, err)
	sess := store.Session{ID: newID(), UserID: u.ID, Dialect: "account", TokenHash: hashOf("t"), IdleTimeout: time.Hour, ExpiresAt: now.Add(24 * time.Hour)}
	_, err = s.CreateSession(ctx, store.NewSession{Session: sess, Now: now})
	must(t, err)

	must(t, srv.ConfigSet(ctx, "maxmemory-policy", "noeviction"))
	must(t, srv.ConfigSet(ctx, "maxmemory", "1"))
	later := now.Add(time.Minute)
	got, _, err := s.ValidateSession(ctx, sess.Ref(), hashOf("t"), later)
	if err != nil {
		t.Fatalf("session check while Redis refuses writes: %v", err)
	}
	if !got.LastSeenAt.Equal(now) {
		t.Fatalf("the check slid the idle window (%v) although Redis refused writes", got.LastSeenAt)
	}
	if _, err := s.TouchSession(ctx, sess.Ref(), later); err != nil {
		t.Fatalf("touch while Redis refuses writes: %v", err)
	}
	if _, _, err := s.ValidateSession(ctx, sess.Ref(), hashOf("wrong"), later); !errors.Is(err, store.ErrInvalidToken) {
		t.Fatalf("a wrong token while Redis refuses writes: got %v, want ErrInvalidToken", err)
	}
	if _, err := s.CreateSession(ctx, store.NewSession{Session: store.Session{ID: newID(), UserID: u.ID, Dialect: "account", TokenHash: hashOf("n"), ExpiresAt: later.Add(time.Hour)}, Now: later}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("a login while Redis refuses writes: got %v, want ErrUnavailable", err)
	}
	if got := s.Stats().ReadFallbacks; got != 2 {
		t.Fatalf("read fallbacks = %d, want 2 (the wrong token is refused before any write)", got)
	}

	must(t, srv.ConfigSet(ctx, "maxmemory", "0"))
	got, _, err = s.ValidateSession(ctx, sess.Ref(), hashOf("t"), later)
	must(t, err)
	if !got.LastSeenAt.Equal(later) {
		t.Fatalf("after memory came back the check did not slide: last seen %v, want %v", got.LastSeenAt, later)
	}
}

// TestReadinessProbeWrites: a store that answers PING but refuses writes cannot serve
// logins or logouts, so the readiness probe must say so, and recover with it.
func TestReadinessProbeWrites(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	s := openStore(t, redisConfig(config.RedisStandalone, srv.Addr))
	ctx := t.Context()
	must(t, s.Ping(ctx))
	must(t, srv.ConfigSet(ctx, "maxmemory-policy", "noeviction"))
	must(t, srv.ConfigSet(ctx, "maxmemory", "1"))
	if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("readiness while Redis refuses writes: got %v, want ErrUnavailable", err)
	}
	must(t, srv.ConfigSet(ctx, "maxmemory", "0"))
	must(t, s.Ping(ctx))
}

// TestClusterMasterLossIsFollowed kills the master of a user's slots in a 3+3 cluster: the
// readiness probe fails while those slots have no master, and once the replica has taken
// over the store writes there again within 2 s, without a new client.
func TestClusterMasterLossIsFollowed(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartClusterWith(t, redistest.ClusterOptions{Masters: 3, ReplicasPerMaster: 1, NodeTimeout: time.Second})
	// No fence: the promoted replica has no replica of its own until the dead node returns,
	// so a fence of 1 would (rightly) refuse the writes this test makes.
	cfg := redisConfig(config.RedisCluster, cluster.Addrs...)
	s := openStore(t, cfg)
	// The user is written through a fenced store: unfenced, it could die with the master
	// before its replica had it (which is what the fence is for).
	setup := cfg
	setup.Fence = fenced(1, time.Second)
	ctx := t.Context()
	now := msNow()
	u, err := openStore(t, setup).CreateUser(ctx, store.User{ID: newID(), Login: "cluster@example.com", Status: store.StatusActive, PasswordHash: "h"}, now)
	must(t, err)
	must(t, s.Ping(ctx))

	master, err := cluster.MasterOf(ctx, cfg.KeyPrefix+"{u:"+u.ID+"}:user")
	must(t, err)
	master.Kill()
	if err := s.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("readiness with a master down: got %v, want ErrUnavailable", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	must(t, cluster.WaitFailover(wctx, master))
	promoted := time.Now()
	for {
		sess := store.Session{ID: newID(), UserID: u.ID, Dialect: "account", TokenHash: hashOf("x"), ExpiresAt: now.Add(time.Hour)}
		_, err := s.CreateSession(ctx, store.NewSession{Session: sess, Now: now})
		if err == nil && s.Ping(ctx) == nil {
			break
		}
		if time.Since(promoted) > 2*time.Second {
			t.Fatalf("2 s after the replica took over, the store still fails: %v (readiness: %v)", err, s.Ping(ctx))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSubscriptionFollowsSentinelFailover: after a planned failover go-redis moves its
// command pool to the new master but leaves the pub/sub connection on the demoted one, which
// hears nothing until it has resynchronised (about 9 s). A logout after the failover must
// still reach this subscriber within a second or so: as the revocation itself, or as a
// resync after the subscription is renewed.
func TestSubscriptionFollowsSentinelFailover(t *testing.T) {
	t.Parallel()
	// Two replicas and a fence of one, so that the logout succeeds soon after the failover
	// (the promoted master keeps a replica). That is what this test needs, not a safe
	// production setting: docs/operations.md says why the fence must cover every replica.
	sentinel := redistest.StartSentinel(t, redistest.SentinelOptions{Replicas: 2})
	cfg := redisConfig(config.RedisSentinel, sentinel.SentinelAddrs...)
	cfg.MasterName = sentinel.MasterName
	cfg.Fence = fenced(1, time.Second)
	s := openStore(t, cfg)
	ctx := t.Context()
	now := msNow()
	u, err := s.CreateUser(ctx, store.User{ID: newID(), Login: "sentinel@example.com", Status: store.StatusActive, PasswordHash: "h"}, now)
	must(t, err)
	sess := store.Session{ID: newID(), UserID: u.ID, Dialect: "reactAuth", TokenHash: hashOf("t"), ExpiresAt: now.Add(time.Hour)}
	_, err = s.CreateSession(ctx, store.NewSession{Session: sess, Now: now})
	must(t, err)
	events, err := s.SubscribeRevocations(ctx)
	must(t, err)

	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// The failover by hand, not Sentinel.Failover: that waits until the demoted master has
	// resynchronised, and the gap is what this test is about.
	old, err := sentinel.MasterAddr(fctx)
	must(t, err)
	must(t, sentinel.Sentinels[0].Client().Do(fctx, "SENTINEL", "FAILOVER", sentinel.MasterName).Err())
	if _, err := sentinel.WaitMasterChange(fctx, old); err != nil {
		t.Fatal(err)
	}
	failedOver := time.Now()
	// What this subscriber heard up to now does not count: a hub acts on events at once.
	drain := func() {
		for {
			select {
			case <-events:
			default:
				return
			}
		}
	}
	// The logout goes to the new master once this client has switched to it.
	for {
		drain()
		_, err := s.RevokeSession(ctx, sess.Ref(), "", store.ReasonLogout, now)
		if err == nil {
			break
		}
		if time.Since(failedOver) > 5*time.Second {
			t.Fatalf("logout still failing 5 s after the failover: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	loggedOut := time.Now()
	select {
	case ev := <-events:
		if !ev.Resync && ev.Revocation.SessionID != sess.ID {
			t.Fatalf("heard %+v instead of the logout", ev)
		}
		t.Logf("heard the logout (resync: %v) %s after it was answered, %s after the failover", ev.Resync, time.Since(loggedOut), time.Since(failedOver))
	case <-time.After(2 * time.Second):
		t.Fatalf("2 s after the logout this subscriber has heard neither the revocation nor a resync (resubscribes: %d)", s.Stats().Resubscribes)
	}
}
