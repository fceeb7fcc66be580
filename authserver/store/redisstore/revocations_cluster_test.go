package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store/redistest"
)

// TestSubscriptionFollowsClusterFailover kills the master of the revocation channel's slot,
// where go-redis keeps a cluster's subscription. The subscription goes silent while the other
// masters take its heartbeats; the feed must stay open and, once the replica has taken over,
// tell the subscriber to resync soon. It used to close after one failed attempt to subscribe
// again, and the socket hub's doubling back-off then brought the subscription back up to 4 s
// after the replica took over (the late socket closes of the fault harness).
func TestSubscriptionFollowsClusterFailover(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartClusterWith(t, redistest.ClusterOptions{Masters: 3, ReplicasPerMaster: 1, NodeTimeout: time.Second})
	cfg := redisConfig(config.RedisCluster, cluster.Addrs...)
	s := openStore(t, cfg)
	ctx := t.Context()
	events, err := s.SubscribeRevocations(ctx)
	must(t, err)
	master, err := cluster.MasterOf(ctx, cfg.KeyPrefix+"revocations")
	must(t, err)
	master.Kill()
	// Long enough for the subscription to be found silent (silentAfter) before the replica
	// takes over (cluster-node-timeout 1 s and an election).
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	must(t, cluster.WaitFailover(wctx, master))
	promoted := time.Now()
	// The subscription lives on the channel's slot, so a resync (heard now or buffered
	// since) means it was renewed on the promoted replica. The bound leaves room for a loaded
	// machine; the fault harness holds the socket closes that resync brings to 1 s after
	// Redis is back.
	deadline := time.After(2 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("the revocation feed closed (resubscribes: %d)", s.Stats().Resubscribes)
			}
			if !ev.Resync {
				continue
			}
			t.Logf("resync heard %s after the replica took over (resubscribes: %d)", time.Since(promoted), s.Stats().Resubscribes)
			return
		case <-deadline:
			t.Fatalf("2 s after the replica took over, no resync (resubscribes: %d)", s.Stats().Resubscribes)
		}
	}
}
