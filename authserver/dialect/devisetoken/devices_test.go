package devisetoken_test

import (
	"net/http"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
)

const msgDeviceLimit = "Maximum number of devices reached. Sign out on another device first."

func maxDevices(n int, policy config.DevicePolicy) func(*config.Config) {
	return func(c *config.Config) {
		c.Protocols.DeviseToken.MaxDevices = n
		c.Protocols.DeviseToken.DevicePolicy = policy
	}
}

// EvictOldest (devise's behaviour): a sign-in past maxDevices ends the oldest device's
// session; sessions of other dialects do not count.
func TestMaxDevicesEvictOldest(t *testing.T) {
	s := start(t, servertest.Options{}, maxDevices(2, config.EvictOldest))
	c := newClient(t, s)
	_, first := register(t, c, "evict@example.com")
	if r := c.post("/account/login", map[string]string{"login": "evict@example.com", "password": password}); r.StatusCode != http.StatusOK {
		t.Fatalf("account login = %d", r.StatusCode)
	}
	second := signIn(t, c, "evict@example.com")
	wantValid(t, c.validate(first))
	third := signIn(t, c, "evict@example.com")

	wantError(t, c.validate(first), http.StatusUnauthorized, msgInvalidToken)
	wantValid(t, c.validate(second))
	wantValid(t, c.validate(third))
	if n := len(s.LogLines(map[string]any{"audit": true, "event": "session.evicted", "session_id": first.Client})); n != 1 {
		t.Errorf("%d eviction audit events for the oldest session, want 1", n)
	}
	// The account session was not evicted to make room.
	if r := c.get("/account/session"); r.StatusCode != http.StatusOK {
		t.Errorf("the account session = %d, want it alive", r.StatusCode)
	}
}

// DenyNew: a sign-in past maxDevices is refused with 401 in devise's shape and ends nothing;
// a device signing in again with its client replaces its own session even at the limit; a
// sign-out makes room.
func TestMaxDevicesDenyNew(t *testing.T) {
	s := start(t, servertest.Options{}, maxDevices(2, config.DenyNew))
	c := newClient(t, s)
	_, first := register(t, c, "deny@example.com")
	second := signIn(t, c, "deny@example.com")

	creds := map[string]string{"email": "deny@example.com", "password": password}
	r := c.post("/auth/sign_in", creds)
	wantError(t, r, http.StatusUnauthorized, msgDeviceLimit)
	wantNoCreds(t, r)
	wantValid(t, c.validate(first))
	wantValid(t, c.validate(second))
	// A wrong password at the limit is still the one bad-credentials answer.
	wantError(t, c.post("/auth/sign_in", map[string]string{"email": "deny@example.com", "password": "wrong"}), http.StatusUnauthorized, msgBadCredentials)

	// The first device signs in again, presenting its credentials as j-toker does: its
	// session is replaced, not refused.
	replaced := signIn(t, c, "deny@example.com", first.headers()...)
	if replaced.Client == first.Client {
		t.Error("the replacing session kept the old client")
	}
	wantError(t, c.validate(first), http.StatusUnauthorized, msgInvalidToken)
	wantValid(t, c.validate(second))
	wantValid(t, c.validate(replaced))
	if n := len(s.LogLines(map[string]any{"audit": true, "event": "session.replaced", "session_id": first.Client})); n != 1 {
		t.Errorf("%d replacement audit events, want 1", n)
	}
	// A client alone (no token) names the device too.
	again := signIn(t, c, "deny@example.com", "client", replaced.Client)
	wantError(t, c.validate(replaced), http.StatusUnauthorized, msgInvalidToken)

	// A sign-out makes room for a new device.
	wantStatus(t, c.do(http.MethodDelete, "/auth/sign_out", nil, second.headers()...), http.StatusOK)
	third := signIn(t, c, "deny@example.com")
	wantValid(t, c.validate(again))
	wantValid(t, c.validate(third))
	wantError(t, c.post("/auth/sign_in", creds), http.StatusUnauthorized, msgDeviceLimit)
}
