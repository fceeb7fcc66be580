package bearertoken

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/store"
)

// Name is the dialect's name in sessions, logs and metrics.
const Name = "bearerToken"

// MaxUserTokens is how many live user tokens of this dialect a user may hold; a login past it
// ends the user's oldest one. Every POST /auth creates a token, and scripts that log in on
// every run would otherwise grow a user's session list without bound. Ten matches
// deviseToken's default maxDevices.
const MaxUserTokens = 10

// Handler serves the dialect. Set its fields, then Mount it.
type Handler struct {
	// Core is the shared service; device tokens are read from its store's client registry.
	Core *core.Service
	// Config supplies the prefix, the token lifespan, the read timeout and the origins.
	Config *config.Config
	// Logger receives internal errors.
	Logger *slog.Logger
}

// Mount serves the dialect at its prefix on mux.
func (h *Handler) Mount(mux *http.ServeMux) error {
	bt := h.Config.Protocols.BearerToken
	if bt == nil {
		return errors.New("bearerToken: the dialect is not enabled in the config")
	}
	prefix := bt.Prefix

	var rt httpx.Router
	rt.HandleFunc(http.MethodPost, httpx.Join(prefix, "/auth"), "auth", h.login)
	rt.HandleFunc(http.MethodGet, httpx.Join(prefix, "/auth"), "auth", h.introspect)
	rt.HandleFunc(http.MethodDelete, httpx.Join(prefix, "/auth"), "auth", h.revoke)
	rt.HandleFunc(http.MethodPost, httpx.Join(prefix, "/users/activate"), "activate", h.activate)

	d := &httpx.Dialect{
		Name:   Name,
		Errors: writeError,
		CORS: httpx.CORS{
			AllowedOrigins: h.Config.AllowedOrigins,
			AllowMethods:   []string{http.MethodGet, http.MethodPost, http.MethodDelete},
			AllowHeaders:   []string{"Authorization", "Content-Type", "X-Request-Id"},
			ExposeHeaders:  []string{"X-Request-Id", "WWW-Authenticate"},
		},
		ReadTimeout: h.Config.Listen.ReadTimeout.Duration,
	}
	return d.Mount(mux, prefix, &rt)
}

// sessionOptions shape the user tokens POST /auth issues: they live tokenLifespan (the
// realm's idle timeout still applies when shorter), and a user holds at most MaxUserTokens.
func (h *Handler) sessionOptions() core.SessionOptions {
	return core.SessionOptions{
		Lifetime: h.Config.Protocols.BearerToken.TokenLifespan.Duration,
		Limit:    store.DeviceLimit{Max: MaxUserTokens, Policy: store.EvictOldest},
	}
}

// meta describes the request to the core.
func meta(r *http.Request) core.Meta {
	ctx := r.Context()
	return core.Meta{Dialect: Name, ClientIP: httpx.ClientIP(ctx), RequestID: httpx.RequestID(ctx)}
}

// internalError logs err and answers 500 with the route's internal-error code: route names
// the failed operation in the log, code and msg are what the client sees.
func (h *Handler) internalError(w http.ResponseWriter, r *http.Request, route string, err error, code, msg string) {
	// A store outage is reported once by the store's health monitor, not per request.
	if !errors.Is(err, store.ErrUnavailable) {
		h.Logger.ErrorContext(r.Context(), "bearerToken request failed",
			"request_id", httpx.RequestID(r.Context()), "route", route, "error", err)
	}
	writeStatus(w, http.StatusInternalServerError, code, msg)
}

// readBody reads the body, answering the client itself when it cannot: 400, 408 or 413 in the
// envelope. It reports whether the handler may go on.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := httpx.ReadBody(r, httpx.MaxBodyBytes)
	if err != nil {
		badBody(w, r, err)
		return nil, false
	}
	return b, true
}

// badBody answers a body the decoders refused.
func badBody(w http.ResponseWriter, r *http.Request, err error) {
	httpx.WriteBodyError(w, r, err, writeError)
}
