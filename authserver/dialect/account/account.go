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
			{Method: http.MethodGet, Path: "/session", Name: "session", Handler: http.HandlerFunc(h.session)},
			{Method: http.MethodPost, Path: "/login", Name: "login", Handler: http.HandlerFunc(h.login)},
			{Method: http.MethodPost, Path: "/logout", Name: "logout", Handler: http.HandlerFunc(h.logout)},
			{Method: http.MethodPost, Path: "/register", Name: "register", Handler: http.HandlerFunc(h.register)},
			{Method: http.MethodPost, Path: "/forgot", Name: "forgot", Handler: http.HandlerFunc(h.forgot)},
			{Method: http.MethodPost, Path: "/reset", Name: "reset", Handler: http.HandlerFunc(h.reset)},
			{Method: http.MethodPost, Path: "/confirm", Name: "confirm", Handler: http.HandlerFunc(h.confirm)},
		},
	}, nil
}
