package devisetoken_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
)

func TestMain(m *testing.M) { servertest.Main(m) }

const (
	password = "correct horse battery"
	// origin is the realm's allowed browser origin, and that of its reset page.
	origin = "https://app.test.example"
)

// start runs a server with the deviseToken dialect at /auth beside the base config's account
// dialect, the test origin allowed, and edit applied.
func start(t *testing.T, opts servertest.Options, edit ...func(*config.Config)) *servertest.Server {
	t.Helper()
	opts.Config = func(c *config.Config) {
		c.Protocols.DeviseToken = &config.DeviseToken{}
		c.AllowedOrigins = []string{origin}
		for _, e := range edit {
			e(c)
		}
	}
	return servertest.Start(t, opts)
}

// client is one HTTP client of a server. It does not follow redirects: the reset link's 302
// is what the tests look at.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newClient(t *testing.T, s *servertest.Server) *client {
	hc := servertest.Client()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client{t: t, base: s.PublicURL, hc: hc}
}

// response is a finished request, its body read.
type response = servertest.Response

// do sends a request to the server's path; body (url.Values is sent as a form) and header
// are as servertest.Do takes them.
func (c *client) do(method, path string, body any, header ...string) response {
	c.t.Helper()
	return servertest.Do(c.t, c.hc, method, c.base+path, body, header...)
}

func (c *client) post(path string, body any, header ...string) response {
	return c.do(http.MethodPost, path, body, header...)
}

func (c *client) get(path string, header ...string) response {
	return c.do(http.MethodGet, path, nil, header...)
}

// creds are the auth headers of a response: what a devise client keeps.
type creds struct {
	Token, Client, UID string
	Expiry             time.Time
}

// headers returns c as request header name/value pairs.
func (c creds) headers() []string {
	return []string{"access-token", c.Token, "client", c.Client, "uid", c.UID}
}

// query returns c as query parameters, as redux-token-auth sends them to validate_token.
func (c creds) query() string {
	return url.Values{"access-token": {c.Token}, "client": {c.Client}, "uid": {c.UID}}.Encode()
}

// authHeaderNames are the five response headers of docs/protocol.md#devisetoken-credentials.
var authHeaderNames = []string{"access-token", "token-type", "client", "expiry", "uid"}

// wantCreds checks that r carries all five auth headers, none blank, and returns them.
func wantCreds(t *testing.T, r response) creds {
	t.Helper()
	for _, k := range authHeaderNames {
		if v := r.Header.Values(k); len(v) != 1 || strings.TrimSpace(v[0]) == "" {
			t.Fatalf("%s %s: header %s = %q, want one non-blank value", r.Request.Method, r.Request.URL.Path, k, v)
		}
	}
	if tt := r.Header.Get("token-type"); tt != "Bearer" {
		t.Errorf("token-type = %q, want Bearer", tt)
	}
	sec, err := strconv.ParseInt(r.Header.Get("expiry"), 10, 64)
	if err != nil {
		t.Fatalf("expiry %q is not Unix seconds: %v", r.Header.Get("expiry"), err)
	}
	exp := time.Unix(sec, 0)
	if exp.Before(time.Now()) || exp.After(time.Now().Add(31*24*time.Hour)) {
		t.Errorf("expiry %s is not within the session's lifetime", exp)
	}
	return creds{Token: r.Header.Get("access-token"), Client: r.Header.Get("client"), UID: r.Header.Get("uid"), Expiry: exp}
}

// wantNoCreds checks that r carries none of the auth headers.
func wantNoCreds(t *testing.T, r response) {
	t.Helper()
	for _, k := range authHeaderNames {
		if v := r.Header.Values(k); len(v) != 0 {
			t.Errorf("%s %s: header %s = %q, want none", r.Request.Method, r.Request.URL.Path, k, v)
		}
	}
}

// user is the dialect's user object. A null name, nickname or image decodes as "".
type user struct {
	ID        string `json:"id"`
	Provider  string `json:"provider"`
	UID       string `json:"uid"`
	Email     string `json:"email"`
	Name      string `json:"name"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Nickname  string `json:"nickname"`
	Image     string `json:"image"`
}

// wantStatus fails unless r has status and a JSON body.
func wantStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s = %d %s, want %d", r.Request.Method, r.Request.URL.Path, r.StatusCode, r.Body, status)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
}

// decode unmarshals r's body into v, failing on unknown top-level keys so that every
// answer's shape is pinned exactly.
func decode(t *testing.T, r response, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s %s: body %s: %v", r.Request.Method, r.Request.URL.Path, r.Body, err)
	}
}

// wantError checks devise's render_error answer {"success":false,"errors":[msg]} with status;
// an empty msg accepts any one message.
func wantError(t *testing.T, r response, status int, msg string) string {
	t.Helper()
	wantStatus(t, r, status)
	var e struct {
		Success *bool    `json:"success"`
		Errors  []string `json:"errors"`
	}
	decode(t, r, &e)
	if e.Success == nil || *e.Success || len(e.Errors) != 1 || e.Errors[0] == "" {
		t.Fatalf("%s %s: body %s, want {\"success\":false,\"errors\":[message]}", r.Request.Method, r.Request.URL.Path, r.Body)
	}
	if msg != "" && e.Errors[0] != msg {
		t.Errorf("%s %s: error %q, want %q", r.Request.Method, r.Request.URL.Path, e.Errors[0], msg)
	}
	return e.Errors[0]
}

// The failure messages of docs/protocol.md#devisetoken-status-table.
const (
	msgBadCredentials = "Invalid login credentials. Please try again."
	msgInvalidToken   = "User not found or access-token invalid."
	msgNotSignedIn    = "User was not found or was not logged in."
)

// wantSignedIn checks a sign_in answer: 200 {"data":{user}} with the auth headers.
func wantSignedIn(t *testing.T, r response) (user, creds) {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	var b struct {
		Data *user `json:"data"`
	}
	decode(t, r, &b)
	if b.Data == nil {
		t.Fatalf("sign_in body %s has no data", r.Body)
	}
	return *b.Data, wantCreds(t, r)
}

// wantValid checks a validate_token answer: 200 {"success":true,"data":{user}} with headers.
func wantValid(t *testing.T, r response) (user, creds) {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	var b struct {
		Success bool  `json:"success"`
		Data    *user `json:"data"`
	}
	decode(t, r, &b)
	if !b.Success || b.Data == nil {
		t.Fatalf("validate_token body %s, want success and data", r.Body)
	}
	return *b.Data, wantCreds(t, r)
}

// register creates an account through POST /auth and returns it with its credentials.
func register(t *testing.T, c *client, email string) (user, creds) {
	t.Helper()
	r := c.post("/auth", map[string]string{"email": email, "password": password, "password_confirmation": password})
	wantStatus(t, r, http.StatusOK)
	var b struct {
		Status string `json:"status"`
		Data   *user  `json:"data"`
	}
	decode(t, r, &b)
	if b.Status != "success" || b.Data == nil {
		t.Fatalf("register body %s", r.Body)
	}
	return *b.Data, wantCreds(t, r)
}

// signIn signs email in and returns the credentials.
func signIn(t *testing.T, c *client, email string, header ...string) creds {
	t.Helper()
	_, cr := wantSignedIn(t, c.post("/auth/sign_in", map[string]string{"email": email, "password": password}, header...))
	return cr
}

// validate calls validate_token with cr in headers.
func (c *client) validate(cr creds) response {
	c.t.Helper()
	return c.get("/auth/validate_token", cr.headers()...)
}
