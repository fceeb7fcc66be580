package reactauth

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/socket"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// socketHandler upgrades GET {prefix}/socket and hands the connection to the hub.
func (h *Handler) socketHandler() http.Handler {
	up := socket.NewUpgrader(h.originAllowed)
	up.Error = func(w http.ResponseWriter, r *http.Request, status int, _ error) {
		writeError(w, r, status, http.StatusText(status))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade has answered
		}
		// The handshake's request ends here; its id and client address label the socket's
		// audit events and metrics for as long as it lives.
		if _, err := h.Hub.Serve(ws, &conn{h: h, meta: h.Meta(r)}); err != nil && !errors.Is(err, socket.ErrHubClosed) {
			h.Logger.Error("reactAuth: cannot serve socket", "error", err)
		}
	})
}

// originAllowed is the handshake's Origin check: an allowed origin of the realm, the server's
// own origin, or no Origin at all (not a browser); see the package comment.
func (h *Handler) originAllowed(r *http.Request) bool {
	origin := r.Header.Values("Origin")
	switch {
	case len(origin) == 0:
		return true
	case len(origin) > 1:
		return false
	case slices.Contains(h.Config.AllowedOrigins, origin[0]):
		return true
	}
	u, err := url.Parse(origin[0])
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// closePush is ClosePush as the hub sends it.
var closePush = []byte(ClosePush)

// conn is the dialect's side of one socket.
type conn struct {
	h    *Handler
	meta core.Meta
}

// HandleMessage answers one request; every request gets exactly one reply, in its own form.
func (c *conn) HandleMessage(ctx context.Context, sc *socket.Conn, msg []byte) {
	m, err := parseMessage(msg)
	if err != nil {
		c.send(sc, m.reply(false))
		return
	}
	switch m.Type {
	case typeSocketResume:
		c.resume(ctx, sc, m)
	case typeClose:
		c.close(ctx, sc, m)
	default:
		c.send(sc, m.reply(false))
	}
}

// send queues a reply. A full queue has dropped the connection (the hub counts it), and a
// closing one takes nothing: either way there is no one left to answer.
func (c *conn) send(sc *socket.Conn, reply []byte) { _ = sc.Send(reply) }

// ref returns the session a request names, when its token parses and user.id is the token's
// user: a request that contradicts itself is refused before any store round trip.
func ref(m message) (store.SessionRef, bool) {
	tok, err := token.ParseSessionToken(m.Session)
	if err != nil || m.UserID != tok.UserID {
		return store.SessionRef{}, false
	}
	return store.SessionRef{UserID: tok.UserID, SessionID: tok.SessionID}, true
}

// resume: socket/resume {session, user} binds the socket to a live session of user.id. The
// check is one store round trip (a burst of resumes after a restart must stay cheap); the hub
// watches the session from before it runs, so no end can slip between check and binding.
func (c *conn) resume(ctx context.Context, sc *socket.Conn, m message) {
	r, ok := ref(m)
	if !ok {
		sc.Unbind()
		c.send(sc, m.reply(false))
		return
	}
	err := sc.Bind(ctx, r, func(ctx context.Context) (time.Time, error) {
		a, err := c.h.Core.Authenticate(ctx, c.meta, m.Session)
		if err != nil {
			return time.Time{}, err
		}
		return a.Session.Deadline(), nil
	}, m.reply(true))
	switch {
	case err == nil:
		return
	case errors.Is(err, socket.ErrClosed):
		return
	case errors.Is(err, core.ErrInvalidToken), errors.Is(err, socket.ErrSessionEnded), errors.Is(err, socket.ErrSessionMismatch):
	default:
		c.h.Logger.ErrorContext(ctx, "reactAuth: socket resume failed", "request_id", c.meta.RequestID, "error", err)
	}
	// The client goes to guest on a failed resume: the socket must not keep watching an
	// earlier session for it.
	sc.Unbind()
	c.send(sc, m.reply(false))
}

// close: close {session, user} ends the session as a logout, in one round trip that also
// publishes the revocation every replica's sockets hear.
//
// This replica's sockets of the session, the requesting one included, get the close push
// here, queued before the reply, rather than when the revocation comes back through the
// store's feed: the real client stops its socket as soon as close replies success, so a push
// that took the feed's way often found the requesting socket gone. The feed's copy of the
// revocation then finds nothing left to close on this replica; other replicas hear it as
// before.
func (c *conn) close(ctx context.Context, sc *socket.Conn, m message) {
	r, ok := ref(m)
	if !ok {
		c.send(sc, m.reply(false))
		return
	}
	err := c.h.Core.Logout(ctx, c.meta, m.Session)
	switch {
	case err == nil:
		// Only a logout that ended the session pushes: ErrInvalidToken also covers a wrong
		// secret, which ends nothing.
		c.h.Hub.CloseSession(r.SessionID, closePush)
		c.send(sc, m.reply(true))
	case errors.Is(err, core.ErrInvalidToken):
		c.send(sc, m.reply(true))
	default:
		// The session may still be live: do not tell the client it is over.
		c.h.Logger.ErrorContext(ctx, "reactAuth: socket close failed", "request_id", c.meta.RequestID, "error", err)
		c.send(sc, m.reply(false))
	}
}
