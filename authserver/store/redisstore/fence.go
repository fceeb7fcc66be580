package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/store"
)

// fence is the replication acknowledgement a write waits for before it is answered
// (config.Fence). Redis replicates asynchronously: a write the master has taken can be lost
// when a replica that never received it is promoted. For the writes that end a session or
// change what a later check decides, that loss is a security hole, not a glitch: a logout
// answered 204 and then undone by a failover brings the session back. With a fence, such a
// write is sent together with WAIT on the same connection, and it is answered as a success
// only when enough replicas hold it; otherwise the caller gets ErrUnavailable (a 500), which
// is the truth: the write may not survive.
//
// Writes that may be lost without harm are not fenced: the idle-window slide of a session
// check, brute-force counters (bounded by their windows) and the short login-claim leases.
type fence struct {
	replicas int
	timeout  time.Duration
	// logger, when set, hears about unacknowledged writes, at most once per fenceLogGap:
	// the WAIT itself succeeds, so the health monitor sees no error, and without a line an
	// operator would see only 500s.
	logger  atomic.Pointer[slog.Logger]
	lastLog atomic.Int64 // unix nanoseconds
}

// fenceLogGap bounds the log lines of unacknowledged writes.
const fenceLogGap = 10 * time.Second

// SetLogger makes the store log writes its fence refused (rate limited) and the Sentinel
// failovers it sees.
func (s *Store) SetLogger(logger *slog.Logger) { s.fence.logger.Store(logger) }

// logger is the store's logger (slog.Default() until SetLogger).
func (s *Store) logger() *slog.Logger {
	if l := s.fence.logger.Load(); l != nil {
		return l
	}
	return slog.Default()
}

// SetFence makes the writes listed above wait for replicas acknowledgements of at most
// timeout each; replicas 0 turns the fence off (the default for New).
func (s *Store) SetFence(replicas int, timeout time.Duration) {
	s.fence.replicas, s.fence.timeout = replicas, timeout
}

// write runs a script that ends or changes a session, a token or a user: one round trip with
// its fence (script and WAIT pipelined on one connection), or a plain run without one.
func (s *Store) write(ctx context.Context, op string, sc *redis.Script, keys []string, args ...any) ([]any, error) {
	if s.fence.replicas <= 0 {
		return s.run(ctx, op, sc, keys, args...)
	}
	if s.isClosed() {
		return nil, errClosed
	}
	var cmd *redis.Cmd
	err := s.fenced(ctx, op, keys[0], func(p redis.Pipeliner) redis.Cmder {
		cmd = p.EvalSha(ctx, sc.Hash(), keys, args...)
		return cmd
	})
	if err != nil && cmd != nil && cmd.Err() != nil && strings.HasPrefix(cmd.Err().Error(), "NOSCRIPT") {
		// The script cache lost the script (a restart, a failover): nothing ran. Load it
		// where the key lives and send the step again.
		if err = s.loadScriptFor(ctx, keys[0], sc); err == nil {
			err = s.fenced(ctx, op, keys[0], func(p redis.Pipeliner) redis.Cmder {
				cmd = p.EvalSha(ctx, sc.Hash(), keys, args...)
				return cmd
			})
		}
	}
	if err != nil {
		return nil, err
	}
	res, err := cmd.Slice()
	if err != nil {
		return nil, wrapErr(op, err)
	}
	return res, nil
}

// writeCmd is write for a plain command (a hash set, a delete) that queue adds to the pipe.
func (s *Store) writeCmd(ctx context.Context, op, key string, queue func(p redis.Pipeliner) redis.Cmder) (redis.Cmder, error) {
	if s.isClosed() {
		return nil, errClosed
	}
	if s.fence.replicas <= 0 {
		p := s.client.Pipeline()
		cmd := queue(p)
		_, err := p.Exec(ctx)
		if err != nil && err != redis.Nil {
			return cmd, wrapErr(op, err)
		}
		return cmd, nil
	}
	var cmd redis.Cmder
	err := s.fenced(ctx, op, key, func(p redis.Pipeliner) redis.Cmder {
		cmd = queue(p)
		return cmd
	})
	return cmd, err
}

// fenced sends the command queue adds and a WAIT in one pipeline on one connection to the
// master holding key, and fails unless the command succeeded and enough replicas
// acknowledged it. The command's own error is returned unwrapped in the command, so a caller
// can tell NOSCRIPT from the rest.
func (s *Store) fenced(ctx context.Context, op, key string, queue func(p redis.Pipeliner) redis.Cmder) error {
	epoch, err := s.failover.guard(op)
	if err != nil {
		s.stats.fenceFailures.Add(1)
		return err
	}
	target, err := s.masterFor(ctx, key)
	if err != nil {
		return wrapErr(op, err)
	}
	var cmd redis.Cmder
	var wait *redis.Cmd
	_, err = target.Pipelined(ctx, func(p redis.Pipeliner) error {
		cmd = queue(p)
		wait = p.Do(ctx, "WAIT", s.fence.replicas, s.fence.timeout.Milliseconds())
		return nil
	})
	if cerr := cmd.Err(); cerr != nil && cerr != redis.Nil {
		s.noteError(cerr)
		return wrapErr(op, cerr)
	}
	if err != nil && err != redis.Nil {
		s.noteError(err)
		return wrapErr(op, err)
	}
	acked, err := wait.Int()
	if err != nil {
		return wrapErr(op+" (wait)", err)
	}
	if acked < s.fence.replicas {
		n := s.stats.fenceFailures.Add(1)
		s.logFenceFailure(op, acked, n)
		return fmt.Errorf("redis %s: %w: %d of %d replicas acknowledged the write within %s; a failover could undo it",
			op, store.ErrUnavailable, acked, s.fence.replicas, s.fence.timeout)
	}
	if err := s.failover.check(op, epoch); err != nil {
		s.stats.fenceFailures.Add(1)
		return err
	}
	return nil
}

// pipeliner is what fenced needs of a client: one connection per pipeline.
type pipeliner interface {
	Pipelined(ctx context.Context, fn func(redis.Pipeliner) error) ([]redis.Cmder, error)
}

// masterFor returns the client whose pipelines reach the master holding key on one
// connection. A plain or Sentinel client already does; a cluster client would spread a
// pipeline over nodes by key and send the key-less WAIT to a random one, so its pipeline goes
// to the node client of the key's master instead.
func (s *Store) masterFor(ctx context.Context, key string) (pipeliner, error) {
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		return cc.MasterForKey(ctx, key)
	}
	return s.client, nil
}

// loadScriptFor loads sc into the script cache of the master holding key.
func (s *Store) loadScriptFor(ctx context.Context, key string, sc *redis.Script) error {
	target, err := s.masterFor(ctx, key)
	if err != nil {
		return wrapErr("script load", err)
	}
	sr, ok := target.(redis.Scripter)
	if !ok {
		sr = s.client
	}
	return wrapErr("script load", sc.Load(ctx, sr).Err())
}

// logFenceFailure logs an unacknowledged write, at most once per fenceLogGap.
func (s *Store) logFenceFailure(op string, acked int, total int64) {
	logger := s.fence.logger.Load()
	if logger == nil {
		return
	}
	now := time.Now().UnixNano()
	last := s.fence.lastLog.Load()
	if now-last < int64(fenceLogGap) || !s.fence.lastLog.CompareAndSwap(last, now) {
		return
	}
	logger.Warn("redis writes not acknowledged by replicas: answered as failures",
		"op", op, "acknowledged", acked, "want", s.fence.replicas, "timeout", s.fence.timeout.String(),
		"failures_total", total)
}
