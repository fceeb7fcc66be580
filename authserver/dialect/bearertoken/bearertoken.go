package bearertoken

import (
	"net/http"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/dialect"
	"github.com/latchauth/latch/authserver/dialect/internal/kit"
	"github.com/latchauth/latch/authserver/store"
)

// Name is the dialect's name in sessions, logs and metrics.
const Name = "bearerToken"

// MaxUserTokens is how many live user tokens of this dialect a user may hold; a login past it
// ends the user's oldest one. Every POST /auth creates a token, and scripts that log in on
// every run would otherwise grow a user's session list without bound. Ten matches
// deviseToken's default maxDevices.
const MaxUserTokens = 10

// Definition is the dialect's row in the server's table.
var Definition = dialect.Definition{Name: Name, New: New}

// Handler serves the dialect; device tokens are read from its core's store's client registry.
type Handler struct {
	kit.Base
	settings config.BearerToken
}

// New builds the dialect: its routes under the prefix, in its error envelope.
func New(d dialect.Deps, p config.Protocol) (dialect.Spec, error) {
	h := &Handler{Base: kit.NewBase(Name, d, writeError), settings: *p.Settings.(*config.BearerToken)}
	return dialect.Spec{
		Errors:        writeError,
		AllowHeaders:  []string{"Authorization", "Content-Type", "X-Request-Id"},
		ExposeHeaders: []string{"X-Request-Id", "WWW-Authenticate"},
		Routes: []dialect.Route{
			dialect.HandleFunc(http.MethodPost, "/auth", "auth", h.login),
			dialect.HandleFunc(http.MethodGet, "/auth", "auth", h.introspect),
			dialect.HandleFunc(http.MethodDelete, "/auth", "auth", h.revoke),
			dialect.HandleFunc(http.MethodPost, "/users/activate", "activate", h.activate),
		},
	}, nil
}

// sessionOptions shape the user tokens POST /auth issues: they live tokenLifespan (the
// realm's idle timeout still applies when shorter), and a user holds at most MaxUserTokens.
func (h *Handler) sessionOptions() core.SessionOptions {
	return core.SessionOptions{
		Lifetime: h.settings.TokenLifespan.Duration,
		Limit:    store.DeviceLimit{Max: MaxUserTokens, Policy: store.EvictOldest},
	}
}

// internalError logs err and answers 500 with the route's internal-error code and message.
func (h *Handler) internalError(w http.ResponseWriter, r *http.Request, err error, code, msg string) {
	h.LogInternal(r, err)
	writeStatus(w, http.StatusInternalServerError, code, msg)
}
