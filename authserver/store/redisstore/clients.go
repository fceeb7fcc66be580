package redisstore

import (
	"context"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// PutAppClient implements store.Store.
func (s *Store) PutAppClient(ctx context.Context, c store.AppClient) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if s.isClosed() {
		return errClosed
	}
	// Client registrations never expire: the operator deletes them with their DeviceClient.
	err := s.client.HSet(ctx, s.keys.appClient(c.ID), "type", "app", "roles", rolesString(c.Roles)).Err()
	return wrapErr("put app client", err)
}

// GetAppClient implements store.Store.
func (s *Store) GetAppClient(ctx context.Context, id string) (store.AppClient, error) {
	if !store.ValidClientID(id) {
		return store.AppClient{}, store.ErrNotFound
	}
	m, err := s.hgetall(ctx, "get app client", s.keys.appClient(id))
	if err != nil {
		return store.AppClient{}, err
	}
	if len(m) == 0 {
		return store.AppClient{}, store.ErrNotFound
	}
	roles, err := parseRoles(m["roles"])
	if err != nil {
		return store.AppClient{}, err
	}
	return store.AppClient{ID: id, Roles: roles}, nil
}

// DeleteAppClient implements store.Store.
func (s *Store) DeleteAppClient(ctx context.Context, id string) error {
	if !store.ValidClientID(id) {
		return store.ErrNotFound
	}
	return s.del(ctx, "delete app client", s.keys.appClient(id))
}

// PutDeviceToken implements store.Store.
func (s *Store) PutDeviceToken(ctx context.Context, t store.DeviceToken, now time.Time) error {
	if err := t.Validate(now); err != nil {
		return err
	}
	res, err := s.run(ctx, "put device token", putExpiringScript, []string{s.keys.deviceToken(t.Hash)},
		ttlMS(t.ExpiresAt, now),
		"client", t.ClientID, "device", t.DeviceID, "roles", rolesString(t.Roles),
		"created", msString(t.CreatedAt), "exp", msString(t.ExpiresAt))
	if err != nil {
		return err
	}
	if status(res) != "ok" {
		return unexpected("put device token", res)
	}
	return nil
}

// GetDeviceToken implements store.Store.
func (s *Store) GetDeviceToken(ctx context.Context, hash string, now time.Time) (store.DeviceToken, error) {
	if !store.ValidID(hash) {
		return store.DeviceToken{}, store.ErrNotFound
	}
	m, err := s.hgetall(ctx, "get device token", s.keys.deviceToken(hash))
	if err != nil {
		return store.DeviceToken{}, err
	}
	if len(m) == 0 {
		return store.DeviceToken{}, store.ErrNotFound
	}
	t := store.DeviceToken{
		Hash:      hash,
		ClientID:  m["client"],
		DeviceID:  m["device"],
		CreatedAt: parseMS(m["created"]),
		ExpiresAt: parseMS(m["exp"]),
	}
	if !ms(now).Before(t.ExpiresAt) {
		return store.DeviceToken{}, store.ErrNotFound
	}
	if t.Roles, err = parseRoles(m["roles"]); err != nil {
		return store.DeviceToken{}, err
	}
	return t, nil
}

// DeleteDeviceToken implements store.Store.
func (s *Store) DeleteDeviceToken(ctx context.Context, hash string) error {
	if !store.ValidID(hash) {
		return store.ErrNotFound
	}
	return s.del(ctx, "delete device token", s.keys.deviceToken(hash))
}

// del deletes one key; a missing key is ErrNotFound.
func (s *Store) del(ctx context.Context, op, key string) error {
	if s.isClosed() {
		return errClosed
	}
	n, err := s.client.Del(ctx, key).Result()
	if err != nil {
		return wrapErr(op, err)
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
