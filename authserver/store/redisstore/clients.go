package redisstore

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

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
	key := s.keys.appClient(c.ID)
	_, err := s.writeCmd(ctx, "put app client", key, func(p redis.Pipeliner) redis.Cmder {
		return p.HSet(ctx, key, "type", "app", "roles", rolesString(c.Roles))
	})
	return err
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
	res, err := s.write(ctx, "put device token", putDeviceTokenScript,
		[]string{s.keys.deviceToken(t.ClientID, t.Hash), s.keys.deviceTokenIndex(t.ClientID)},
		msString(now), msString(t.ExpiresAt), t.Hash,
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

// GetDeviceToken implements store.Store. It is one HGETALL: the presented token names its
// client, which routes the lookup to the client's slot.
func (s *Store) GetDeviceToken(ctx context.Context, clientID, hash string, now time.Time) (store.DeviceToken, error) {
	if !store.ValidClientID(clientID) || !store.ValidID(hash) {
		return store.DeviceToken{}, store.ErrNotFound
	}
	m, err := s.hgetall(ctx, "get device token", s.keys.deviceToken(clientID, hash))
	if err != nil {
		return store.DeviceToken{}, err
	}
	if len(m) == 0 {
		return store.DeviceToken{}, store.ErrNotFound
	}
	return decodeDeviceToken(hash, m, now)
}

// ListDeviceTokens implements store.Store.
func (s *Store) ListDeviceTokens(ctx context.Context, clientID string, now time.Time) ([]store.DeviceToken, error) {
	if !store.ValidClientID(clientID) {
		return nil, nil
	}
	res, err := s.run(ctx, "list device tokens", listDeviceTokensScript,
		[]string{s.keys.deviceTokenIndex(clientID)}, msString(now), s.keys.clientBase(clientID))
	if err != nil {
		return nil, err
	}
	if status(res) != "ok" || len(res) < 2 {
		return nil, unexpected("list device tokens", res)
	}
	entries, _ := res[1].([]any)
	out := make([]store.DeviceToken, 0, len(entries)/2)
	for i := 0; i+1 < len(entries); i += 2 {
		hash, _ := entries[i].(string)
		t, err := decodeDeviceToken(hash, pairs(entries[i+1]), now)
		if errors.Is(err, store.ErrNotFound) {
			continue // expired between the index's score and the record's own deadline
		}
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// DeleteDeviceToken implements store.Store.
func (s *Store) DeleteDeviceToken(ctx context.Context, clientID, hash string) error {
	if !store.ValidClientID(clientID) || !store.ValidID(hash) {
		return store.ErrNotFound
	}
	res, err := s.write(ctx, "delete device token", deleteDeviceTokenScript,
		[]string{s.keys.deviceToken(clientID, hash), s.keys.deviceTokenIndex(clientID)}, hash)
	if err != nil {
		return err
	}
	switch status(res) {
	case "ok":
		return nil
	case "missing":
		return store.ErrNotFound
	}
	return unexpected("delete device token", res)
}

// DeleteAllDeviceTokens implements store.Store.
func (s *Store) DeleteAllDeviceTokens(ctx context.Context, clientID string, now time.Time) (int, error) {
	if !store.ValidClientID(clientID) {
		return 0, nil
	}
	res, err := s.write(ctx, "delete all device tokens", deleteAllDeviceTokensScript,
		[]string{s.keys.deviceTokenIndex(clientID)}, msString(now), s.keys.clientBase(clientID))
	if err != nil {
		return 0, err
	}
	if status(res) != "ok" {
		return 0, unexpected("delete all device tokens", res)
	}
	return int(num(res, 1)), nil
}

// revokeClientWorkers bounds the revocations RevokeClientSessions runs at once: each is its
// own round trip (the sessions live in their users' hash slots), so a client with many
// sessions is not revoked one round trip at a time, nor floods the server.
const revokeClientWorkers = 16

// RevokeClientSessions implements store.Store. It walks the client's index, revokes each
// session by reference in its user's slot (announcing it), and only then drops the walked
// entries, so an outage part way leaves the rest for the caller's retry.
func (s *Store) RevokeClientSessions(ctx context.Context, clientID string, reason store.Reason, now time.Time) ([]store.SessionRef, error) {
	if !store.ValidReason(reason) {
		return nil, store.ErrInvalidArgument
	}
	if !store.ValidClientID(clientID) {
		return []store.SessionRef{}, nil
	}
	if s.isClosed() {
		return nil, errClosed
	}
	index := s.keys.clientSessions(clientID)
	members, err := s.client.ZRange(ctx, index, 0, -1).Result()
	if err != nil {
		return nil, wrapErr("list client sessions", err)
	}
	var (
		mu    sync.Mutex
		ended = []store.SessionRef{}
		done  = make([]any, 0, len(members))
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(revokeClientWorkers)
	for _, m := range members {
		uid, sid, ok := strings.Cut(m, ".")
		ref := store.SessionRef{UserID: uid, SessionID: sid}
		if !ok || !store.ValidRef(ref) {
			mu.Lock()
			done = append(done, m) // not ours to read: drop it
			mu.Unlock()
			continue
		}
		g.Go(func() error {
			_, err := s.RevokeSession(gctx, ref, "", reason, now)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ended = append(ended, ref)
			}
			done = append(done, m)
			return nil
		})
	}
	werr := g.Wait()
	if len(done) > 0 {
		if err := s.client.ZRem(ctx, index, done...).Err(); err != nil && werr == nil {
			werr = wrapErr("drop client sessions", err)
		}
	}
	if werr != nil {
		return ended, werr
	}
	return ended, nil
}

// decodeDeviceToken reads a device token record; an expired one is ErrNotFound.
func decodeDeviceToken(hash string, m map[string]string, now time.Time) (store.DeviceToken, error) {
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
	var err error
	if t.Roles, err = parseRoles(m["roles"]); err != nil {
		return store.DeviceToken{}, err
	}
	return t, nil
}

// del deletes one key; a missing key is ErrNotFound.
func (s *Store) del(ctx context.Context, op, key string) error {
	var del *redis.IntCmd
	if _, err := s.writeCmd(ctx, op, key, func(p redis.Pipeliner) redis.Cmder {
		del = p.Del(ctx, key)
		return del
	}); err != nil {
		return err
	}
	if del.Val() == 0 {
		return store.ErrNotFound
	}
	return nil
}
