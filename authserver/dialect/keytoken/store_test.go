package keytoken_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store"
)

// With Redis down every route answers 500 {"error"}, never a success and never a 401 that
// would make a client drop its tokens, and nothing is lost: after Redis is back the access
// token and the refresh token work. With registered clients required, the client check
// fails closed too.
func TestStoreDown(t *testing.T) {
	for _, required := range []bool{false, true} {
		name := "any client"
		if required {
			name = "registered clients"
		}
		t.Run(name, func(t *testing.T) {
			s := start(t, "/", func(c *config.Config) { c.Clients.RequireRegistered = required })
			c := newClient(t, s)
			if required {
				if err := openStore(t, s).PutAppClient(t.Context(), store.AppClient{ID: "web"}); err != nil {
					t.Fatal(err)
				}
			}
			a := c.register("web", "outage@example.com")

			s.Redis.Stop()
			for route, r := range map[string]func() response{
				"register": func() response {
					return c.do(http.MethodPost, "/users", map[string]string{"client": "web", "email": "new@example.com", "password": password})
				},
				"login": func() response {
					return c.do(http.MethodPost, "/users/token", map[string]string{"client": "web", "email": "outage@example.com", "password": password})
				},
				"failed login": func() response {
					return c.do(http.MethodPost, "/users/token", map[string]string{"client": "web", "email": "outage@example.com", "password": "wrong"})
				},
				"refresh": func() response { return c.refresh("web", a.Key, a.Refresh) },
				"get":     func() response { return c.do(http.MethodGet, "/users", nil, a.auth()...) },
				"patch": func() response {
					return c.do(http.MethodPatch, "/users", map[string]string{"email": "moved@example.com"}, a.auth()...)
				},
				"logout": func() response { return c.do(http.MethodDelete, "/users/token", nil, a.auth()...) },
			} {
				t.Run(route, func(t *testing.T) {
					if msg := wantError(t, r(), http.StatusInternalServerError); msg != "internal error" {
						t.Errorf("message = %q, want internal error", msg)
					}
				})
			}

			s.Redis.Restart()
			deadline := time.Now().Add(10 * time.Second)
			for {
				r := c.do(http.MethodGet, "/users", nil, a.auth()...)
				if r.StatusCode == http.StatusOK {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the access token does not work after Redis restarted: %d %s", r.StatusCode, r.Body)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if u := wantUser(t, c.do(http.MethodGet, "/users", nil, a.auth()...)); u.Email != "outage@example.com" {
				t.Errorf("user after the outage = %+v", u)
			}
			wantRefreshed(t, c.refresh("web", a.Key, a.Refresh))
			c.login("web", "outage@example.com")
		})
	}
}

// The Redis cost of each route, from the server's own round-trip counter: an authenticated
// request is one round trip; a refresh is two (the session's client, then the exchange), and
// one more when registered clients are required.
func TestRedisRoundTrips(t *testing.T) {
	s := start(t, "/", func(c *config.Config) { c.Clients.RequireRegistered = true })
	if err := openStore(t, s).PutAppClient(t.Context(), store.AppClient{ID: "web"}); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, s)
	var a creds
	s.StoreRoundTrips(t, "POST users", func() { a = c.register("web", "rt@example.com") })
	if n := s.StoreRoundTrips(t, "POST users/token", func() { a = c.login("web", "rt@example.com") }); n > 8 {
		t.Errorf("a login took %v round trips, want at most 8 (the client, the session's entry in the client's index, then as every login)", n)
	}
	if n := s.StoreRoundTrips(t, "GET users", func() { wantUser(t, c.do(http.MethodGet, "/users", nil, a.auth()...)) }); n != 1 {
		t.Errorf("GET users took %v round trips, want 1", n)
	}
	if n := s.StoreRoundTrips(t, "GET users, malformed credentials", func() {
		wantError(t, c.do(http.MethodGet, "/users", nil, "Authorization", "Basic Zm9vOmJhcg=="), http.StatusUnauthorized)
	}); n != 0 {
		t.Errorf("malformed credentials reached Redis (%v round trips)", n)
	}
	var rf refreshed
	if n := s.StoreRoundTrips(t, "POST users/token/refresh", func() { rf = wantRefreshed(t, c.refresh("web", a.Key, a.Refresh)) }); n != 3 {
		t.Errorf("a refresh took %v round trips, want 3", n)
	}
	s.StoreRoundTrips(t, "PATCH users, names", func() {
		wantUser(t, c.do(http.MethodPatch, "/users", map[string]string{"firstName": "B"}, basic(rf.Key, rf.Token)...))
	})
	if n := s.StoreRoundTrips(t, "DELETE users/token", func() {
		wantNoContent(t, c.do(http.MethodDelete, "/users/token", nil, basic(rf.Key, rf.Token)...))
	}); n != 2 {
		t.Errorf("a logout took %v round trips, want 2", n)
	}
}
