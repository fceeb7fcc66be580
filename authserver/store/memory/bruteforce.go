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
		return store.Lockout{Locked: true, Until: c.lockedTo}, nil
	}
	if !now.Before(c.windowEnd) {
		c = counter{windowEnd: ms(now.Add(limit.Window))}
	}
	c.failures++
	if c.failures >= limit.MaxFailures {
		c = counter{lockedTo: ms(now.Add(limit.Lockout))}
	}
	s.counters[subj] = c
	return lockout(c, now), nil
}

// CheckLockout implements store.Store.
func (s *Store) CheckLockout(_ context.Context, subj store.Subject, now time.Time) (store.Lockout, error) {
	if !subj.Valid() {
		return store.Lockout{}, store.ErrInvalidArgument
	}
	if err := s.lock(); err != nil {
		return store.Lockout{}, err
	}
	defer s.mu.Unlock()
	return lockout(s.counters[subj], ms(now)), nil
}

func lockout(c counter, now time.Time) store.Lockout {
	if now.Before(c.lockedTo) {
		return store.Lockout{Locked: true, Until: c.lockedTo}
	}
	if now.Before(c.windowEnd) {
		return store.Lockout{Failures: c.failures}
	}
	return store.Lockout{}
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
