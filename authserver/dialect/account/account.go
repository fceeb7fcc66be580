package account

import (
	"net/http"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/dialect"
	"github.com/latchauth/latch/authserver/dialect/internal/kit"
)

// Name is the dialect's name in sessions, logs and metrics.
const Name = "account"

// Definition is the dialect's row in the server's table.
var Definition = dialect.Definition{Name: Name, New: New}

// Handler serves the dialect.
type Handler struct {
	kit.Base
}

// New builds the dialect: its routes under the prefix, in its error shape.
func New(d dialect.Deps, _ config.Protocol) (dialect.Spec, error) {
	h := &Handler{Base: kit.NewBase(Name, d, writeError)}
	return dialect.Spec{
		Errors:        writeError,
		AllowHeaders:  []string{"Content-Type", "X-Request-Id"},
		ExposeHeaders: []string{"X-Request-Id"},
		Routes: []dialect.Route{
			dialect.HandleFunc(http.MethodGet, "/session", "session", h.session),
			dialect.HandleFunc(http.MethodPost, "/login", "login", h.login),
			dialect.HandleFunc(http.MethodPost, "/logout", "logout", h.logout),
			dialect.HandleFunc(http.MethodPost, "/register", "register", h.register),
			dialect.HandleFunc(http.MethodPost, "/forgot", "forgot", h.forgot),
			dialect.HandleFunc(http.MethodPost, "/reset", "reset", h.reset),
			dialect.HandleFunc(http.MethodPost, "/confirm", "confirm", h.confirm),
			dialect.HandleFunc(http.MethodGet, "/sessions", "sessions", h.sessions),
			dialect.HandleFunc(http.MethodPost, "/sessions/end", "sessions_end", h.endSession),
			dialect.HandleFunc(http.MethodPost, "/sessions/end-others", "sessions_end_others", h.endOtherSessions),
		},
	}, nil
}
