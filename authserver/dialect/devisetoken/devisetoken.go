package devisetoken

import (
	"crypto/subtle"
	"net/http"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/dialect"
	"github.com/latchauth/latch/authserver/dialect/internal/kit"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// Name is the dialect's name in sessions, logs and metrics.
const Name = "deviseToken"

// Definition is the dialect's row in the server's table.
var Definition = dialect.Definition{Name: Name, New: New}

// Handler serves the dialect.
type Handler struct {
	kit.Base
	settings config.DeviseToken
	redirect redirectPolicy
}

// New builds the dialect: devise_token_auth's routes under the prefix, in its error shape.
// It refuses an allowed origin or reset page it cannot parse.
func New(d dialect.Deps, p config.Protocol) (dialect.Spec, error) {
	h := &Handler{Base: kit.NewBase(Name, d, writeError), settings: *p.Settings.(*config.DeviseToken)}
	h.InternalMessage = msgInternal
	var err error
	if h.redirect, err = newRedirectPolicy(h.Config.AllowedOrigins, h.Config.Email.ResetURL); err != nil {
		return dialect.Spec{}, err
	}
	authHeaders := []string{keyAccessToken, keyTokenType, keyClient, keyExpiry, keyUID}
	return dialect.Spec{
		Errors: writeError,
		// j-toker sends If-Modified-Since on every request to defeat old browsers' caches.
		AllowHeaders:  append([]string{"Content-Type", "Authorization", "If-Modified-Since", "X-Request-Id"}, authHeaders...),
		ExposeHeaders: authHeaders,
		Routes: []dialect.Route{
			dialect.HandleFunc(http.MethodPost, "", "register", h.register),
			dialect.HandleFunc(http.MethodPost, "/sign_in", "sign_in", h.signIn),
			dialect.HandleFunc(http.MethodGet, "/validate_token", "validate_token", h.validateToken),
			dialect.HandleFunc(http.MethodDelete, "/sign_out", "sign_out", h.signOut),
			dialect.HandleFunc(http.MethodPost, "/password", "password", h.forgotPassword),
			// Rails routes a resource's update as both PUT and PATCH; ng-token-auth uses PUT.
			dialect.HandleFunc(http.MethodPut, "/password", "password", h.updatePassword),
			dialect.HandleFunc(http.MethodPatch, "/password", "password", h.updatePassword),
			dialect.HandleFunc(http.MethodGet, "/password/edit", "password_edit", h.editPassword),
			dialect.HandleFunc(http.MethodGet, "/confirmation", "confirmation", h.confirm),
			dialect.HandleFunc(http.MethodPost, "/confirmation", "confirmation", h.resendConfirmation),
		},
	}, nil
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
	if err != nil && legacyToken(c) {
		return h.exchangeLegacy(r, c)
	}
	if err != nil || !equal(c.client(), tok.SessionID) || c.UID == "" {
		return core.Auth{}, core.ErrInvalidToken
	}
	// Another dialect's session is refused inside the rotation step, untouched.
	a, _, err := h.Core.Rotate(r.Context(), h.Meta(r), tok, h.settings.BatchRequestBuffer.Duration)
	if err != nil {
		return core.Auth{}, err
	}
	if !equal(store.NormalizeLogin(c.UID), store.NormalizeLogin(a.User.Login)) {
		return core.Auth{}, core.ErrInvalidToken
	}
	return a, nil
}

// equal compares two client-supplied values in constant time (for equal lengths).
func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
