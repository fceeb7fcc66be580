package core

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// Rotate authenticates a session token of m's dialect and rotates it in one atomic store step
// (devise's token rotation, DESIGN.md): inside buffer after the last rotation the presented
// token is echoed, otherwise it is replaced by its successor, and a token replaced inside the
// buffer by a racing request is answered with that successor. The returned Auth.Token is the
// token the client holds from now on, never a blank one. A token that does not authenticate,
// or that belongs to another dialect's session (refused in the same step, before anything
// changes), is ErrInvalidToken. The caller has parsed tok: it checks what it can without the
// store first.
func (s *Service) Rotate(ctx context.Context, m Meta, tok token.SessionToken, buffer time.Duration) (_ Auth, _ store.RotationOutcome, err error) {
	began, now := time.Now(), s.Now()
	defer func() { s.observe(m, "rotate", began, err) }()

	successor := s.Hasher.Successor(tok.Secret)
	res, err := s.Store.RotateSession(ctx, store.Rotation{
		Ref:           store.SessionRef{UserID: tok.UserID, SessionID: tok.SessionID},
		PresentedHash: s.Hasher.Hash(tok.Secret),
		SuccessorHash: s.Hasher.Hash(successor),
		Buffer:        buffer,
		Dialect:       m.Dialect,
		Now:           now,
	})
	switch {
	case errors.Is(err, store.ErrInvalidToken), errors.Is(err, store.ErrNotFound):
		return Auth{}, 0, ErrInvalidToken
	case err != nil:
		return Auth{}, 0, internal("rotate session", err)
	case res.User.Status == store.StatusDisabled:
		return Auth{}, 0, ErrInvalidToken
	}
	if res.Outcome.ReturnsSuccessor() {
		tok.Secret = successor
	}
	return Auth{User: res.User, Session: res.Session, Token: tok}, res.Outcome, nil
}

// Refreshed is a session after a refresh-token exchange: the new access token (Auth.Token)
// and the new refresh secret, the only copies of both.
type Refreshed struct {
	Auth
	Refresh string
}

// Refresh exchanges a session's refresh secret for a new token and a new refresh secret
// (keyToken), spending the old one; the new token lives tokenLifetime (zero: as long as the
// session). A spent refresh secret presented again revokes the whole session (reuse
// detection, audited) and, like anything else that does not match, is ErrInvalidToken.
func (s *Service) Refresh(ctx context.Context, m Meta, ref store.SessionRef, refreshSecret string, tokenLifetime time.Duration) (_ Refreshed, err error) {
	began, now := time.Now(), s.Now()
	defer func() { s.observe(m, "refresh", began, err) }()

	if !token.ValidID(ref.UserID) || !token.ValidID(ref.SessionID) || !token.ValidSecret(refreshSecret) {
		return Refreshed{}, ErrInvalidToken
	}
	secret, err := token.New()
	if err != nil {
		return Refreshed{}, internal("refresh session", err)
	}
	refresh, err := token.New()
	if err != nil {
		return Refreshed{}, internal("refresh session", err)
	}
	req := store.Refresh{
		Ref:                  ref,
		PresentedRefreshHash: s.Hasher.Hash(refreshSecret),
		NewTokenHash:         s.Hasher.Hash(secret),
		NewRefreshHash:       s.Hasher.Hash(refresh),
		Now:                  now,
	}
	if tokenLifetime > 0 {
		req.TokenExpiresAt = now.Add(tokenLifetime)
	}
	sess, u, err := s.Store.RefreshSession(ctx, req)
	switch {
	case errors.Is(err, store.ErrTokenReused):
		s.audit(ctx, m, "session.refresh_reuse", ref.UserID, outcomeSuccess, slog.String("session_id", ref.SessionID))
		return Refreshed{}, ErrInvalidToken
	case errors.Is(err, store.ErrInvalidToken), errors.Is(err, store.ErrNotFound):
		return Refreshed{}, ErrInvalidToken
	case err != nil:
		return Refreshed{}, internal("refresh session", err)
	case u.Status == store.StatusDisabled:
		return Refreshed{}, ErrInvalidToken
	}
	return Refreshed{
		Auth:    Auth{User: u, Session: sess, Token: token.SessionToken{UserID: ref.UserID, SessionID: ref.SessionID, Secret: secret}},
		Refresh: refresh,
	}, nil
}
