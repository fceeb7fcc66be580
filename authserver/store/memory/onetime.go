package memory

import (
	"context"
	"slices"
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
	k := oneTimeKey{t.UserID, t.Kind}
	kept := liveTokens(s.oneTime[k], ms(now))
	kept = kept[len(kept)-min(len(kept), max(t.Keep-1, 0)):]
	s.oneTime[k] = append(slices.Clone(kept), t)
	return nil
}

// liveTokens returns the tokens of ts that have not expired at now, in order.
func liveTokens(ts []store.OneTimeToken, now time.Time) []store.OneTimeToken {
	return slices.DeleteFunc(slices.Clone(ts), func(t store.OneTimeToken) bool { return !now.Before(t.ExpiresAt) })
}

// ConsumeOneTimeToken implements store.Store.
func (s *Store) ConsumeOneTimeToken(_ context.Context, userID string, kind store.OneTimeKind, hash string, now time.Time) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	k := oneTimeKey{userID, kind}
	found := false
	for _, t := range liveTokens(s.oneTime[k], ms(now)) {
		// Every live token is compared, so the time taken does not tell which one matched.
		found = equal(hash, t.Hash) || found
	}
	if !found {
		return store.ErrInvalidToken
	}
	delete(s.oneTime, k)
	return nil
}
