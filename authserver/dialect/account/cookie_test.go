package account_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
)

// setCookie returns the response's Set-Cookie named name, or nil.
func setCookie(r response, name string) *http.Cookie {
	for _, c := range r.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// A realm served over TLS with no cookie domain names its session cookie __Host-latch_session
// (Secure, Path=/, no Domain), which a browser accepts only from this very host over HTTPS.
// The attack: a page on a sibling subdomain, or any plain-HTTP answer on the host (an attacker
// on the network forges one), sets a cookie named latch_session holding the attacker's own
// session, so that the victim works signed in as the attacker (session fixation, login CSRF).
// The server must read only the name it sets.
func TestSecureRealmSessionCookieIsHostPrefixed(t *testing.T) {
	s := servertest.Start(t, servertest.Options{InMemory: true, Config: func(c *config.Config) {
		c.Listen.SecureCookies = true
	}})
	// The attacker's own account and session.
	r := newBrowser(t, s).post("/account/register", map[string]string{
		"login": "mallory@example.com", "password": password, "firstName": "M", "lastName": "M",
	})
	wantUser(t, r)
	c := setCookie(r, "__Host-latch_session")
	if c == nil {
		t.Fatalf("Set-Cookie %q, want __Host-latch_session", r.Header.Values("Set-Cookie"))
	}
	if !c.Secure || !c.HttpOnly || c.Path != "/" || c.Domain != "" || c.SameSite != http.SameSiteLaxMode || c.MaxAge <= 0 {
		t.Errorf("cookie = %+v, want Secure, HttpOnly, Path=/, no Domain, SameSite=Lax, persistent", c)
	}
	if old := setCookie(r, "latch_session"); old != nil {
		t.Errorf("an unprefixed session cookie was set too: %+v", old)
	}
	stolen := c.Value

	// The name that is set is the name that is read.
	plain := newBrowser(t, s)
	wantUser(t, plain.do(http.MethodGet, "/account/session", nil, "Cookie", "__Host-latch_session="+stolen))
	// The planted, unprefixed cookie is not a session.
	wantError(t, plain.do(http.MethodGet, "/account/session", nil, "Cookie", "latch_session="+stolen), http.StatusUnauthorized)

	// Logout clears the prefixed cookie (the browser matches name, path and domain).
	r = plain.do(http.MethodPost, "/account/logout", nil, "Cookie", "__Host-latch_session="+stolen)
	wantNoContent(t, r)
	if c := setCookie(r, "__Host-latch_session"); c == nil || c.MaxAge >= 0 || !c.Secure || c.Path != "/" || c.Domain != "" {
		t.Errorf("logout Set-Cookie %q, want __Host-latch_session cleared", r.Header.Values("Set-Cookie"))
	}
}

// A cookie domain (one cookie for several hosts) cannot carry __Host-, which forbids Domain:
// the name stays the configured one. Without TLS nothing is prefixed either: browsers refuse
// __Host- cookies that are not Secure.
func TestSessionCookieNameWithoutHostPrefix(t *testing.T) {
	for name, edit := range map[string]func(*config.Config){
		"secure, with a cookie domain": func(c *config.Config) {
			c.Listen.SecureCookies = true
			c.Sessions.CookieDomain = "test.example"
		},
		"plain HTTP": func(*config.Config) {},
	} {
		t.Run(name, func(t *testing.T) {
			s := servertest.Start(t, servertest.Options{InMemory: true, Config: edit})
			b, _ := register(t, s, "d@example.com")
			r := b.post("/account/login", map[string]string{"login": "d@example.com", "password": password})
			wantUser(t, r)
			c := setCookie(r, "latch_session")
			if c == nil {
				t.Fatalf("Set-Cookie %q, want latch_session", r.Header.Values("Set-Cookie"))
			}
			if c.Domain != s.Config.Sessions.CookieDomain || c.Secure != s.Config.Listen.SecureCookies {
				t.Errorf("cookie = %+v, want Domain %q, Secure %v", c, s.Config.Sessions.CookieDomain, s.Config.Listen.SecureCookies)
			}
			wantUser(t, newBrowser(t, s).do(http.MethodGet, "/account/session", nil, "Cookie", "latch_session="+c.Value))
		})
	}
}

// hsts is the Strict-Transport-Security value of a realm served over TLS.
const hsts = "max-age=31536000"

// When cookies are Secure the realm is served over TLS, and every answer of the public port
// says so (HSTS): after one visit a browser never again sends a request of the realm over
// plain HTTP, where an attacker on the network could read the password of a login form or
// answer in the server's name. Every answer: success, failure, refusal, preflight, not found,
// any dialect.
func TestHSTSWhenCookiesAreSecure(t *testing.T) {
	const origin = "https://app.test.example"
	s := servertest.Start(t, servertest.Options{InMemory: true, Config: func(c *config.Config) {
		c.Listen.SecureCookies = true
		c.AllowedOrigins = []string{origin}
		c.Protocols.BearerToken = &config.BearerToken{}
	}})
	b := newBrowser(t, s)
	creds := map[string]string{"login": "h@example.com", "password": password, "firstName": "H", "lastName": "S"}
	for name, r := range map[string]response{
		"register":            b.post("/account/register", creds),
		"failed login":        b.post("/account/login", map[string]string{"login": "h@example.com", "password": "wrong one"}),
		"session":             b.get("/account/session"),
		"preflight":           b.do(http.MethodOptions, "/account/login", nil, "Origin", origin, "Access-Control-Request-Method", "POST"),
		"cross-origin write":  b.do(http.MethodPost, "/account/logout", nil, "Origin", "https://evil.example"),
		"body too large":      b.post("/account/login", strings.Repeat("x", 70<<10)),
		"unknown path":        b.get("/nowhere"),
		"wrong method":        b.do(http.MethodDelete, "/account/login", nil),
		"another dialect":     b.post("/api/auth", map[string]string{"login": "h@example.com", "password": password}),
		"another dialect 401": b.get("/api/auth"),
	} {
		if got := r.Header.Values("Strict-Transport-Security"); len(got) != 1 || got[0] != hsts {
			t.Errorf("%s (%d): Strict-Transport-Security %q, want %q", name, r.StatusCode, got, hsts)
		}
	}

	// Over plain HTTP the realm says nothing of the kind (browsers ignore it there anyway, and
	// a realm that is not served over TLS must not pin browsers to HTTPS).
	plain := servertest.Start(t, servertest.Options{InMemory: true})
	if got := newBrowser(t, plain).get("/account/session").Header.Values("Strict-Transport-Security"); len(got) != 0 {
		t.Errorf("plain-HTTP realm: Strict-Transport-Security %q, want none", got)
	}
}
