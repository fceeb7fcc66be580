package redistest_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/store/redistest"
)

// deadline is a test's context with a bound on every wait in it.
func deadline(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// eventually retries f until it succeeds or ctx ends, and returns how long it took: a client
// sees errors for a while after a failover, and what a test asserts is that they stop.
func eventually(t *testing.T, ctx context.Context, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := f()
		if err == nil {
			return time.Since(start)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: still failing after %s: %v", what, time.Since(start), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func TestAOFKillRestartKeepsOlderWrites(t *testing.T) {
	t.Parallel()
	ctx := deadline(t, 20*time.Second)
	srv := redistest.StartWith(t, redistest.Options{AOF: true})
	c := srv.Client()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	// appendfsync everysec: a write older than the last fsync survives a crash.
	time.Sleep(2100 * time.Millisecond)
	pid := srv.PID()
	srv.Kill()
	if srv.Running() {
		t.Fatal("Running after Kill")
	}
	srv.Restart()
	if srv.PID() == pid || !srv.Running() {
		t.Fatalf("PID after Restart = %d (was %d), Running = %v", srv.PID(), pid, srv.Running())
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET after kill and restart = %q, %v; want v", got, err)
	}

	// SIGTERM flushes the AOF: even the last write survives.
	if err := c.Set(ctx, "last", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	srv.Terminate()
	if srv.Running() {
		t.Fatal("Running after Terminate")
	}
	srv.Restart()
	if got, err := c.Get(ctx, "last").Result(); err != nil || got != "v" {
		t.Fatalf("GET after terminate and restart = %q, %v; want v", got, err)
	}
}

func TestKillWithoutPersistenceLosesData(t *testing.T) {
	t.Parallel()
	ctx := deadline(t, 20*time.Second)
	srv := redistest.Start(t)
	c := srv.Client()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	srv.Kill()
	srv.Restart()
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS after kill and restart = %d, %v; want 0 (nothing persisted)", n, err)
	}
}

func TestPauseTimesOutResumeAnswers(t *testing.T) {
	t.Parallel()
	ctx := deadline(t, 20*time.Second)
	srv := redistest.Start(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, ReadTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING: %v", err)
	}
	srv.Pause()
	if !srv.Running() {
		t.Fatal("a paused server is not Running")
	}
	start := time.Now()
	err := c.Ping(ctx).Err()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("PING to a paused server = %v after %s; want a timeout", err, time.Since(start))
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("PING to a paused server took %s; want the 200ms read timeout", d)
	}
	srv.Resume()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Resume: %v", err)
	}
}

func TestConfigSetOutOfMemory(t *testing.T) {
	t.Parallel()
	ctx := deadline(t, 20*time.Second)
	srv := redistest.Start(t)
	c := srv.Client()
	if err := srv.ConfigSet(ctx, "maxmemory-policy", "noeviction"); err != nil {
		t.Fatalf("CONFIG SET: %v", err)
	}
	if err := srv.ConfigSet(ctx, "maxmemory", "1"); err != nil {
		t.Fatalf("CONFIG SET: %v", err)
	}
	if err := c.Set(ctx, "k", "v", 0).Err(); err == nil || !redis.HasErrorPrefix(err, "OOM") {
		t.Fatalf("SET over maxmemory = %v; want OOM", err)
	}
	if err := srv.ConfigSet(ctx, "maxmemory", "0"); err != nil {
		t.Fatalf("CONFIG SET: %v", err)
	}
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET after lifting maxmemory: %v", err)
	}
}

// startSentinel starts the default topology (a master, one replica, three sentinels), a
// failover client following it, and writes a key replicated to the replica.
func startSentinel(t *testing.T, ctx context.Context) (*redistest.Sentinel, *redis.Client) {
	s := redistest.StartSentinel(t, redistest.SentinelOptions{})
	fc := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: s.SentinelAddrs})
	t.Cleanup(func() { _ = fc.Close() })
	if err := fc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET through the failover client: %v", err)
	}
	// Replication is asynchronous and Sentinel promotes without waiting for it.
	if n, err := s.Master(ctx).Client().Wait(ctx, 1, 5*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v", n, err)
	}
	return s, fc
}

func TestSentinelFailover(t *testing.T) {
	t.Parallel()
	ctx := deadline(t, 60*time.Second)
	s, fc := startSentinel(t, ctx)
	old := s.Master(ctx)
	if old != s.Data[0] {
		t.Fatalf("initial master = %s, want Data[0] %s", old.Addr, s.Data[0].Addr)
	}
	// A sentinel down during the failover learns of it once back (from its peers' hellos).
	down := s.Sentinels[2]
	down.Kill()
	start := time.Now()
	addr, err := s.Failover(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover %s -> %s took %s", old.Addr, addr, time.Since(start))
	down.Restart()
	m := s.Master(ctx)
	if addr == old.Addr || m.Addr != addr {
		t.Fatalf("Failover = %s, Master = %s; old master %s", addr, m.Addr, old.Addr)
	}
	if got, err := m.Client().Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET on the new master = %q, %v; want v", got, err)
	}
	d := eventually(t, ctx, "SET through the failover client", func() error { return fc.Set(ctx, "k2", "v2", 0).Err() })
	t.Logf("failover client wrote after %s", d)
	if got, err := m.Client().Get(ctx, "k2").Result(); err != nil || got != "v2" {
		t.Fatalf("GET k2 on the new master = %q, %v; the failover client wrote elsewhere", got, err)
	}
	// WaitSynced asks every sentinel, the restarted one too.
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	if a, err := s.MasterAddr(ctx); err != nil || a != addr {
		t.Fatalf("MasterAddr = %s, %v; want %s", a, err, addr)
	}
}

func TestSentinelMasterKilled(t *testing.T) {
	t.Parallel()
	ctx := deadline(t, 60*time.Second)
	s, fc := startSentinel(t, ctx)
	old := s.Master(ctx)
	start := time.Now()
	old.Kill()
	addr, err := s.WaitMasterChange(ctx, old.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failover after kill %s -> %s took %s", old.Addr, addr, time.Since(start))
	m := s.Master(ctx)
	if got, err := m.Client().Get(ctx, "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET on the new master = %q, %v; want v", got, err)
	}
	if err := m.Client().Set(ctx, "k2", "v2", 0).Err(); err != nil {
		t.Fatalf("SET on the new master: %v", err)
	}
	d := eventually(t, ctx, "SET through the failover client", func() error { return fc.Set(ctx, "k3", "v3", 0).Err() })
	t.Logf("failover client wrote after %s", d)

	// The old master comes back as a master with the old data; the sentinels demote it.
	old.Restart()
	start = time.Now()
	if err := s.WaitSynced(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("restarted old master synced after %s", time.Since(start))
	if got, err := old.Client().Get(ctx, "k3").Result(); err != nil || got != "v3" {
		t.Fatalf("GET k3 on the demoted old master = %q, %v; want v3", got, err)
	}
}

func TestClusterMasterKilled(t *testing.T) {
	t.Parallel()
	ctx := deadline(t, 60*time.Second)
	cl := redistest.StartClusterWith(t, redistest.ClusterOptions{Masters: 3, ReplicasPerMaster: 1, NodeTimeout: time.Second})
	if n := len(cl.Nodes); n != 6 {
		t.Fatalf("%d nodes, want 6", n)
	}
	if ms, err := cl.Masters(ctx); err != nil || len(ms) != 3 {
		t.Fatalf("Masters = %v, %v; want 3", ms, err)
	}
	cc := cl.Client(t)
	if err := cc.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	dead, err := cl.MasterOf(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := dead.Client().Wait(ctx, 1, 5*time.Second).Result(); err != nil || n != 1 {
		t.Fatalf("WAIT 1 = %d, %v", n, err)
	}
	start := time.Now()
	dead.Kill()
	if err := cl.WaitFailover(ctx, dead); err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster failover took %s", time.Since(start))
	m, err := cl.MasterOf(ctx, "k")
	if err != nil || m == dead {
		t.Fatalf("MasterOf after failover = %v, %v; want another node than %s", m, err, dead.Addr)
	}
	// The client's slot map still names the dead node, and go-redis v9.23 reloads it on
	// MOVED or READONLY but not on a refused dial (otherwise only every
	// ClusterStateReloadInterval, 60 s): its user must ask for the reload.
	d := eventually(t, ctx, "SET through the cluster client", func() error {
		err := cc.Set(ctx, "k", "v2", 0).Err()
		if err != nil {
			cc.ReloadState(ctx)
		}
		return err
	})
	t.Logf("cluster client wrote after %s", d)
	if got, err := m.Client().Get(ctx, "k").Result(); err != nil || got != "v2" {
		t.Fatalf("GET on the new master = %q, %v; want v2", got, err)
	}
	ms, err := cl.Masters(ctx)
	if err != nil || len(ms) != 3 {
		t.Fatalf("Masters after failover = %v, %v; want 3", ms, err)
	}

	// Back, the old master rejoins as a replica of the one that replaced it.
	dead.Restart()
	if err := cl.WaitFailover(ctx, dead); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, "restarted node replicating", func() error {
		info, err := dead.Client().Info(ctx, "replication").Result()
		if err != nil {
			return err
		}
		if !containsAll(info, "role:slave", "master_port:"+port(m.Addr), "master_link_status:up") {
			return errors.New(info)
		}
		return nil
	})
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
