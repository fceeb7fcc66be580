package reactauth

import (
	"net/http"
	"time"

	"github.com/latchauth/latch/authserver/httpx"
)

// cookie is the realm's session cookie (httpx.SessionCookie), the one every cookie dialect of
// the realm shares.
func (h *Handler) cookie() httpx.SessionCookie { return httpx.NewSessionCookie(h.Config, h.Now) }

// sessionToken returns the request's session token (httpx.SessionCookie.Token), or "".
func (h *Handler) sessionToken(r *http.Request) string { return h.cookie().Token(r) }

// setSession sets the session cookie; it lives until the session's absolute end.
func (h *Handler) setSession(w http.ResponseWriter, raw string, expires time.Time) {
	h.cookie().Set(w, raw, expires)
}

// clearSession tells the browser to drop the session cookie.
func (h *Handler) clearSession(w http.ResponseWriter) { h.cookie().Clear(w) }
