package memory

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// PutLegacyTokens implements store.Store.
func (s *Store) PutLegacyTokens(_ context.Context, userID string, tokens []store.LegacyToken, now time.Time) error {
	now = ms(now)
	if err := store.ValidateLegacyTokens(tokens, now); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.users[userID]; !ok {
		return store.ErrNotFound
	}
	kept := map[string]store.LegacyToken{}
	for c, t := range s.legacy[userID] {
		if t.Exchangeable(now) {
			kept[c] = t
		}
	}
	for _, t := range tokens {
		t.ExpiresAt = ms(t.ExpiresAt)
		kept[t.Client] = t
	}
	if len(kept) > store.MaxLegacyTokens {
		return store.ErrInvalidArgument
	}
	if s.legacy == nil {
		s.legacy = map[string]map[string]store.LegacyToken{}
	}
	s.legacy[userID] = kept
	return nil
}

// GetLegacyToken implements store.Store.
func (s *Store) GetLegacyToken(_ context.Context, userID, client string, now time.Time) (store.LegacyToken, error) {
	if err := s.lock(); err != nil {
		return store.LegacyToken{}, err
	}
	defer s.mu.Unlock()
	t, ok := s.legacy[userID][client]
	if !ok || !t.Exchangeable(ms(now)) {
		return store.LegacyToken{}, store.ErrNotFound
	}
	return t, nil
}

// SpendLegacyToken implements store.Store.
func (s *Store) SpendLegacyToken(_ context.Context, userID, client, hash string, grace time.Duration, now time.Time) (bool, error) {
	if err := s.lock(); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	now = ms(now)
	t, ok := s.legacy[userID][client]
	if !ok || !equal(t.Hash, hash) || !t.Exchangeable(now) {
		return false, store.ErrInvalidToken
	}
	if !t.SpentUntil.IsZero() {
		return false, nil
	}
	t.SpentUntil = ms(now.Add(grace))
	s.legacy[userID][client] = t
	return true, nil
}

// AddImportedHashes implements store.Store.
func (s *Store) AddImportedHashes(_ context.Context, n int64, twins []store.HashTwin) error {
	if err := store.ValidateHashTwins(twins); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	r := &s.imported
	if r.Remaining += n; r.Remaining <= 0 {
		*r = store.ImportedHashRecord{}
		return nil
	}
next:
	for _, t := range twins {
		for i, have := range r.Twins {
			if have.Scheme == t.Scheme {
				if t.Cost > have.Cost {
					r.Twins[i] = t
				}
				continue next
			}
		}
		if len(r.Twins) < store.MaxHashTwins {
			r.Twins = append(r.Twins, t)
		}
	}
	return nil
}

// ImportedHashes implements store.Store.
func (s *Store) ImportedHashes(context.Context) (store.ImportedHashRecord, error) {
	if err := s.lock(); err != nil {
		return store.ImportedHashRecord{}, err
	}
	defer s.mu.Unlock()
	r := s.imported
	r.Twins = slices.Clone(r.Twins)
	slices.SortFunc(r.Twins, func(a, b store.HashTwin) int { return strings.Compare(a.Scheme, b.Scheme) })
	return r, nil
}
