package devisetoken

import (
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// Name is the dialect's name in sessions, logs and metrics.
const Name = "deviseToken"

// Handler serves the dialect. Set its fields, then Mount it.
type Handler struct {
	// Core is the shared service.
	Core *core.Service
	// Config supplies the prefix, token lifespan, batch buffer, device limit, allowed origins,
	// reset page and read timeout.
	Config *config.Config
	// Logger receives internal errors.
	Logger *slog.Logger

	settings config.DeviseToken
	redirect redirectPolicy
}

// Mount serves the dialect at its prefix on mux.
func (h *Handler) Mount(mux *http.ServeMux) error {
	if h.Config.Protocols.DeviseToken == nil {
		return errors.New("deviseToken: the dialect is not enabled in the config")
	}
	h.settings = *h.Config.Protocols.DeviseToken
	var err error
	if h.redirect, err = newRedirectPolicy(h.Config.AllowedOrigins, h.Config.Email.ResetURL); err != nil {
		return err
	}
	prefix := h.settings.Prefix
	root := httpx.Join(prefix, "")
	if root == "" {
		root = "/"
	}

	var rt httpx.Router
	rt.HandleFunc(http.MethodPost, root, "register", h.register)
	rt.HandleFunc(http.MethodPost, httpx.Join(prefix, "/sign_in"), "sign_in", h.signIn)
	rt.HandleFunc(http.MethodGet, httpx.Join(prefix, "/validate_token"), "validate_token", h.validateToken)
	rt.HandleFunc(http.MethodDelete, httpx.Join(prefix, "/sign_out"), "sign_out", h.signOut)
	rt.HandleFunc(http.MethodPost, httpx.Join(prefix, "/password"), "password", h.forgotPassword)
	// Rails routes a resource's update as both PUT and PATCH; ng-token-auth uses PUT.
	rt.HandleFunc(http.MethodPut, httpx.Join(prefix, "/password"), "password", h.updatePassword)
	rt.HandleFunc(http.MethodPatch, httpx.Join(prefix, "/password"), "password", h.updatePassword)
	rt.HandleFunc(http.MethodGet, httpx.Join(prefix, "/password/edit"), "password_edit", h.editPassword)
	rt.HandleFunc(http.MethodGet, httpx.Join(prefix, "/confirmation"), "confirmation", h.confirm)
	rt.HandleFunc(http.MethodPost, httpx.Join(prefix, "/confirmation"), "confirmation", h.resendConfirmation)

	authHeaders := []string{keyAccessToken, keyTokenType, keyClient, keyExpiry, keyUID}
	d := &httpx.Dialect{
		Name:   Name,
		Errors: writeError,
		CORS: httpx.CORS{
			AllowedOrigins: h.Config.AllowedOrigins,
			AllowMethods:   []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
			// j-toker sends If-Modified-Since on every request to defeat old browsers' caches.
			AllowHeaders:  append([]string{"Content-Type", "Authorization", "If-Modified-Since", "X-Request-Id"}, authHeaders...),
			ExposeHeaders: authHeaders,
		},
		ReadTimeout: h.Config.Listen.ReadTimeout.Duration,
	}
	return d.Mount(mux, prefix, &rt)
}

// meta describes the request to the core.
func meta(r *http.Request) core.Meta {
	ctx := r.Context()
	return core.Meta{Dialect: Name, ClientIP: httpx.ClientIP(ctx), RequestID: httpx.RequestID(ctx)}
}

// internalError logs err and answers 500 in the dialect's shape.
func (h *Handler) internalError(w http.ResponseWriter, r *http.Request, err error) {
	// A store outage is reported once by the store's health monitor, not per request.
	if !errors.Is(err, store.ErrUnavailable) {
		h.Logger.ErrorContext(r.Context(), "deviseToken request failed",
			"request_id", httpx.RequestID(r.Context()), "path", r.URL.Path, "error", err)
	}
	writeError(w, r, http.StatusInternalServerError, msgInternal)
}

// sessionOptions shape this dialect's sessions: the token lifespan is the idle window, so it
// slides with every authenticated request, and the realm's absolute timeout still ends the
// session; the device limit is the realm's, or EvictOldest where refusing would lose more
// than it protects (a spent reset link).
func (h *Handler) sessionOptions(policy config.DevicePolicy, replaces string) core.SessionOptions {
	limit := store.DeviceLimit{Max: h.settings.MaxDevices, Policy: store.EvictOldest}
	if policy == config.DenyNew {
		limit.Policy = store.DenyNew
	}
	return core.SessionOptions{IdleTimeout: h.settings.TokenLifespan.Duration, Limit: limit, Replaces: replaces}
}

// authenticate checks c and rotates its token in one store round trip. What can be checked
// without the store is checked first, so a malformed token, a client that is not the token's
// session or a missing uid never costs a round trip. Every refusal is core.ErrInvalidToken;
// anything else is internal.
func (h *Handler) authenticate(r *http.Request, c credentials) (core.Auth, error) {
	tok, err := token.ParseSessionToken(c.AccessToken)
	if err != nil || !equal(c.client(), tok.SessionID) || c.UID == "" {
		return core.Auth{}, core.ErrInvalidToken
	}
	a, _, err := h.Core.Rotate(r.Context(), meta(r), c.AccessToken, h.settings.BatchRequestBuffer.Duration)
	if err != nil {
		return core.Auth{}, err
	}
	if a.Session.Dialect != Name || !equal(store.NormalizeLogin(c.UID), store.NormalizeLogin(a.User.Login)) {
		return core.Auth{}, core.ErrInvalidToken
	}
	return a, nil
}

// equal compares two client-supplied values in constant time (for equal lengths).
func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
