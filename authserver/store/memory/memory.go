package memory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// sweepInterval is how often, in the callers' time, a write also drops expired records. Expiry
// itself never depends on the sweep (every read checks deadlines); it only bounds memory.
const sweepInterval = time.Minute

// Store is the in-memory backend. The zero value is not usable; call New.
type Store struct {
	mu     sync.Mutex
	closed bool

	users    map[string]store.User
	logins   map[string]string                   // normalized login -> user ID
	sessions map[string]map[string]store.Session // user ID -> session ID -> session
	oneTime  map[oneTimeKey][]store.OneTimeToken // oldest first
	counters map[store.Subject]counter
	apps     map[string]store.AppClient
	devices  map[string]map[string]store.DeviceToken  // client ID -> token hash -> registration
	tracked  map[string]map[store.SessionRef]struct{} // client ID -> its tracked sessions
	subs     map[*store.EventFeed]context.CancelFunc
	legacy   map[string]map[string]store.LegacyToken // user ID -> client -> token (legacy.go)
	imported store.ImportedHashRecord                // legacy.go

	lastSweep time.Time
}

type oneTimeKey struct {
	userID string
	kind   store.OneTimeKind
}

// counter is a brute-force subject's state: failures in the window ending at windowEnd, and
// the lock, if any.
type counter struct {
	failures  int
	windowEnd time.Time
	lockedTo  time.Time
}

var _ store.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		users:    map[string]store.User{},
		logins:   map[string]string{},
		sessions: map[string]map[string]store.Session{},
		oneTime:  map[oneTimeKey][]store.OneTimeToken{},
		counters: map[store.Subject]counter{},
		apps:     map[string]store.AppClient{},
		devices:  map[string]map[string]store.DeviceToken{},
		tracked:  map[string]map[store.SessionRef]struct{}{},
		subs:     map[*store.EventFeed]context.CancelFunc{},
	}
}

var errClosed = fmt.Errorf("%w: memory store is closed", store.ErrUnavailable)

// lock takes the mutex and reports a closed store. Every method starts with it.
func (s *Store) lock() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	return nil
}

// Ping implements store.Store.
func (s *Store) Ping(context.Context) error {
	if err := s.lock(); err != nil {
		return err
	}
	s.mu.Unlock()
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.closed = true
	for _, cancel := range s.subs {
		cancel()
	}
	clear(s.subs)
	return nil
}

// ms keeps times at the millisecond precision the Redis backend stores, in UTC, so both
// backends return equal values.
func ms(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// maybeSweep drops expired records at most once per sweepInterval of the callers' time.
// Called with the mutex held, from writes only.
func (s *Store) maybeSweep(now time.Time) {
	if now.Sub(s.lastSweep) < sweepInterval {
		return
	}
	s.lastSweep = now
	for uid, byID := range s.sessions {
		for sid, sess := range byID {
			if !sess.Live(now) {
				delete(byID, sid)
			}
		}
		if len(byID) == 0 {
			delete(s.sessions, uid)
		}
	}
	for id, refs := range s.tracked {
		for ref := range refs {
			if _, ok := s.sessions[ref.UserID][ref.SessionID]; !ok {
				delete(refs, ref)
			}
		}
		if len(refs) == 0 {
			delete(s.tracked, id)
		}
	}
	for k, ts := range s.oneTime {
		if ts = liveTokens(ts, now); len(ts) == 0 {
			delete(s.oneTime, k)
		} else {
			s.oneTime[k] = ts
		}
	}
	for k, c := range s.counters {
		if !now.Before(c.windowEnd) && !now.Before(c.lockedTo) {
			delete(s.counters, k)
		}
	}
	for id, byHash := range s.devices {
		for h, d := range byHash {
			if !now.Before(d.ExpiresAt) {
				delete(byHash, h)
			}
		}
		if len(byHash) == 0 {
			delete(s.devices, id)
		}
	}
}

// publish hands a revocation to every subscriber. Called with the mutex held, so events
// follow the order of the changes they announce.
func (s *Store) publish(r store.Revocation) {
	r.At = ms(r.At)
	for f := range s.subs {
		f.Send(store.RevocationEvent{Revocation: r})
	}
}

// PublishRevocation implements store.Store.
func (s *Store) PublishRevocation(_ context.Context, r store.Revocation) error {
	if err := validRevocation(r); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.publish(r)
	return nil
}

func validRevocation(r store.Revocation) error {
	if !store.ValidID(r.UserID) || !store.ValidID(r.SessionID) || !store.ValidReason(r.Reason) || r.At.IsZero() {
		return fmt.Errorf("%w: malformed revocation %+v", store.ErrInvalidArgument, r)
	}
	return nil
}

// SubscribeRevocations implements store.Store.
func (s *Store) SubscribeRevocations(ctx context.Context) (<-chan store.RevocationEvent, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	f := store.NewEventFeed(ctx)
	s.subs[f] = cancel
	context.AfterFunc(ctx, func() {
		s.mu.Lock()
		delete(s.subs, f)
		s.mu.Unlock()
	})
	return f.Events(), nil
}

func cloneStrings(v []string) []string {
	if len(v) == 0 {
		return nil
	}
	return slices.Clone(v)
}
