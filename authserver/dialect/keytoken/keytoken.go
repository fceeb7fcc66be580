package keytoken

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/dialect"
	"github.com/latchauth/latch/authserver/dialect/internal/kit"
	"github.com/latchauth/latch/authserver/store"
)

// Name is the dialect's name in sessions, logs and metrics.
const Name = "keyToken"

// MaxSessions is how many live sessions of this dialect a user may hold; a login or
// registration past it ends the user's oldest one. Every POST users/token creates a session,
// and a client that logs in on every start would otherwise grow the user's session list
// without bound. Ten matches deviseToken's default maxDevices.
const MaxSessions = 10

// Definition is the dialect's row in the server's table.
var Definition = dialect.Definition{Name: Name, New: New}

// Handler serves the dialect; app clients are read from its core's store's client registry.
type Handler struct {
	kit.Base
	settings config.KeyToken
}

// New builds the dialect: its routes under the prefix, in its error shape.
func New(d dialect.Deps, p config.Protocol) (dialect.Spec, error) {
	h := &Handler{Base: kit.NewBase(Name, d, writeError), settings: *p.Settings.(*config.KeyToken)}
	if h.settings.RefreshTokenLifespan.Duration > h.Config.Sessions.AbsoluteTimeout.Duration {
		h.Logger.Warn("protocols.keyToken.refreshTokenLifespan is longer than sessions.absoluteTimeout: sessions end at the absolute timeout",
			"refreshTokenLifespan", h.settings.RefreshTokenLifespan.String(), "absoluteTimeout", h.Config.Sessions.AbsoluteTimeout.String())
	}
	return dialect.Spec{
		Errors:        writeError,
		AllowHeaders:  []string{"Authorization", "Content-Type", "X-Request-Id"},
		ExposeHeaders: []string{"X-Request-Id"},
		Routes: []dialect.Route{
			dialect.HandleFunc(http.MethodPost, "/users", "users", h.register),
			dialect.HandleFunc(http.MethodGet, "/users", "users", h.me),
			dialect.HandleFunc(http.MethodPatch, "/users", "users", h.update),
			dialect.HandleFunc(http.MethodPost, "/users/token", "token", h.login),
			dialect.HandleFunc(http.MethodDelete, "/users/token", "token", h.logout),
			dialect.HandleFunc(http.MethodPost, "/users/token/refresh", "refresh", h.refresh),
		},
	}, nil
}

// sessionOptions shape the sessions this dialect issues for client: a short access token
// inside a session that lives as long as its refresh token is used within the refresh
// lifespan (the idle window, slid by every refresh and every authenticated request), up to
// the realm's absolute timeout, and at most MaxSessions per user. Each is filed under its
// client, so deleting the app client's DeviceClient ends it.
func (h *Handler) sessionOptions(client string) core.SessionOptions {
	kt := h.settings
	return core.SessionOptions{
		ClientName:  client,
		TrackClient: true,
		// Checked again as the session is filed: the client may be deregistered while the
		// password is being hashed.
		RequireRegisteredClient: h.Config.Clients.RequireRegistered,
		Limit:                   store.DeviceLimit{Max: MaxSessions, Policy: store.EvictOldest},
		IdleTimeout:             kt.RefreshTokenLifespan.Duration,
		TokenLifetime:           kt.AccessTokenLifespan.Duration,
		WithRefresh:             true,
	}
}

// expiresOf is when the session's current access token stops working: its own expiry, or
// the session's end when that comes first.
func expiresOf(s store.Session) time.Time {
	d := s.Deadline()
	if !s.TokenExpiresAt.IsZero() && s.TokenExpiresAt.Before(d) {
		return s.TokenExpiresAt
	}
	return d
}

// errUnknownClient refuses a client id: not one the server can take, or, when the realm
// requires registered clients, not a registered app client.
var errUnknownClient = errors.New("unknown client")

// checkClient accepts client when it can name a client and, if the realm requires it, is a
// registered app client (one store round trip). Errors: errUnknownClient or internal.
func (h *Handler) checkClient(ctx context.Context, client string) error {
	// The client becomes the session's label: the store's client-ID rule keeps it short and
	// printable whether or not it is registered.
	if !store.ValidClientID(client) {
		return errUnknownClient
	}
	if !h.Config.Clients.RequireRegistered {
		return nil
	}
	_, err := h.Core.Store.GetAppClient(ctx, client)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errUnknownClient
	case err != nil:
		return fmt.Errorf("check app client: %w", err)
	}
	return nil
}
