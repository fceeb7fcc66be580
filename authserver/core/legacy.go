package core

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/latchauth/latch/authserver/password"
	"github.com/latchauth/latch/authserver/store"
)

// LegacyExchange is a request to exchange a session token of the system users were imported
// from (devise_token_auth: the client's access-token, client and uid) for a session here.
type LegacyExchange struct {
	// UID is the login the client presents (devise's uid header).
	UID string
	// Client is devise's client ID, the key of the stored token.
	Client string
	// Token is the raw access token.
	Token string
	// Grace is how long after the first exchange racing requests with the same token are
	// exchanged too (the dialect's batch buffer).
	Grace time.Duration
	// Session shapes the session an exchange creates.
	Session SessionOptions
}

// ExchangeLegacyToken checks a migrated devise_token_auth token and, if it is the client's
// current token, unexpired and not yet exchanged (or exchanged less than Grace ago by a racing
// request), creates a session and returns it with its user. The checks run cheapest first, so
// only a token naming a real user's real client costs a bcrypt verification (in the password
// pool): the lock check (a locked login or address costs nothing more), the user by login,
// the stored token of the client, the account's state; then bcrypt, then the spend. A bcrypt
// mismatch counts as a failed login against the login's brute-force counters, so a stranger
// who knows a uid and client ID gets as many guesses as at the password.
//
// A token is refused once the user's password has changed here (a reset, a change): the
// legacy token was minted under the old one, as a session here would have been. Every
// refusal is ErrInvalidToken; other errors are internal.
func (s *Service) ExchangeLegacyToken(ctx context.Context, m Meta, req LegacyExchange) (_ Auth, err error) {
	began, now := time.Now(), s.Now()
	defer func() { s.observe(m, "legacy_exchange", began, err) }()

	login := store.NormalizeLogin(req.UID)
	if login == "" || !store.ValidClientID(req.Client) || req.Token == "" {
		return Auth{}, ErrInvalidToken
	}
	defer s.serialize(login)()
	g := s.guardFor(login, m)
	if locked, err := s.locked(ctx, g, now); err != nil || locked {
		return Auth{}, orInvalid(err)
	}
	u, err := s.Store.GetUserByLogin(ctx, login)
	if errors.Is(err, store.ErrNotFound) {
		return Auth{}, ErrInvalidToken
	} else if err != nil {
		return Auth{}, internal("exchange legacy token", err)
	}
	t, err := s.Store.GetLegacyToken(ctx, u.ID, req.Client, now)
	if errors.Is(err, store.ErrNotFound) {
		return Auth{}, ErrInvalidToken
	} else if err != nil {
		return Auth{}, internal("exchange legacy token", err)
	}
	if !s.MayLogIn(u) || u.PasswordChangedAt.After(u.CreatedAt) {
		return Auth{}, ErrInvalidToken
	}
	switch err := s.Passwords.VerifyBcrypt(ctx, req.Token, t.Hash); {
	case errors.Is(err, password.ErrMismatch):
		if err := s.countFailure(ctx, m, g, u.ID, now); err != nil {
			return Auth{}, err
		}
		s.audit(ctx, m, "session.legacy_exchange", u.ID, "failure", slog.String("reason", "wrong_token"))
		return Auth{}, ErrInvalidToken
	case errors.Is(err, password.ErrMalformedHash):
		s.Logger.ErrorContext(ctx, "stored legacy token hash is malformed", "request_id", m.RequestID, "user_id", u.ID, "error", err)
		return Auth{}, ErrInvalidToken
	case err != nil:
		return Auth{}, internal("exchange legacy token", err)
	}
	first, err := s.Store.SpendLegacyToken(ctx, u.ID, req.Client, t.Hash, req.Grace, now)
	if errors.Is(err, store.ErrInvalidToken) {
		// Spent by a request that finished before the grace, or replaced meanwhile.
		return Auth{}, ErrInvalidToken
	} else if err != nil {
		return Auth{}, internal("exchange legacy token", err)
	}
	is, err := s.issue(ctx, m, u, req.Session)
	switch {
	case errors.Is(err, store.ErrConflict), errors.Is(err, ErrDeviceLimit):
		// The password changed between the lookup and the session, or the realm refuses
		// another device: either way the old token does not become a session.
		return Auth{}, ErrInvalidToken
	case err != nil:
		return Auth{}, err
	}
	s.clearFailures(ctx, m, g)
	s.audit(ctx, m, "session.legacy_exchange", u.ID, outcomeSuccess,
		slog.String("session_id", is.Session.ID), slog.Bool("first", first))
	u.PasswordHash = ""
	return Auth{User: u, Session: is.Session, Token: is.Token}, nil
}

// orInvalid is err if there is one (internal), else ErrInvalidToken.
func orInvalid(err error) error {
	if err != nil {
		return err
	}
	return ErrInvalidToken
}
