package devisetoken_test

import (
	"net/http"
	"testing"

	"github.com/latchauth/latch/authserver/servertest"
)

// The Redis cost of the hot paths, read from the server's own round-trip counter:
// validate_token (validate and rotate in one script) and sign_out (check and revoke in one
// script) are one round trip each; a sign-in is a fixed handful; requests that cannot
// authenticate never reach Redis.
func TestRedisRoundTrips(t *testing.T) {
	s := start(t, servertest.Options{})
	c := newClient(t, s)
	_, first := register(t, c, "rt@example.com")

	var cr creds
	// One pipelined lockout check (address, (login, address) pair, login), the login lookup
	// (index, then record), the session, the reset of the pair's failure counter.
	plain := s.StoreRoundTrips(t, "sign_in", func() { cr = signIn(t, c, "rt@example.com") })
	if plain > 5 {
		t.Errorf("sign_in took %v round trips, want at most 5", plain)
	}
	// The same, plus reading and ending the device's previous session.
	if n := s.StoreRoundTrips(t, "sign_in replacing the device's session", func() {
		signIn(t, c, "rt@example.com", first.headers()...)
	}); n != plain+2 {
		t.Errorf("a replacing sign_in took %v round trips, want %v", n, plain+2)
	}
	if n := s.StoreRoundTrips(t, "failed sign_in", func() {
		wantError(t, c.post("/auth/sign_in", map[string]string{"email": "rt@example.com", "password": "no"}), http.StatusUnauthorized, msgBadCredentials)
	}); n > 6 {
		t.Errorf("a failed sign_in took %v round trips, want at most 6", n)
	}
	if n := s.StoreRoundTrips(t, "validate_token", func() { _, cr = wantValid(t, c.validate(cr)) }); n != 1 {
		t.Errorf("validate_token took %v round trips, want 1", n)
	}
	if n := s.StoreRoundTrips(t, "sign_out", func() {
		wantStatus(t, c.do(http.MethodDelete, "/auth/sign_out", nil, cr.headers()...), http.StatusOK)
	}); n != 1 {
		t.Errorf("sign_out took %v round trips, want 1", n)
	}
	for name, header := range map[string][]string{
		"a malformed token":        {"access-token", "x", "client", cr.Client, "uid", cr.UID},
		"a client not the token's": {"access-token", cr.Token, "client", first.Client, "uid", cr.UID},
		"no uid":                   {"access-token", cr.Token, "client", cr.Client},
	} {
		if n := s.StoreRoundTrips(t, "validate_token with "+name, func() {
			wantError(t, c.get("/auth/validate_token", header...), http.StatusUnauthorized, msgInvalidToken)
		}); n != 0 {
			t.Errorf("validate_token with %s reached Redis (%v round trips)", name, n)
		}
	}
}
