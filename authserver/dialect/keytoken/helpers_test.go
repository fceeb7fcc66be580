package keytoken_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redisstore"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// start runs a server with the dialect at prefix beside the account dialect at /account.
func start(t *testing.T, prefix string, edit ...func(*config.Config)) *servertest.Server {
	t.Helper()
	return servertest.Start(t, servertest.Options{Config: func(c *config.Config) {
		c.Protocols.KeyToken = &config.KeyToken{Prefix: prefix}
		for _, e := range edit {
			e(c)
		}
	}})
}

// client is one client of a server, speaking the dialect under prefix.
type client struct {
	t      *testing.T
	base   string
	prefix string // "" for the prefix "/", else "/v1"
	hc     *http.Client
}

func newClient(t *testing.T, s *servertest.Server) *client {
	return &client{t: t, base: s.PublicURL, prefix: strings.TrimSuffix(s.Config.Protocols.KeyToken.Prefix, "/"), hc: servertest.Client()}
}

// response is a finished request, its body read.
type response = servertest.Response

// do sends a request to the dialect's path (prefix added); body and header are as
// servertest.Do takes them (header lists name, value pairs; a name may repeat).
func (c *client) do(method, path string, body any, header ...string) response {
	c.t.Helper()
	return c.raw(method, c.prefix+path, body, header...)
}

// raw sends a request to an absolute path.
func (c *client) raw(method, path string, body any, header ...string) response {
	c.t.Helper()
	return servertest.Do(c.t, c.hc, method, c.base+path, body, header...)
}

// basic is the Authorization header of a key and token.
func basic(key, tok string) []string {
	return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"+tok))}
}

// creds is the answer of a registration or login.
type creds struct {
	Role    string `json:"role"`
	Key     string `json:"key"`
	Token   string `json:"token"`
	Refresh string `json:"refresh"`
	Expires string `json:"expires"`
}

func (c creds) auth() []string { return basic(c.Key, c.Token) }

// wantCreds checks a credentials answer with status: exactly the seed's five fields.
func wantCreds(t *testing.T, r response, status int) creds {
	t.Helper()
	wantJSON(t, r, status, "role", "key", "token", "refresh", "expires")
	var cr creds
	if err := json.Unmarshal(r.Body, &cr); err != nil {
		t.Fatalf("credentials %s: %v", r.Body, err)
	}
	if strings.Count(cr.Key, ".") != 1 || len(cr.Key) != 45 || len(cr.Token) != 43 || len(cr.Refresh) != 43 || cr.Token == cr.Refresh {
		t.Errorf("credentials %s: want key <userID>.<sessionID>, a token and a different refresh", r.Body)
	}
	servertest.ParseUTC(t, cr.Expires)
	return cr
}

// refreshed is the answer of a refresh.
type refreshed struct {
	Key     string `json:"key"`
	Token   string `json:"token"`
	Refresh string `json:"refresh"`
	Expires string `json:"expires"`
}

func wantRefreshed(t *testing.T, r response) refreshed {
	t.Helper()
	wantJSON(t, r, http.StatusOK, "key", "token", "refresh", "expires")
	var rf refreshed
	if err := json.Unmarshal(r.Body, &rf); err != nil {
		t.Fatalf("refresh %s: %v", r.Body, err)
	}
	servertest.ParseUTC(t, rf.Expires)
	return rf
}

// user is the dialect's user.
type user struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	Role      string `json:"role"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
}

func wantUser(t *testing.T, r response) user {
	t.Helper()
	wantJSON(t, r, http.StatusOK, "id", "email", "role", "firstName", "lastName")
	var u user
	if err := json.Unmarshal(r.Body, &u); err != nil {
		t.Fatalf("user %s: %v", r.Body, err)
	}
	return u
}

// wantJSON checks status, the Content-Type and that the body is an object with exactly keys.
func wantJSON(t *testing.T, r response, status int, keys ...string) {
	t.Helper()
	where := r.Request.Method + " " + r.Request.URL.Path
	if r.StatusCode != status {
		t.Fatalf("%s = %d %s, want %d", where, r.StatusCode, r.Body, status)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type = %q", where, ct)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &fields); err != nil {
		t.Fatalf("%s: body %q: %v", where, r.Body, err)
	}
	for _, k := range keys {
		if _, ok := fields[k]; !ok {
			t.Errorf("%s: %s has no %q", where, r.Body, k)
		}
	}
	if len(fields) != len(keys) {
		t.Errorf("%s: %s has fields beyond %v", where, r.Body, keys)
	}
}

// wantError checks an error answer {"error": msg} with status and returns msg.
func wantError(t *testing.T, r response, status int) string {
	t.Helper()
	wantJSON(t, r, status, "error")
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Error == "" {
		t.Fatalf("error body %s: want a message (%v)", r.Body, err)
	}
	return e.Error
}

// wantNoContent checks a 204.
func wantNoContent(t *testing.T, r response) {
	t.Helper()
	if r.StatusCode != http.StatusNoContent || len(r.Body) != 0 {
		t.Fatalf("%s %s = %d %q, want 204", r.Request.Method, r.Request.URL.Path, r.StatusCode, r.Body)
	}
}

const password = "correct horse battery"

// register creates an account through the dialect and returns its credentials.
func (c *client) register(clientID, email string) creds {
	c.t.Helper()
	return wantCreds(c.t, c.do(http.MethodPost, "/users", map[string]string{
		"client": clientID, "email": email, "password": password, "firstName": "Ada", "lastName": "Lovelace",
	}), http.StatusCreated)
}

// login signs in through the dialect.
func (c *client) login(clientID, email string) creds {
	c.t.Helper()
	return wantCreds(c.t, c.do(http.MethodPost, "/users/token", map[string]string{
		"client": clientID, "email": email, "password": password,
	}), http.StatusOK)
}

// refresh exchanges a refresh token.
func (c *client) refresh(clientID, key, refresh string) response {
	c.t.Helper()
	return c.do(http.MethodPost, "/users/token/refresh", map[string]string{"client": clientID, "key": key, "refresh": refresh})
}

// openStore opens the server's Redis under its key prefix, as the operator does.
func openStore(t *testing.T, s *servertest.Server) *redisstore.Store {
	t.Helper()
	st, err := redisstore.Open(s.Config.Redis)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// revocations subscribes to the realm's revocation events and returns a function that
// collects those arriving within wait.
func revocations(t *testing.T, st *redisstore.Store) func(wait time.Duration) []store.Revocation {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	ch, err := st.SubscribeRevocations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return func(wait time.Duration) []store.Revocation {
		var out []store.Revocation
		timer := time.NewTimer(wait)
		defer timer.Stop()
		for {
			select {
			case ev := <-ch:
				if !ev.Resync {
					out = append(out, ev.Revocation)
				}
			case <-timer.C:
				return out
			}
		}
	}
}
