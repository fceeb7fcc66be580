package account_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/servertest"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// browser is one client of a server: a cookie jar and the server's base URL.
type browser struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newBrowser(t *testing.T, s *servertest.Server) *browser {
	return &browser{t: t, base: s.PublicURL, hc: servertest.Client()}
}

// response is a finished request, its body read.
type response = servertest.Response

// do sends a request to the server's path; body and header are as servertest.Do takes them.
func (b *browser) do(method, path string, body any, header ...string) response {
	b.t.Helper()
	return servertest.Do(b.t, b.hc, method, b.base+path, body, header...)
}

func (b *browser) post(path string, body any) response { return b.do(http.MethodPost, path, body) }
func (b *browser) get(path string) response            { return b.do(http.MethodGet, path, nil) }

// user is the dialect's User.
type user struct {
	ID        string `json:"id"`
	Login     string `json:"login"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	Status    int    `json:"status"`
}

// wantUser checks a 200 User response and returns the user.
func wantUser(t *testing.T, r response) user {
	t.Helper()
	if r.StatusCode != http.StatusOK {
		t.Fatalf("%s %s = %d %s, want 200 User", r.Request.Method, r.Request.URL.Path, r.StatusCode, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &fields); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
	for _, k := range []string{"id", "login", "firstName", "lastName", "status"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("User %s has no %q", r.Body, k)
		}
	}
	if len(fields) != 5 {
		t.Errorf("User %s has fields beyond id, login, firstName, lastName, status", r.Body)
	}
	var u user
	if err := json.Unmarshal(r.Body, &u); err != nil {
		t.Fatalf("User %s: %v (status must be a number)", r.Body, err)
	}
	return u
}

// wantError checks an Error response {code, error} with status.
func wantError(t *testing.T, r response, status int) string {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s = %d %s, want %d", r.Request.Method, r.Request.URL.Path, r.StatusCode, r.Body, status)
	}
	var e struct {
		Code  *int    `json:"code"`
		Error *string `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Code == nil || e.Error == nil {
		t.Fatalf("%s %s: body %q is not an Error {code, error} (%v)", r.Request.Method, r.Request.URL.Path, r.Body, err)
	}
	if *e.Code != status {
		t.Errorf("Error.code = %d, want %d", *e.Code, status)
	}
	if *e.Error == "" {
		t.Error("Error.error is empty")
	}
	return *e.Error
}

// wantNoContent checks a 204.
func wantNoContent(t *testing.T, r response) {
	t.Helper()
	if r.StatusCode != http.StatusNoContent {
		t.Fatalf("%s %s = %d %s, want 204", r.Request.Method, r.Request.URL.Path, r.StatusCode, r.Body)
	}
	if len(r.Body) != 0 {
		t.Errorf("204 with a body: %q", r.Body)
	}
}

// sessionCookie returns the response's Set-Cookie for the session cookie.
func sessionCookie(t *testing.T, r response) *http.Cookie {
	t.Helper()
	for _, c := range r.Cookies() {
		if c.Name == "latch_session" {
			return c
		}
	}
	t.Fatalf("%s %s set no session cookie (Set-Cookie: %q)", r.Request.Method, r.Request.URL.Path, r.Header.Values("Set-Cookie"))
	return nil
}

const password = "correct horse battery"

// register creates an account through a fresh browser and returns it signed in.
func register(t *testing.T, s *servertest.Server, login string) (*browser, user) {
	t.Helper()
	b := newBrowser(t, s)
	u := wantUser(t, b.post("/account/register", map[string]string{
		"login": login, "password": password, "firstName": "Ada", "lastName": "Lovelace",
	}))
	return b, u
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
