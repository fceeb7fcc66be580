package redisstore

import (
	"context"
	"strconv"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// RecordFailure implements store.Store.
func (s *Store) RecordFailure(ctx context.Context, subj store.Subject, limit store.BruteForceLimit, now time.Time) (store.Lockout, error) {
	if !subj.Valid() {
		return store.Lockout{}, store.ErrInvalidArgument
	}
	if err := limit.Validate(); err != nil {
		return store.Lockout{}, err
	}
	res, err := s.run(ctx, "record failure", recordFailureScript, []string{s.keys.counter(subj)},
		msString(now), limit.MaxFailures, limit.Window.Milliseconds(), limit.Lockout.Milliseconds())
	if err != nil {
		return store.Lockout{}, err
	}
	switch status(res) {
	case "locked":
		return store.Lockout{Locked: true, Until: parseMS(str(res, 1))}, nil
	case "open":
		return store.Lockout{Failures: int(num(res, 2))}, nil
	}
	return store.Lockout{}, unexpected("record failure", res)
}

// CheckLockout implements store.Store.
func (s *Store) CheckLockout(ctx context.Context, subj store.Subject, now time.Time) (store.Lockout, error) {
	if !subj.Valid() {
		return store.Lockout{}, store.ErrInvalidArgument
	}
	m, err := s.hgetall(ctx, "check lockout", s.keys.counter(subj))
	if err != nil {
		return store.Lockout{}, err
	}
	now = ms(now)
	if until := parseMS(m["lock"]); now.Before(until) {
		return store.Lockout{Locked: true, Until: until}, nil
	}
	if now.Before(parseMS(m["wend"])) {
		n, _ := strconv.Atoi(m["n"])
		return store.Lockout{Failures: n}, nil
	}
	return store.Lockout{}, nil
}

// ResetFailures implements store.Store.
func (s *Store) ResetFailures(ctx context.Context, subj store.Subject) error {
	if !subj.Valid() {
		return store.ErrInvalidArgument
	}
	if s.isClosed() {
		return errClosed
	}
	return wrapErr("reset failures", s.client.Del(ctx, s.keys.counter(subj)).Err())
}
