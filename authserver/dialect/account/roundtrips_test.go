package account_test

import (
	"net/http"
	"testing"

	"github.com/latchauth/latch/authserver/servertest"
)

// The Redis cost of the hot paths, read from the server's own round-trip counter: a session
// check and a logout are one round trip each; a login is a fixed handful.
func TestRedisRoundTrips(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	register(t, s, "rt@example.com")
	b := newBrowser(t, s)
	creds := map[string]string{"login": "rt@example.com", "password": password}
	// One pipelined lockout check (address, (login, address) pair, login), the login lookup
	// (index, then record), the session, the reset of the pair's failure counter.
	if n := s.StoreRoundTrips(t, "login", func() { wantUser(t, b.post("/account/login", creds)) }); n > 5 {
		t.Errorf("a login took %v round trips, want at most 5", n)
	}
	// One lockout check, the lookup (two), the imported-hash record (what a failure's time is
	// held to: only failures read it), three failure counters.
	if n := s.StoreRoundTrips(t, "failed login", func() {
		wantError(t, newBrowser(t, s).post("/account/login", map[string]string{"login": "rt@example.com", "password": "no"}), http.StatusUnauthorized)
	}); n > 7 {
		t.Errorf("a failed login took %v round trips, want at most 7", n)
	}
	if n := s.StoreRoundTrips(t, "GET session", func() { wantUser(t, b.get("/account/session")) }); n != 1 {
		t.Errorf("GET session took %v round trips, want 1", n)
	}
	if n := s.StoreRoundTrips(t, "logout", func() { wantNoContent(t, b.post("/account/logout", nil)) }); n != 1 {
		t.Errorf("logout took %v round trips, want 1", n)
	}
	if n := s.StoreRoundTrips(t, "GET session with a malformed cookie", func() {
		wantError(t, b.do(http.MethodGet, "/account/session", nil, "Cookie", "latch_session=x"), http.StatusUnauthorized)
	}); n != 0 {
		t.Errorf("a malformed token reached Redis (%v round trips)", n)
	}
}
