package socket_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/latchauth/latch/authserver/socket"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/memory"
)

// Example wires a hub the way a dialect does: one hub per replica fed by the store's
// revocations, an HTTP handler that upgrades and hands each connection over with its own
// handler, and a resume message that binds the connection once the session checks out.
func Example() {
	st := memory.New()
	hub, err := socket.New(socket.Config{
		Sessions:  st,
		ClosePush: []byte(`{"type":"fantaptik/react-auth/close","data":{"type":"fantaptik/react-auth/close"}}`),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { _ = hub.Listen(ctx, st) }() // before serving: no revocation may go unheard

	upgrader := socket.NewUpgrader(func(r *http.Request) bool {
		return r.Header.Get("Origin") == "https://app.example.com" // the realm's allowed origins
	})
	http.HandleFunc("/react-auth/socket", func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		_, _ = hub.Serve(ws, socket.HandlerFunc(func(ctx context.Context, c *socket.Conn, msg []byte) {
			// A real dialect parses msg; here every message resumes one session.
			ref := store.SessionRef{UserID: "user-1", SessionID: "session-1"}
			err := c.Bind(ctx, ref, func(ctx context.Context) (time.Time, error) {
				sess, err := st.GetSession(ctx, ref, time.Now()) // a dialect validates the token
				return sess.Deadline(), err
			}, []byte(`{"success":true}`))
			if err != nil {
				_ = c.Send([]byte(`{"success":false}`))
			}
		}))
	})

	// On SIGTERM: close the sockets (1001) without ending a session.
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = hub.Shutdown(shutdownCtx)
}
