package reactauth

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/socket"
)

// Name is the dialect's name in sessions, logs and metrics.
const Name = "reactAuth"

// ClosePush is the message pushed to every socket of a session that has ended. Both client
// configurations read it: a bare client sees type close at the top, an Id-enveloped one
// unwraps data and sees it there. The socket hub is configured with it.
const ClosePush = `{"type":"` + typeClose + `","data":{"type":"` + typeClose + `"}}`

// Handler serves the dialect. Set its fields, then Mount it.
type Handler struct {
	// Core is the shared service.
	Core *core.Service
	// Config supplies the prefix, the cookie settings, the read timeout and the origins.
	Config *config.Config
	// Hub holds the process's live sockets; it must push ClosePush (socket.Config.ClosePush).
	Hub *socket.Hub
	// Logger receives internal errors.
	Logger *slog.Logger
	// Now is the clock cookies' expiry is computed with.
	Now func() time.Time
}

// Mount serves the dialect at its prefix on mux: POST {prefix} and the WebSocket at
// GET {prefix}/socket.
func (h *Handler) Mount(mux *http.ServeMux) error {
	switch {
	case h.Config.Protocols.ReactAuth == nil:
		return errors.New("reactAuth: the dialect is not enabled in the config")
	case h.Hub == nil:
		return errors.New("reactAuth: no socket hub")
	}
	prefix := h.Config.Protocols.ReactAuth.Prefix

	var rt httpx.Router
	rt.HandleFunc(http.MethodPost, prefix, "post", h.post)
	rt.Handle(http.MethodGet, httpx.Join(prefix, "/socket"), "socket", h.socketHandler())

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

// meta describes an HTTP request (or a socket's handshake) to the core.
func meta(r *http.Request) core.Meta {
	ctx := r.Context()
	return core.Meta{Dialect: Name, ClientIP: httpx.ClientIP(ctx), RequestID: httpx.RequestID(ctx)}
}
