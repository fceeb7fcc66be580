package keytoken_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// Every success row of docs/protocol.md#keytoken-endpoints, under the prefix "/" (routes /users…) and
// "/v1" (routes /v1/users…).
func TestLifecycle(t *testing.T) {
	for _, prefix := range []string{"/", "/v1"} {
		t.Run(prefix, func(t *testing.T) {
			s := start(t, prefix)
			c := newClient(t, s)

			// POST users → 201 {role,key,token,refresh,expires}; the access token lives 1h.
			before := time.Now().Truncate(time.Second)
			reg := c.register("web", "Ada@Example.com")
			if reg.Role != "user" {
				t.Errorf("role = %q, want user", reg.Role)
			}
			if exp := servertest.ParseUTC(t, reg.Expires); exp.Before(before.Add(time.Hour-time.Second)) || exp.After(time.Now().Add(time.Hour)) {
				t.Errorf("expires = %s, want an hour from now", exp)
			}

			// GET users (Basic) → 200 user.
			u := wantUser(t, c.do(http.MethodGet, "/users", nil, reg.auth()...))
			if u.Email != "Ada@Example.com" || u.Role != "user" || u.FirstName != "Ada" || u.LastName != "Lovelace" || !token.ValidID(u.ID) {
				t.Errorf("user = %+v", u)
			}
			if !strings.HasPrefix(reg.Key, u.ID+".") {
				t.Errorf("key %q does not start with the user ID %s", reg.Key, u.ID)
			}
			// key + "." + token is the session token of DESIGN.md.
			st, err := token.ParseSessionToken(reg.Key + "." + reg.Token)
			if err != nil || st.UserID != u.ID {
				t.Errorf("key.token = %v, %v; want a session token of %s", st, err, u.ID)
			}

			// POST users/token, the email trimmed and in another case → 200 credentials of a
			// new session.
			lg := c.login("web", "  ada@EXAMPLE.com ")
			if lg.Key == reg.Key || lg.Role != "user" {
				t.Errorf("login = %+v, want a new session", lg)
			}

			// PATCH users (Basic) {email,firstName,password} → 200 user; the email is the
			// login, and a change of its case only is made at once (a new address waits for
			// confirmation: sensitive_test.go).
			got := wantUser(t, c.do(http.MethodPatch, "/users", map[string]string{"email": "ada@example.com", "firstName": "Augusta", "password": password}, lg.auth()...))
			if got.ID != u.ID || got.Email != "ada@example.com" || got.FirstName != "Augusta" || got.LastName != "Lovelace" {
				t.Errorf("patched user = %+v", got)
			}
			if again := wantUser(t, c.do(http.MethodGet, "/users", nil, reg.auth()...)); again != got {
				t.Errorf("GET after PATCH = %+v, want %+v", again, got)
			}
			c.login("web", "ADA@example.com")
			// An empty PATCH changes nothing and answers the user.
			if same := wantUser(t, c.do(http.MethodPatch, "/users", `{}`, lg.auth()...)); same != got {
				t.Errorf("empty PATCH = %+v, want %+v", same, got)
			}

			// POST users/token/refresh → 200 {key,token,refresh,expires}: both rotate.
			rf := wantRefreshed(t, c.refresh("web", lg.Key, lg.Refresh))
			if rf.Key != lg.Key || rf.Token == lg.Token || rf.Refresh == lg.Refresh {
				t.Errorf("refresh = %+v, want the same key and a new token and refresh", rf)
			}
			wantError(t, c.do(http.MethodGet, "/users", nil, lg.auth()...), http.StatusUnauthorized)
			wantUser(t, c.do(http.MethodGet, "/users", nil, basic(rf.Key, rf.Token)...))

			// DELETE users/token (Basic) {client} → 204; the session has ended.
			wantNoContent(t, c.do(http.MethodDelete, "/users/token", map[string]string{"client": "web"}, basic(rf.Key, rf.Token)...))
			wantError(t, c.do(http.MethodGet, "/users", nil, basic(rf.Key, rf.Token)...), http.StatusUnauthorized)
			wantError(t, c.do(http.MethodDelete, "/users/token", map[string]string{"client": "web"}, basic(rf.Key, rf.Token)...), http.StatusUnauthorized)
			wantError(t, c.refresh("web", rf.Key, rf.Refresh), http.StatusUnauthorized)
			// The other session is untouched; a logout without a body works too.
			wantUser(t, c.do(http.MethodGet, "/users", nil, reg.auth()...))
			wantNoContent(t, c.do(http.MethodDelete, "/users/token", nil, reg.auth()...))
		})
	}
}

// The composite token key.token is a session token the rest of the server takes: the
// account dialect's cookie check accepts it.
func TestKeyAndTokenAreASessionToken(t *testing.T) {
	s := start(t, "/")
	c := newClient(t, s)
	reg := c.register("web", "composite@example.com")
	r := c.raw(http.MethodGet, "/account/session", nil, "Cookie", "latch_session="+reg.Key+"."+reg.Token)
	if r.StatusCode != http.StatusOK || !strings.Contains(string(r.Body), "composite@example.com") {
		t.Errorf("account session with key.token = %d %s", r.StatusCode, r.Body)
	}
}

// Access tokens end after accessTokenLifespan; the refresh token still works and the new
// access token does.
func TestAccessTokenExpiry(t *testing.T) {
	s := start(t, "/", func(c *config.Config) { c.Protocols.KeyToken.AccessTokenLifespan = config.D(time.Second) })
	c := newClient(t, s)
	reg := c.register("web", "short@example.com")
	wantUser(t, c.do(http.MethodGet, "/users", nil, reg.auth()...))
	time.Sleep(1100 * time.Millisecond)
	wantError(t, c.do(http.MethodGet, "/users", nil, reg.auth()...), http.StatusUnauthorized)
	rf := wantRefreshed(t, c.refresh("web", reg.Key, reg.Refresh))
	if d := time.Until(servertest.ParseUTC(t, rf.Expires)); d > time.Second {
		t.Errorf("new access token expires in %s, want at most 1s", d)
	}
	wantUser(t, c.do(http.MethodGet, "/users", nil, basic(rf.Key, rf.Token)...))
}

// Presenting a spent refresh token again revokes the whole session: the current access token
// and refresh token stop working, one revocation is announced, and the reuse is audited.
func TestRefreshReuseRevokesTheSession(t *testing.T) {
	s := start(t, "/")
	c := newClient(t, s)
	st := openStore(t, s)
	lg := c.register("web", "reuse@example.com")
	other := c.login("web", "reuse@example.com")

	rf := wantRefreshed(t, c.refresh("web", lg.Key, lg.Refresh))
	wantUser(t, c.do(http.MethodGet, "/users", nil, basic(rf.Key, rf.Token)...))

	events := revocations(t, st)
	wantError(t, c.refresh("web", lg.Key, lg.Refresh), http.StatusUnauthorized) // the spent one, again
	got := events(500 * time.Millisecond)
	sid := lg.Key[strings.IndexByte(lg.Key, '.')+1:]
	if len(got) != 1 || got[0].SessionID != sid || got[0].Reason != store.ReasonRefreshReuse {
		t.Errorf("revocations = %+v, want one refresh-reuse of %s", got, sid)
	}
	wantError(t, c.do(http.MethodGet, "/users", nil, basic(rf.Key, rf.Token)...), http.StatusUnauthorized)
	wantError(t, c.refresh("web", rf.Key, rf.Refresh), http.StatusUnauthorized)
	if n := len(s.LogLines(map[string]any{"audit": true, "event": "session.refresh_reuse", "session_id": sid})); n != 1 {
		t.Errorf("%d refresh_reuse audit events, want 1", n)
	}
	// The user's other session is not the stolen one's.
	wantUser(t, c.do(http.MethodGet, "/users", nil, other.auth()...))
}

// A user holds at most 10 sessions of the dialect: the 11th login ends the oldest.
func TestSessionsPerUserAreBounded(t *testing.T) {
	s := start(t, "/")
	c := newClient(t, s)
	all := []creds{c.register("web", "many@example.com")}
	for range 11 {
		all = append(all, c.login("web", "many@example.com"))
	}
	for i, cr := range all {
		r := c.do(http.MethodGet, "/users", nil, cr.auth()...)
		if i < 2 {
			wantError(t, r, http.StatusUnauthorized)
		} else {
			wantUser(t, r)
		}
	}
}

// With clients.requireRegistered the client must be a registered app client: unknown ones
// are 401 on register, login and refresh; a deleted registration stops new logins and
// refreshes, not the access tokens already out.
func TestRequireRegistered(t *testing.T) {
	s := start(t, "/", func(c *config.Config) { c.Clients.RequireRegistered = true })
	c := newClient(t, s)
	st := openStore(t, s)

	body := map[string]string{"client": "web", "email": "reg@example.com", "password": password}
	if msg := wantError(t, c.do(http.MethodPost, "/users", body), http.StatusUnauthorized); msg != "unknown client" {
		t.Errorf("message = %q", msg)
	}
	// The refused registration created no account: registering again once the client is
	// registered is a 201, not a 409.
	if err := st.PutAppClient(t.Context(), store.AppClient{ID: "web", Roles: []string{"app"}}); err != nil {
		t.Fatal(err)
	}
	reg := c.register("web", "reg@example.com")
	wantError(t, c.do(http.MethodPost, "/users/token", map[string]string{"client": "mobile", "email": "reg@example.com", "password": password}), http.StatusUnauthorized)
	lg := c.login("web", "reg@example.com")
	wantError(t, c.refresh("mobile", lg.Key, lg.Refresh), http.StatusUnauthorized)
	lg2 := wantRefreshed(t, c.refresh("web", lg.Key, lg.Refresh))

	if err := st.DeleteAppClient(t.Context(), "web"); err != nil {
		t.Fatal(err)
	}
	wantError(t, c.do(http.MethodPost, "/users/token", map[string]string{"client": "web", "email": "reg@example.com", "password": password}), http.StatusUnauthorized)
	wantError(t, c.refresh("web", lg2.Key, lg2.Refresh), http.StatusUnauthorized)
	wantUser(t, c.do(http.MethodGet, "/users", nil, reg.auth()...))
	// Re-registered, the refresh token refused meanwhile was not spent.
	if err := st.PutAppClient(t.Context(), store.AppClient{ID: "web"}); err != nil {
		t.Fatal(err)
	}
	wantRefreshed(t, c.refresh("web", lg2.Key, lg2.Refresh))
}

// Without clients.requireRegistered any well-formed client id is taken; an empty or
// malformed one is still 401 unknown client. A refresh must come from the session's client.
func TestAnyClientWhenNotRequired(t *testing.T) {
	s := start(t, "/")
	c := newClient(t, s)
	a := c.register("anything-goes.v2", "any@example.com")
	for name, id := range map[string]string{"empty": "", "space": "a b", "brace": "{x}", "too long": strings.Repeat("c", 254), "unicode": "cliënt"} {
		t.Run(name, func(t *testing.T) {
			wantError(t, c.do(http.MethodPost, "/users", map[string]string{"client": id, "email": "n-" + name + "@example.com", "password": password}), http.StatusUnauthorized)
			wantError(t, c.do(http.MethodPost, "/users/token", map[string]string{"client": id, "email": "any@example.com", "password": password}), http.StatusUnauthorized)
			wantError(t, c.refresh(id, a.Key, a.Refresh), http.StatusUnauthorized)
		})
	}
	// Another client's refresh is refused and spends nothing.
	wantError(t, c.refresh("other", a.Key, a.Refresh), http.StatusUnauthorized)
	wantRefreshed(t, c.refresh("anything-goes.v2", a.Key, a.Refresh))
}
