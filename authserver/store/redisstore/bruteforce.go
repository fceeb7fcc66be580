package redisstore

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

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
		msString(now), limit.MaxFailures, limit.Window.Milliseconds(), limit.Lockout.Milliseconds(),
		limit.Delay.Milliseconds(), limit.FreeFailures)
	if err != nil {
		return store.Lockout{}, err
	}
	switch status(res) {
	case "locked":
		return store.Lockout{Locked: true, Until: parseMS(str(res, 1)), Failures: int(num(res, 2))}, nil
	case "open":
		return store.Lockout{Failures: int(num(res, 2))}, nil
	}
	return store.Lockout{}, unexpected("record failure", res)
}

// CheckLockouts implements store.Store: one pipeline of HMGETs, which a Cluster client sends
// to each subject's node at once.
func (s *Store) CheckLockouts(ctx context.Context, subjects []store.Subject, now time.Time) ([]store.Lockout, error) {
	for _, subj := range subjects {
		if !subj.Valid() {
			return nil, store.ErrInvalidArgument
		}
	}
	if s.isClosed() {
		return nil, errClosed
	}
	pipe := s.client.Pipeline()
	cmds := make([]*redis.SliceCmd, len(subjects))
	for i, subj := range subjects {
		cmds[i] = pipe.HMGet(ctx, s.keys.counter(subj), "n", "wend", "lock")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, wrapErr("check lockouts", err)
	}
	now = ms(now)
	out := make([]store.Lockout, len(subjects))
	for i, c := range cmds {
		f := c.Val()
		field := func(j int) string { v, _ := f[j].(string); return v }
		if until := parseMS(field(2)); now.Before(until) {
			out[i].Locked, out[i].Until = true, until
		}
		if now.Before(parseMS(field(1))) {
			out[i].Failures, _ = strconv.Atoi(field(0))
		}
	}
	return out, nil
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
