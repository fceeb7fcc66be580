package redisstore_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store/redisstore"
)

func TestMain(m *testing.M) {
	// go-redis logs every failed redial; the outage tests cause hundreds on purpose.
	redis.SetLogger(quietLogger{})
	os.Exit(m.Run())
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

var prefixes atomic.Int64

// uniquePrefix isolates the stores of one test binary that share a server, pub/sub channel
// included (it is under the prefix too).
func uniquePrefix() string { return fmt.Sprintf("latch-test:%d:", prefixes.Add(1)) }

// redisConfig is a defaulted config for addrs in mode, with a fresh key prefix.
func redisConfig(mode config.RedisMode, addrs ...string) config.Redis {
	return config.Redis{
		Mode:         mode,
		Addresses:    addrs,
		KeyPrefix:    uniquePrefix(),
		DialTimeout:  config.D(2 * time.Second),
		ReadTimeout:  config.D(2 * time.Second),
		WriteTimeout: config.D(2 * time.Second),
		// The test topologies have no replicas unless a test adds them and a fence.
		Fence: fenced(0, 0),
	}
}

// openStore opens a store that owns its client, with its scripts loaded, closed at cleanup.
func openStore(t *testing.T, cfg config.Redis) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Open(&cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() }) // some tests close it themselves
	if err := s.LoadScripts(t.Context()); err != nil {
		t.Fatalf("load scripts: %v", err)
	}
	return s
}

// fenced is a fence asking for replicas acknowledgements within timeout.
func fenced(replicas int, timeout time.Duration) config.Fence {
	return config.Fence{Replicas: &replicas, Timeout: config.D(timeout)}
}
