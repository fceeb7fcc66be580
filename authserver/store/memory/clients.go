package memory

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// PutAppClient implements store.Store.
func (s *Store) PutAppClient(_ context.Context, c store.AppClient) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	c.Roles = cloneStrings(c.Roles)
	s.apps[c.ID] = c
	return nil
}

// GetAppClient implements store.Store.
func (s *Store) GetAppClient(_ context.Context, id string) (store.AppClient, error) {
	if err := s.lock(); err != nil {
		return store.AppClient{}, err
	}
	defer s.mu.Unlock()
	c, ok := s.apps[id]
	if !ok {
		return store.AppClient{}, store.ErrNotFound
	}
	c.Roles = cloneStrings(c.Roles)
	return c, nil
}

// DeleteAppClient implements store.Store.
func (s *Store) DeleteAppClient(_ context.Context, id string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.apps[id]; !ok {
		return store.ErrNotFound
	}
	delete(s.apps, id)
	return nil
}

// PutDeviceToken implements store.Store.
func (s *Store) PutDeviceToken(_ context.Context, t store.DeviceToken, now time.Time) error {
	if err := t.Validate(now); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.maybeSweep(ms(now))
	t.Roles = cloneStrings(t.Roles)
	t.CreatedAt, t.ExpiresAt = ms(t.CreatedAt), ms(t.ExpiresAt)
	byHash := s.devices[t.ClientID]
	if byHash == nil {
		byHash = map[string]store.DeviceToken{}
		s.devices[t.ClientID] = byHash
	}
	byHash[t.Hash] = t
	return nil
}

// GetDeviceToken implements store.Store.
func (s *Store) GetDeviceToken(_ context.Context, clientID, hash string, now time.Time) (store.DeviceToken, error) {
	if err := s.lock(); err != nil {
		return store.DeviceToken{}, err
	}
	defer s.mu.Unlock()
	t, ok := s.devices[clientID][hash]
	if !ok || !ms(now).Before(t.ExpiresAt) {
		return store.DeviceToken{}, store.ErrNotFound
	}
	t.Roles = cloneStrings(t.Roles)
	return t, nil
}

// ListDeviceTokens implements store.Store.
func (s *Store) ListDeviceTokens(_ context.Context, clientID string, now time.Time) ([]store.DeviceToken, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := []store.DeviceToken{}
	for _, t := range s.devices[clientID] {
		if ms(now).Before(t.ExpiresAt) {
			t.Roles = cloneStrings(t.Roles)
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b store.DeviceToken) int {
		if c := a.ExpiresAt.Compare(b.ExpiresAt); c != 0 {
			return c
		}
		return strings.Compare(a.Hash, b.Hash)
	})
	return out, nil
}

// DeleteDeviceToken implements store.Store.
func (s *Store) DeleteDeviceToken(_ context.Context, clientID, hash string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.devices[clientID][hash]; !ok {
		return store.ErrNotFound
	}
	delete(s.devices[clientID], hash)
	if len(s.devices[clientID]) == 0 {
		delete(s.devices, clientID)
	}
	return nil
}

// DeleteAllDeviceTokens implements store.Store.
func (s *Store) DeleteAllDeviceTokens(_ context.Context, clientID string, now time.Time) (int, error) {
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	for _, t := range s.devices[clientID] {
		if ms(now).Before(t.ExpiresAt) {
			n++
		}
	}
	delete(s.devices, clientID)
	return n, nil
}

// RevokeClientSessions implements store.Store.
func (s *Store) RevokeClientSessions(_ context.Context, clientID string, reason store.Reason, now time.Time) ([]store.SessionRef, error) {
	if !store.ValidReason(reason) {
		return nil, store.ErrInvalidArgument
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	now = ms(now)
	ended := []store.SessionRef{}
	for ref := range s.tracked[clientID] {
		sess, ok := s.sessions[ref.UserID][ref.SessionID]
		if !ok {
			continue
		}
		delete(s.sessions[ref.UserID], ref.SessionID)
		if sess.Live(now) {
			s.publish(store.Revocation{UserID: ref.UserID, SessionID: ref.SessionID, Reason: reason, At: now})
			ended = append(ended, ref)
		}
	}
	delete(s.tracked, clientID)
	return ended, nil
}
