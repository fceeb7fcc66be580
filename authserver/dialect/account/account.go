package account

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/store"
)

// Name is the dialect's name in sessions, logs and metrics.
const Name = "account"

// Handler serves the dialect. Set its fields, then Mount it.
type Handler struct {
	// Core is the shared service.
	Core *core.Service
	// Config supplies the prefix, the cookie settings, the read timeout and the origins.
	Config *config.Config
	// Logger receives internal errors.
	Logger *slog.Logger
	// Now is the clock cookies' expiry is computed with.
	Now func() time.Time
}

// Mount serves the dialect at its prefix on mux.
func (h *Handler) Mount(mux *http.ServeMux) error {
	if h.Config.Protocols.Account == nil {
		return errors.New("account: the dialect is not enabled in the config")
	}
	prefix := h.Config.Protocols.Account.Prefix

	var rt httpx.Router
	rt.HandleFunc(http.MethodGet, httpx.Join(prefix, "/session"), "session", h.session)
	rt.HandleFunc(http.MethodPost, httpx.Join(prefix, "/login"), "login", h.login)
	rt.HandleFunc(http.MethodPost, httpx.Join(prefix, "/logout"), "logout", h.logout)
	rt.HandleFunc(http.MethodPost, httpx.Join(prefix, "/register"), "register", h.register)
	rt.HandleFunc(http.MethodPost, httpx.Join(prefix, "/forgot"), "forgot", h.forgot)
	rt.HandleFunc(http.MethodPost, httpx.Join(prefix, "/reset"), "reset", h.reset)
	rt.HandleFunc(http.MethodPost, httpx.Join(prefix, "/confirm"), "confirm", h.confirm)

	d := &httpx.Dialect{
		Name:   Name,
		Errors: writeError,
		CORS: httpx.CORS{
			AllowedOrigins: h.Config.AllowedOrigins,
			AllowMethods:   []string{http.MethodGet, http.MethodPost},
			AllowHeaders:   []string{"Content-Type", "X-Request-Id"},
			ExposeHeaders:  []string{"X-Request-Id"},
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

// internalError logs err and answers 500.
func (h *Handler) internalError(w http.ResponseWriter, r *http.Request, err error) {
	// A store outage is reported once by the store's health monitor, not per request.
	if !errors.Is(err, store.ErrUnavailable) {
		h.Logger.ErrorContext(r.Context(), "account request failed",
			"request_id", httpx.RequestID(r.Context()), "path", r.URL.Path, "error", err)
	}
	writeError(w, r, http.StatusInternalServerError, "internal error")
}

// decode reads a JSON body into dst, answering the client itself when it cannot: 400, 408 or
// 413 with the reason. It reports whether the handler may go on.
func decode(w http.ResponseWriter, r *http.Request, dst any) bool {
	err := httpx.DecodeJSON(r, dst)
	if err == nil {
		return true
	}
	httpx.WriteBodyError(w, r, err, writeError)
	return false
}
