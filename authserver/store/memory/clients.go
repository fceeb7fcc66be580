package memory

import (
	"context"
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
	s.devices[t.Hash] = t
	return nil
}

// GetDeviceToken implements store.Store.
func (s *Store) GetDeviceToken(_ context.Context, hash string, now time.Time) (store.DeviceToken, error) {
	if err := s.lock(); err != nil {
		return store.DeviceToken{}, err
	}
	defer s.mu.Unlock()
	t, ok := s.devices[hash]
	if !ok || !ms(now).Before(t.ExpiresAt) {
		return store.DeviceToken{}, store.ErrNotFound
	}
	t.Roles = cloneStrings(t.Roles)
	return t, nil
}

// DeleteDeviceToken implements store.Store.
func (s *Store) DeleteDeviceToken(_ context.Context, hash string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if _, ok := s.devices[hash]; !ok {
		return store.ErrNotFound
	}
	delete(s.devices, hash)
	return nil
}
