package core

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// SessionOptions shape a new session. The zero value is a session with the realm's idle and
// absolute timeouts, no client name, no device limit and no refresh token.
type SessionOptions struct {
	// ClientName is the dialect's client label (devise's "client", keyToken's app client).
	ClientName string
	// TrackClient files the session under ClientName, an app client ID, so that deleting the
	// client's DeviceClient ends it (store.NewSession.TrackClient).
	TrackClient bool
	// RequireRegisteredClient, with TrackClient, refuses the session (ErrUnknownClient) unless
	// ClientName is a registered app client when the session is filed.
	RequireRegisteredClient bool
	// Limit bounds the user's live sessions of this dialect.
	Limit store.DeviceLimit
	// IdleTimeout overrides config.Sessions.IdleTimeout when positive; negative disables the
	// idle window (the session then lives to its absolute end whatever its use).
	IdleTimeout time.Duration
	// Lifetime overrides config.Sessions.AbsoluteTimeout when positive.
	Lifetime time.Duration
	// TokenLifetime, when positive, ends the token before the session (keyToken's short access
	// token inside a long refresh session).
	TokenLifetime time.Duration
	// WithRefresh issues a refresh token beside the session token (keyToken).
	WithRefresh bool
	// PasswordChangeWindow, when positive, lets the session change the user's password
	// without the current one, once, for this long after its creation (devise's
	// allow_password_change: the session a reset link opens). ChangePassword spends it.
	PasswordChangeWindow time.Duration
	// Replaces names a session of the same user and dialect that the new one takes the place
	// of (deviseToken: a device signing in again with its `client`). It ends before the
	// device limit is applied, so a device signing in again never counts twice against the
	// limit and is not refused by DenyNew. A session of another user or dialect, or one that
	// does not exist, is left alone.
	Replaces string
}

// Issued is a session just created. Token and Refresh are the only copies of the secrets: the
// store holds their hashes.
type Issued struct {
	// Token is `<userID>.<sessionID>.<secret>`; Token.String() is what the client keeps.
	Token token.SessionToken
	// Refresh is the refresh secret, when SessionOptions.WithRefresh asked for one.
	Refresh string
	// Session is the stored session (its times as the store set them).
	Session store.Session
	// Evicted lists the sessions the device limit ended to make room.
	Evicted []string
	// Device is a fresh device cookie for the login (set by a password login only): the
	// dialect hands it to the client, whose later attempts on this login are then judged by
	// the cookie's own brute-force counter.
	Device string
}

// Auth is an authenticated request: the session the token named, its user, and the token.
type Auth struct {
	User    store.User
	Session store.Session
	Token   token.SessionToken
}

// IssueSession creates a session for u, who has just proved who they are (registration, a
// redeemed reset link). Login issues its own sessions; use this only after another proof.
func (s *Service) IssueSession(ctx context.Context, m Meta, u store.User, opts SessionOptions) (Issued, error) {
	return s.issue(ctx, m, u, opts)
}

// issue creates the session. The user's PasswordChangedAt travels with the request, so a
// session whose proof was the old password is not created after a password change.
func (s *Service) issue(ctx context.Context, m Meta, u store.User, opts SessionOptions) (Issued, error) {
	sid, err := token.NewID()
	if err != nil {
		return Issued{}, internal("issue session", err)
	}
	secret, err := token.New()
	if err != nil {
		return Issued{}, internal("issue session", err)
	}
	now := s.Now()
	cfg := s.Config.Sessions
	idle := cfg.IdleTimeout.Duration
	switch {
	case opts.IdleTimeout > 0:
		idle = opts.IdleTimeout
	case opts.IdleTimeout < 0:
		idle = 0
	}
	lifetime := cfg.AbsoluteTimeout.Duration
	if opts.Lifetime > 0 {
		lifetime = opts.Lifetime
	}
	sess := store.Session{
		ID:          sid,
		UserID:      u.ID,
		Dialect:     m.Dialect,
		ClientName:  opts.ClientName,
		TokenHash:   s.Hasher.Hash(secret),
		IdleTimeout: idle,
		ExpiresAt:   now.Add(lifetime),
		ClientIP:    m.ClientIP,
		UserAgent:   truncateUTF8(m.UserAgent, store.MaxUserAgentBytes),
	}
	if opts.TokenLifetime > 0 {
		sess.TokenExpiresAt = now.Add(opts.TokenLifetime)
	}
	if opts.PasswordChangeWindow > 0 {
		sess.PasswordChangeUntil = now.Add(opts.PasswordChangeWindow)
	}
	var refresh string
	if opts.WithRefresh {
		if refresh, err = token.New(); err != nil {
			return Issued{}, internal("issue session", err)
		}
		sess.RefreshHash = s.Hasher.Hash(refresh)
	}
	if opts.Replaces != "" {
		if err := s.replace(ctx, m, u.ID, opts.Replaces, now); err != nil {
			return Issued{}, err
		}
	}
	evicted, err := s.Store.CreateSession(ctx, store.NewSession{
		Session:                 sess,
		Limit:                   opts.Limit,
		PasswordChangedAt:       u.PasswordChangedAt,
		TrackClient:             opts.TrackClient,
		RequireRegisteredClient: opts.RequireRegisteredClient,
		Now:                     now,
	})
	switch {
	case errors.Is(err, store.ErrDeviceLimit):
		return Issued{}, ErrDeviceLimit
	case errors.Is(err, store.ErrUnknownClient):
		return Issued{}, ErrUnknownClient
	case err != nil:
		return Issued{}, internal("issue session", err)
	}
	for _, id := range evicted {
		s.audit(ctx, m, "session.evicted", u.ID, outcomeSuccess, slog.String("session_id", id))
	}
	sess.CreatedAt, sess.LastSeenAt, sess.RotatedAt = now, now, now
	return Issued{
		Token:   token.SessionToken{UserID: u.ID, SessionID: sid, Secret: secret},
		Refresh: refresh,
		Session: sess,
		Evicted: evicted,
	}, nil
}

// reasonReplaced records a session ended because its device signed in again.
const reasonReplaced store.Reason = "replaced"

// replace ends the user's session sessionID if it is a live session of m's dialect. The
// dialect is checked first so that a client value naming another dialect's session (the IDs
// travel inside every token) cannot end it. Only an internal error is returned.
func (s *Service) replace(ctx context.Context, m Meta, userID, sessionID string, now time.Time) error {
	if !token.ValidID(sessionID) {
		return nil
	}
	ref := store.SessionRef{UserID: userID, SessionID: sessionID}
	old, err := s.Store.GetSession(ctx, ref, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return internal("replace session", err)
	case old.Dialect != m.Dialect:
		return nil
	}
	_, err = s.Store.RevokeSession(ctx, ref, "", reasonReplaced, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Ended meanwhile (a racing sign-in or sign-out): the goal is reached.
		return nil
	case err != nil:
		return internal("replace session", err)
	}
	s.audit(ctx, m, "session.replaced", userID, outcomeSuccess, slog.String("session_id", sessionID))
	return nil
}

// Authenticate checks a session token in one store round trip: the token is parsed strictly
// (a malformed one never reaches the store), its hash is checked against the session, the
// idle window slides, and the user comes back with it. A disabled user's sessions do not
// authenticate. Sessions of every dialect are accepted; a dialect that must not accept
// another's tokens checks Auth.Session.Dialect.
func (s *Service) Authenticate(ctx context.Context, m Meta, raw string) (_ Auth, err error) {
	began, now := time.Now(), s.Now()
	defer func() { s.observe(m, "authenticate", began, err) }()

	tok, err := token.ParseSessionToken(raw)
	if err != nil {
		return Auth{}, ErrInvalidToken
	}
	ref := store.SessionRef{UserID: tok.UserID, SessionID: tok.SessionID}
	sess, u, err := s.Store.ValidateSession(ctx, ref, s.Hasher.Hash(tok.Secret), now)
	switch {
	case errors.Is(err, store.ErrInvalidToken), errors.Is(err, store.ErrNotFound):
		return Auth{}, ErrInvalidToken
	case err != nil:
		return Auth{}, internal("authenticate", err)
	case u.Status == store.StatusDisabled:
		return Auth{}, ErrInvalidToken
	}
	return Auth{User: u, Session: sess, Token: tok}, nil
}

// Logout ends the session the token names, in one round trip: the store checks the token
// and revokes in the same step, so a wrong token ends nothing. A token that does not
// authenticate is ErrInvalidToken.
func (s *Service) Logout(ctx context.Context, m Meta, raw string) (err error) {
	began, now := time.Now(), s.Now()
	defer func() { s.observe(m, "logout", began, err) }()

	tok, err := token.ParseSessionToken(raw)
	if err != nil {
		return ErrInvalidToken
	}
	ref := store.SessionRef{UserID: tok.UserID, SessionID: tok.SessionID}
	_, err = s.Store.RevokeSession(ctx, ref, s.Hasher.Hash(tok.Secret), store.ReasonLogout, now)
	switch {
	case errors.Is(err, store.ErrInvalidToken), errors.Is(err, store.ErrNotFound):
		return ErrInvalidToken
	case err != nil:
		return internal("logout", err)
	}
	s.audit(ctx, m, "logout", tok.UserID, outcomeSuccess, slog.String("session_id", tok.SessionID))
	return nil
}

// RevokeAll ends every session of the user except exceptSessionID (empty: all) and returns
// the ended session IDs. Every replica hears of each (the store publishes them).
func (s *Service) RevokeAll(ctx context.Context, m Meta, userID, exceptSessionID string, reason store.Reason) (_ []string, err error) {
	began, now := time.Now(), s.Now()
	defer func() { s.observe(m, "revoke_all", began, err) }()

	ended, err := s.Store.RevokeAllSessions(ctx, userID, exceptSessionID, reason, now)
	if err != nil {
		s.audit(ctx, m, "session.revoke_all", userID, outcomeError, slog.String("reason", string(reason)))
		return nil, internal("revoke all sessions", err)
	}
	s.audit(ctx, m, "session.revoke_all", userID, outcomeSuccess,
		slog.String("reason", string(reason)), slog.Int("sessions_ended", len(ended)))
	return ended, nil
}

// sessionsEnded formats a count for audit events.
func sessionsEnded(ids []string) slog.Attr { return slog.Int("sessions_ended", len(ids)) }

// truncateUTF8 cuts s to at most n bytes, at a character boundary, drops invalid bytes and
// turns control and format characters (tabs, bidi overrides) into spaces: a session's user
// agent is shown to people, in tables and terminals, never parsed, and a client must not be
// able to shift an administrator's columns or reorder what they read.
func truncateUTF8(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
