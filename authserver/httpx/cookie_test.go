package httpx

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
)

func cookieConfig(secure bool, domain, sameSite string) *config.Config {
	c := &config.Config{Listen: config.Listen{SecureCookies: secure}}
	c.Sessions.CookieName, c.Sessions.CookieDomain, c.Sessions.CookieSameSite = "latch_session", domain, sameSite
	return c
}

// __Host- exactly where browsers accept it: Secure, no Domain. Never twice, never on a name
// that already carries a browser prefix.
func TestCookieName(t *testing.T) {
	for _, tc := range []struct {
		secure bool
		domain string
		scope  CookieScope
		name   string
		want   string
	}{
		{false, "", HostOnly, "latch_device", "latch_device"},
		{false, "", RealmDomain, "latch_session", "latch_session"},
		{true, "", HostOnly, "latch_device", "__Host-latch_device"},
		{true, "", RealmDomain, "latch_session", "__Host-latch_session"},
		// A domain cookie cannot be __Host-; a host-only one still is.
		{true, "example.com", RealmDomain, "latch_session", "latch_session"},
		{true, "example.com", HostOnly, "latch_device", "__Host-latch_device"},
		{true, "", RealmDomain, "__Host-sid", "__Host-sid"},
		{true, "", RealmDomain, "__host-sid", "__host-sid"},
		{true, "", RealmDomain, "__Secure-sid", "__Secure-sid"},
	} {
		c := NewCookies(cookieConfig(tc.secure, tc.domain, "Lax"))
		if got := c.Name(tc.name, tc.scope); got != tc.want {
			t.Errorf("secure=%v domain=%q scope=%d: Name(%q) = %q, want %q", tc.secure, tc.domain, tc.scope, tc.name, got, tc.want)
		}
	}
}

// Every cookie gets the realm's attributes; the lifetime is whole seconds, at least one, and
// a non-positive one deletes.
func TestCookieMake(t *testing.T) {
	c := NewCookies(cookieConfig(true, "example.com", "None"))
	for _, tc := range []struct {
		scope  CookieScope
		maxAge time.Duration
		name   string
		domain string
		secs   int
	}{
		{HostOnly, 180 * 24 * time.Hour, "__Host-d", "", 180 * 24 * 3600},
		{RealmDomain, 1500 * time.Millisecond, "d", "example.com", 1},
		{RealmDomain, time.Millisecond, "d", "example.com", 1},
		{HostOnly, 0, "__Host-d", "", -1},
		{RealmDomain, -time.Hour, "d", "example.com", -1},
	} {
		got := c.Make("d", "v", tc.maxAge, tc.scope)
		if got.Name != tc.name || got.Domain != tc.domain || got.MaxAge != tc.secs || got.Path != "/" ||
			!got.HttpOnly || !got.Secure || got.SameSite != http.SameSiteNoneMode || got.Value != "v" {
			t.Errorf("Make(scope %d, %s) = %+v, want name %s, domain %q, Max-Age %d", tc.scope, tc.maxAge, got, tc.name, tc.domain, tc.secs)
		}
		if err := got.Valid(); err != nil {
			t.Errorf("Make(scope %d, %s) is not a valid cookie: %v", tc.scope, tc.maxAge, err)
		}
	}
	for in, want := range map[string]http.SameSite{"Lax": http.SameSiteLaxMode, "Strict": http.SameSiteStrictMode, "None": http.SameSiteNoneMode} {
		if got := NewCookies(cookieConfig(false, "", in)).SameSite; got != want {
			t.Errorf("cookieSameSite %s: SameSite %v, want %v", in, got, want)
		}
	}
}

// Read looks only at the name being set, at most four of them, and returns the first valid.
func TestCookieRead(t *testing.T) {
	c := NewCookies(cookieConfig(true, "", "Lax"))
	valid := func(v string) bool { return strings.HasPrefix(v, "ok") }
	req := func(cookies ...string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", strings.Join(cookies, "; "))
		return r
	}
	for name, tc := range map[string]struct {
		r    *http.Request
		want string
	}{
		"prefixed":               {req("__Host-d=ok1"), "ok1"},
		"unprefixed is ignored":  {req("d=ok1"), ""},
		"first valid":            {req("__Host-d=bad", "d=ok0", "__Host-d=ok2"), "ok2"},
		"at most four are tried": {req("__Host-d=a", "__Host-d=b", "__Host-d=c", "__Host-d=e", "__Host-d=ok5"), ""},
		"none":                   {req(), ""},
	} {
		if got := c.Read(tc.r, "d", HostOnly, valid); got != tc.want {
			t.Errorf("%s: Read = %q, want %q", name, got, tc.want)
		}
	}
}

// The session cookie: Set for the session's remaining life (at least a second), Clear
// deleting it under the same name and domain, Token reading the set name.
func TestSessionCookie(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	sc := NewSessionCookie(cookieConfig(true, "", "Strict"), func() time.Time { return now })
	if sc.Name() != "__Host-latch_session" {
		t.Errorf("Name = %q", sc.Name())
	}
	for expires, want := range map[time.Time]int{now.Add(90*time.Minute + 500*time.Millisecond): 5400, now.Add(-time.Hour): 1} {
		w := httptest.NewRecorder()
		sc.Set(w, "tok", expires)
		got := (&http.Response{Header: w.Header()}).Cookies()
		if len(got) != 1 || got[0].Name != "__Host-latch_session" || got[0].Value != "tok" || got[0].MaxAge != want ||
			!got[0].Secure || !got[0].HttpOnly || got[0].SameSite != http.SameSiteStrictMode || got[0].Path != "/" || got[0].Domain != "" {
			t.Errorf("Set(expires in %s) = %q, want Max-Age %d", expires.Sub(now), w.Header().Values("Set-Cookie"), want)
		}
	}
	w := httptest.NewRecorder()
	sc.Clear(w)
	if got := w.Header().Get("Set-Cookie"); !strings.HasPrefix(got, "__Host-latch_session=;") || !strings.Contains(got, "Max-Age=0") {
		t.Errorf("Clear = %q", got)
	}
	tok := "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA." + strings.Repeat("A", 43)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Cookie", "latch_session="+tok+"; __Host-latch_session=garbage; __Host-latch_session="+tok)
	if got := sc.Token(r); got != tok {
		t.Errorf("Token = %q, want the prefixed cookie's token", got)
	}
}

// HSTS on every answer when the realm is served over TLS (handler's, error, panic), none
// otherwise.
func TestMiddlewareHSTS(t *testing.T) {
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for _, on := range []bool{true, false} {
		mw := &Middleware{Logger: logger, HSTS: on}
		for name, h := range map[string]http.HandlerFunc{
			"ok":    func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) },
			"error": func(w http.ResponseWriter, r *http.Request) { WriteError(w, r, http.StatusNotFound, "not found") },
			"panic": func(http.ResponseWriter, *http.Request) { panic("boom") },
		} {
			w := httptest.NewRecorder()
			mw.Wrap(h).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
			got := w.Header().Values("Strict-Transport-Security")
			if on && (len(got) != 1 || got[0] != HSTS) || !on && len(got) != 0 {
				t.Errorf("HSTS %v, %s: Strict-Transport-Security %q", on, name, got)
			}
		}
	}
	if HSTS != "max-age=31536000" {
		t.Errorf("HSTS = %q, want one year, without includeSubDomains or preload", HSTS)
	}
}
