package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store"
)

// Store is the Redis backend.
type Store struct {
	client redis.UniversalClient
	keys   keys
	// ownsClient is set by Open: Close then closes the client too.
	ownsClient bool

	stats    counters
	fence    fence
	topology *topology
	// failover is set in Sentinel mode with a fence: it refuses fenced writes while a
	// failover lasts.
	failover *failoverWatch

	mu     sync.Mutex
	closed bool
	subs   map[*redis.PubSub]struct{}
}

var _ store.Store = (*Store)(nil)

// New returns a store over client with every key under keyPrefix (for example "latch:realm:").
// It does not contact Redis and does not take ownership of client. The client should not
// retry commands (MaxRetries -1, as NewClient sets): a script whose reply was lost may have
// run, and blindly running a rotation or a refresh twice is not safe.
func New(client redis.UniversalClient, keyPrefix string) (*Store, error) {
	k, err := newKeys(keyPrefix)
	if err != nil {
		return nil, err
	}
	return &Store{client: client, keys: k, subs: map[*redis.PubSub]struct{}{}, topology: startTopology(client)}, nil
}

// Open builds a client from the config (NewClient) and a store over it that owns it. It does
// not wait for Redis: a server starts while Redis is down and reports not ready until Ping
// succeeds.
func Open(cfg *config.Redis) (*Store, error) {
	cred, err := readCredentials(cfg)
	if err != nil {
		return nil, err
	}
	return OpenWithCredentials(cfg, cred)
}

// OpenWithCredentials is Open with the password and CA bundle given as values
// (NewClientWithCredentials). In Sentinel mode with a fence, the store also follows the
// sentinels' failover events (failoverWatch).
func OpenWithCredentials(cfg *config.Redis, cred Credentials) (*Store, error) {
	client, err := NewClientWithCredentials(cfg, cred)
	if err != nil {
		return nil, err
	}
	s, err := New(client, cfg.KeyPrefix)
	if err != nil {
		_ = client.Close()
		return nil, err
	}
	s.ownsClient = true
	s.SetFence(cfg.FenceReplicas(), cfg.Fence.Timeout.Duration)
	if cfg.Mode == config.RedisSentinel && s.fence.replicas > 0 {
		opts, err := sentinelOptions(cfg, cred)
		if err != nil {
			_ = s.Close()
			return nil, err
		}
		s.failover = watchFailovers(cfg.Addresses, cfg.MasterName, opts, client.(*redis.Client), s.logger)
	}
	return s, nil
}

// AddHook adds a go-redis hook to the store's client: a RoundTrips counter, tracing, metrics.
func (s *Store) AddHook(h redis.Hook) { s.client.AddHook(h) }

// LoadScripts loads every script into the script cache of every node (go-redis broadcasts
// SCRIPT LOAD to all shards of a cluster). It is an optimization, not a requirement: a script
// missing after a restart or failover is sent in full on its first use.
func (s *Store) LoadScripts(ctx context.Context) error {
	for _, sc := range allScripts {
		if err := sc.Load(ctx, s.client).Err(); err != nil {
			return wrapErr("script load", err)
		}
	}
	return nil
}

// Close implements store.Store: subscriptions end, and the client closes if Open made it.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("%w: store already closed", store.ErrUnavailable)
	}
	s.closed = true
	subs := s.subs
	s.subs = nil
	s.mu.Unlock()
	s.topology.close()
	s.failover.close()
	var errs []error
	for ps := range subs {
		if err := ps.Close(); err != nil && !errors.Is(err, redis.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if s.ownsClient {
		errs = append(errs, s.client.Close())
	}
	return errors.Join(errs...)
}

// isClosed guards methods of a closed store that does not own its client, whose commands
// would otherwise still succeed.
func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

var errClosed = fmt.Errorf("%w: redis store is closed", store.ErrUnavailable)

// run executes a script (EVALSHA, falling back to EVAL when the script cache lacks it) and
// returns its array reply.
func (s *Store) run(ctx context.Context, op string, sc *redis.Script, keys []string, args ...any) ([]any, error) {
	if s.isClosed() {
		return nil, errClosed
	}
	res, err := sc.Run(ctx, s.client, keys, args...).Slice()
	if err != nil {
		s.noteError(err)
		return nil, wrapErr(op, err)
	}
	return res, nil
}

// wrapErr maps a go-redis error to the store's errors. It never maps an error to ErrNotFound:
// callers turn redis.Nil into ErrNotFound only where a missing key means exactly that.
// Everything that is not a reply from a working server (dial failures, timeouts, closed
// connections, a closed client, cancelled contexts) and the "not now" replies wrap
// ErrUnavailable (isUnavailable, shared with the Health monitor), so callers fail closed.
// Other server replies (WRONGTYPE, CROSSSLOT, script errors) are bugs and are wrapped as they
// are.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if !isUnavailable(err) {
		return fmt.Errorf("redis %s: %w", op, err)
	}
	return fmt.Errorf("redis %s: %w: %w", op, store.ErrUnavailable, err)
}
