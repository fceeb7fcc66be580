package bearertoken_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/authserver/store"
)

// Malformed bodies of POST /auth and POST /users/activate are 400 INVALID_REQUEST in the
// envelope, never a 500, and the message does not echo the body.
func TestMalformedBodies(t *testing.T) {
	s := start(t)
	c := newClient(t, s)
	bodies := map[string]string{
		"empty":            "",
		"truncated":        `{"login":"a@example.com"`,
		"array":            `[]`,
		"string":           `"login"`,
		"null":             `null`,
		"number":           `42`,
		"wrong type":       `{"login":1,"password":2,"activation_token":3}`,
		"object field":     `{"login":{"a":1},"activation_token":{"a":1}}`,
		"two objects":      `{} {}`,
		"trailing garbage": `{}garbage`,
		"invalid UTF-8":    "{\"login\":\"\xff\xfe\",\"activation_token\":\"\xff\"}",
		"bad escape":       `{"login":"\x"}`,
		"single quotes":    `{'login':'a'}`,
		"content a string": `{"content":"abc"}`,
		"content wrong":    `{"content":{"activation_token":7}}`,
	}
	for _, route := range []string{"/api/auth", "/api/users/activate"} {
		for name, body := range bodies {
			if route == "/api/auth" && strings.HasPrefix(name, "content") {
				continue // unknown fields of a login body are ignored
			}
			t.Run(route+"/"+name, func(t *testing.T) {
				e := wantStatus(t, c.post(route, []byte(body)), http.StatusBadRequest, "INVALID_REQUEST")
				if strings.Contains(e.Status.Message, "\xff") || (len(body) > 4 && strings.Contains(e.Status.Message, body)) {
					t.Errorf("message %q echoes the body", e.Status.Message)
				}
			})
		}
	}
	// Two different tokens (top level and content) are ambiguous.
	wantStatus(t, c.post("/api/users/activate", map[string]any{
		"activation_token": "a", "content": map[string]string{"activation_token": "b"},
	}), http.StatusBadRequest, "INVALID_REQUEST")
	// Unknown fields are allowed.
	wantStatus(t, c.post("/api/auth", `{"login":"x@example.com","password":"y","remember":true,"extra":[1,{"a":null}]}`),
		http.StatusUnauthorized, "INVALID_CREDENTIALS")
}

// Activation failures are 400 INVALID_TOKEN: no token, a token of the wrong shape, an unknown
// or spent one, one for another user.
func TestActivationFailures(t *testing.T) {
	s := start(t)
	uid := register(t, s, "someone@example.com")
	c := newClient(t, s)
	secret := strings.Repeat("A", 43)
	for name, body := range map[string]any{
		"no token":          map[string]string{},
		"empty token":       map[string]string{"activation_token": ""},
		"empty content":     map[string]any{"content": map[string]string{}},
		"null token":        `{"activation_token":null}`,
		"seed's example":    map[string]string{"activation_token": "XdfgRTf645D.gfwI/*dde024"},
		"no dot":            map[string]string{"activation_token": uid + secret},
		"three parts":       map[string]string{"activation_token": uid + "." + uid + "." + secret},
		"unknown secret":    map[string]string{"activation_token": uid + "." + secret},
		"unknown user":      map[string]any{"content": map[string]string{"activation_token": "BBBBBBBBBBBBBBBBBBBBBA." + secret}},
		"non-canonical":     map[string]string{"activation_token": uid + "." + strings.Repeat("A", 42) + "B"},
		"huge token":        map[string]string{"activation_token": strings.Repeat("x", 60000)},
		"same twice, wrong": map[string]any{"activation_token": uid + "." + secret, "content": map[string]string{"activation_token": uid + "." + secret}},
	} {
		t.Run(name, func(t *testing.T) {
			e := wantStatus(t, c.post("/api/users/activate", body), http.StatusBadRequest, "INVALID_TOKEN")
			if e.Status.Message != "Your token is not valid" {
				t.Errorf("message = %q, want the seed's", e.Status.Message)
			}
		})
	}
}

// Every failed login gets the same 401 INVALID_CREDENTIALS: status, body and headers (but
// Date and X-Request-Id), whatever the cause: a wrong password, an unknown login, a disabled
// or pending account (the realm requires confirmation), a locked address, a missing
// field. All but the locked one and the missing fields (which name no account to check) take
// about the same time; a locked attempt answers at once, spending no hash.
func TestFailedLoginsAreIndistinguishable(t *testing.T) {
	s := start(t, servertest.RealHashing)
	register(t, s, "victim@example.com")
	register(t, s, "disabled@example.com")
	s.SetUserStatus(t, "disabled@example.com", store.StatusDisabled)
	register(t, s, "pending@example.com")
	s.SetUserStatus(t, "pending@example.com", store.StatusPending)
	s = s.SiblingWith(t, func(c *config.Config) { c.Registration.EmailConfirmation = config.ConfirmationRequired })
	c := newClient(t, s)
	attempt := func(body map[string]string) func(...string) response {
		return func(header ...string) response { return c.do(http.MethodPost, "/api/auth", body, header...) }
	}
	login := func(login, pw string) func(...string) response {
		return attempt(map[string]string{"login": login, "password": pw})
	}
	servertest.LockAddress(t, func(l string, header ...string) response { return login(l, password)(header...) })
	e := wantStatus(t, login("victim@example.com", "wrong "+password)(), http.StatusUnauthorized, "INVALID_CREDENTIALS")
	if e.Status.Message != "Invalid credentials (login, password)" {
		t.Errorf("message = %q, want the seed's", e.Status.Message)
	}
	servertest.CheckFailedLogins(t,
		servertest.FailedLogin{Name: "wrong password", Attempt: login("victim@example.com", "wrong "+password)},
		servertest.FailedLogin{Name: "unknown login", Attempt: login("ghost@example.com", password)},
		servertest.FailedLogin{Name: "disabled account", Attempt: login("disabled@example.com", password)},
		servertest.FailedLogin{Name: "pending account", Attempt: login("pending@example.com", password)},
		servertest.FailedLogin{Name: "locked address", Untimed: true, Attempt: func(...string) response {
			return login("victim@example.com", password)(servertest.FromLockedAddress...)
		}},
		servertest.FailedLogin{Name: "empty login", Untimed: true, Attempt: login("", password)},
		servertest.FailedLogin{Name: "no password", Untimed: true, Attempt: attempt(map[string]string{"login": "victim@example.com"})},
	)
}

// GET and DELETE /auth refuse every credential that is not a live token of this dialect or a
// registered device token with 401 INVALID_TOKEN and the Bearer challenge.
func TestInvalidBearerCredentials(t *testing.T) {
	s := start(t)
	register(t, s, "holder@example.com")
	c := newClient(t, s)
	good := login(t, c, "holder@example.com").Token
	// A live session of another dialect (an account cookie) has the same shape.
	var cookie string
	r := c.post("/account/login", map[string]string{"login": "holder@example.com", "password": password})
	for _, ck := range r.Cookies() {
		if ck.Name == "latch_session" {
			cookie = ck.Value
		}
	}
	if cookie == "" {
		t.Fatal("no account session")
	}
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", 43)

	cases := map[string][]string{
		"no header":               nil,
		"empty":                   {"Authorization", ""},
		"scheme only":             {"Authorization", "Bearer"},
		"scheme and space":        {"Authorization", "Bearer "},
		"basic":                   {"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b"))},
		"token without scheme":    {"Authorization", good},
		"garbage":                 {"Authorization", "Bearer garbage"},
		"tampered secret":         {"Authorization", "Bearer " + tampered},
		"trailing junk":           {"Authorization", "Bearer " + good + " x"},
		"two headers":             {"Authorization", "Bearer " + good, "Authorization", "Bearer " + good},
		"oversized":               {"Authorization", "Bearer " + strings.Repeat("A", 10000)},
		"other dialect's session": {"Authorization", "Bearer " + cookie},
		"four parts":              {"Authorization", "Bearer " + good + ".x"},
		"dotted device client":    {"Authorization", "Bearer a.b." + strings.Repeat("A", 43)},
	}
	for name, header := range cases {
		for _, method := range []string{http.MethodGet, http.MethodDelete} {
			t.Run(name+"/"+method, func(t *testing.T) {
				r := c.do(method, "/api/auth", nil, header...)
				wantStatus(t, r, http.StatusUnauthorized, "INVALID_TOKEN")
				if h := r.Header.Get("WWW-Authenticate"); h != `Bearer error="invalid_token"` {
					t.Errorf("WWW-Authenticate = %q", h)
				}
			})
		}
	}
	// None of it ended anything.
	introspect(t, c, good)
	if r := c.do(http.MethodPost, "/account/logout", nil, "Cookie", "latch_session="+cookie); r.StatusCode != http.StatusNoContent {
		t.Errorf("the account session = %d after the refusals", r.StatusCode)
	}
}

// Bodies over 64 KiB are 413 REQUEST_TOO_LARGE, with or without a Content-Length.
func TestOversizeBody(t *testing.T) {
	s := start(t)
	c := newClient(t, s)
	const limit = 64 << 10
	body := `{"login":"x@example.com","password":"not it"}`
	exact := body + strings.Repeat(" ", limit-len(body))
	wantStatus(t, c.post("/api/auth", exact), http.StatusUnauthorized, "INVALID_CREDENTIALS")
	over := exact + " "
	for _, route := range []string{"/api/auth", "/api/users/activate"} {
		t.Run(route, func(t *testing.T) {
			wantStatus(t, c.post(route, over), http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE")
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.PublicURL+route, io.MultiReader(strings.NewReader(over)))
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = -1 // chunked: the limit is found by reading
			resp, err := c.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantStatus(t, response{Response: resp, Body: data}, http.StatusRequestEntityTooLarge, "REQUEST_TOO_LARGE")
		})
	}
}

// A known path with the wrong method is 405 METHOD_NOT_ALLOWED with Allow; an unknown path
// under the prefix is 404 NOT_FOUND; both in the envelope.
func TestWrongMethodAndUnknownPath(t *testing.T) {
	s := start(t)
	c := newClient(t, s)
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodPut, "/api/auth", "DELETE, GET, POST"},
		{http.MethodPatch, "/api/auth", "DELETE, GET, POST"},
		{http.MethodGet, "/api/users/activate", "POST"},
		{http.MethodDelete, "/api/users/activate", "POST"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := c.do(tc.method, tc.path, nil)
			wantStatus(t, r, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
			if got := r.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
		})
	}
	for _, p := range []string{"/api", "/api/", "/api/nope", "/api/auth/", "/api/AUTH", "/api/users", "/api/users/activate/x"} {
		t.Run(p, func(t *testing.T) {
			wantStatus(t, c.do(http.MethodGet, p, nil), http.StatusNotFound, "NOT_FOUND")
			wantStatus(t, c.post(p, "{}"), http.StatusNotFound, "NOT_FOUND")
		})
	}
}

// CORS from the realm's origins exposes the challenge header; unsafe requests from other
// origins are 403 in the envelope.
func TestCORS(t *testing.T) {
	const origin = "https://app.test.example"
	s := start(t, func(c *config.Config) { c.AllowedOrigins = []string{origin} })
	register(t, s, "cors@example.com")
	c := newClient(t, s)
	r := c.do(http.MethodOptions, "/api/auth", nil, "Origin", origin, "Access-Control-Request-Method", "DELETE",
		"Access-Control-Request-Headers", "authorization")
	if r.StatusCode != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != origin ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "DELETE") {
		t.Errorf("preflight = %d %v", r.StatusCode, r.Header)
	}
	creds := map[string]string{"login": "cors@example.com", "password": password}
	r = c.do(http.MethodPost, "/api/auth", creds, "Origin", origin)
	wantOK(t, r, &issued{})
	if got := r.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "WWW-Authenticate") {
		t.Errorf("Access-Control-Expose-Headers = %q", got)
	}
	wantStatus(t, c.do(http.MethodPost, "/api/auth", creds, "Origin", "https://evil.example"), http.StatusForbidden, "FORBIDDEN")
}

// jsonFields returns the top-level fields of a JSON object.
func jsonFields(t *testing.T, b []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return m
}
