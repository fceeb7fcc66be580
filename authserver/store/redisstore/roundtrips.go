package redisstore

import (
	"context"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// RoundTrips is a go-redis hook that counts the commands and pipelines a client sends: each is
// one request/reply exchange with the server. Add it to a client (client.AddHook) to measure
// what an operation costs, in tests or as a metric. A script whose EVALSHA misses the script
// cache counts twice (EVALSHA, then EVAL), as it costs.
type RoundTrips struct{ n atomic.Int64 }

var _ redis.Hook = (*RoundTrips)(nil)

// Count returns the number of round trips so far.
func (r *RoundTrips) Count() int64 { return r.n.Load() }

// DialHook implements redis.Hook.
func (r *RoundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

// upkeepKey marks a context as the store's own upkeep (revocation heartbeats), which
// RoundTrips does not count: it measures what requests cost.
type upkeepKey struct{}

func upkeep(ctx context.Context) context.Context { return context.WithValue(ctx, upkeepKey{}, true) }

// ProcessHook implements redis.Hook.
func (r *RoundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if ctx.Value(upkeepKey{}) != nil || handshake(cmd.Name()) {
			return next(ctx, cmd)
		}
		r.n.Add(1)
		return next(ctx, cmd)
	}
}

// handshake reports whether name is one of the commands go-redis sends to set up a new
// connection (through the hooks too). They cost a round trip each, but of the pool, not of
// the request that happened to need a new connection: counting them made a request's cost
// depend on what the pool did meanwhile.
func handshake(name string) bool {
	switch name {
	case "hello", "client", "auth", "select", "readonly":
		return true
	}
	return false
}

func allHandshake(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if !handshake(c.Name()) {
			return false
		}
	}
	return len(cmds) > 0
}

// ProcessPipelineHook implements redis.Hook.
func (r *RoundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if ctx.Value(upkeepKey{}) != nil || allHandshake(cmds) {
			return next(ctx, cmds)
		}
		r.n.Add(1)
		return next(ctx, cmds)
	}
}
