package redisstore_test

import (
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/conformance"
	"github.com/latchauth/latch/authserver/store/redistest"
)

func TestConformanceStandalone(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	conformance.Run(t, func(t *testing.T) store.Store {
		return openStore(t, redisConfig(config.RedisStandalone, srv.Addr))
	})
}

// TestConformanceCluster runs the suite on three masters: a step whose keys spanned slots
// would fail with CROSSSLOT (or touch a key of another node from a script), so passing is the
// proof that every atomic step stays in one slot.
func TestConformanceCluster(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	conformance.Run(t, func(t *testing.T) store.Store {
		return openStore(t, redisConfig(config.RedisCluster, cluster.Addrs...))
	})
}

// TestConformanceSentinel runs the suite through a real Sentinel (a master, one replica,
// three sentinels), with the fence sentinel mode has by default: every write that is fenced
// waits for the replica's acknowledgement.
func TestConformanceSentinel(t *testing.T) {
	t.Parallel()
	sentinel := redistest.StartSentinel(t, redistest.SentinelOptions{})
	conformance.Run(t, func(t *testing.T) store.Store {
		cfg := redisConfig(config.RedisSentinel, sentinel.SentinelAddrs...)
		cfg.MasterName = sentinel.MasterName
		cfg.Fence = fenced(1, time.Second)
		return openStore(t, cfg)
	})
}
