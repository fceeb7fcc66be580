package account_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
)

var postRoutes = []string{"/account/login", "/account/register", "/account/forgot", "/account/reset", "/account/confirm"}

// Malformed bodies are 400 Error on every route that reads one, never 500.
func TestMalformedBodies(t *testing.T) {
	s := servertest.Start(t, servertest.Options{InMemory: true})
	b := newBrowser(t, s)
	bodies := map[string]string{
		"empty":            "",
		"truncated":        `{"login":"a@example.com"`,
		"array":            `[]`,
		"string":           `"login"`,
		"null":             `null`,
		"number":           `42`,
		"wrong type":       `{"login":1,"password":2,"id":3,"token":4}`,
		"object field":     `{"login":{"a":1},"id":{"a":1}}`,
		"two objects":      `{} {}`,
		"trailing garbage": `{}garbage`,
		"invalid UTF-8":    "{\"login\":\"\xff\xfe\",\"id\":\"\xff\"}",
		"bad escape":       `{"login":"\x"}`,
		"single quotes":    `{'login':'a'}`,
	}
	for _, route := range postRoutes {
		for name, body := range bodies {
			t.Run(strings.TrimPrefix(route, "/account/")+"/"+name, func(t *testing.T) {
				msg := wantError(t, b.post(route, []byte(body)), http.StatusBadRequest)
				if strings.Contains(msg, "\xff") || (len(body) > 4 && strings.Contains(msg, body)) {
					t.Errorf("error message %q echoes the body", msg)
				}
			})
		}
	}
	// Unknown fields are allowed.
	wantError(t, b.post("/account/login", `{"login":"x@example.com","password":"y","remember":true,"extra":[1,{"a":null}]}`), http.StatusUnauthorized)
}

// Bodies over 64 KiB are refused with 413 Error, with or without a Content-Length.
func TestOversizeBody(t *testing.T) {
	s := servertest.Start(t, servertest.Options{InMemory: true})
	b := newBrowser(t, s)
	const limit = 64 << 10
	// Exactly the limit is accepted: a valid login body padded with whitespace.
	body := `{"login":"x@example.com","password":"not it"}`
	exact := body + strings.Repeat(" ", limit-len(body))
	wantError(t, b.post("/account/login", exact), http.StatusUnauthorized)

	over := exact + " "
	for _, route := range postRoutes {
		t.Run(strings.TrimPrefix(route, "/account/"), func(t *testing.T) {
			wantError(t, b.post(route, over), http.StatusRequestEntityTooLarge)
			// Chunked: the length is only known by reading, and the read stops at the limit.
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.PublicURL+route, io.MultiReader(strings.NewReader(over)))
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = -1
			resp, err := b.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantError(t, response{Response: resp, Body: data}, http.StatusRequestEntityTooLarge)
		})
	}
}

// A known path with the wrong method is 405 Error with an Allow header.
func TestWrongMethod(t *testing.T) {
	s := servertest.Start(t, servertest.Options{InMemory: true})
	b := newBrowser(t, s)
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodPost, "/account/session", "GET"},
		{http.MethodDelete, "/account/session", "GET"},
		{http.MethodGet, "/account/login", "POST"},
		{http.MethodPut, "/account/login", "POST"},
		{http.MethodGet, "/account/logout", "POST"},
		{http.MethodDelete, "/account/logout", "POST"},
		{http.MethodGet, "/account/register", "POST"},
		{http.MethodGet, "/account/forgot", "POST"},
		{http.MethodPatch, "/account/reset", "POST"},
		{http.MethodGet, "/account/confirm", "POST"},
		{http.MethodOptions, "/account/login", "POST"}, // not a preflight: no Access-Control-Request-Method
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := b.do(tc.method, tc.path, nil)
			wantError(t, r, http.StatusMethodNotAllowed)
			if got := r.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
		})
	}
}

// An unknown path under the prefix is 404 Error.
func TestUnknownPath(t *testing.T) {
	s := servertest.Start(t, servertest.Options{InMemory: true})
	b := newBrowser(t, s)
	for _, p := range []string{"/account", "/account/", "/account/nope", "/account/login/", "/account/LOGIN", "/account/session/x", "/account/%2e%2e/login"} {
		t.Run(p, func(t *testing.T) {
			wantError(t, b.get(p), http.StatusNotFound)
			wantError(t, b.post(p, "{}"), http.StatusNotFound)
		})
	}
	// Outside every prefix there is no dialect, but still no HTML and no redirect.
	r := b.get("/elsewhere")
	if r.StatusCode != http.StatusNotFound || !json.Valid(r.Body) {
		t.Errorf("GET /elsewhere = %d %q, want 404 JSON", r.StatusCode, r.Body)
	}
}

// A client too slow to send its body gets 408 Error when listen.readTimeout runs out.
func TestSlowClient(t *testing.T) {
	s := servertest.Start(t, servertest.Options{InMemory: true, Config: func(c *config.Config) {
		c.Listen.ReadTimeout = config.D(time.Second)
	}})
	u, err := url.Parse(s.PublicURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	_, err = io.WriteString(conn, "POST /account/login HTTP/1.1\r\nHost: "+u.Host+"\r\n"+
		"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"+`{"login":"slow@example.com",`)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no response to a stalled body: %v", err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if elapsed := time.Since(start); elapsed < 900*time.Millisecond || elapsed > 5*time.Second {
		t.Errorf("408 after %s, want about the 1s read timeout", elapsed)
	}
	req, _ := http.NewRequest(http.MethodPost, s.PublicURL+"/account/login", nil)
	resp.Request = req
	wantError(t, response{Response: resp, Body: data}, http.StatusRequestTimeout)
}

// With Redis down every route that needs it answers 500 Error, never a success, and nothing
// is lost: after Redis is back the same session works.
func TestStoreDown(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	b, u := register(t, s, "outage@example.com")
	admin := func() int {
		resp, err := http.Get(s.AdminURL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	s.Redis.Stop()
	if code := admin(); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Redis down = %d, want 503", code)
	}
	anon := newBrowser(t, s)
	wantError(t, b.get("/account/session"), http.StatusInternalServerError)
	wantError(t, anon.post("/account/login", map[string]string{"login": "outage@example.com", "password": password}), http.StatusInternalServerError)
	wantError(t, anon.post("/account/login", map[string]string{"login": "outage@example.com", "password": "wrong"}), http.StatusInternalServerError)
	wantError(t, anon.post("/account/register", map[string]string{"login": "new@example.com", "password": password}), http.StatusInternalServerError)
	wantError(t, anon.post("/account/forgot", map[string]string{"login": "outage@example.com"}), http.StatusInternalServerError)
	wantError(t, anon.post("/account/reset", map[string]string{"id": u.ID, "token": strings.Repeat("A", 43), "password": "whatever it is"}), http.StatusInternalServerError)
	wantError(t, anon.post("/account/confirm", map[string]string{"id": u.ID, "token": strings.Repeat("A", 43)}), http.StatusInternalServerError)
	r := b.post("/account/logout", nil)
	wantError(t, r, http.StatusInternalServerError)
	if len(r.Cookies()) != 0 {
		t.Errorf("a failed logout touched the cookie: %q", r.Header.Values("Set-Cookie"))
	}

	s.Redis.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for admin() != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not recover after Redis restarted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := wantUser(t, b.get("/account/session")); got != u {
		t.Errorf("session after the outage = %+v, want %+v", got, u)
	}
	// The failed attempts during the outage were not counted against the login.
	wantUser(t, anon.post("/account/login", map[string]string{"login": "outage@example.com", "password": password}))
}
