package account_test

import (
	"bytes"
	"encoding/json"
	"io"
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

// response is a finished request.
type response struct {
	*http.Response
	body []byte
}

// do sends a request; body is a string sent as is, or a value sent as JSON.
func (b *browser) do(method, path string, body any, header ...string) response {
	b.t.Helper()
	var r io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(v)
	case []byte:
		r = bytes.NewReader(v)
	default:
		j, err := json.Marshal(v)
		if err != nil {
			b.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(b.t.Context(), method, b.base+path, r)
	if err != nil {
		b.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{resp, data}
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
		t.Fatalf("%s %s = %d %s, want 200 User", r.Request.Method, r.Request.URL.Path, r.StatusCode, r.body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &fields); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	for _, k := range []string{"id", "login", "firstName", "lastName", "status"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("User %s has no %q", r.body, k)
		}
	}
	if len(fields) != 5 {
		t.Errorf("User %s has fields beyond id, login, firstName, lastName, status", r.body)
	}
	var u user
	if err := json.Unmarshal(r.body, &u); err != nil {
		t.Fatalf("User %s: %v (status must be a number)", r.body, err)
	}
	return u
}

// wantError checks an Error response {code, error} with status.
func wantError(t *testing.T, r response, status int) string {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s = %d %s, want %d", r.Request.Method, r.Request.URL.Path, r.StatusCode, r.body, status)
	}
	var e struct {
		Code  *int    `json:"code"`
		Error *string `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil || e.Code == nil || e.Error == nil {
		t.Fatalf("%s %s: body %q is not an Error {code, error} (%v)", r.Request.Method, r.Request.URL.Path, r.body, err)
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
		t.Fatalf("%s %s = %d %s, want 204", r.Request.Method, r.Request.URL.Path, r.StatusCode, r.body)
	}
	if len(r.body) != 0 {
		t.Errorf("204 with a body: %q", r.body)
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
