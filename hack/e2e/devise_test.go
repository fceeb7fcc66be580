package e2e

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rtaStep is one step of redux-token-auth.mjs: what the package dispatched and requested, and
// the store and the kept headers after it.
type rtaStep struct {
	Step    string `json:"step"`
	Replica int    `json:"replica"`
	Ms      int    `json:"ms"`
	Error   *struct {
		Message string          `json:"message"`
		Status  *int            `json:"status"`
		Body    json.RawMessage `json:"body"`
	} `json:"error"`
	Actions  []string `json:"actions"`
	Requests []struct {
		Method string `json:"method"`
		URL    string `json:"url"`
		Status *int   `json:"status"`
	} `json:"requests"`
	IsSignedIn bool               `json:"isSignedIn"`
	Attributes map[string]*string `json:"attributes"`
	Headers    map[string]*string `json:"headers"`
}

func (s rtaStep) header(k string) string {
	if v := s.Headers[k]; v != nil {
		return *v
	}
	return ""
}

func (s rtaStep) attr(k string) string {
	if v := s.Attributes[k]; v != nil {
		return *v
	}
	return ""
}

// The package's action types (its src/types.ts).
const rtaAction = "redux-token-auth/"

// testReduxTokenAuth runs redux-token-auth 0.19.0 in Node against deviseToken on both replicas:
// register on replica 0, sign in on replica 1, validate at once on replica 0 (inside the batch
// buffer: the current token is echoed), validate past the buffer on replica 1 (the token
// rotates), sign out on replica 0, and then the signed-out token fails on both.
func testReduxTokenAuth(t *testing.T, e *env) {
	buffer := e.cfg.Protocols.DeviseToken.BatchRequestBuffer.Duration
	out, err := runScript(t.Context(), jsDir, "redux-token-auth.mjs", map[string]any{
		"replicas":      e.urls,
		"prefix":        prefix(e.cfg.Protocols.DeviseToken.Prefix),
		"email":         e.user.Email,
		"password":      e.user.Password,
		"firstName":     e.user.FirstName,
		"lastName":      e.user.LastName,
		"batchBufferMs": buffer.Milliseconds(),
	})
	must(t, "redux-token-auth", err)
	var res struct {
		Steps []rtaStep `json:"steps"`
	}
	must(t, "decode the script's report", json.Unmarshal(out, &res))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("redux-token-auth report:\n%s", indentJSON(out))
		}
	})
	names := make([]string, len(res.Steps))
	for i, s := range res.Steps {
		names[i] = s.Step
	}
	want := []string{"register", "signIn", "validateInBuffer", "validateRotated", "signOut", "validateAfterSignOut", "validateAfterSignOut"}
	if !slices.Equal(names, want) {
		t.Fatalf("steps %v, want %v", names, want)
	}
	reg, signIn, echo, rotated, signOut := res.Steps[0], res.Steps[1], res.Steps[2], res.Steps[3], res.Steps[4]

	// Every step made exactly the one request the package makes for it, to the replica meant.
	for _, c := range []struct {
		s              rtaStep
		method, path   string
		status         int
		succeeded      string
		signedInAfter  bool
		headersRemoved bool
	}{
		{reg, "POST", "", 200, "REGISTRATION_REQUEST_SUCCEEDED", true, false},
		{signIn, "POST", "/sign_in", 200, "SIGNIN_REQUEST_SUCCEEDED", true, false},
		{echo, "GET", "/validate_token", 200, "VERIFY_TOKEN_REQUEST_SUCCEEDED", true, false},
		{rotated, "GET", "/validate_token", 200, "VERIFY_TOKEN_REQUEST_SUCCEEDED", true, false},
		{signOut, "DELETE", "/sign_out", 200, "SIGNOUT_REQUEST_SUCCEEDED", false, true},
		{res.Steps[5], "GET", "/validate_token", 401, "VERIFY_TOKEN_REQUEST_FAILED", false, true},
		{res.Steps[6], "GET", "/validate_token", 401, "VERIFY_TOKEN_REQUEST_FAILED", false, true},
	} {
		s := c.s
		if s.Error != nil {
			t.Errorf("%s on replica %d: the package threw %s (HTTP %v, body %s)", s.Step, s.Replica, s.Error.Message, deref(s.Error.Status), s.Error.Body)
			continue
		}
		url := e.devise(s.Replica, c.path)
		if len(s.Requests) != 1 || s.Requests[0].Method != c.method || s.Requests[0].URL != url || deref(s.Requests[0].Status) != c.status {
			t.Errorf("%s: requests %+v, want one %s %s answered %d", s.Step, s.Requests, c.method, url, c.status)
		}
		if !slices.Contains(s.Actions, rtaAction+c.succeeded) {
			t.Errorf("%s: the package dispatched %v, not %s", s.Step, s.Actions, c.succeeded)
		}
		if s.IsSignedIn != c.signedInAfter {
			t.Errorf("%s: isSignedIn %t, want %t", s.Step, s.IsSignedIn, c.signedInAfter)
		}
		for _, k := range []string{"access-token", "token-type", "client", "expiry", "uid"} {
			v := s.header(k)
			switch {
			case c.headersRemoved && v != "":
				t.Errorf("%s: localStorage still holds %s=%q", s.Step, k, v)
			case !c.headersRemoved && (v == "" || v == "undefined"):
				// The package stores whatever header came back: a missing or blank one would
				// sign the app out on its next request.
				t.Errorf("%s: the server sent no %s header (localStorage holds %q)", s.Step, k, v)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// The user's attributes reached the store, mapped by the app's userAttributes.
	for k, v := range map[string]string{"email": e.user.Email, "uid": e.user.Email, "firstName": e.user.FirstName, "lastName": e.user.LastName} {
		if got := reg.attr(k); got != v {
			t.Errorf("register: attribute %s = %q, want %q", k, got, v)
		}
	}
	e.user.ID = reg.attr("id")
	if e.user.ID == "" {
		t.Fatal("register: the user has no id attribute")
	}
	if reg.header("token-type") != "Bearer" {
		t.Errorf("register: token-type %q, want Bearer", reg.header("token-type"))
	}

	// Sign-in on the other replica made a second device session (client) of the same user.
	if signIn.header("client") == reg.header("client") || signIn.header("uid") != e.user.Email {
		t.Errorf("sign in: client %q uid %q (registration's client %q)", signIn.header("client"), signIn.header("uid"), reg.header("client"))
	}
	lifespan := e.cfg.Protocols.DeviseToken.TokenLifespan.Duration
	if exp := unixHeader(t, signIn, "expiry"); !near(exp, time.Now().Add(lifespan), 5*time.Minute) {
		t.Errorf("sign in: expiry %s, want about now + %s", fmtTime(exp), lifespan)
	}

	// Inside the batch buffer the current token is echoed (never blank, never rotated).
	if echo.header("access-token") != signIn.header("access-token") || echo.header("client") != signIn.header("client") {
		t.Errorf("validate inside the %s buffer: token %q client %q, want the current token echoed (%q, %q)",
			buffer, echo.header("access-token"), echo.header("client"), signIn.header("access-token"), signIn.header("client"))
	}
	// Past the buffer, on the other replica, it rotates within the same client.
	if rotated.header("access-token") == echo.header("access-token") {
		t.Errorf("validate past the %s buffer: the token did not rotate", buffer)
	}
	if rotated.header("client") != signIn.header("client") || rotated.header("uid") != e.user.Email {
		t.Errorf("validate past the buffer: client %q uid %q, want the session's %q %q", rotated.header("client"), rotated.header("uid"), signIn.header("client"), e.user.Email)
	}
	if unixHeader(t, rotated, "expiry").Before(unixHeader(t, signIn, "expiry")) {
		t.Errorf("validate past the buffer: expiry %s moved back from %s (it slides on rotation)", rotated.header("expiry"), signIn.header("expiry"))
	}
	t.Logf("devise rotation seen by redux-token-auth: echoed inside the %s buffer, rotated after it; sign out ended the session on both replicas", buffer)
}

func unixHeader(t *testing.T, s rtaStep, k string) time.Time {
	t.Helper()
	n, err := strconv.ParseInt(strings.TrimSpace(s.header(k)), 10, 64)
	if err != nil {
		t.Fatalf("%s: header %s = %q is not Unix seconds", s.Step, k, s.header(k))
	}
	return time.Unix(n, 0)
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
