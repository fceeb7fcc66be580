package memory

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// CreateUser implements store.Store.
func (s *Store) CreateUser(_ context.Context, u store.User, now time.Time) (store.User, error) {
	u.Login = strings.TrimSpace(u.Login)
	if err := u.Validate(); err != nil {
		return store.User{}, err
	}
	if err := s.lock(); err != nil {
		return store.User{}, err
	}
	defer s.mu.Unlock()
	login := store.NormalizeLogin(u.Login)
	if _, ok := s.users[u.ID]; ok {
		return store.User{}, store.ErrAlreadyExists
	}
	if _, ok := s.logins[login]; ok {
		return store.User{}, store.ErrAlreadyExists
	}
	now = ms(now)
	u.CreatedAt, u.UpdatedAt, u.PasswordChangedAt = now, now, time.Time{}
	if u.PasswordHash != "" {
		u.PasswordChangedAt = now
	}
	s.users[u.ID] = u
	s.logins[login] = u.ID
	return u, nil
}

// GetUser implements store.Store.
func (s *Store) GetUser(_ context.Context, id string) (store.User, error) {
	if err := s.lock(); err != nil {
		return store.User{}, err
	}
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return store.User{}, store.ErrNotFound
	}
	return u, nil
}

// GetUserByLogin implements store.Store.
func (s *Store) GetUserByLogin(_ context.Context, login string) (store.User, error) {
	if err := s.lock(); err != nil {
		return store.User{}, err
	}
	defer s.mu.Unlock()
	id, ok := s.logins[store.NormalizeLogin(login)]
	if !ok {
		return store.User{}, store.ErrNotFound
	}
	return s.users[id], nil
}

// UpdateUser implements store.Store. The mutex makes the update atomic, so update runs once.
func (s *Store) UpdateUser(_ context.Context, id string, now time.Time, update func(store.User) (store.User, error)) (store.User, error) {
	if err := s.lock(); err != nil {
		return store.User{}, err
	}
	defer s.mu.Unlock()
	old, ok := s.users[id]
	if !ok {
		return store.User{}, store.ErrNotFound
	}
	nu, err := update(old)
	if err != nil {
		return store.User{}, err
	}
	nu.ID, nu.CreatedAt, nu.PasswordHash, nu.PasswordChangedAt = old.ID, old.CreatedAt, old.PasswordHash, old.PasswordChangedAt
	nu.Login = strings.TrimSpace(nu.Login)
	nu.UpdatedAt = ms(now)
	if err := nu.Validate(); err != nil {
		return store.User{}, err
	}
	oldLogin, newLogin := store.NormalizeLogin(old.Login), store.NormalizeLogin(nu.Login)
	if newLogin != oldLogin {
		if _, taken := s.logins[newLogin]; taken {
			return store.User{}, store.ErrAlreadyExists
		}
		delete(s.logins, oldLogin)
		s.logins[newLogin] = id
	}
	s.users[id] = nu
	return nu, nil
}

// RehashPassword implements store.Store.
func (s *Store) RehashPassword(_ context.Context, id, oldHash, newHash string) error {
	if oldHash == "" || newHash == "" {
		return store.ErrInvalidArgument
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	u, ok := s.users[id]
	switch {
	case !ok:
		return store.ErrNotFound
	case !equal(u.PasswordHash, oldHash):
		return store.ErrConflict
	}
	u.PasswordHash = newHash
	s.users[id] = u
	return nil
}

// SetPassword implements store.Store.
func (s *Store) SetPassword(_ context.Context, id, passwordHash, keepSessionID string, now time.Time) ([]string, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	now = ms(now)
	u.PasswordHash, u.PasswordChangedAt, u.UpdatedAt = passwordHash, now, now
	s.users[id] = u
	delete(s.oneTime, oneTimeKey{id, store.OneTimeReset})
	return s.endSessions(id, keepSessionID, store.ReasonPasswordChanged, now), nil
}

// ScanUsers implements store.Store: users in ID order, which the memory store can afford.
func (s *Store) ScanUsers(ctx context.Context, batch int, fn func([]store.User) error) error {
	if batch < 1 {
		return store.ErrInvalidArgument
	}
	if err := s.lock(); err != nil {
		return err
	}
	users := make([]store.User, 0, len(s.users))
	for _, u := range s.users {
		users = append(users, checkedUser(u))
	}
	s.mu.Unlock()
	slices.SortFunc(users, func(a, b store.User) int { return cmp.Compare(a.ID, b.ID) })
	for chunk := range slices.Chunk(users, batch) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(chunk); err != nil {
			return err
		}
	}
	return nil
}

// DeleteUser implements store.Store.
func (s *Store) DeleteUser(_ context.Context, id string, now time.Time) ([]string, error) {
	if !store.ValidID(id) {
		return nil, store.ErrInvalidArgument
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	ended := s.endSessions(id, "", store.ReasonUserDeleted, ms(now))
	delete(s.sessions, id)
	for _, refs := range s.tracked {
		for ref := range refs {
			if ref.UserID == id {
				delete(refs, ref)
			}
		}
	}
	for k := range s.oneTime {
		if k.userID == id {
			delete(s.oneTime, k)
		}
	}
	delete(s.legacy, id)
	login := store.NormalizeLogin(u.Login)
	if s.logins[login] == id {
		delete(s.logins, login)
	}
	delete(s.counters, store.LoginSubject(u.Login))
	delete(s.users, id)
	return ended, nil
}
