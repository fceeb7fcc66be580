package reactauth_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/dialect/reactauth/reactauthtest"
	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/authserver/token"
)

func TestMain(m *testing.M) { servertest.Main(m) }

const (
	// appOrigin is the realm's allowed browser origin in these tests.
	appOrigin = "https://app.test.example"
	password  = "correct horse battery"
	// failureBody is every failed authenticate or resume, byte for byte.
	failureBody = `{"success":false,"session":"","user":{}}`
	// crossReplicaBudget is how soon a session ended on one replica must close its sockets on
	// every other (the "within 1 second").
	crossReplicaBudget = time.Second
	// silence is how long a socket that must get nothing is watched.
	silence = 300 * time.Millisecond
)

// start runs a latch process speaking reactAuth (and account, for registration, logout and
// password reset) with appOrigin allowed; edit changes the config further.
func start(t testing.TB, edit func(*config.Config)) *servertest.Server {
	t.Helper()
	return servertest.Start(t, servertest.Options{Config: func(c *config.Config) {
		reactauthtest.Enable(c)
		c.AllowedOrigins = []string{appOrigin}
		if edit != nil {
			edit(c)
		}
	}})
}

// qsStringify encodes fields as the client's qs.stringify does: in order, RFC 3986
// percent-encoding (space is %20, only unreserved characters are left as they are).
func qsStringify(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(rfc3986(kv[i]) + "=" + rfc3986(kv[i+1]))
	}
	return b.String()
}

func rfc3986(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// result is a finished HTTP request.
type result struct {
	status int
	header http.Header
	body   []byte
}

func (r result) cookie(name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// plainClient keeps no cookies: a request carries exactly the cookies its headers name.
var plainClient = &http.Client{Timeout: 30 * time.Second}

// do sends a request with body and headers given as name, value pairs. The body goes as it is
// with no Content-Type but the one the headers name: the dialect reads forms and JSON alike,
// and the tests pick the label.
func do(t testing.TB, method, url, body string, header ...string) result {
	t.Helper()
	r := servertest.Do(t, plainClient, method, url, strings.NewReader(body), header...)
	return result{status: r.StatusCode, header: r.Header, body: r.Body}
}

// postForm posts a form body as the real client does (axios sends a string body as
// application/x-www-form-urlencoded).
func postForm(t testing.TB, s *servertest.Server, form string, header ...string) result {
	t.Helper()
	return do(t, http.MethodPost, s.PublicURL+"/react-auth", form,
		append([]string{"Content-Type", "application/x-www-form-urlencoded"}, header...)...)
}

func postJSON(t testing.TB, s *servertest.Server, body string, header ...string) result {
	t.Helper()
	return do(t, http.MethodPost, s.PublicURL+"/react-auth", body, append([]string{"Content-Type", "application/json"}, header...)...)
}

// publicUser is the dialect's user object.
type publicUser struct {
	ID        string `json:"id"`
	Login     string `json:"login"`
	Email     string `json:"email"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	Role      string `json:"role"`
	Status    int    `json:"status"`
}

// wantSuccess checks a 200 success response, exactly {success, session, user} with the
// public user's seven fields, and returns the session token and the user.
func wantSuccess(t testing.TB, r result) (string, publicUser) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d %s, want 200 success", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &top); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if keys := sortedKeys(top); !slices.Equal(keys, []string{"session", "success", "user"}) {
		t.Fatalf("body %s has fields %v, want success, session, user", r.body, keys)
	}
	if string(top["success"]) != "true" {
		t.Fatalf("body %s: success is not true", r.body)
	}
	var session string
	if err := json.Unmarshal(top["session"], &session); err != nil {
		t.Fatalf("session in %s: %v", r.body, err)
	}
	if _, err := token.ParseSessionToken(session); err != nil {
		t.Fatalf("session %q is not a composite session token: %v", session, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(top["user"], &fields); err != nil {
		t.Fatalf("user in %s: %v", r.body, err)
	}
	if keys := sortedKeys(fields); !slices.Equal(keys, []string{"email", "firstName", "id", "lastName", "login", "role", "status"}) {
		t.Fatalf("user %s has fields %v, want exactly the public user", top["user"], keys)
	}
	var u publicUser
	if err := json.Unmarshal(top["user"], &u); err != nil {
		t.Fatalf("user %s: %v (status must be a number)", top["user"], err)
	}
	return session, u
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// wantFailure checks the failure body with status.
func wantFailure(t testing.TB, r result, status int) {
	t.Helper()
	if r.status != status || string(bytes.TrimSpace(r.body)) != failureBody {
		t.Fatalf("got %d %s, want %d %s", r.status, r.body, status, failureBody)
	}
}

// account is a registered user.
type account struct {
	login string
	id    string
	// session is the token of the session registration created (the account cookie).
	session string
}

// register creates a user through the account dialect.
func register(t testing.TB, s *servertest.Server, login string) account {
	t.Helper()
	body, err := json.Marshal(map[string]string{"login": login, "password": password, "firstName": "Ada", "lastName": "Lovelace"})
	if err != nil {
		t.Fatal(err)
	}
	r := do(t, http.MethodPost, s.PublicURL+"/account/register", string(body), "Content-Type", "application/json")
	if r.status != http.StatusOK {
		t.Fatalf("register %s: %d %s", login, r.status, r.body)
	}
	var u struct{ ID string }
	if err := json.Unmarshal(r.body, &u); err != nil {
		t.Fatal(err)
	}
	c := r.cookie(httpx.NewSessionCookie(s.Config, nil).Name())
	if c == nil {
		t.Fatalf("register %s set no session cookie", login)
	}
	return account{login: login, id: u.ID, session: c.Value}
}

// login authenticates through reactAuth as the real client does and returns the session.
func login(t testing.TB, s *servertest.Server, a account) string {
	t.Helper()
	tok, u := wantSuccess(t, postForm(t, s, qsStringify("type", "fantaptik/react-auth/authenticate", "username", a.login, "password", password)))
	if u.ID != a.id {
		t.Fatalf("login as %s returned user %s, want %s", a.login, u.ID, a.id)
	}
	return tok
}

// resumeHTTP is the client's HTTP resume with tok as the session cookie.
func resumeHTTP(t testing.TB, s *servertest.Server, tok string) result {
	t.Helper()
	return postForm(t, s, qsStringify("type", "fantaptik/react-auth/resume"), "Cookie", "latch_session="+tok)
}

// logoutAccount ends the session through the account dialect.
func logoutAccount(t testing.TB, s *servertest.Server, tok string) {
	t.Helper()
	if r := do(t, http.MethodPost, s.PublicURL+"/account/logout", "", "Cookie", "latch_session="+tok); r.status != http.StatusNoContent {
		t.Fatalf("account logout: %d %s", r.status, r.body)
	}
}

// resetPassword runs the account dialect's forgot and reset on s, which ends every session
// of the user (revoke-all). It returns when the reset request was sent, for latency.
func resetPassword(t testing.TB, s *servertest.Server, a account, newPassword string) time.Time {
	t.Helper()
	n := s.Mailbox.Count(a.login)
	body, _ := json.Marshal(map[string]string{"login": a.login})
	if r := do(t, http.MethodPost, s.PublicURL+"/account/forgot", string(body), "Content-Type", "application/json"); r.status != http.StatusNoContent {
		t.Fatalf("forgot: %d %s", r.status, r.body)
	}
	// The reset link, not the notice of an earlier reset arriving late.
	m := s.Mailbox.Wait(t, a.login, n+1)
	for i := n + 2; !strings.HasPrefix(m.Subject, "Reset"); i++ {
		m = s.Mailbox.Wait(t, a.login, i)
	}
	uid, tok := m.Link(t)
	body, _ = json.Marshal(map[string]string{"id": uid, "token": tok, "password": newPassword})
	sent := time.Now()
	if r := do(t, http.MethodPost, s.PublicURL+"/account/reset", string(body), "Content-Type", "application/json"); r.status != http.StatusNoContent {
		t.Fatalf("reset: %d %s", r.status, r.body)
	}
	return sent
}

// accountSessionLive reports whether the account dialect still accepts tok.
func accountSessionLive(t testing.TB, s *servertest.Server, tok string) bool {
	t.Helper()
	r := do(t, http.MethodGet, s.PublicURL+"/account/session", "", "Cookie", "latch_session="+tok)
	if r.status != http.StatusOK && r.status != http.StatusUnauthorized {
		t.Fatalf("account session: %d %s", r.status, r.body)
	}
	return r.status == http.StatusOK
}

// waitMetric polls a metric until it has value want.
func waitMetric(t testing.TB, s *servertest.Server, name string, want float64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := s.Metric(t, name, nil)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v after %s, want %v", name, got, within, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// socketURL is s's reactAuth socket endpoint.
func socketURL(t testing.TB, s *servertest.Server) string { return reactauthtest.SocketURL(t, s) }

// origin returns handshake headers with an Origin.
func origin(o string) http.Header { return http.Header{"Origin": {o}} }
