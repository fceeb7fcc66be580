package keytoken

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/store"
)

// Name is the dialect's name in sessions, logs and metrics.
const Name = "keyToken"

// MaxSessions is how many live sessions of this dialect a user may hold; a login or
// registration past it ends the user's oldest one. Every POST users/token creates a session,
// and a client that logs in on every start would otherwise grow the user's session list
// without bound. Ten matches deviseToken's default maxDevices.
const MaxSessions = 10

// Handler serves the dialect. Set its fields, then Mount it.
type Handler struct {
	// Core is the shared service; app clients are read from its store's client registry.
	Core *core.Service
	// Config supplies the prefix, the token lifespans, the client rule, the read timeout and
	// the origins.
	Config *config.Config
	// Logger receives internal errors.
	Logger *slog.Logger
}

// Mount serves the dialect at its prefix on mux.
func (h *Handler) Mount(mux *http.ServeMux) error {
	kt := h.Config.Protocols.KeyToken
	if kt == nil {
		return errors.New("keyToken: the dialect is not enabled in the config")
	}
	if kt.RefreshTokenLifespan.Duration > h.Config.Sessions.AbsoluteTimeout.Duration {
		h.Logger.Warn("protocols.keyToken.refreshTokenLifespan is longer than sessions.absoluteTimeout: sessions end at the absolute timeout",
			"refreshTokenLifespan", kt.RefreshTokenLifespan.String(), "absoluteTimeout", h.Config.Sessions.AbsoluteTimeout.String())
	}
	prefix := kt.Prefix

	var rt httpx.Router
	users, tok := httpx.Join(prefix, "/users"), httpx.Join(prefix, "/users/token")
	rt.HandleFunc(http.MethodPost, users, "users", h.register)
	rt.HandleFunc(http.MethodGet, users, "users", h.me)
	rt.HandleFunc(http.MethodPatch, users, "users", h.update)
	rt.HandleFunc(http.MethodPost, tok, "token", h.login)
	rt.HandleFunc(http.MethodDelete, tok, "token", h.logout)
	rt.HandleFunc(http.MethodPost, httpx.Join(prefix, "/users/token/refresh"), "refresh", h.refresh)

	d := &httpx.Dialect{
		Name:   Name,
		Errors: writeError,
		CORS: httpx.CORS{
			AllowedOrigins: h.Config.AllowedOrigins,
			AllowMethods:   []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete},
			AllowHeaders:   []string{"Authorization", "Content-Type", "X-Request-Id"},
			ExposeHeaders:  []string{"X-Request-Id"},
		},
		ReadTimeout: h.Config.Listen.ReadTimeout.Duration,
	}
	return d.Mount(mux, prefix, &rt)
}

// sessionOptions shape the sessions this dialect issues for client: a short access token
// inside a session that lives as long as its refresh token is used within the refresh
// lifespan (the idle window, slid by every refresh and every authenticated request), up to
// the realm's absolute timeout, and at most MaxSessions per user. Each is filed under its
// client, so deleting the app client's DeviceClient ends it.
func (h *Handler) sessionOptions(client string) core.SessionOptions {
	kt := h.Config.Protocols.KeyToken
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

// meta describes the request to the core.
func meta(r *http.Request) core.Meta {
	ctx := r.Context()
	return core.Meta{Dialect: Name, ClientIP: httpx.ClientIP(ctx), RequestID: httpx.RequestID(ctx)}
}

// internalError logs err and answers 500.
func (h *Handler) internalError(w http.ResponseWriter, r *http.Request, route string, err error) {
	// A store outage is reported once by the store's health monitor, not per request.
	if !errors.Is(err, store.ErrUnavailable) {
		h.Logger.ErrorContext(r.Context(), "keyToken request failed",
			"request_id", httpx.RequestID(r.Context()), "route", route, "error", err)
	}
	writeError(w, r, http.StatusInternalServerError, "internal error")
}

// decode reads a JSON body into dst, answering the client itself when it cannot: 400, 408 or
// 413 with the reason. With optional set, an empty body leaves dst as it is. It reports
// whether the handler may go on.
func decode(w http.ResponseWriter, r *http.Request, dst any, optional bool) bool {
	b, err := httpx.ReadBody(r, httpx.MaxBodyBytes)
	if err == nil && optional && len(b) == 0 {
		return true
	}
	if err == nil {
		err = httpx.ParseJSON(b, dst)
	}
	if err == nil {
		return true
	}
	httpx.WriteBodyError(w, r, err, writeError)
	return false
}
