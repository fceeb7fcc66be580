package redisstore

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterRefreshPeriod is how often a cluster client reloads its slot map without being
// asked. go-redis reloads it on MOVED and READONLY replies only; a master that died answers
// nothing, so without a timer the map kept pointing at it long after its replica took over
// (35 s in the fault harness). One CLUSTER SLOTS a second per replica is cheap.
const clusterRefreshPeriod = time.Second

// errorRefreshGap bounds the reloads that errors trigger: one per gap, however many requests
// fail at once.
const errorRefreshGap = 100 * time.Millisecond

// topology follows a cluster's slot map: on a timer, and sooner when an error says the map
// may be stale (a dead connection, MOVED, ASK, CLUSTERDOWN).
type topology struct {
	cluster     *redis.ClusterClient
	lastRefresh atomic.Int64 // unix nanoseconds of the last error-triggered reload
	stop        context.CancelFunc
}

// startTopology starts the timer for a cluster client; for other clients it returns nil, and
// every method of a nil *topology does nothing.
func startTopology(c redis.UniversalClient) *topology {
	cc, ok := c.(*redis.ClusterClient)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &topology{cluster: cc, stop: cancel}
	go func() {
		tick := time.NewTicker(clusterRefreshPeriod)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				cc.ReloadState(ctx)
			}
		}
	}()
	return t
}

// close stops the timer.
func (t *topology) close() {
	if t != nil {
		t.stop()
	}
}

// noteError reloads the slot map (at most once per errorRefreshGap) when err suggests the
// map is stale.
func (t *topology) noteError(err error) {
	if err == nil || !staleMap(err) {
		return
	}
	t.refresh()
}

// refresh reloads the slot map, at most once per errorRefreshGap.
func (t *topology) refresh() {
	if t == nil {
		return
	}
	now := time.Now().UnixNano()
	last := t.lastRefresh.Load()
	if now-last < int64(errorRefreshGap) || !t.lastRefresh.CompareAndSwap(last, now) {
		return
	}
	t.cluster.ReloadState(context.Background())
}

// staleMap reports whether err may come from a slot map that no longer matches the cluster.
func staleMap(err error) bool {
	if msg, ok := serverReply(err); ok {
		return hasPrefix(msg, staleMapReplies)
	}
	if isNetError(err) || errors.Is(err, redis.ErrClosed) {
		return true
	}
	// Dial failures and closed connections surface as plain errors in places.
	msg := err.Error()
	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "EOF") ||
		strings.Contains(msg, "connection reset")
}

// staleMapReplies are the replies that say the slot map has moved on.
var staleMapReplies = []string{"MOVED", "ASK", "CLUSTERDOWN", "TRYAGAIN", "READONLY"}

// noteError lets the store's view of the topology react to an error.
func (s *Store) noteError(err error) { s.topology.noteError(err) }
