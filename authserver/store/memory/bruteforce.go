package memory

import (
	"context"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// RecordFailure implements store.Store.
func (s *Store) RecordFailure(_ context.Context, subj store.Subject, limit store.BruteForceLimit, now time.Time) (store.Lockout, error) {
	if !subj.Valid() {
		return store.Lockout{}, store.ErrInvalidArgument
	}
	if err := limit.Validate(); err != nil {
		return store.Lockout{}, err
	}
	if err := s.lock(); err != nil {
		return store.Lockout{}, err
	}
	defer s.mu.Unlock()
	now = ms(now)
	s.maybeSweep(now)
	c := s.counters[subj]
	if now.Before(c.lockedTo) {
		return lockout(c, now), nil
	}
	if !now.Before(c.windowEnd) {
		c = counter{windowEnd: ms(now.Add(limit.Window))}
	}
	c.failures++
	if c.failures >= limit.MaxFailures {
		c = counter{lockedTo: ms(now.Add(limit.Lockout))}
	} else if d := limit.DelayAfter(c.failures); d > 0 {
		c.lockedTo = ms(now.Add(d))
	}
	s.counters[subj] = c
	return lockout(c, now), nil
}

// CheckLockouts implements store.Store.
func (s *Store) CheckLockouts(_ context.Context, subjects []store.Subject, now time.Time) ([]store.Lockout, error) {
	for _, subj := range subjects {
		if !subj.Valid() {
			return nil, store.ErrInvalidArgument
		}
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := make([]store.Lockout, len(subjects))
	for i, subj := range subjects {
		out[i] = lockout(s.counters[subj], ms(now))
	}
	return out, nil
}

func lockout(c counter, now time.Time) store.Lockout {
	var l store.Lockout
	if now.Before(c.lockedTo) {
		l.Locked, l.Until = true, c.lockedTo
	}
	if now.Before(c.windowEnd) {
		l.Failures = c.failures
	}
	return l
}

// ResetFailures implements store.Store.
func (s *Store) ResetFailures(_ context.Context, subj store.Subject) error {
	if !subj.Valid() {
		return store.ErrInvalidArgument
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.counters, subj)
	return nil
}
