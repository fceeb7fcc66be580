package bearertoken_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/token"
)

// A device token registered in the store, as the operator registers it, is accepted by GET
// /auth as type device with user_id null; it is rejected once its registration is deleted or
// has expired. DELETE cannot revoke it (the operator is the single writer).
func TestDeviceTokens(t *testing.T) {
	s := start(t)
	g := openRegistry(t, s)
	c := newClient(t, s)

	tok, dt := g.mint("thermostat-1", "dev-4562589876543210", []string{"telemetry", "read"}, time.Hour)
	in := introspect(t, c, tok)
	if in.Type != "device" || in.UserID != nil || in.DeviceID == nil || *in.DeviceID != "dev-4562589876543210" ||
		in.ClientID != "thermostat-1" || !slices.Equal(in.Roles, []string{"telemetry", "read"}) ||
		in.Created != dt.CreatedAt.UTC().Format(time.RFC3339) || in.Expires != dt.ExpiresAt.UTC().Format(time.RFC3339) {
		t.Errorf("introspection = %+v, want device dev-4562589876543210 of thermostat-1 with its roles and times", in)
	}

	// DELETE with a valid device token: 403, and the token still works.
	wantStatus(t, c.withBearer(http.MethodDelete, tok), http.StatusForbidden, "FORBIDDEN")
	introspect(t, c, tok)

	// A registration without device ID or roles: the client names the device, roles are [].
	bare, _ := g.mint("sensor-kitchen", "", nil, time.Hour)
	if in := introspect(t, c, bare); in.DeviceID == nil || *in.DeviceID != "sensor-kitchen" || in.Roles == nil || len(in.Roles) != 0 {
		t.Errorf("bare device introspection = %+v, want device_id sensor-kitchen and roles []", in)
	}

	// During a rotation overlap both tokens of a client work.
	next, _ := g.mint("thermostat-1", "dev-4562589876543210", nil, time.Hour)
	introspect(t, c, tok)
	introspect(t, c, next)

	// A wrong secret for a real client, a real secret under another client, an unknown client.
	secret := tok[strings.IndexByte(tok, '.')+1:]
	other, err := token.New()
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"wrong secret":   "thermostat-1." + other,
		"other client":   "thermostat-2." + secret,
		"unknown client": "nobody." + other,
	} {
		t.Run(name, func(t *testing.T) {
			wantStatus(t, c.withBearer(http.MethodGet, bad), http.StatusUnauthorized, "INVALID_TOKEN")
			wantStatus(t, c.withBearer(http.MethodDelete, bad), http.StatusUnauthorized, "INVALID_TOKEN")
		})
	}

	// The operator deletes the registration: the token is refused, the other still works.
	if err := g.store.DeleteDeviceToken(t.Context(), "thermostat-1", dt.Hash); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c.withBearer(http.MethodGet, tok), http.StatusUnauthorized, "INVALID_TOKEN")
	wantStatus(t, c.withBearer(http.MethodDelete, tok), http.StatusUnauthorized, "INVALID_TOKEN")
	introspect(t, c, next)
	// ... or all of the client's registrations.
	if _, err := g.store.DeleteAllDeviceTokens(t.Context(), "thermostat-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c.withBearer(http.MethodGet, next), http.StatusUnauthorized, "INVALID_TOKEN")

	// A registration that expires is refused from its expiry on.
	short, sdt := g.mint("blinker", "blinker-1", nil, 1500*time.Millisecond)
	introspect(t, c, short)
	time.Sleep(time.Until(sdt.ExpiresAt) + 50*time.Millisecond)
	wantStatus(t, c.withBearer(http.MethodGet, short), http.StatusUnauthorized, "INVALID_TOKEN")

	if logs := s.Logs(); strings.Contains(logs, secret) || strings.Contains(logs, short[strings.IndexByte(short, '.')+1:]) {
		t.Error("the logs hold a device token's secret")
	}
}
