package redisstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// CreateSession implements store.Store.
func (s *Store) CreateSession(ctx context.Context, req store.NewSession) ([]string, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	sess := req.Session
	now := ms(req.Now)
	sess.CreatedAt, sess.LastSeenAt, sess.RotatedAt = now, now, now
	sess.PreviousValidUntil = time.Time{}
	guard := ""
	if !req.PasswordChangedAt.IsZero() {
		guard = msString(req.PasswordChangedAt)
	}
	policy := "evict"
	if req.Limit.Policy == store.DenyNew {
		policy = "deny"
	}
	uid := sess.UserID
	if req.TrackClient {
		// Filed before the session exists, so a session is never live and unfiled: a failure
		// after this leaves only an index entry that names nothing.
		require := "0"
		if req.RequireRegisteredClient {
			require = "1"
		}
		res, err := s.write(ctx, "track client session", trackClientSessionScript,
			[]string{s.keys.clientSessions(sess.ClientName), s.keys.appClient(sess.ClientName)},
			msString(now), msString(sess.ExpiresAt), uid+"."+sess.ID, require)
		if err != nil {
			return nil, err
		}
		switch status(res) {
		case "ok":
		case "noclient":
			return nil, store.ErrUnknownClient
		default:
			return nil, unexpected("track client session", res)
		}
	}
	args := append([]any{
		msString(now), guard, req.Limit.Max, policy,
		s.keys.userBase(uid), s.keys.revocations(), uid, sess.ID, sess.Dialect,
	}, sessionFields(sess)...)
	res, err := s.write(ctx, "create session", createSessionScript,
		[]string{s.keys.user(uid), s.keys.sessionIndex(uid), s.keys.session(uid, sess.ID)}, args...)
	if err != nil {
		return nil, err
	}
	switch status(res) {
	case "ok":
		return strs(res[1]), nil
	case "nouser":
		return nil, store.ErrNotFound
	case "conflict":
		return nil, store.ErrConflict
	case "exists":
		return nil, store.ErrAlreadyExists
	case "limit":
		return nil, store.ErrDeviceLimit
	}
	return nil, unexpected("create session", res)
}

// GetSession implements store.Store. It is a plain read: liveness is judged in Go against the
// caller's now, exactly as the scripts judge it.
func (s *Store) GetSession(ctx context.Context, ref store.SessionRef, now time.Time) (store.Session, error) {
	if !store.ValidRef(ref) {
		return store.Session{}, store.ErrNotFound
	}
	m, err := s.hgetall(ctx, "get session", s.keys.session(ref.UserID, ref.SessionID))
	if err != nil {
		return store.Session{}, err
	}
	if len(m) == 0 {
		return store.Session{}, store.ErrNotFound
	}
	sess, err := decodeSession(hashFields(m))
	if err != nil {
		return store.Session{}, err
	}
	if !sess.Live(ms(now)) {
		return store.Session{}, store.ErrNotFound
	}
	return sess, nil
}

// TouchSession implements store.Store.
func (s *Store) TouchSession(ctx context.Context, ref store.SessionRef, now time.Time) (store.Session, error) {
	if !store.ValidRef(ref) {
		return store.Session{}, store.ErrNotFound
	}
	res, err := s.run(ctx, "touch session", touchSessionScript,
		[]string{s.keys.session(ref.UserID, ref.SessionID), s.keys.sessionIndex(ref.UserID)}, msString(now))
	if writeRefused(err) {
		// Served from a read, not slid: see ValidateSession.
		s.stats.readFallbacks.Add(1)
		return s.GetSession(ctx, ref, now)
	}
	if err != nil {
		return store.Session{}, err
	}
	switch status(res) {
	case "ok":
		return decodeSession(sessionReply(res[1]))
	case "notfound":
		return store.Session{}, store.ErrNotFound
	}
	return store.Session{}, unexpected("touch session", res)
}

// sessionKeys are the keys of the authenticating scripts: session, index, user.
func (s *Store) sessionKeys(ref store.SessionRef) []string {
	return []string{
		s.keys.session(ref.UserID, ref.SessionID), s.keys.sessionIndex(ref.UserID), s.keys.user(ref.UserID),
	}
}

// sessionAndUser decodes the {status, session, user} reply of the authenticating scripts.
func sessionAndUser(res []any) (store.Session, store.User, error) {
	if len(res) < 3 {
		return store.Session{}, store.User{}, unexpected("session reply", res)
	}
	sess, err := decodeSession(sessionReply(res[1]))
	if err != nil {
		return store.Session{}, store.User{}, err
	}
	u, _, err := decodeUser(userReply(res[2]))
	if err != nil {
		return store.Session{}, store.User{}, err
	}
	return sess, u, nil
}

// ValidateSession implements store.Store: one script, one round trip.
func (s *Store) ValidateSession(ctx context.Context, ref store.SessionRef, tokenHash string, now time.Time) (store.Session, store.User, error) {
	if !store.ValidRef(ref) || !store.ValidID(tokenHash) {
		return store.Session{}, store.User{}, store.ErrInvalidToken
	}
	res, err := s.run(ctx, "validate session", validateSessionScript, s.sessionKeys(ref), msString(now), tokenHash)
	if writeRefused(err) {
		// Redis refuses writes (out of memory, or this node was demoted): the check itself
		// needs none, so it is answered from the same rules without sliding the idle
		// window. A session then ends at its last slide's deadline at the latest, never later.
		s.stats.readFallbacks.Add(1)
		res, err = s.run(ctx, "check session", checkSessionScript, s.sessionKeys(ref), msString(now), tokenHash)
	}
	if err != nil {
		return store.Session{}, store.User{}, err
	}
	switch status(res) {
	case "ok":
		return sessionAndUser(res)
	case "invalid":
		return store.Session{}, store.User{}, store.ErrInvalidToken
	}
	return store.Session{}, store.User{}, unexpected("validate session", res)
}

// RotateSession implements store.Store: one script, one round trip.
func (s *Store) RotateSession(ctx context.Context, req store.Rotation) (store.RotationResult, error) {
	if err := req.Validate(); err != nil {
		return store.RotationResult{}, err
	}
	if !store.ValidRef(req.Ref) || !store.ValidID(req.PresentedHash) {
		return store.RotationResult{}, store.ErrInvalidToken
	}
	res, err := s.write(ctx, "rotate session", rotateSessionScript, s.sessionKeys(req.Ref),
		msString(req.Now), req.PresentedHash, req.SuccessorHash, req.Buffer.Milliseconds(), req.Dialect)
	if err != nil {
		return store.RotationResult{}, err
	}
	var outcome store.RotationOutcome
	switch status(res) {
	case "rotated":
		outcome = store.Rotated
	case "echoed":
		outcome = store.Echoed
	case "previous":
		outcome = store.PreviousInBuffer
	case "invalid":
		return store.RotationResult{}, store.ErrInvalidToken
	default:
		return store.RotationResult{}, unexpected("rotate session", res)
	}
	sess, u, err := sessionAndUser(res)
	if err != nil {
		return store.RotationResult{}, err
	}
	return store.RotationResult{Outcome: outcome, Session: sess, User: u}, nil
}

// RefreshSession implements store.Store: one script, one round trip.
func (s *Store) RefreshSession(ctx context.Context, req store.Refresh) (store.Session, store.User, error) {
	if err := req.Validate(); err != nil {
		return store.Session{}, store.User{}, err
	}
	// The presented hash is matched inside a space-separated list, so it must be one word.
	if !store.ValidRef(req.Ref) || !store.ValidID(req.PresentedRefreshHash) {
		return store.Session{}, store.User{}, store.ErrInvalidToken
	}
	uid := req.Ref.UserID
	res, err := s.write(ctx, "refresh session", refreshSessionScript, s.sessionKeys(req.Ref),
		msString(req.Now), req.PresentedRefreshHash, req.NewTokenHash, req.NewRefreshHash,
		msString(req.TokenExpiresAt), store.MaxSpentRefreshHashes,
		s.keys.userBase(uid), s.keys.revocations(), uid, req.Ref.SessionID)
	if err != nil {
		return store.Session{}, store.User{}, err
	}
	switch status(res) {
	case "ok":
		return sessionAndUser(res)
	case "reused":
		return store.Session{}, store.User{}, store.ErrTokenReused
	case "invalid":
		return store.Session{}, store.User{}, store.ErrInvalidToken
	}
	return store.Session{}, store.User{}, unexpected("refresh session", res)
}

// RevokeSession implements store.Store: one script, one round trip, announcement included.
func (s *Store) RevokeSession(ctx context.Context, ref store.SessionRef, tokenHash string, reason store.Reason, now time.Time) (store.Session, error) {
	if !store.ValidReason(reason) {
		return store.Session{}, store.ErrInvalidArgument
	}
	if !store.ValidRef(ref) {
		return store.Session{}, store.ErrNotFound
	}
	if tokenHash != "" && !store.ValidID(tokenHash) {
		return store.Session{}, store.ErrInvalidToken
	}
	res, err := s.write(ctx, "revoke session", revokeSessionScript,
		[]string{s.keys.session(ref.UserID, ref.SessionID), s.keys.sessionIndex(ref.UserID)},
		msString(now), tokenHash, string(reason), s.keys.revocations(), ref.UserID, ref.SessionID)
	if err != nil {
		return store.Session{}, err
	}
	switch status(res) {
	case "ok":
		return decodeSession(sessionReply(res[1]))
	case "notfound":
		return store.Session{}, store.ErrNotFound
	case "invalid":
		return store.Session{}, store.ErrInvalidToken
	}
	return store.Session{}, unexpected("revoke session", res)
}

// RevokeAllSessions implements store.Store.
func (s *Store) RevokeAllSessions(ctx context.Context, userID, exceptSessionID string, reason store.Reason, now time.Time) ([]string, error) {
	if !store.ValidID(userID) || !store.ValidReason(reason) {
		return nil, store.ErrInvalidArgument
	}
	res, err := s.write(ctx, "revoke all sessions", revokeAllScript, []string{s.keys.sessionIndex(userID)},
		msString(now), exceptSessionID, string(reason), s.keys.userBase(userID), s.keys.revocations(), userID)
	if err != nil {
		return nil, err
	}
	if status(res) != "ok" {
		return nil, unexpected("revoke all sessions", res)
	}
	return nonNil(strs(res[1])), nil
}

// SpendPasswordChange implements store.Store: one script, one round trip.
func (s *Store) SpendPasswordChange(ctx context.Context, ref store.SessionRef, now time.Time) error {
	if !store.ValidRef(ref) {
		return store.ErrNotFound
	}
	res, err := s.write(ctx, "spend password change", spendPasswordChangeScript,
		[]string{s.keys.session(ref.UserID, ref.SessionID)}, msString(now))
	if err != nil {
		return err
	}
	switch status(res) {
	case "ok":
		return nil
	case "none":
		return store.ErrConflict
	case "notfound":
		return store.ErrNotFound
	}
	return unexpected("spend password change", res)
}

// ListSessions implements store.Store: one script, one round trip, whatever the count.
func (s *Store) ListSessions(ctx context.Context, userID string, now time.Time) ([]store.Session, error) {
	if !store.ValidID(userID) {
		return nil, store.ErrInvalidArgument
	}
	res, err := s.run(ctx, "list sessions", listSessionsScript, []string{s.keys.sessionIndex(userID)}, s.keys.userBase(userID))
	if err != nil {
		return nil, err
	}
	out := make([]store.Session, 0, len(res))
	for _, rec := range res {
		flat := strs(rec)
		m := make(hashFields, len(flat)/2)
		for i := 0; i+1 < len(flat); i += 2 {
			m[flat[i]] = flat[i+1]
		}
		sess, err := decodeSession(m)
		if err != nil {
			return nil, err
		}
		if sess.Live(now) {
			out = append(out, sess)
		}
	}
	// The index is ordered by creation time already; ties by ID as the memory store orders.
	slices.SortStableFunc(out, func(a, b store.Session) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}
