package keytoken_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/authserver/store"
)

// The failure rows of POST users: 400 malformed body or field, 401 unknown client, 409 email
// taken (in any case), 422 weak password; and 403 when registration is closed.
func TestRegisterFailures(t *testing.T) {
	s := start(t, "/")
	c := newClient(t, s)
	c.register("web", "taken@example.com")
	post := func(body any) response { return c.do(http.MethodPost, "/users", body) }
	for name, tc := range map[string]struct {
		body   map[string]string
		status int
	}{
		"no email":        {map[string]string{"client": "web", "password": password}, http.StatusBadRequest},
		"not an address":  {map[string]string{"client": "web", "email": "ada", "password": password}, http.StatusBadRequest},
		"display name":    {map[string]string{"client": "web", "email": "Ada <a@example.com>", "password": password}, http.StatusBadRequest},
		"control in name": {map[string]string{"client": "web", "email": "n@example.com", "password": password, "firstName": "a\x01"}, http.StatusBadRequest},
		"no client":       {map[string]string{"email": "n@example.com", "password": password}, http.StatusUnauthorized},
		"taken":           {map[string]string{"client": "web", "email": "taken@example.com", "password": password}, http.StatusConflict},
		"taken, case":     {map[string]string{"client": "web", "email": " TAKEN@Example.com ", "password": password}, http.StatusConflict},
		"weak password":   {map[string]string{"client": "web", "email": "weak@example.com", "password": "Xq7zR"}, http.StatusUnprocessableEntity},
		"no password":     {map[string]string{"client": "web", "email": "weak@example.com"}, http.StatusUnprocessableEntity},
		"long password":   {map[string]string{"client": "web", "email": "weak@example.com", "password": strings.Repeat("p", 300)}, http.StatusUnprocessableEntity},
	} {
		t.Run(name, func(t *testing.T) {
			msg := wantError(t, post(tc.body), tc.status)
			if pw := tc.body["password"]; len(pw) > 4 && strings.Contains(msg, pw) {
				t.Errorf("message %q holds the password", msg)
			}
		})
	}
	// A role cannot be chosen at registration.
	cr := wantCreds(t, post(map[string]string{"client": "web", "email": "role@example.com", "password": password, "role": "admin"}), http.StatusCreated)
	if cr.Role != "user" {
		t.Errorf("role = %q, want user", cr.Role)
	}

	closed := start(t, "/", func(c *config.Config) { c.Registration.Closed = true })
	wantError(t, newClient(t, closed).do(http.MethodPost, "/users", map[string]string{"client": "web", "email": "n@example.com", "password": password}), http.StatusForbidden)
}

// Every failed login is the same 401: status, body and headers (but Date and X-Request-Id),
// whatever the cause: a wrong password, an unknown login, a disabled account, a locked address,
// a missing field. All but the locked one and the missing fields (which name no account to
// check) take about the same time; a locked attempt answers at once, spending no hash. A
// pending account is refused the same way once the realm requires confirmation (the attack:
// an account registered with someone else's address, never confirmed, signing in).
func TestFailedLoginsAreIndistinguishable(t *testing.T) {
	s := start(t, "/", servertest.RealHashing)
	newClient(t, s).register("web", "victim@example.com")
	newClient(t, s).register("web", "disabled@example.com")
	s.SetUserStatus(t, "disabled@example.com", store.StatusDisabled)
	newClient(t, s).register("web", "pending@example.com")
	s.SetUserStatus(t, "pending@example.com", store.StatusPending)
	s = s.SiblingWith(t, func(c *config.Config) { c.Registration.EmailConfirmation = config.ConfirmationRequired })
	c := newClient(t, s)
	attempt := func(body map[string]string) func(...string) response {
		return func(header ...string) response { return c.do(http.MethodPost, "/users/token", body, header...) }
	}
	login := func(email, pw string) func(...string) response {
		return attempt(map[string]string{"client": "web", "email": email, "password": pw})
	}
	servertest.LockAddress(t, func(l string, header ...string) response { return login(l, password)(header...) })
	wantError(t, login("victim@example.com", "wrong "+password)(), http.StatusUnauthorized)
	servertest.CheckFailedLogins(t,
		servertest.FailedLogin{Name: "wrong password", Attempt: login("victim@example.com", "wrong "+password)},
		servertest.FailedLogin{Name: "unknown login", Attempt: login("ghost@example.com", password)},
		servertest.FailedLogin{Name: "disabled account", Attempt: login("disabled@example.com", password)},
		servertest.FailedLogin{Name: "pending account", Attempt: login("pending@example.com", password)},
		servertest.FailedLogin{Name: "locked address", Untimed: true, Attempt: func(...string) response {
			return login("victim@example.com", password)(servertest.FromLockedAddress...)
		}},
		servertest.FailedLogin{Name: "no email", Untimed: true, Attempt: attempt(map[string]string{"client": "web", "password": password})},
		servertest.FailedLogin{Name: "no password", Untimed: true, Attempt: attempt(map[string]string{"client": "web", "email": "victim@example.com"})},
	)
}

// Refresh failures are 401 and spend nothing: a malformed or unknown key, a wrong refresh
// token, the access token in its place, another dialect's session.
func TestRefreshFailures(t *testing.T) {
	s := start(t, "/")
	c := newClient(t, s)
	a := c.register("web", "rf@example.com")
	uid := a.Key[:strings.IndexByte(a.Key, '.')]
	// A live session of the account dialect, with the same shape.
	r := c.raw(http.MethodPost, "/account/login", map[string]string{"login": "rf@example.com", "password": password})
	var cookie string
	for _, ck := range r.Cookies() {
		if ck.Name == "latch_session" {
			cookie = ck.Value
		}
	}
	if cookie == "" {
		t.Fatalf("no account session: %d %s", r.StatusCode, r.Body)
	}
	accountKey := cookie[:strings.LastIndexByte(cookie, '.')]
	for name, body := range map[string]map[string]string{
		"no key":            {"client": "web", "refresh": a.Refresh},
		"malformed key":     {"client": "web", "key": "x.y", "refresh": a.Refresh},
		"three-part key":    {"client": "web", "key": a.Key + "." + a.Token, "refresh": a.Refresh},
		"unknown session":   {"client": "web", "key": uid + ".BBBBBBBBBBBBBBBBBBBBBA", "refresh": a.Refresh},
		"wrong refresh":     {"client": "web", "key": a.Key, "refresh": strings.Repeat("A", 43)},
		"access token":      {"client": "web", "key": a.Key, "refresh": a.Token},
		"no refresh":        {"client": "web", "key": a.Key},
		"account's session": {"client": "web", "key": accountKey, "refresh": a.Refresh},
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, c.do(http.MethodPost, "/users/token/refresh", body), http.StatusUnauthorized)
		})
	}
	wantRefreshed(t, c.refresh("web", a.Key, a.Refresh))
}

// Basic credentials that are not a live token of this dialect are 401, without a challenge
// that would make a browser prompt.
func TestInvalidBasicCredentials(t *testing.T) {
	s := start(t, "/")
	c := newClient(t, s)
	a := c.register("web", "basic@example.com")
	r := c.raw(http.MethodPost, "/account/login", map[string]string{"login": "basic@example.com", "password": password})
	var cookie string
	for _, ck := range r.Cookies() {
		if ck.Name == "latch_session" {
			cookie = ck.Value
		}
	}
	dot := strings.LastIndexByte(cookie, '.')
	enc := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
	cases := map[string][]string{
		"no header":          nil,
		"bearer":             {"Authorization", "Bearer " + a.Key + "." + a.Token},
		"scheme only":        {"Authorization", "Basic"},
		"not base64":         {"Authorization", "Basic !!!"},
		"no colon":           {"Authorization", enc(a.Key + a.Token)},
		"dot for colon":      {"Authorization", enc(a.Key + "." + a.Token)},
		"token only":         {"Authorization", enc(":" + a.Token)},
		"wrong token":        {"Authorization", enc(a.Key + ":" + strings.Repeat("A", 43))},
		"refresh as token":   {"Authorization", enc(a.Key + ":" + a.Refresh)},
		"swapped":            {"Authorization", enc(a.Token + ":" + a.Key)},
		"extra colon":        {"Authorization", enc(a.Key + ":" + a.Token + ":")},
		"two headers":        {"Authorization", enc(a.Key + ":" + a.Token), "Authorization", enc(a.Key + ":" + a.Token)},
		"oversized":          {"Authorization", "Basic " + strings.Repeat("QUFB", 5000)},
		"account's session":  {"Authorization", enc(cookie[:dot] + ":" + cookie[dot+1:])},
		"trailing junk":      {"Authorization", enc(a.Key+":"+a.Token) + " x"},
		"bad padding":        {"Authorization", enc(a.Key+":"+a.Token) + "="},
		"control characters": {"Authorization", enc(a.Key + ":" + a.Token + "\x00")},
	}
	for name, header := range cases {
		t.Run(name, func(t *testing.T) {
			for _, rq := range []struct {
				method string
				body   any
			}{{http.MethodGet, nil}, {http.MethodPatch, map[string]string{"firstName": "X"}}, {http.MethodDelete, nil}} {
				path := "/users"
				if rq.method == http.MethodDelete {
					path = "/users/token"
				}
				r := c.do(rq.method, path, rq.body, header...)
				wantError(t, r, http.StatusUnauthorized)
				if h := r.Header.Get("WWW-Authenticate"); h != "" {
					t.Errorf("%s: WWW-Authenticate %q", rq.method, h)
				}
			}
		})
	}
	// Unpadded base64 and a lowercase scheme are accepted; nothing above changed anything.
	raw := "basic " + base64.RawStdEncoding.EncodeToString([]byte(a.Key+":"+a.Token))
	if u := wantUser(t, c.do(http.MethodGet, "/users", nil, "Authorization", raw)); u.FirstName != "Ada" {
		t.Errorf("user after refused PATCHes = %+v", u)
	}
	wantNoContent(t, c.raw(http.MethodPost, "/account/logout", nil, "Cookie", "latch_session="+cookie))
}

// PATCH users failures: 401 before anything else, 400 for a malformed body, a refused field
// or an email change without the password, 401 for a wrong password, 409 for a taken email.
func TestPatchFailures(t *testing.T) {
	s := start(t, "/")
	c := newClient(t, s)
	a := c.register("web", "patch@example.com")
	c.register("web", "other@example.com")
	wantError(t, c.do(http.MethodPatch, "/users", "{", "Authorization", "Basic x"), http.StatusUnauthorized)
	for name, tc := range map[string]struct {
		body   any
		status int
	}{
		"malformed":         {`{"email":`, http.StatusBadRequest},
		"empty body":        {"", http.StatusBadRequest},
		"email a number":    {`{"email":1}`, http.StatusBadRequest},
		"not an address":    {map[string]string{"email": "nope"}, http.StatusBadRequest},
		"empty email":       {map[string]string{"email": ""}, http.StatusBadRequest},
		"long name":         {map[string]string{"lastName": strings.Repeat("x", 300)}, http.StatusBadRequest},
		"password alone":    {map[string]string{"password": "new password 123"}, http.StatusBadRequest},
		"password a number": {`{"email":"new@example.com","password":1}`, http.StatusBadRequest},
		"no password":       {map[string]string{"email": "new@example.com"}, http.StatusBadRequest},
		"wrong password":    {map[string]string{"email": "new@example.com", "password": "not it at all"}, http.StatusUnauthorized},
		"role":              {map[string]string{"role": "admin"}, http.StatusBadRequest},
		"taken":             {map[string]string{"email": "OTHER@example.com", "password": password}, http.StatusConflict},
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, c.do(http.MethodPatch, "/users", tc.body, a.auth()...), tc.status)
		})
	}
	if u := wantUser(t, c.do(http.MethodGet, "/users", nil, a.auth()...)); u.Email != "patch@example.com" || u.LastName != "Lovelace" || u.Role != "user" {
		t.Errorf("refused PATCHes changed the user: %+v", u)
	}
	c.login("web", "patch@example.com")
}

// Malformed bodies are 400 {"error"} on every route that reads one, never 500, and the
// message does not echo the body.
func TestMalformedBodies(t *testing.T) {
	s := start(t, "/")
	c := newClient(t, s)
	a := c.register("web", "malformed@example.com")
	bodies := map[string]string{
		"truncated":        `{"email":"a@example.com"`,
		"array":            `[]`,
		"string":           `"email"`,
		"null":             `null`,
		"wrong type":       `{"client":1,"email":2,"password":3,"key":4,"refresh":5}`,
		"object field":     `{"client":{"a":1},"email":{"a":1},"key":{}}`,
		"two objects":      `{} {}`,
		"trailing garbage": `{}garbage`,
		"invalid UTF-8":    "{\"client\":\"\xff\xfe\",\"email\":\"\xff\"}",
		"single quotes":    `{'email':'a'}`,
	}
	routes := []struct {
		method, path string
		auth         bool
	}{
		{http.MethodPost, "/users", false}, {http.MethodPost, "/users/token", false},
		{http.MethodPost, "/users/token/refresh", false}, {http.MethodPatch, "/users", true},
		{http.MethodDelete, "/users/token", true},
	}
	for _, rt := range routes {
		for name, body := range bodies {
			t.Run(rt.method+rt.path+"/"+name, func(t *testing.T) {
				var header []string
				if rt.auth {
					header = a.auth()
				}
				msg := wantError(t, c.do(rt.method, rt.path, body, header...), http.StatusBadRequest)
				if strings.Contains(msg, "\xff") || (len(body) > 4 && strings.Contains(msg, body)) {
					t.Errorf("message %q echoes the body", msg)
				}
			})
		}
		if rt.method == http.MethodPost {
			wantError(t, c.do(rt.method, rt.path, ""), http.StatusBadRequest)
		}
	}
	// The refused logout ended nothing.
	wantUser(t, c.do(http.MethodGet, "/users", nil, a.auth()...))
}

// Bodies over 64 KiB are 413 {"error"}, with or without a Content-Length.
func TestOversizeBody(t *testing.T) {
	s := start(t, "/")
	c := newClient(t, s)
	over := `{"client":"web"}` + strings.Repeat(" ", 64<<10)
	for _, path := range []string{"/users", "/users/token", "/users/token/refresh"} {
		t.Run(path, func(t *testing.T) {
			wantError(t, c.do(http.MethodPost, path, over), http.StatusRequestEntityTooLarge)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.PublicURL+path, io.MultiReader(strings.NewReader(over)))
			if err != nil {
				t.Fatal(err)
			}
			req.ContentLength = -1
			resp, err := c.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantError(t, response{Response: resp, Body: data}, http.StatusRequestEntityTooLarge)
		})
	}
}

// Wrong methods are 405 {"error"} with Allow; unknown paths 404 {"error"}, under both
// prefixes (with "/" the dialect answers every path no other dialect takes).
func TestWrongMethodAndUnknownPath(t *testing.T) {
	for _, prefix := range []string{"/", "/v1"} {
		t.Run(prefix, func(t *testing.T) {
			s := start(t, prefix)
			c := newClient(t, s)
			for _, tc := range []struct{ method, path, allow string }{
				{http.MethodPut, "/users", "GET, PATCH, POST"},
				{http.MethodDelete, "/users", "GET, PATCH, POST"},
				{http.MethodGet, "/users/token", "DELETE, POST"},
				{http.MethodPatch, "/users/token", "DELETE, POST"},
				{http.MethodGet, "/users/token/refresh", "POST"},
			} {
				r := c.do(tc.method, tc.path, nil)
				wantError(t, r, http.StatusMethodNotAllowed)
				if got := r.Header.Get("Allow"); got != tc.allow {
					t.Errorf("%s %s: Allow = %q, want %q", tc.method, tc.path, got, tc.allow)
				}
			}
			for _, p := range []string{"/nope", "/users/", "/USERS", "/users/token/refresh/x", "/user"} {
				wantError(t, c.do(http.MethodGet, p, nil), http.StatusNotFound)
				wantError(t, c.do(http.MethodPost, p, "{}"), http.StatusNotFound)
			}
			if prefix == "/v1" {
				// The routes exist only under the prefix.
				wantError(t, c.raw(http.MethodPost, "/v1users", map[string]string{}), http.StatusNotFound)
				r := c.raw(http.MethodPost, "/users", map[string]string{})
				if r.StatusCode != http.StatusNotFound {
					t.Errorf("POST /users outside the prefix = %d", r.StatusCode)
				}
			}
			// The account dialect still owns its prefix.
			if r := c.raw(http.MethodGet, "/account/session", nil); r.StatusCode != http.StatusUnauthorized || !strings.Contains(string(r.Body), `"code":401`) {
				t.Errorf("GET /account/session = %d %s", r.StatusCode, r.Body)
			}
		})
	}
}

// CORS from the realm's origins allows the Basic header and the dialect's methods; unsafe
// requests from other origins are 403 {"error"}.
func TestCORS(t *testing.T) {
	const origin = "https://app.test.example"
	s := start(t, "/", func(c *config.Config) { c.AllowedOrigins = []string{origin} })
	c := newClient(t, s)
	r := c.do(http.MethodOptions, "/users", nil, "Origin", origin, "Access-Control-Request-Method", "PATCH",
		"Access-Control-Request-Headers", "authorization,content-type")
	if r.StatusCode != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != origin ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "PATCH") {
		t.Errorf("preflight = %d %v", r.StatusCode, r.Header)
	}
	body := map[string]string{"client": "web", "email": "cors@example.com", "password": password}
	r = c.do(http.MethodPost, "/users", body, "Origin", origin)
	wantCreds(t, r, http.StatusCreated)
	if r.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("CORS headers = %v", r.Header)
	}
	wantError(t, c.do(http.MethodPost, "/users/token", body, "Origin", "https://evil.example"), http.StatusForbidden)
}
