package bearertoken_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/authserver/store"
)

// The user-token rows of docs/protocol.md#bearertoken-endpoints: POST /auth issues, GET /auth introspects,
// DELETE /auth revokes (one revocation event), after which the token is invalid everywhere.
func TestUserTokenLifecycle(t *testing.T) {
	s := start(t)
	uid := register(t, s, "Ada@Example.com")
	g := openRegistry(t, s)
	c := newClient(t, s)

	// POST /auth, the login trimmed and in another case → 200 content {token,created,expires}.
	before := time.Now().Truncate(time.Second)
	is := login(t, c, "  ada@EXAMPLE.com ")
	if strings.Count(is.Token, ".") != 2 || !strings.HasPrefix(is.Token, uid+".") {
		t.Errorf("token %q is not <userID>.<sessionID>.<secret> of user %s", is.Token, uid)
	}
	created, expires := servertest.ParseUTC(t, is.Created), servertest.ParseUTC(t, is.Expires)
	if created.Before(before) || created.After(time.Now()) {
		t.Errorf("created = %s, want about now", created)
	}
	if got := expires.Sub(created); got < 24*time.Hour-time.Second || got > 24*time.Hour {
		t.Errorf("expires - created = %s, want the default 24h", got)
	}

	// GET /auth → 200 content {type:user, created, expires, user_id, device_id:null}.
	in := introspect(t, c, is.Token)
	if in.Type != "user" || in.UserID == nil || *in.UserID != uid || in.DeviceID != nil ||
		in.Created != is.Created || in.Expires != is.Expires || in.ClientID != "" || in.Roles != nil {
		t.Errorf("introspection = %+v, want a user token of %s created %s expiring %s", in, uid, is.Created, is.Expires)
	}

	// DELETE /auth → 200 status OK; the session ends with one revocation event.
	events := g.revocations()
	wantOK(t, c.withBearer(http.MethodDelete, is.Token), nil)
	got := events(500 * time.Millisecond)
	sid := strings.Split(is.Token, ".")[1]
	if len(got) != 1 || got[0].UserID != uid || got[0].SessionID != sid || got[0].Reason != store.ReasonLogout {
		t.Errorf("revocation events = %+v, want one logout of session %s", got, sid)
	}

	// The revoked token is invalid for GET and DELETE alike.
	r := c.withBearer(http.MethodGet, is.Token)
	wantStatus(t, r, http.StatusUnauthorized, "INVALID_TOKEN")
	if h := r.Header.Get("WWW-Authenticate"); h != `Bearer error="invalid_token"` {
		t.Errorf("WWW-Authenticate = %q", h)
	}
	wantStatus(t, c.withBearer(http.MethodDelete, is.Token), http.StatusUnauthorized, "INVALID_TOKEN")

	// Other tokens of the user are untouched by the revocation of one.
	a, b := login(t, c, "ada@example.com"), login(t, c, "ada@example.com")
	wantOK(t, c.withBearer(http.MethodDelete, a.Token), nil)
	if in := introspect(t, c, b.Token); in.Type != "user" {
		t.Errorf("other token = %+v", in)
	}
	// The lowercase scheme is the same scheme (RFC 7235).
	wantOK(t, c.do(http.MethodGet, "/api/auth", nil, "Authorization", "bearer   "+b.Token), &in)

	// Neither tokens nor the password are ever logged.
	logs := s.Logs()
	for name, secret := range map[string]string{"password": password, "first token": is.Token, "second token": a.Token, "third token": b.Token} {
		if strings.Contains(logs, secret[max(0, len(secret)-43):]) {
			t.Errorf("the logs hold the %s", name)
		}
	}
}

// protocols.bearerToken.tokenLifespan sets the lifetime, and an expired token is invalid.
func TestTokenLifespan(t *testing.T) {
	s := start(t, func(c *config.Config) { c.Protocols.BearerToken.TokenLifespan = config.D(2 * time.Second) })
	register(t, s, "short@example.com")
	c := newClient(t, s)
	is := login(t, c, "short@example.com")
	if d := servertest.ParseUTC(t, is.Expires).Sub(servertest.ParseUTC(t, is.Created)); d < time.Second || d > 2*time.Second {
		t.Errorf("expires - created = %s, want 2s (to the second)", d)
	}
	introspect(t, c, is.Token)
	time.Sleep(2100 * time.Millisecond)
	wantStatus(t, c.withBearer(http.MethodGet, is.Token), http.StatusUnauthorized, "INVALID_TOKEN")
}

// A user holds at most 10 tokens of the dialect: the 11th login ends the oldest, so logging in
// over and over does not grow the user's sessions without bound.
func TestTokensPerUserAreBounded(t *testing.T) {
	s := start(t)
	register(t, s, "script@example.com")
	c := newClient(t, s)
	var toks []string
	for range 12 {
		toks = append(toks, login(t, c, "script@example.com").Token)
	}
	for i, tok := range toks {
		r := c.withBearer(http.MethodGet, tok)
		if i < 2 {
			wantStatus(t, r, http.StatusUnauthorized, "INVALID_TOKEN")
		} else {
			wantOK(t, r, &info{})
		}
	}
	if n := len(s.LogLines(map[string]any{"audit": true, "event": "session.evicted", "dialect": "bearerToken"})); n != 2 {
		t.Errorf("%d eviction audit events, want 2", n)
	}
}

// POST /users/activate with the activation token at the top level and wrapped in the seed's
// envelope → 200 {login,email,active:true}; the user can then log in. A spent token is 400.
func TestActivation(t *testing.T) {
	s := start(t, func(c *config.Config) { c.Registration.EmailConfirmation = config.ConfirmationRequired })
	c := newClient(t, s)
	for i, wrap := range []func(string) any{
		func(tok string) any { return map[string]string{"activation_token": tok} },
		func(tok string) any {
			return map[string]any{
				"status":  map[string]string{"code": "OK", "message": "OK"},
				"content": map[string]string{"activation_token": tok},
			}
		},
	} {
		name := fmt.Sprintf("Pending%d@Example.com", i)
		register(t, s, name)
		// Pending accounts cannot log in here: the dialect has an activation step.
		wantStatus(t, c.post("/api/auth", map[string]string{"login": name, "password": password}), http.StatusUnauthorized, "INVALID_CREDENTIALS")

		uid, secret := s.Mailbox.Wait(t, name, 1).Link(t)
		activation := uid + "." + secret
		r := c.post("/api/users/activate", wrap(activation))
		var got struct {
			Status struct{ Code, Message string } `json:"status"`
			Login  string                         `json:"login"`
			Email  string                         `json:"email"`
			Active *bool                          `json:"active"`
		}
		wantStatus(t, r, http.StatusOK, "OK")
		if f := jsonFields(t, r.Body); len(f) != 4 || f["login"] == nil || f["email"] == nil || f["active"] == nil {
			t.Errorf("activation %s: want exactly status, login, email and active", r.Body)
		}
		if err := json.Unmarshal(r.Body, &got); err != nil {
			t.Fatal(err)
		}
		if got.Login != name || got.Email != name || got.Active == nil || !*got.Active {
			t.Errorf("activation = %s, want {login:%q, email:%q, active:true}", r.Body, name, name)
		}
		is := login(t, c, name)
		if in := introspect(t, c, is.Token); in.UserID == nil || *in.UserID != uid {
			t.Errorf("introspection after activation = %+v", in)
		}
		// The token is single use.
		wantStatus(t, c.post("/api/users/activate", wrap(activation)), http.StatusBadRequest, "INVALID_TOKEN")
	}
}
