package memory

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// CreateSession implements store.Store.
func (s *Store) CreateSession(_ context.Context, req store.NewSession) ([]string, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	now := ms(req.Now)
	s.maybeSweep(now)
	sess := req.Session
	u, ok := s.users[sess.UserID]
	if !ok {
		return nil, store.ErrNotFound
	}
	if !req.PasswordChangedAt.IsZero() && !ms(req.PasswordChangedAt).Equal(u.PasswordChangedAt) {
		return nil, store.ErrConflict
	}
	byID := s.sessions[sess.UserID]
	if byID == nil {
		byID = map[string]store.Session{}
		s.sessions[sess.UserID] = byID
	}
	var same []store.Session
	for id, other := range byID {
		switch {
		case !other.Live(now):
			delete(byID, id) // as the Redis backend prunes its index: dead sessions never count
		case other.Dialect == sess.Dialect:
			same = append(same, other)
		}
	}
	if _, ok := byID[sess.ID]; ok {
		return nil, store.ErrAlreadyExists
	}
	if _, ok := s.apps[sess.ClientName]; req.RequireRegisteredClient && !ok {
		return nil, store.ErrUnknownClient
	}
	var evicted []string
	if req.Limit.Max > 0 && len(same) >= req.Limit.Max {
		if req.Limit.Policy == store.DenyNew {
			return nil, store.ErrDeviceLimit
		}
		sortByCreation(same)
		for _, old := range same[:len(same)-req.Limit.Max+1] {
			delete(byID, old.ID)
			s.publish(store.Revocation{UserID: old.UserID, SessionID: old.ID, Reason: store.ReasonEvicted, At: now})
			evicted = append(evicted, old.ID)
		}
	}
	sess.CreatedAt, sess.LastSeenAt, sess.RotatedAt = now, now, now
	sess.ExpiresAt, sess.TokenExpiresAt, sess.PasswordChangeUntil = ms(sess.ExpiresAt), ms(sess.TokenExpiresAt), ms(sess.PasswordChangeUntil)
	sess.IdleTimeout = sess.IdleTimeout.Truncate(time.Millisecond)
	sess.PreviousValidUntil, sess.SpentRefreshHashes = time.Time{}, nil
	byID[sess.ID] = sess
	if req.TrackClient {
		refs := s.tracked[sess.ClientName]
		if refs == nil {
			refs = map[store.SessionRef]struct{}{}
			s.tracked[sess.ClientName] = refs
		}
		refs[sess.Ref()] = struct{}{}
	}
	return evicted, nil
}

// checkedUser is the user as a session check returns it: without the password hash
// (store.Sessions).
func checkedUser(u store.User) store.User {
	u.PasswordHash = ""
	return u
}

// sortByCreation orders sessions oldest first, ties by ID: the order of the Redis index.
func sortByCreation(v []store.Session) {
	slices.SortFunc(v, func(a, b store.Session) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
}

// live returns the session if it exists and is live at now. Called with the mutex held.
func (s *Store) live(ref store.SessionRef, now time.Time) (store.Session, bool) {
	sess, ok := s.sessions[ref.UserID][ref.SessionID]
	if !ok || !sess.Live(now) {
		return store.Session{}, false
	}
	return sess, true
}

// authenticates reports whether hash is the session's current token (and that token has not
// expired) or its previous token inside the buffer.
func authenticates(sess store.Session, hash string, now time.Time) bool {
	if !sess.TokenExpiresAt.IsZero() && !now.Before(sess.TokenExpiresAt) {
		return false
	}
	return equal(hash, sess.TokenHash) ||
		sess.PreviousTokenHash != "" && equal(hash, sess.PreviousTokenHash) && now.Before(sess.PreviousValidUntil)
}

// touch slides the idle window; never backwards, since replicas' clocks differ slightly.
func touch(sess *store.Session, now time.Time) {
	if now.After(sess.LastSeenAt) {
		sess.LastSeenAt = now
	}
}

// copySession returns sess without aliasing the stored slice.
func copySession(sess store.Session) store.Session {
	sess.SpentRefreshHashes = cloneStrings(sess.SpentRefreshHashes)
	return sess
}

// GetSession implements store.Store.
func (s *Store) GetSession(_ context.Context, ref store.SessionRef, now time.Time) (store.Session, error) {
	if err := s.lock(); err != nil {
		return store.Session{}, err
	}
	defer s.mu.Unlock()
	sess, ok := s.live(ref, ms(now))
	if !ok {
		return store.Session{}, store.ErrNotFound
	}
	return copySession(sess), nil
}

// TouchSession implements store.Store.
func (s *Store) TouchSession(_ context.Context, ref store.SessionRef, now time.Time) (store.Session, error) {
	if err := s.lock(); err != nil {
		return store.Session{}, err
	}
	defer s.mu.Unlock()
	now = ms(now)
	sess, ok := s.live(ref, now)
	if !ok {
		return store.Session{}, store.ErrNotFound
	}
	touch(&sess, now)
	s.sessions[ref.UserID][ref.SessionID] = sess
	return copySession(sess), nil
}

// ValidateSession implements store.Store.
func (s *Store) ValidateSession(_ context.Context, ref store.SessionRef, tokenHash string, now time.Time) (store.Session, store.User, error) {
	if err := s.lock(); err != nil {
		return store.Session{}, store.User{}, err
	}
	defer s.mu.Unlock()
	now = ms(now)
	sess, ok := s.live(ref, now)
	if !ok || !authenticates(sess, tokenHash, now) {
		return store.Session{}, store.User{}, store.ErrInvalidToken
	}
	u, ok := s.users[ref.UserID]
	if !ok {
		return store.Session{}, store.User{}, store.ErrInvalidToken
	}
	touch(&sess, now)
	s.sessions[ref.UserID][ref.SessionID] = sess
	return copySession(sess), checkedUser(u), nil
}

// RotateSession implements store.Store.
func (s *Store) RotateSession(_ context.Context, req store.Rotation) (store.RotationResult, error) {
	if err := req.Validate(); err != nil {
		return store.RotationResult{}, err
	}
	if err := s.lock(); err != nil {
		return store.RotationResult{}, err
	}
	defer s.mu.Unlock()
	now := ms(req.Now)
	sess, ok := s.live(req.Ref, now)
	if !ok || !authenticates(sess, req.PresentedHash, now) || (req.Dialect != "" && sess.Dialect != req.Dialect) {
		return store.RotationResult{}, store.ErrInvalidToken
	}
	u, ok := s.users[req.Ref.UserID]
	if !ok {
		return store.RotationResult{}, store.ErrInvalidToken
	}
	var outcome store.RotationOutcome
	switch {
	case equal(req.PresentedHash, sess.TokenHash) && now.Sub(sess.RotatedAt) < req.Buffer:
		outcome = store.Echoed
	case equal(req.PresentedHash, sess.TokenHash):
		outcome = store.Rotated
		sess.PreviousTokenHash, sess.TokenHash = sess.TokenHash, req.SuccessorHash
		sess.RotatedAt, sess.PreviousValidUntil = now, ms(now.Add(req.Buffer))
	case equal(req.SuccessorHash, sess.TokenHash):
		outcome = store.PreviousInBuffer
	default:
		// The previous token inside the buffer, but its successor is not current: the caller
		// derived it differently. Refuse rather than hand out a token that does not work.
		return store.RotationResult{}, store.ErrInvalidToken
	}
	touch(&sess, now)
	s.sessions[req.Ref.UserID][req.Ref.SessionID] = sess
	return store.RotationResult{Outcome: outcome, Session: copySession(sess), User: checkedUser(u)}, nil
}

// RefreshSession implements store.Store.
func (s *Store) RefreshSession(_ context.Context, req store.Refresh) (store.Session, store.User, error) {
	if err := req.Validate(); err != nil {
		return store.Session{}, store.User{}, err
	}
	if err := s.lock(); err != nil {
		return store.Session{}, store.User{}, err
	}
	defer s.mu.Unlock()
	now := ms(req.Now)
	sess, ok := s.live(req.Ref, now)
	if !ok || !store.ValidID(req.PresentedRefreshHash) {
		return store.Session{}, store.User{}, store.ErrInvalidToken
	}
	u, ok := s.users[req.Ref.UserID]
	if !ok {
		return store.Session{}, store.User{}, store.ErrInvalidToken
	}
	switch {
	case sess.RefreshHash != "" && equal(req.PresentedRefreshHash, sess.RefreshHash):
		spent := append([]string{sess.RefreshHash}, sess.SpentRefreshHashes...)
		sess.SpentRefreshHashes = spent[:min(len(spent), store.MaxSpentRefreshHashes)]
		sess.TokenHash, sess.RefreshHash, sess.TokenExpiresAt = req.NewTokenHash, req.NewRefreshHash, ms(req.TokenExpiresAt)
		sess.PreviousTokenHash, sess.PreviousValidUntil, sess.RotatedAt = "", time.Time{}, now
	case contains(sess.SpentRefreshHashes, req.PresentedRefreshHash):
		if equal(sess.RefreshHash, req.NewRefreshHash) {
			break // a retry of the request that spent it: answer it again
		}
		delete(s.sessions[req.Ref.UserID], req.Ref.SessionID)
		s.publish(store.Revocation{UserID: sess.UserID, SessionID: sess.ID, Reason: store.ReasonRefreshReuse, At: now})
		return store.Session{}, store.User{}, store.ErrTokenReused
	default:
		return store.Session{}, store.User{}, store.ErrInvalidToken
	}
	touch(&sess, now)
	s.sessions[req.Ref.UserID][req.Ref.SessionID] = sess
	return copySession(sess), checkedUser(u), nil
}

// RevokeSession implements store.Store.
func (s *Store) RevokeSession(_ context.Context, ref store.SessionRef, tokenHash string, reason store.Reason, now time.Time) (store.Session, error) {
	if !store.ValidReason(reason) {
		return store.Session{}, store.ErrInvalidArgument
	}
	if tokenHash != "" && !store.ValidID(tokenHash) {
		return store.Session{}, store.ErrInvalidToken
	}
	if err := s.lock(); err != nil {
		return store.Session{}, err
	}
	defer s.mu.Unlock()
	now = ms(now)
	sess, ok := s.sessions[ref.UserID][ref.SessionID]
	if !ok {
		return store.Session{}, store.ErrNotFound
	}
	if !sess.Live(now) {
		delete(s.sessions[ref.UserID], ref.SessionID)
		return store.Session{}, store.ErrNotFound
	}
	if tokenHash != "" && !authenticates(sess, tokenHash, now) {
		return store.Session{}, store.ErrInvalidToken
	}
	delete(s.sessions[ref.UserID], ref.SessionID)
	s.publish(store.Revocation{UserID: ref.UserID, SessionID: ref.SessionID, Reason: reason, At: now})
	return copySession(sess), nil
}

// SpendPasswordChange implements store.Store.
func (s *Store) SpendPasswordChange(_ context.Context, ref store.SessionRef, now time.Time) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	now = ms(now)
	sess, ok := s.live(ref, now)
	switch {
	case !ok:
		return store.ErrNotFound
	case !now.Before(sess.PasswordChangeUntil):
		return store.ErrConflict
	}
	sess.PasswordChangeUntil = time.Time{}
	s.sessions[ref.UserID][ref.SessionID] = sess
	return nil
}

// RevokeAllSessions implements store.Store.
func (s *Store) RevokeAllSessions(_ context.Context, userID, exceptSessionID string, reason store.Reason, now time.Time) ([]string, error) {
	if !store.ValidID(userID) || !store.ValidReason(reason) {
		return nil, store.ErrInvalidArgument
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return s.endSessions(userID, exceptSessionID, reason, ms(now)), nil
}

// endSessions ends every live session of the user but keep, oldest first, announcing each;
// dead ones are dropped silently, and so are the user's legacy tokens (the sessions of the
// system the user was imported from). Called with the mutex held.
func (s *Store) endSessions(userID, keep string, reason store.Reason, now time.Time) []string {
	delete(s.legacy, userID)
	var live []store.Session
	for id, sess := range s.sessions[userID] {
		if id == keep {
			continue
		}
		delete(s.sessions[userID], id)
		if sess.Live(now) {
			live = append(live, sess)
		}
	}
	sortByCreation(live)
	ended := make([]string, 0, len(live))
	for _, sess := range live {
		s.publish(store.Revocation{UserID: userID, SessionID: sess.ID, Reason: reason, At: now})
		ended = append(ended, sess.ID)
	}
	return ended
}

// ListSessions implements store.Store.
func (s *Store) ListSessions(_ context.Context, userID string, now time.Time) ([]store.Session, error) {
	if !store.ValidID(userID) {
		return nil, store.ErrInvalidArgument
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	now = ms(now)
	out := []store.Session{}
	for _, sess := range s.sessions[userID] {
		if sess.Live(now) {
			out = append(out, copySession(sess))
		}
	}
	sortByCreation(out)
	return out, nil
}
