package httpx

import (
	"net/http"
	"strings"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/token"
)

// CookieScope says which hosts a cookie is sent to.
type CookieScope int

const (
	// HostOnly cookies have no Domain attribute: only the host that set them gets them back.
	HostOnly CookieScope = iota
	// RealmDomain cookies carry the realm's cookie domain (sessions.cookieDomain), so every
	// host under it gets them; with no cookie domain configured they are host-only too.
	RealmDomain
)

// hostPrefix is the cookie-name prefix with which a browser accepts a cookie only if it is
// Secure, has Path=/ and no Domain, and comes from a secure origin: neither a sibling
// subdomain nor a plain-HTTP answer (forged by a network attacker) can set or replace it.
const hostPrefix = "__Host-"

// Cookies is how the realm sets every cookie: HttpOnly, Path=/, and the realm's Secure and
// SameSite settings. One value serves any number of cookies; it is safe for concurrent use.
type Cookies struct {
	// Secure marks cookies Secure: the realm is served over TLS (listen.secureCookies).
	Secure bool
	// SameSite is every cookie's SameSite mode (sessions.cookieSameSite).
	SameSite http.SameSite
	// Domain is the Domain attribute of RealmDomain cookies (sessions.cookieDomain); empty
	// makes them host-only.
	Domain string
}

// NewCookies returns the realm's cookie settings from its config.
func NewCookies(c *config.Config) Cookies {
	ss := http.SameSiteLaxMode
	switch c.Sessions.CookieSameSite {
	case "Strict":
		ss = http.SameSiteStrictMode
	case "None":
		ss = http.SameSiteNoneMode
	}
	return Cookies{Secure: c.Listen.SecureCookies, SameSite: ss, Domain: c.Sessions.CookieDomain}
}

// Name returns the name under which a cookie called name is set and read: prefixed with
// __Host- when the cookie is Secure and host-only (scope HostOnly, or RealmDomain with no
// cookie domain), the only case browsers accept that prefix in; name itself otherwise, or
// when it already has a browser prefix (__Host- or __Secure-, whatever the case).
func (c Cookies) Name(name string, scope CookieScope) string {
	if c.Secure && c.domain(scope) == "" && !hasBrowserPrefix(name) {
		return hostPrefix + name
	}
	return name
}

// hasBrowserPrefix reports whether name starts with a prefix browsers give rules to; they
// match prefixes case-insensitively.
func hasBrowserPrefix(name string) bool {
	for _, p := range []string{hostPrefix, "__Secure-"} {
		if len(name) >= len(p) && strings.EqualFold(name[:len(p)], p) {
			return true
		}
	}
	return false
}

func (c Cookies) domain(scope CookieScope) string {
	if scope == RealmDomain {
		return c.Domain
	}
	return ""
}

// Make returns the cookie named Name(name, scope) with value: HttpOnly, Path=/, the scope's
// Domain, the realm's Secure and SameSite, lasting maxAge (truncated to whole seconds, at
// least one). A maxAge of zero or less makes the cookie that tells the browser to drop the
// one set under the same name and scope (Max-Age=0; pass an empty value).
func (c Cookies) Make(name, value string, maxAge time.Duration, scope CookieScope) *http.Cookie {
	secs := -1
	if maxAge > 0 {
		secs = max(int(maxAge/time.Second), 1)
	}
	return &http.Cookie{
		Name:     c.Name(name, scope),
		Value:    value,
		Path:     "/",
		Domain:   c.domain(scope),
		MaxAge:   secs,
		HttpOnly: true,
		Secure:   c.Secure,
		SameSite: c.SameSite,
	}
}

// Set adds the cookie Make returns to w's headers.
func (c Cookies) Set(w http.ResponseWriter, name, value string, maxAge time.Duration, scope CookieScope) {
	http.SetCookie(w, c.Make(name, value, maxAge, scope))
}

// maxCookiesTried bounds the same-named cookies looked at: a browser may hold one per domain
// and path, and a request must not make the server parse hundreds.
const maxCookiesTried = 4

// Read returns the value of the first of the request's cookies named Name(name, scope) for
// which valid reports true, looking at no more than four of them, or "". valid should be a
// cheap local check (a token's shape): only the value returned costs the caller more.
func (c Cookies) Read(r *http.Request, name string, scope CookieScope, valid func(string) bool) string {
	for i, ck := range r.CookiesNamed(c.Name(name, scope)) {
		if i == maxCookiesTried {
			break
		}
		if valid(ck.Value) {
			return ck.Value
		}
	}
	return ""
}

// SessionCookie is the realm's session cookie, the one the account and reactAuth dialects
// share: sessions.cookieName in the realm's cookie domain (RealmDomain), __Host- prefixed
// when that is host-only and the realm is served over TLS.
type SessionCookie struct {
	// Cookies are the realm's cookie settings.
	Cookies Cookies
	// BaseName is the configured name (sessions.cookieName), before any prefix.
	BaseName string
	// Now is the clock the cookie's lifetime is computed with.
	Now func() time.Time
}

// NewSessionCookie returns the realm's session cookie; now is the clock (nil: time.Now).
func NewSessionCookie(c *config.Config, now func() time.Time) SessionCookie {
	if now == nil {
		now = time.Now
	}
	return SessionCookie{Cookies: NewCookies(c), BaseName: c.Sessions.CookieName, Now: now}
}

// Name is the name the cookie is set and read under.
func (s SessionCookie) Name() string { return s.Cookies.Name(s.BaseName, RealmDomain) }

// Token returns the first session cookie that has the shape of a session token, or "".
// Parsing is cheap and local; only the chosen one costs a store round trip.
func (s SessionCookie) Token(r *http.Request) string {
	return s.Cookies.Read(r, s.BaseName, RealmDomain, func(v string) bool {
		_, err := token.ParseSessionToken(v)
		return err == nil
	})
}

// Set sets the cookie to a session token. It lives until the session's absolute end (at
// least a second); the idle window is enforced by the server, which forgets an unused session
// before the cookie goes.
func (s SessionCookie) Set(w http.ResponseWriter, raw string, expires time.Time) {
	s.Cookies.Set(w, s.BaseName, raw, max(expires.Sub(s.Now()), time.Second), RealmDomain)
}

// Clear tells the browser to drop the session cookie.
func (s SessionCookie) Clear(w http.ResponseWriter) {
	s.Cookies.Set(w, s.BaseName, "", 0, RealmDomain)
}
