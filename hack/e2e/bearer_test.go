package e2e

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/latchauth/latch/internal/devcluster"
)

// bearerReply is the bearerToken dialect's envelope.
type bearerReply struct {
	Status struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
	Content struct {
		// POST /auth
		Token string `json:"token"`
		// GET /auth (introspection)
		Type     string   `json:"type"`
		UserID   *string  `json:"user_id"`
		DeviceID *string  `json:"device_id"`
		ClientID string   `json:"client_id"`
		Roles    []string `json:"roles"`
		// both
		Created string `json:"created"`
		Expires string `json:"expires"`
	} `json:"content"`
}

func bearerCall(t *testing.T, method, url string, body any, h http.Header) (int, bearerReply) {
	t.Helper()
	r := call(t, method, url, body, h)
	var b bearerReply
	r.decode(t, &b)
	return r.Status, b
}

// testBearerToken introspects the device token the operator minted for the dev realm's device
// client on both replicas, then takes a user token for the test's user on one replica and
// introspects and revokes it on the other.
func testBearerToken(t *testing.T, e *env) {
	ctx := t.Context()
	tok, dc, err := e.cluster.DeviceToken(ctx, devcluster.DevDeviceClient)
	must(t, "read the minted device token", err)
	if dc.Status.DeviceID == "" {
		t.Fatalf("DeviceClient %s reports no deviceID: %+v", devcluster.DevDeviceClient, dc.Status)
	}

	// The operator registered the token's hash in the realm's Redis; both replicas know it.
	for r := range e.urls {
		code, b := bearerCall(t, http.MethodGet, e.bearerAPI(r, "/auth"), nil, bearer(tok))
		c := b.Content
		if code != http.StatusOK || b.Status.Code != "OK" || c.Type != "device" || c.UserID != nil || c.DeviceID == nil || *c.DeviceID != dc.Status.DeviceID {
			t.Fatalf("device token on replica %d: %d %+v, want 200 OK type device, device_id %s, user_id null", r, code, b, dc.Status.DeviceID)
		}
		if c.ClientID != dc.Status.ClientID {
			t.Errorf("device token on replica %d: client_id %q, want %q", r, c.ClientID, dc.Status.ClientID)
		}
		if !slices.Equal(c.Roles, dc.Spec.Roles) {
			t.Errorf("device token on replica %d: roles %v, want the DeviceClient's %v", r, c.Roles, dc.Spec.Roles)
		}
		if exp := parseTime(t, c.Expires); dc.Status.TokenExpiresAt != nil && !exp.Equal(dc.Status.TokenExpiresAt.Time.Truncate(time.Second)) {
			t.Errorf("device token on replica %d: expires %s, the DeviceClient reports %s", r, c.Expires, fmtTime(dc.Status.TokenExpiresAt.Time))
		}
	}
	// Only the operator revokes device tokens: a client that holds one cannot end it over HTTP.
	if code, b := bearerCall(t, http.MethodDelete, e.bearerAPI(0, "/auth"), nil, bearer(tok)); code != http.StatusForbidden {
		t.Errorf("DELETE with the device token: %d %+v, want 403", code, b)
	}
	if code, _ := bearerCall(t, http.MethodGet, e.bearerAPI(1, "/auth"), nil, bearer(tok)); code != http.StatusOK {
		t.Errorf("the device token stopped working after a refused DELETE: %d", code)
	}

	// A user token for the user redux-token-auth registered through deviseToken.
	code, b := bearerCall(t, http.MethodPost, e.bearerAPI(0, "/auth"), map[string]string{"login": e.user.Email, "password": e.user.Password}, nil)
	if code != http.StatusOK || b.Content.Token == "" {
		t.Fatalf("POST /auth on replica 0: %d %+v", code, b)
	}
	userTok := b.Content.Token
	lifespan := e.cfg.Protocols.BearerToken.TokenLifespan.Duration
	if exp := parseTime(t, b.Content.Expires); !near(exp, time.Now().Add(lifespan), 5*time.Minute) {
		t.Errorf("user token expires %s, want about now + %s", b.Content.Expires, lifespan)
	}
	code, b = bearerCall(t, http.MethodGet, e.bearerAPI(1, "/auth"), nil, bearer(userTok))
	if code != http.StatusOK || b.Content.Type != "user" || b.Content.UserID == nil || *b.Content.UserID != e.user.ID || b.Content.DeviceID != nil {
		t.Fatalf("user token on replica 1: %d %+v, want type user, user_id %s", code, b, e.user.ID)
	}
	if code, b := bearerCall(t, http.MethodDelete, e.bearerAPI(1, "/auth"), nil, bearer(userTok)); code != http.StatusOK || b.Status.Code != "OK" {
		t.Fatalf("DELETE /auth on replica 1: %d %+v", code, b)
	}
	for r := range e.urls {
		if code, b := bearerCall(t, http.MethodGet, e.bearerAPI(r, "/auth"), nil, bearer(userTok)); code != http.StatusUnauthorized || b.Status.Code != "INVALID_TOKEN" {
			t.Errorf("revoked user token on replica %d: %d %+v, want 401 INVALID_TOKEN", r, code, b)
		}
	}
}

func parseTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("time %q is not RFC 3339: %v", s, err)
	}
	return v
}
