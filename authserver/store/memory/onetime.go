package memory

import (
	"context"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// IssueOneTimeToken implements store.Store.
func (s *Store) IssueOneTimeToken(_ context.Context, t store.OneTimeToken, now time.Time) error {
	if err := t.Validate(now); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.maybeSweep(ms(now))
	if _, ok := s.users[t.UserID]; !ok {
		return store.ErrNotFound
	}
	t.ExpiresAt = ms(t.ExpiresAt)
	s.oneTime[oneTimeKey{t.UserID, t.Kind}] = t
	return nil
}

// ConsumeOneTimeToken implements store.Store.
func (s *Store) ConsumeOneTimeToken(_ context.Context, userID string, kind store.OneTimeKind, hash string, now time.Time) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	k := oneTimeKey{userID, kind}
	t, ok := s.oneTime[k]
	switch {
	case !ok:
		return store.ErrInvalidToken
	case !ms(now).Before(t.ExpiresAt):
		delete(s.oneTime, k)
		return store.ErrInvalidToken
	case !equal(hash, t.Hash):
		return store.ErrInvalidToken
	}
	delete(s.oneTime, k)
	return nil
}
