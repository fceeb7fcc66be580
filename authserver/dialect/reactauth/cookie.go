package reactauth

import (
	"net/http"
	"time"

	"github.com/latchauth/latch/authserver/token"
)

// maxCookiesTried bounds the same-named cookies looked at: a browser may hold one per domain
// and path, and a request must not make the server parse hundreds.
const maxCookiesTried = 4

// sessionToken returns the first session cookie that has the shape of a session token, or "".
// Parsing is cheap and local; only the chosen one costs a store round trip.
func (h *Handler) sessionToken(r *http.Request) string {
	for i, c := range r.CookiesNamed(h.Config.Sessions.CookieName) {
		if i == maxCookiesTried {
			break
		}
		if _, err := token.ParseSessionToken(c.Value); err == nil {
			return c.Value
		}
	}
	return ""
}

func (h *Handler) sameSite() http.SameSite {
	switch h.Config.Sessions.CookieSameSite {
	case "Strict":
		return http.SameSiteStrictMode
	case "None":
		return http.SameSiteNoneMode
	}
	return http.SameSiteLaxMode
}

// setSession sets the session cookie, the one every cookie dialect of the realm shares. It
// lives until the session's absolute end; the idle window is enforced by the server, which
// forgets an unused session before the cookie goes.
func (h *Handler) setSession(w http.ResponseWriter, raw string, expires time.Time) {
	maxAge := int(expires.Sub(h.Now()) / time.Second)
	http.SetCookie(w, h.cookie(raw, max(maxAge, 1)))
}

// clearSession tells the browser to drop the session cookie.
func (h *Handler) clearSession(w http.ResponseWriter) { http.SetCookie(w, h.cookie("", -1)) }

func (h *Handler) cookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     h.Config.Sessions.CookieName,
		Value:    value,
		Path:     "/",
		Domain:   h.Config.Sessions.CookieDomain,
		MaxAge:   maxAge,
		HttpOnly: true,
		Secure:   h.Config.Listen.SecureCookies,
		SameSite: h.sameSite(),
	}
}
