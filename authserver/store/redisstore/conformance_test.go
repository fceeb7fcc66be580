package redisstore_test

import (
	"testing"

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
