package reactauth

import (
	"net/http"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/dialect"
	"github.com/latchauth/latch/authserver/dialect/internal/kit"
	"github.com/latchauth/latch/authserver/socket"
)

// Name is the dialect's name in sessions, logs and metrics.
const Name = "reactAuth"

// ClosePush is the message pushed to every socket of a session that has ended. Both client
// configurations read it: a bare client sees type close at the top, an Id-enveloped one
// unwraps data and sees it there. The socket hub is configured with it.
const ClosePush = `{"type":"` + typeClose + `","data":{"type":"` + typeClose + `"}}`

// Definition is the dialect's row in the server's table: it holds live sockets, which get
// ClosePush when their session ends.
var Definition = dialect.Definition{Name: Name, ClosePush: []byte(ClosePush), New: New}

// Handler serves the dialect.
type Handler struct {
	kit.Base
	// Hub holds the process's live sockets; it pushes ClosePush.
	Hub *socket.Hub
}

// New builds the dialect: POST {prefix} and the WebSocket at GET {prefix}/socket.
func New(d dialect.Deps, _ config.Protocol) (dialect.Spec, error) {
	h := &Handler{Base: kit.NewBase(Name, d, writeError), Hub: d.Hub}
	return dialect.Spec{
		Errors:        writeError,
		AllowHeaders:  []string{"Content-Type", "X-Request-Id"},
		ExposeHeaders: []string{"X-Request-Id"},
		Routes: []dialect.Route{
			dialect.HandleFunc(http.MethodPost, "", "post", h.post),
			{Method: http.MethodGet, Path: "/socket", Name: "socket", Handler: h.socketHandler()},
		},
	}, nil
}
