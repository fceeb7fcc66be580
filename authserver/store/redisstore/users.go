package redisstore

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/store"
)

const (
	// loginLease is how long a login claim waits for its user record to be written.
	loginLease = 10 * time.Second
	// staleClaimMargin is added to a lease before another user may take an unused claim
	// over: it absorbs clock skew between the node holding the claim and the node holding
	// the user.
	staleClaimMargin = 20 * time.Second
	// maxUpdateAttempts bounds UpdateUser's optimistic retries.
	maxUpdateAttempts = 10
)

// errLoginBusy: the same user ID holds a running claim on the login: an update moving it there
// is in flight (or the same registration is being retried).
var errLoginBusy = errors.New("login claim in progress")

// CreateUser implements store.Store.
func (s *Store) CreateUser(ctx context.Context, u store.User, now time.Time) (store.User, error) {
	u.Login = strings.TrimSpace(u.Login)
	if err := u.Validate(); err != nil {
		return store.User{}, err
	}
	now = ms(now)
	u.CreatedAt, u.UpdatedAt, u.PasswordChangedAt = now, now, time.Time{}
	if u.PasswordHash != "" {
		u.PasswordChangedAt = now
	}
	login := store.NormalizeLogin(u.Login)
	nonce := rand.Text()
	lease, fresh, err := s.claimLogin(ctx, login, u.ID, nonce)
	if errors.Is(err, errLoginBusy) {
		return store.User{}, store.ErrAlreadyExists // the same ID is being created already
	}
	if err != nil {
		return store.User{}, err
	}
	res, err := s.write(ctx, "create user", writeUserScript, []string{s.keys.user(u.ID)},
		append([]any{"create", "0", lease}, userFields(u)...)...)
	if err != nil {
		// The write may have happened. Keep the claim: its lease makes it replaceable if the
		// user was not written, and releasing it could orphan a user that was.
		return store.User{}, err
	}
	switch status(res) {
	case "ok":
		return u, nil
	case "exists":
		// The ID is taken. Release the claim only if it was new: a renewed one is the
		// existing user's own (the same user registered twice).
		if fresh {
			s.releaseLogin(ctx, login, u.ID, nonce)
		}
		return store.User{}, store.ErrAlreadyExists
	case "lease":
		s.releaseLogin(ctx, login, u.ID, nonce)
		return store.User{}, fmt.Errorf("%w: the login claim lapsed before the user was written", store.ErrUnavailable)
	}
	return store.User{}, unexpected("create user", res)
}

// claimLogin claims a normalized login for user id and returns the claim's lease (Redis
// milliseconds) for the user write to check, and whether the claim is new rather than a
// renewal of one the user already held. A claim held by another user is ErrAlreadyExists
// unless it is stale, in which case it is taken over.
func (s *Store) claimLogin(ctx context.Context, login, id, nonce string) (lease string, fresh bool, err error) {
	key := s.keys.login(login)
	leaseMS := loginLease.Milliseconds()
	for range 3 {
		res, err := s.run(ctx, "claim login", claimLoginScript, []string{key}, id, nonce, leaseMS)
		if err != nil {
			return "", false, err
		}
		switch status(res) {
		case "ok":
			return str(res, 1), str(res, 2) == "new", nil
		case "busy":
			return "", false, errLoginBusy
		case "held":
		default:
			return "", false, unexpected("claim login", res)
		}
		holder, holderLease, holderNonce, serverNow := str(res, 1), num(res, 2), str(res, 3), num(res, 4)
		if serverNow < holderLease+staleClaimMargin.Milliseconds() {
			return "", false, store.ErrAlreadyExists // being registered (or renamed to) right now
		}
		// An old claim is valid exactly when its holder still has this login.
		holderLogin, err := s.client.HGet(ctx, s.keys.user(holder), "login").Result()
		switch {
		case err == nil && store.NormalizeLogin(holderLogin) == login:
			return "", false, store.ErrAlreadyExists
		case err != nil && !errors.Is(err, redis.Nil):
			return "", false, wrapErr("claim login", err)
		}
		res, err = s.run(ctx, "claim login", takeOverLoginScript, []string{key}, holder, holderNonce, id, nonce, leaseMS)
		if err != nil {
			return "", false, err
		}
		if status(res) == "ok" {
			return str(res, 1), true, nil
		}
		// Someone else changed the claim since it was judged stale: judge it again.
	}
	return "", false, store.ErrAlreadyExists
}

// releaseLogin drops a claim of ours that will not be used. It is best effort: a claim left
// behind is stale once its lease ends and is taken over by the next claimant.
func (s *Store) releaseLogin(ctx context.Context, login, id, nonce string) {
	_, _ = s.run(ctx, "release login", releaseLoginScript, []string{s.keys.login(login)}, id, nonce)
}

// GetUser implements store.Store.
func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	u, _, err := s.getUser(ctx, id)
	return u, err
}

func (s *Store) getUser(ctx context.Context, id string) (store.User, string, error) {
	if !store.ValidID(id) {
		return store.User{}, "", store.ErrNotFound
	}
	m, err := s.hgetall(ctx, "get user", s.keys.user(id))
	if err != nil {
		return store.User{}, "", err
	}
	if len(m) == 0 {
		return store.User{}, "", store.ErrNotFound
	}
	return decodeUser(hashFields(m))
}

// GetUserByLogin implements store.Store.
func (s *Store) GetUserByLogin(ctx context.Context, login string) (store.User, error) {
	login = store.NormalizeLogin(login)
	if login == "" || len(login) > store.MaxLoginLen {
		return store.User{}, store.ErrNotFound
	}
	if s.isClosed() {
		return store.User{}, errClosed
	}
	id, err := s.client.HGet(ctx, s.keys.login(login), "id").Result()
	if errors.Is(err, redis.Nil) {
		return store.User{}, store.ErrNotFound
	}
	if err != nil {
		return store.User{}, wrapErr("get user by login", err)
	}
	u, err := s.GetUser(ctx, id)
	if err != nil {
		return store.User{}, err
	}
	// A claim whose user has moved to another login (or is still being written) names no one.
	if store.NormalizeLogin(u.Login) != login {
		return store.User{}, store.ErrNotFound
	}
	return u, nil
}

// UpdateUser implements store.Store with optimistic concurrency on the record's revision.
func (s *Store) UpdateUser(ctx context.Context, id string, now time.Time, update func(store.User) (store.User, error)) (store.User, error) {
	for range maxUpdateAttempts {
		u, retry, err := s.updateUser(ctx, id, ms(now), update)
		if !retry {
			return u, err
		}
		// Back off briefly and at random, so racing updaters do not collide again in step.
		select {
		case <-time.After(time.Duration(1+mrand.IntN(10)) * time.Millisecond):
		case <-ctx.Done():
			return store.User{}, fmt.Errorf("%w: %w", store.ErrUnavailable, ctx.Err())
		}
	}
	return store.User{}, fmt.Errorf("%w: user %s kept changing during the update", store.ErrConflict, id)
}

// updateUser makes one attempt; retry reports a lost race.
func (s *Store) updateUser(ctx context.Context, id string, now time.Time, update func(store.User) (store.User, error)) (_ store.User, retry bool, _ error) {
	old, rev, err := s.getUser(ctx, id)
	if err != nil {
		return store.User{}, false, err
	}
	nu, err := update(old)
	if err != nil {
		return store.User{}, false, err
	}
	nu.ID, nu.CreatedAt, nu.PasswordHash, nu.PasswordChangedAt = old.ID, old.CreatedAt, old.PasswordHash, old.PasswordChangedAt
	nu.Login = strings.TrimSpace(nu.Login)
	nu.UpdatedAt = now
	if err := nu.Validate(); err != nil {
		return store.User{}, false, err
	}
	oldLogin, newLogin := store.NormalizeLogin(old.Login), store.NormalizeLogin(nu.Login)
	moved := newLogin != oldLogin
	lease, nonce, oldNonce := "0", "", ""
	if moved {
		// Remember the old claim's nonce now: released after the commit only if unchanged,
		// so a concurrent move back to the old login keeps its fresh claim.
		claim, err := s.hgetall(ctx, "update user", s.keys.login(oldLogin))
		if err != nil {
			return store.User{}, false, err
		}
		if claim["id"] == id {
			oldNonce = claim["nonce"]
		}
		nonce = rand.Text()
		lease, _, err = s.claimLogin(ctx, newLogin, id, nonce)
		if errors.Is(err, errLoginBusy) {
			return store.User{}, true, nil
		}
		if err != nil {
			return store.User{}, false, err
		}
	}
	res, err := s.write(ctx, "update user", writeUserScript, []string{s.keys.user(id)},
		append([]any{"update", rev, lease}, userProfile(nu)...)...)
	if err != nil {
		return store.User{}, false, err // the claim, if any, is left to its lease (see CreateUser)
	}
	st := status(res)
	if st != "ok" && moved {
		s.releaseLogin(ctx, newLogin, id, nonce)
	}
	switch st {
	case "ok":
		if moved && oldNonce != "" {
			s.releaseLogin(ctx, oldLogin, id, oldNonce)
		}
		return nu, false, nil
	case "conflict":
		return store.User{}, true, nil
	case "notfound":
		return store.User{}, false, store.ErrNotFound
	case "lease":
		return store.User{}, false, fmt.Errorf("%w: the login claim lapsed before the user was written", store.ErrUnavailable)
	}
	return store.User{}, false, unexpected("update user", res)
}

// SetPassword implements store.Store.
func (s *Store) SetPassword(ctx context.Context, id, passwordHash, keepSessionID string, now time.Time) ([]string, error) {
	if !store.ValidID(id) {
		return nil, store.ErrNotFound
	}
	res, err := s.write(ctx, "set password", setPasswordScript,
		[]string{s.keys.user(id), s.keys.sessionIndex(id), s.keys.oneTime(id, store.OneTimeReset)},
		msString(now), passwordHash, keepSessionID, s.keys.userBase(id), s.keys.revocations(), id)
	if err != nil {
		return nil, err
	}
	switch status(res) {
	case "ok":
		return nonNil(strs(res[1])), nil
	case "notfound":
		return nil, store.ErrNotFound
	}
	return nil, unexpected("set password", res)
}

// RehashPassword implements store.Store: one script, one round trip.
func (s *Store) RehashPassword(ctx context.Context, id, oldHash, newHash string) error {
	if oldHash == "" || newHash == "" {
		return store.ErrInvalidArgument
	}
	if !store.ValidID(id) {
		return store.ErrNotFound
	}
	res, err := s.run(ctx, "rehash password", rehashPasswordScript, []string{s.keys.user(id)}, oldHash, newHash)
	if err != nil {
		return err
	}
	switch status(res) {
	case "ok":
		return nil
	case "notfound":
		return store.ErrNotFound
	case "conflict":
		return store.ErrConflict
	}
	return unexpected("rehash password", res)
}

// hgetall reads a whole hash; a missing key is an empty map.
func (s *Store) hgetall(ctx context.Context, op, key string) (map[string]string, error) {
	if s.isClosed() {
		return nil, errClosed
	}
	m, err := s.client.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, wrapErr(op, err)
	}
	return m, nil
}

// ScanUsers implements store.Store with SCAN over every master (a cluster's keyspace is split
// between them), MATCH on the user records' key shape, and a pipelined HGETALL per batch.
func (s *Store) ScanUsers(ctx context.Context, batch int, fn func([]store.User) error) error {
	if batch < 1 {
		return store.ErrInvalidArgument
	}
	if s.isClosed() {
		return errClosed
	}
	match := globEscape(s.keys.prefix) + "{u:*}:user"
	// SCAN may return a key more than once (a rehash, a slot moving between masters): the
	// keys already handed on are remembered, so no user is seen twice.
	seen := map[string]struct{}{}
	scan := func(ctx context.Context, c redis.Cmdable) error {
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, match, int64(batch)).Result()
			if err != nil {
				return wrapErr("scan users", err)
			}
			fresh := keys[:0]
			for _, k := range keys {
				if _, dup := seen[k]; !dup {
					seen[k] = struct{}{}
					fresh = append(fresh, k)
				}
			}
			for chunk := range slices.Chunk(fresh, batch) {
				if err := s.emitUsers(ctx, chunk, fn); err != nil {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		// Masters are scanned one after the other: fn is not required to be safe for
		// concurrent use.
		// ForEachMaster runs on every master at once; once one fails, the others stop.
		var mu sync.Mutex
		var failed error
		err := cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			mu.Lock()
			defer mu.Unlock()
			if failed != nil {
				return nil
			}
			failed = scan(ctx, c)
			return failed
		})
		return cmp.Or(failed, err)
	}
	return scan(ctx, s.client)
}

// emitUsers reads the user records of keys in one pipeline and hands the ones still there to
// fn, without their password hashes.
func (s *Store) emitUsers(ctx context.Context, keys []string, fn func([]store.User) error) error {
	p := s.client.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = p.HGetAll(ctx, k)
	}
	if _, err := p.Exec(ctx); err != nil {
		return wrapErr("scan users", err)
	}
	users := make([]store.User, 0, len(keys))
	for _, c := range cmds {
		m := c.Val()
		if len(m) == 0 {
			continue // deleted since the SCAN saw it
		}
		u, _, err := decodeUser(hashFields(m))
		if err != nil {
			return err
		}
		u.PasswordHash = ""
		users = append(users, u)
	}
	if len(users) == 0 {
		return nil
	}
	return fn(users)
}

// globEscape quotes the characters SCAN's MATCH would read as a pattern.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// DeleteUser implements store.Store in three steps, one per slot: the user's own keys and
// sessions (ended and announced atomically), then the login's claim, then its counter. A
// failure after the first leaves a claim naming a user that no longer exists, which the next
// registration of that login takes over as stale (see the login claim in DESIGN.md).
func (s *Store) DeleteUser(ctx context.Context, id string, now time.Time) ([]string, error) {
	if !store.ValidID(id) {
		return nil, store.ErrInvalidArgument
	}
	res, err := s.write(ctx, "delete user", deleteUserScript,
		[]string{s.keys.user(id), s.keys.sessionIndex(id), s.keys.oneTime(id, store.OneTimeReset), s.keys.oneTime(id, store.OneTimeConfirm),
			s.keys.legacyTokens(id)},
		msString(now), string(store.ReasonUserDeleted), s.keys.userBase(id), s.keys.revocations(), id)
	if err != nil {
		return nil, err
	}
	switch status(res) {
	case "ok":
	case "notfound":
		return nil, store.ErrNotFound
	default:
		return nil, unexpected("delete user", res)
	}
	login, _ := res[1].(string)
	ended := nonNil(strs(res[2]))
	if _, err := s.write(ctx, "delete user", dropLoginClaimScript, []string{s.keys.login(store.NormalizeLogin(login))}, id); err != nil {
		return ended, err
	}
	if _, err := s.writeCmd(ctx, "delete user", s.keys.counter(store.LoginSubject(login)), func(p redis.Pipeliner) redis.Cmder {
		return p.Del(ctx, s.keys.counter(store.LoginSubject(login)))
	}); err != nil {
		return ended, err
	}
	return ended, nil
}
