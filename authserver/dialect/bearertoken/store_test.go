package bearertoken_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
)

// With Redis down every route answers 500 in the envelope with its internal-error code, never
// a success and never INVALID_*, and nothing is lost: after Redis is back the same tokens
// work, with the same times.
func TestStoreDown(t *testing.T) {
	s := start(t, func(c *config.Config) { c.Registration.EmailConfirmation = config.ConfirmationRequired })
	uid := register(t, s, "outage@example.com")
	_, confirm := s.Mailbox.Wait(t, "outage@example.com", 1).Link(t)
	c := newClient(t, s)
	wantStatus(t, c.post("/api/users/activate", map[string]string{"activation_token": uid + "." + confirm}), http.StatusOK, "OK")
	user := login(t, c, "outage@example.com")
	g := openRegistry(t, s)
	device, _ := g.mint("gateway", "gw-1", nil, time.Hour)
	userBefore, deviceBefore := introspect(t, c, user.Token), introspect(t, c, device)

	s.Redis.Stop()
	for name, tc := range map[string]struct {
		r    func() response
		code string
	}{
		"login": {func() response {
			return c.post("/api/auth", map[string]string{"login": "outage@example.com", "password": password})
		}, "AUTH_FAILED"},
		"failed login": {func() response {
			return c.post("/api/auth", map[string]string{"login": "outage@example.com", "password": "wrong"})
		}, "AUTH_FAILED"},
		"introspect user":   {func() response { return c.withBearer(http.MethodGet, user.Token) }, "AUTH_FAILED"},
		"introspect device": {func() response { return c.withBearer(http.MethodGet, device) }, "AUTH_FAILED"},
		"revoke user":       {func() response { return c.withBearer(http.MethodDelete, user.Token) }, "AUTH_FAILED"},
		"revoke device":     {func() response { return c.withBearer(http.MethodDelete, device) }, "AUTH_FAILED"},
		"activate": {func() response {
			return c.post("/api/users/activate", map[string]string{"activation_token": uid + "." + strings.Repeat("A", 43)})
		}, "ACTIVATION_FAILED"},
		"activate in content": {func() response {
			return c.post("/api/users/activate", map[string]any{"content": map[string]string{"activation_token": uid + "." + confirm}})
		}, "ACTIVATION_FAILED"},
	} {
		t.Run(name, func(t *testing.T) {
			e := wantStatus(t, tc.r(), http.StatusInternalServerError, tc.code)
			if msg := map[string]string{"AUTH_FAILED": "Authentication failed", "ACTIVATION_FAILED": "Activation failed"}[tc.code]; e.Status.Message != msg {
				t.Errorf("message = %q, want the seed's %q", e.Status.Message, msg)
			}
		})
	}
	// What needs no store still answers as usual.
	wantStatus(t, c.post("/api/auth", "{"), http.StatusBadRequest, "INVALID_REQUEST")
	wantStatus(t, c.withBearer(http.MethodGet, "garbage"), http.StatusUnauthorized, "INVALID_TOKEN")
	// The outage is logged once, by the store's health monitor, not once per failed request.
	if n := len(s.LogLines(map[string]any{"msg": "bearerToken request failed"})); n != 0 {
		t.Errorf("%d internal errors logged for a store outage, want none", n)
	}
	if n := len(s.LogLines(map[string]any{"msg": "redis unavailable"})); n != 1 {
		t.Errorf("%d \"redis unavailable\" lines, want 1", n)
	}

	s.Redis.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := c.withBearer(http.MethodGet, user.Token)
		if r.StatusCode == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the user token does not work after Redis restarted: %d %s", r.StatusCode, r.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := introspect(t, c, user.Token); got.Created != userBefore.Created || got.Expires != userBefore.Expires {
		t.Errorf("user token after the outage = %+v, before %+v", got, userBefore)
	}
	if got := introspect(t, c, device); got.Created != deviceBefore.Created || got.Expires != deviceBefore.Expires {
		t.Errorf("device token after the outage = %+v, before %+v", got, deviceBefore)
	}
	// The failed attempts during the outage were not counted against the login.
	login(t, c, "outage@example.com")
}

// The Redis cost of each route, read from the server's own round-trip counter. Introspection,
// the hot path of every service that checks a token, is one round trip for either kind.
func TestRedisRoundTrips(t *testing.T) {
	s := start(t)
	register(t, s, "rt@example.com")
	g := openRegistry(t, s)
	c := newClient(t, s)
	device, _ := g.mint("rt-device", "rt-1", []string{"r"}, time.Hour)

	var user issued
	// One pipelined lockout check (address, (login, address) pair, login), the login lookup
	// (index, then record), the session, the reset of the pair's failure counter.
	if n := s.StoreRoundTrips(t, "POST /auth", func() { user = login(t, c, "rt@example.com") }); n > 5 {
		t.Errorf("a login took %v round trips, want at most 5", n)
	}
	if n := s.StoreRoundTrips(t, "POST /auth, wrong password", func() {
		wantStatus(t, c.post("/api/auth", map[string]string{"login": "rt@example.com", "password": "no"}), http.StatusUnauthorized, "INVALID_CREDENTIALS")
	}); n > 6 {
		t.Errorf("a failed login took %v round trips, want at most 6", n)
	}
	if n := s.StoreRoundTrips(t, "GET /auth, user token", func() { introspect(t, c, user.Token) }); n != 1 {
		t.Errorf("introspection of a user token took %v round trips, want 1", n)
	}
	if n := s.StoreRoundTrips(t, "GET /auth, device token", func() { introspect(t, c, device) }); n != 1 {
		t.Errorf("introspection of a device token took %v round trips, want 1", n)
	}
	if n := s.StoreRoundTrips(t, "GET /auth, malformed token", func() {
		wantStatus(t, c.withBearer(http.MethodGet, "not.a.token"), http.StatusUnauthorized, "INVALID_TOKEN")
	}); n != 0 {
		t.Errorf("a malformed token reached Redis (%v round trips)", n)
	}
	if n := s.StoreRoundTrips(t, "DELETE /auth, device token", func() {
		wantStatus(t, c.withBearer(http.MethodDelete, device), http.StatusForbidden, "FORBIDDEN")
	}); n != 1 {
		t.Errorf("DELETE with a device token took %v round trips, want 1", n)
	}
	// Check (refusing other dialects' tokens), then revoke in one atomic step.
	if n := s.StoreRoundTrips(t, "DELETE /auth, user token", func() { wantOK(t, c.withBearer(http.MethodDelete, user.Token), nil) }); n != 2 {
		t.Errorf("DELETE of a user token took %v round trips, want 2", n)
	}
}
