package devisetoken_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/servertest"
)

// bodyRoutes are the routes that read a body, with the method each takes.
var bodyRoutes = []struct{ method, path string }{
	{http.MethodPost, "/auth"},
	{http.MethodPost, "/auth/sign_in"},
	{http.MethodDelete, "/auth/sign_out"},
	{http.MethodPost, "/auth/password"},
	{http.MethodPut, "/auth/password"},
	{http.MethodPatch, "/auth/password"},
}

// Malformed JSON and form bodies are 400 in devise's error shape on every route that reads
// a body, never a 500, and the message never echoes the body.
func TestMalformedBodies(t *testing.T) {
	s := start(t, servertest.Options{InMemory: true})
	c := newClient(t, s)
	bodies := map[string]string{
		"truncated":        `{"email":"a@example.com"`,
		"array":            `[]`,
		"string":           `"email"`,
		"null":             `null`,
		"number":           `42`,
		"wrong type":       `{"email":1,"password":2,"access-token":3}`,
		"object field":     `{"email":{"a":1},"client":{"a":1}}`,
		"two objects":      `{} {}`,
		"trailing garbage": `{}garbage`,
		"invalid UTF-8":    "{\"email\":\"\xff\xfe\"}",
		"bad escape":       `{"email":"\x"}`,
		"single quotes":    `{'email':'a'}`,
	}
	for _, rt := range bodyRoutes {
		for name, body := range bodies {
			t.Run(rt.method+" "+rt.path+"/"+name, func(t *testing.T) {
				msg := wantError(t, c.do(rt.method, rt.path, body), http.StatusBadRequest, "")
				if strings.Contains(msg, "\xff") || (len(body) > 4 && strings.Contains(msg, body)) {
					t.Errorf("error message %q echoes the body", msg)
				}
			})
		}
		t.Run(rt.method+" "+rt.path+"/bad form", func(t *testing.T) {
			for _, form := range []string{"email=%zz", "a=1;b=2", "email=%ff", strings.Repeat("a=1&", 64) + "a=1"} {
				// A reader goes as it is: a malformed form no url.Values encodes to.
				wantError(t, servertest.Do(t, c.hc, rt.method, s.PublicURL+rt.path, strings.NewReader(form), "Content-Type", "application/x-www-form-urlencoded"),
					http.StatusBadRequest, "")
			}
		})
	}
	// An empty body is malformed where a body is required; sign_out takes its credentials
	// from anywhere and needs none.
	for _, rt := range bodyRoutes {
		r := c.do(rt.method, rt.path, "")
		if rt.path == "/auth/sign_out" {
			wantError(t, r, http.StatusNotFound, msgNotSignedIn)
			continue
		}
		wantError(t, r, http.StatusBadRequest, "")
	}
	// Unknown fields are allowed (devise's clients send extras).
	wantError(t, c.post("/auth/sign_in", `{"email":"x@example.com","password":"y","config_name":"default","extra":[1,{"a":null}]}`),
		http.StatusUnauthorized, msgBadCredentials)
}

// Bodies over 64 KiB are refused with 413 before parsing, declared or chunked; exactly
// 64 KiB is accepted.
func TestOversizeBody(t *testing.T) {
	s := start(t, servertest.Options{InMemory: true})
	c := newClient(t, s)
	const limit = 64 << 10
	body := `{"email":"x@example.com","password":"not it"}`
	exact := body + strings.Repeat(" ", limit-len(body))
	wantError(t, c.post("/auth/sign_in", exact), http.StatusUnauthorized, msgBadCredentials)

	over := exact + " "
	for _, rt := range bodyRoutes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			wantError(t, c.do(rt.method, rt.path, over), http.StatusRequestEntityTooLarge, "")
			// Chunked: a reader of unknown length (io.MultiReader hides the strings.Reader's)
			// goes without a Content-Length, so the length is only known by reading.
			wantError(t, servertest.Do(t, c.hc, rt.method, s.PublicURL+rt.path, io.MultiReader(strings.NewReader(over))), http.StatusRequestEntityTooLarge, "")
		})
	}
}

// A known path with the wrong method is 405 in devise's shape with an Allow header; an
// unknown path under the prefix is 404 in devise's shape.
func TestWrongMethodAndUnknownPath(t *testing.T) {
	s := start(t, servertest.Options{InMemory: true})
	c := newClient(t, s)
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodGet, "/auth", "POST"},
		{http.MethodPut, "/auth", "POST"},
		{http.MethodDelete, "/auth", "POST"},
		{http.MethodGet, "/auth/sign_in", "POST"},
		{http.MethodPost, "/auth/validate_token", "GET"},
		{http.MethodGet, "/auth/sign_out", "DELETE"},
		{http.MethodPost, "/auth/sign_out", "DELETE"},
		{http.MethodGet, "/auth/password", "PATCH, POST, PUT"},
		{http.MethodDelete, "/auth/password", "PATCH, POST, PUT"},
		{http.MethodPost, "/auth/password/edit", "GET"},
		{http.MethodOptions, "/auth/sign_in", "POST"}, // not a preflight: no Access-Control-Request-Method
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := c.do(tc.method, tc.path, nil)
			wantError(t, r, http.StatusMethodNotAllowed, "method not allowed")
			if got := r.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
		})
	}
	for _, p := range []string{"/auth/", "/auth/nope", "/auth/sign_in/", "/auth/SIGN_IN", "/auth/validate_token/x", "/auth/password/edit/", "/auth/%2e%2e/sign_in"} {
		t.Run("404 "+p, func(t *testing.T) {
			wantError(t, c.get(p), http.StatusNotFound, "not found")
			wantError(t, c.post(p, "{}"), http.StatusNotFound, "not found")
		})
	}
}

// CORS: a preflight from the realm's origin is granted every method the dialect routes and
// the headers devise's clients send (If-Modified-Since for j-toker); answers expose the five
// auth headers; other origins get no grant and their unsafe requests are refused.
func TestCORS(t *testing.T) {
	s := start(t, servertest.Options{InMemory: true})
	c := newClient(t, s)
	_, cr := register(t, c, "cors@example.com")

	r := c.do(http.MethodOptions, "/auth/validate_token", nil, "Origin", origin, "Access-Control-Request-Method", "GET",
		"Access-Control-Request-Headers", "access-token,client,uid,if-modified-since")
	if r.StatusCode != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != origin ||
		r.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("preflight = %d %v", r.StatusCode, r.Header)
	}
	allowed := strings.ToLower(r.Header.Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"access-token", "client", "uid", "token-type", "expiry", "authorization", "content-type", "if-modified-since"} {
		if !strings.Contains(allowed, h) {
			t.Errorf("Access-Control-Allow-Headers %q lacks %s", allowed, h)
		}
	}
	methods := r.Header.Get("Access-Control-Allow-Methods")
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if !strings.Contains(methods, m) {
			t.Errorf("Access-Control-Allow-Methods %q lacks %s", methods, m)
		}
	}
	r = c.do(http.MethodOptions, "/auth/sign_in", nil, "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	if r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Access-Control-Allow-Methods") != "" {
		t.Errorf("preflight from another origin granted: %v", r.Header)
	}

	r = c.get("/auth/validate_token", append(cr.headers(), "Origin", origin)...)
	wantValid(t, r)
	if got := r.Header.Get("Access-Control-Expose-Headers"); got != "access-token, token-type, client, expiry, uid" {
		t.Errorf("Access-Control-Expose-Headers = %q, want the five auth headers", got)
	}
	if r.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("Access-Control-Allow-Origin = %q", r.Header.Get("Access-Control-Allow-Origin"))
	}

	// Sign-in CSRF and forced sign-out from a foreign site are refused.
	wantError(t, c.post("/auth/sign_in", map[string]string{"email": "cors@example.com", "password": password}, "Origin", "https://evil.example"),
		http.StatusForbidden, "")
	wantError(t, c.do(http.MethodDelete, "/auth/sign_out", nil, append(cr.headers(), "Origin", "https://evil.example")...),
		http.StatusForbidden, "")
	wantValid(t, c.validate(cr))
}

// With Redis down every route answers 500 in devise's shape: never a success, never a
// deleted session. After Redis is back the same credentials work.
func TestStoreDown(t *testing.T) {
	s := start(t, servertest.Options{})
	c := newClient(t, s)
	_, cr := register(t, c, "outage@example.com")
	wantStatus(t, c.post("/auth/password", map[string]string{"email": "outage@example.com"}), http.StatusOK)
	uid, tok := s.Mailbox.Wait(t, "outage@example.com", 1).Link(t)

	s.Redis.Stop()
	const msg = "Internal server error."
	r := c.validate(cr)
	wantError(t, r, http.StatusInternalServerError, msg)
	wantNoCreds(t, r)
	wantError(t, c.do(http.MethodDelete, "/auth/sign_out", nil, cr.headers()...), http.StatusInternalServerError, msg)
	wantError(t, c.post("/auth/sign_in", map[string]string{"email": "outage@example.com", "password": password}), http.StatusInternalServerError, msg)
	wantError(t, c.post("/auth/sign_in", map[string]string{"email": "outage@example.com", "password": "wrong"}), http.StatusInternalServerError, msg)
	wantError(t, c.post("/auth", map[string]string{"email": "new@example.com", "password": password}), http.StatusInternalServerError, msg)
	wantError(t, c.post("/auth/password", map[string]string{"email": "outage@example.com"}), http.StatusInternalServerError, msg)
	wantError(t, c.get("/auth/password/edit?uid="+uid+"&t="+tok+"&redirect_url="+url.QueryEscape(origin)), http.StatusInternalServerError, msg)
	wantError(t, c.do(http.MethodPut, "/auth/password", map[string]string{"password": newPassword, "password_confirmation": newPassword}, cr.headers()...),
		http.StatusInternalServerError, msg)

	s.Redis.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(s.AdminURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not recover after Redis restarted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The session, the password and the reset token all survived.
	wantValid(t, c.validate(cr))
	wantSignedIn(t, c.post("/auth/sign_in", map[string]string{"email": "outage@example.com", "password": password}))
	wantRedirect(t, c.get("/auth/password/edit?uid="+uid+"&t="+tok+"&redirect_url="+url.QueryEscape(origin)), origin+"?")
}
