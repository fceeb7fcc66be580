package redisstore

import (
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Stats are the store's own counters, beside what go-redis reports of its pool: what an
// operator needs to see that the store is degraded but still serving.
type Stats struct {
	// ReadFallbacks counts session checks answered from a plain read because Redis refused
	// the idle-window write (out of memory, a read-only replica): served, not slid.
	ReadFallbacks int64
	// FenceFailures counts writes the master took but too few replicas acknowledged in time
	// (redis.fence), and fenced writes refused while a Sentinel failover was under way:
	// answered as unavailable, because a failover could undo them.
	FenceFailures int64
	// Failovers counts the Sentinel failovers of the master this store heard announced;
	// FailoverUnderWay is set while one lasts (fenced writes are refused meanwhile).
	Failovers        int64
	FailoverUnderWay bool
	// Resubscribes counts revocation subscriptions renewed because they went silent (a
	// subscription left on a demoted master, a dead pub/sub connection).
	Resubscribes int64
	// LastRevocationMessage is when the revocation channel was last heard from (a revocation
	// or a heartbeat); zero before the first.
	LastRevocationMessage time.Time
}

// counters are the live values behind Stats.
type counters struct {
	readFallbacks, fenceFailures, resubscribes atomic.Int64
	lastMessage                                atomic.Int64 // unix nanoseconds
}

// Stats returns a snapshot of the store's counters.
func (s *Store) Stats() Stats {
	st := Stats{
		ReadFallbacks: s.stats.readFallbacks.Load(),
		FenceFailures: s.stats.fenceFailures.Load(),
		Resubscribes:  s.stats.resubscribes.Load(),
	}
	if w := s.failover; w != nil {
		st.Failovers, st.FailoverUnderWay = w.count.Load(), w.active.Load()
	}
	if ns := s.stats.lastMessage.Load(); ns != 0 {
		st.LastRevocationMessage = time.Unix(0, ns)
	}
	return st
}

// PoolStats returns the client's connection-pool statistics.
func (s *Store) PoolStats() *redis.PoolStats { return s.client.PoolStats() }
