package redistest_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/store/redistest"
)

func TestStartServesCommands(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	if err := c.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if got, err := c.Get(t.Context(), "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET = %q, %v; want v", got, err)
	}
}

func TestStopRestartKeepsData(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	if err := c.Set(t.Context(), "k", "v", 0).Err(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	srv.Stop()
	if err := c.Ping(t.Context()).Err(); err == nil {
		t.Fatal("PING succeeded while the server was stopped")
	}
	srv.Restart()
	if got, err := c.Get(t.Context(), "k").Result(); err != nil || got != "v" {
		t.Fatalf("GET after restart = %q, %v; want v", got, err)
	}
}

func TestStartClusterServesEverySlot(t *testing.T) {
	cl := redistest.StartCluster(t)
	c := cl.Client(t)
	// Keys spread over every master: each SET must be routed to its slot's owner.
	for i := range 30 {
		k := string(rune('a'+i%26)) + string(rune('0'+i/26))
		if err := c.Set(t.Context(), k, i, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
	}
	// ForEachMaster runs the callbacks concurrently.
	var masters atomic.Int32
	err := c.ForEachMaster(t.Context(), func(ctx context.Context, m *redis.Client) error {
		n, err := m.DBSize(ctx).Result()
		if err != nil {
			return err
		}
		if n > 0 {
			masters.Add(1)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ForEachMaster: %v", err)
	}
	if n := masters.Load(); n != 3 {
		t.Fatalf("keys landed on %d masters, want 3", n)
	}
}
