package devisetoken_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
)

// The success rows of register, sign_in, validate_token and sign_out, as redux-token-auth
// drives them: register, validate with query params, sign out with the JSON body.
func TestSessionLifecycle(t *testing.T) {
	s := start(t, servertest.Options{})
	c := newClient(t, s)

	// POST /auth: 200 {"status":"success","data":{user}} + headers; the email is the login,
	// trimmed and lower-cased, and the uid.
	r := c.post("/auth", map[string]any{
		"email": "  Ada@Example.COM ", "password": password, "password_confirmation": password,
		"first_name": "Ada", "last_name": "Lovelace", "favorite_color": "yellow ogre", "config_name": "default",
	})
	wantStatus(t, r, http.StatusOK)
	var reg struct {
		Status string `json:"status"`
		Data   user   `json:"data"`
	}
	decode(t, r, &reg)
	u := reg.Data
	if reg.Status != "success" || u.Email != "ada@example.com" || u.UID != "ada@example.com" || u.Provider != "email" ||
		len(u.ID) != 22 || u.Name != "Ada Lovelace" || u.FirstName != "Ada" || u.LastName != "Lovelace" {
		t.Errorf("registered user = %s", r.Body)
	}
	if strings.Contains(string(r.Body), password) || strings.Contains(strings.ToLower(string(r.Body)), "argon") {
		t.Errorf("the registration answer holds the password or its hash: %s", r.Body)
	}
	first := wantCreds(t, r)
	if first.UID != "ada@example.com" || len(first.Client) != 22 || !strings.Contains(first.Token, "."+first.Client+".") {
		t.Errorf("registration headers = %+v, want uid = email and client = the token's session", first)
	}

	// GET validate_token with the credentials as query params (redux-token-auth).
	got, again := wantValid(t, c.get("/auth/validate_token?"+first.query()))
	if got != u {
		t.Errorf("validate_token user = %+v, want %+v", got, u)
	}
	if again.Client != first.Client || again.UID != first.UID {
		t.Errorf("validate_token headers = %+v, want the same client and uid as %+v", again, first)
	}

	// DELETE sign_out with the credentials in the JSON body (redux-token-auth).
	r = c.do(http.MethodDelete, "/auth/sign_out", map[string]string{"access-token": again.Token, "client": again.Client, "uid": again.UID})
	wantStatus(t, r, http.StatusOK)
	if string(r.Body) != "{\"success\":true}\n" {
		t.Errorf("sign_out body = %s, want {\"success\":true}", r.Body)
	}
	wantNoCreds(t, r)
	// The session has ended, for every token it ever had.
	wantError(t, c.validate(again), http.StatusUnauthorized, msgInvalidToken)
	wantError(t, c.validate(first), http.StatusUnauthorized, msgInvalidToken)
	wantError(t, c.do(http.MethodDelete, "/auth/sign_out", nil, again.headers()...), http.StatusNotFound, msgNotSignedIn)

	// POST sign_in, the email in another case and padded: 200 {"data":{user}} + headers.
	got, cr := wantSignedIn(t, c.post("/auth/sign_in", map[string]string{"email": " ADA@example.com", "password": password}))
	if got != u {
		t.Errorf("sign_in user = %+v, want %+v", got, u)
	}
	if cr.Client == first.Client {
		t.Error("a new sign-in reused the old client")
	}
	wantValid(t, c.validate(cr))

	// Form bodies work as JSON does.
	_, form := wantSignedIn(t, c.post("/auth/sign_in", url.Values{"email": {"ada@example.com"}, "password": {password}}))
	wantValid(t, c.validate(form))
	r = c.do(http.MethodDelete, "/auth/sign_out", url.Values{"access-token": {form.Token}, "client": {form.Client}, "uid": {form.UID}})
	wantStatus(t, r, http.StatusOK)
	wantError(t, c.validate(form), http.StatusUnauthorized, msgInvalidToken)
	wantValid(t, c.validate(cr))

	// The logs hold no secret.
	logs := s.Logs()
	for name, secret := range map[string]string{"password": password, "first token": first.Token, "token": cr.Token, "form token": form.Token} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs hold the %s", name)
		}
	}
}

// A form-encoded registration is the same as a JSON one, and a user registered here can use
// the other dialects (and the other way round): one store of users.
func TestRegisterFormAndSharedUsers(t *testing.T) {
	s := start(t, servertest.Options{})
	c := newClient(t, s)
	r := c.post("/auth", url.Values{"email": {"form@example.com"}, "password": {password}, "name": {"Grace Hopper"}})
	wantStatus(t, r, http.StatusOK)
	var reg struct {
		Status string `json:"status"`
		Data   user   `json:"data"`
	}
	decode(t, r, &reg)
	if reg.Data.Name != "Grace Hopper" || reg.Data.Email != "form@example.com" {
		t.Errorf("form registration = %s", r.Body)
	}
	wantCreds(t, r)

	// The account dialect signs the same user in.
	r = c.post("/account/login", map[string]string{"login": "form@example.com", "password": password})
	if r.StatusCode != http.StatusOK {
		t.Errorf("account login of a deviseToken user = %d %s", r.StatusCode, r.Body)
	}
	// And a user registered through the account dialect signs in here, uid = login.
	r = c.post("/account/register", map[string]string{"login": "Acct@Example.com", "password": password})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("account register = %d %s", r.StatusCode, r.Body)
	}
	u, cr := wantSignedIn(t, c.post("/auth/sign_in", map[string]string{"email": "acct@example.com", "password": password}))
	if u.UID != "Acct@Example.com" || cr.UID != "Acct@Example.com" {
		t.Errorf("uid of an account user = %q / %q, want its login", u.UID, cr.UID)
	}
	// The uid is compared case-insensitively, like the login.
	wantValid(t, c.get("/auth/validate_token", "access-token", cr.Token, "client", cr.Client, "uid", "acct@example.com"))
}

// POST /auth refusals: 422 {"status":"error","data":{...},"errors":{field:[...],"full_messages":[...]}}.
func TestRegisterRefused(t *testing.T) {
	s := start(t, servertest.Options{})
	c := newClient(t, s)
	register(t, c, "taken@example.com")
	long := strings.Repeat("x", 257)
	for _, tc := range []struct {
		name   string
		body   map[string]any
		fields map[string]string
		full   []string
	}{
		{"password mismatch", map[string]any{"email": "a@example.com", "password": password, "password_confirmation": "something else"},
			map[string]string{"password_confirmation": "doesn't match Password"}, []string{"Password confirmation doesn't match Password"}},
		{"empty confirmation", map[string]any{"email": "a@example.com", "password": password, "password_confirmation": ""},
			map[string]string{"password_confirmation": "doesn't match Password"}, []string{"Password confirmation doesn't match Password"}},
		{"too short", map[string]any{"email": "a@example.com", "password": "abc1234", "password_confirmation": "abc1234"},
			map[string]string{"password": "is too short (minimum is 8 characters)"}, []string{"Password is too short (minimum is 8 characters)"}},
		{"too long", map[string]any{"email": "a@example.com", "password": long},
			map[string]string{"password": "is too long (maximum is 256 bytes)"}, []string{"Password is too long (maximum is 256 bytes)"}},
		{"email taken", map[string]any{"email": " TAKEN@example.com", "password": password},
			map[string]string{"email": "has already been taken"}, []string{"Email has already been taken"}},
		{"invalid email", map[string]any{"email": "not an email", "password": password},
			map[string]string{"email": "is not an email"}, []string{"Email is not an email"}},
		{"display name", map[string]any{"email": "Ada <ada@example.com>", "password": password},
			map[string]string{"email": "is not an email"}, []string{"Email is not an email"}},
		{"everything at once", map[string]any{"email": "", "password": "", "password_confirmation": "x"},
			map[string]string{"email": "can't be blank", "password": "can't be blank", "password_confirmation": "doesn't match Password"},
			[]string{"Email can't be blank", "Password can't be blank", "Password confirmation doesn't match Password"}},
		{"control character in a name", map[string]any{"email": "ctl@example.com", "password": password, "first_name": "A\u0007"},
			map[string]string{"first_name": "must be printable text"}, []string{"First name must be printable text"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.post("/auth", tc.body)
			wantRegistrationError(t, r, tc.fields, tc.full)
			wantNoCreds(t, r)
			if pw, _ := tc.body["password"].(string); pw != "" && strings.Contains(string(r.Body), pw) {
				t.Errorf("the refusal echoes the password: %s", r.Body)
			}
		})
	}
	// The refused registrations created nothing.
	wantError(t, c.post("/auth/sign_in", map[string]string{"email": "a@example.com", "password": password}), http.StatusUnauthorized, msgBadCredentials)

	closed := start(t, servertest.Options{InMemory: true}, func(c *config.Config) { c.Registration.Closed = true })
	r := newClient(t, closed).post("/auth", map[string]string{"email": "new@example.com", "password": password})
	wantRegistrationError(t, r, map[string]string{"base": "Registration is closed."}, []string{"Registration is closed."})
}

// wantRegistrationError checks a 422 registration refusal with exactly the given field
// errors and full messages, and an echo of the submitted record without an id.
func wantRegistrationError(t *testing.T, r response, fields map[string]string, full []string) {
	t.Helper()
	wantStatus(t, r, http.StatusUnprocessableEntity)
	var b struct {
		Status string              `json:"status"`
		Data   map[string]any      `json:"data"`
		Errors map[string][]string `json:"errors"`
	}
	decode(t, r, &b)
	if b.Status != "error" || b.Data == nil || b.Data["id"] != nil || b.Data["provider"] != "email" {
		t.Errorf("refusal %s: want status error and the unsaved record", r.Body)
	}
	if _, ok := b.Data["password"]; ok {
		t.Errorf("refusal %s echoes a password field", r.Body)
	}
	for f, msg := range fields {
		if got := b.Errors[f]; len(got) != 1 || got[0] != msg {
			t.Errorf("errors[%s] = %q, want [%q] (body %s)", f, got, msg, r.Body)
		}
	}
	if len(b.Errors) != len(fields)+1 {
		t.Errorf("errors = %v, want exactly %v and full_messages", b.Errors, fields)
	}
	if got := b.Errors["full_messages"]; strings.Join(got, "|") != strings.Join(full, "|") {
		t.Errorf("full_messages = %q, want %q", got, full)
	}
}

// With email confirmation required, registration answers the user without auth headers and
// sign_in refuses the pending user with the one bad-credentials answer until the
// confirmation link is used.
func TestRegisterPendingConfirmation(t *testing.T) {
	s := start(t, servertest.Options{}, func(c *config.Config) { c.Registration.EmailConfirmation = config.ConfirmationRequired })
	c := newClient(t, s)
	r := c.post("/auth", map[string]string{"email": "pending@example.com", "password": password})
	wantStatus(t, r, http.StatusOK)
	wantNoCreds(t, r)
	var reg struct {
		Status string `json:"status"`
		Data   user   `json:"data"`
	}
	decode(t, r, &reg)
	if reg.Status != "success" || reg.Data.Email != "pending@example.com" {
		t.Errorf("pending registration = %s", r.Body)
	}
	creds := map[string]string{"email": "pending@example.com", "password": password}
	wantError(t, c.post("/auth/sign_in", creds), http.StatusUnauthorized, msgBadCredentials)

	uid, tok := s.Mailbox.Wait(t, "pending@example.com", 1).Link(t)
	if uid != reg.Data.ID {
		t.Errorf("confirmation link for %s, want %s", uid, reg.Data.ID)
	}
	if r := c.post("/account/confirm", map[string]string{"id": uid, "token": tok}); r.StatusCode != http.StatusNoContent {
		t.Fatalf("confirm = %d %s", r.StatusCode, r.Body)
	}
	wantSignedIn(t, c.post("/auth/sign_in", creds))
}

// Every failed sign_in, unknown email or wrong password or empty fields, is the same 401 with
// the same bytes and the same headers (but Date and X-Request-Id), and sets no credentials.
func TestSignInFailuresIndistinguishable(t *testing.T) {
	s := start(t, servertest.Options{})
	c := newClient(t, s)
	register(t, c, "known@example.com")
	ref := c.post("/auth/sign_in", map[string]string{"email": "known@example.com", "password": "not the password"})
	wantError(t, ref, http.StatusUnauthorized, msgBadCredentials)
	wantNoCreds(t, ref)
	for name, body := range map[string]any{
		"unknown email":        map[string]string{"email": "nobody@example.com", "password": password},
		"unknown email, form":  url.Values{"email": {"nobody@example.com"}, "password": {password}},
		"wrong password, case": map[string]string{"email": "KNOWN@example.com", "password": "another wrong one"},
		"no password":          map[string]string{"email": "known@example.com"},
		"no email":             map[string]string{"password": password},
		"empty object":         map[string]string{},
	} {
		t.Run(name, func(t *testing.T) {
			r := c.post("/auth/sign_in", body)
			if r.StatusCode != ref.StatusCode || string(r.Body) != string(ref.Body) {
				t.Errorf("%d %s, wrong password: %d %s", r.StatusCode, r.Body, ref.StatusCode, ref.Body)
			}
			if got, want := servertest.ComparableHeaders(r.Header), servertest.ComparableHeaders(ref.Header); got != want {
				t.Errorf("headers:\n%s\nwrong password headers:\n%s", got, want)
			}
		})
	}
}

// GET validate_token: every failure row is 401 with devise's message, and none leaks a header.
func TestValidateTokenRefused(t *testing.T) {
	s := start(t, servertest.Options{})
	c := newClient(t, s)
	_, cr := register(t, c, "v@example.com")
	_, other := register(t, c, "w@example.com")
	accountCookie := func() string {
		r := c.post("/account/login", map[string]string{"login": "v@example.com", "password": password})
		for _, ck := range r.Cookies() {
			if ck.Name == "latch_session" {
				return ck.Value
			}
		}
		t.Fatalf("account login set no cookie: %d %s", r.StatusCode, r.Body)
		return ""
	}()
	accountSID := strings.Split(accountCookie, ".")[1]
	wrongSecret := cr.Token[:len(cr.Token)-43] + strings.Repeat("A", 43)
	for name, header := range map[string][]string{
		"nothing":                {},
		"no token":               {"client", cr.Client, "uid", cr.UID},
		"garbage token":          {"access-token", "garbage", "client", cr.Client, "uid", cr.UID},
		"wrong secret":           {"access-token", wrongSecret, "client", cr.Client, "uid", cr.UID},
		"no client (default)":    {"access-token", cr.Token, "uid", cr.UID},
		"client default":         {"access-token", cr.Token, "client", "default", "uid", cr.UID},
		"another session client": {"access-token", cr.Token, "client", other.Client, "uid", cr.UID},
		"no uid":                 {"access-token", cr.Token, "client", cr.Client},
		"another user's uid":     {"access-token", cr.Token, "client", cr.Client, "uid", other.UID},
		"another user's token":   {"access-token", other.Token, "client", other.Client, "uid", cr.UID},
		"an account session":     {"access-token", accountCookie, "client", accountSID, "uid", cr.UID},
		"oversize token":         {"access-token", strings.Repeat("A", 600), "client", cr.Client, "uid", cr.UID},
	} {
		t.Run(name, func(t *testing.T) {
			r := c.get("/auth/validate_token", header...)
			wantError(t, r, http.StatusUnauthorized, msgInvalidToken)
			wantNoCreds(t, r)
		})
	}
	// The refusals above did not disturb the real session.
	wantValid(t, c.validate(cr))
	wantValid(t, c.validate(other))
}

// DELETE sign_out: every failure is 404 with devise's message and ends nothing.
func TestSignOutRefused(t *testing.T) {
	s := start(t, servertest.Options{})
	c := newClient(t, s)
	_, cr := register(t, c, "so@example.com")
	_, other := register(t, c, "so2@example.com")
	wrongSecret := cr.Token[:len(cr.Token)-43] + strings.Repeat("A", 43)
	for name, header := range map[string][]string{
		"nothing":              {},
		"garbage token":        {"access-token", "garbage", "client", cr.Client, "uid", cr.UID},
		"wrong secret":         {"access-token", wrongSecret, "client", cr.Client, "uid", cr.UID},
		"no client":            {"access-token", cr.Token, "uid", cr.UID},
		"another client":       {"access-token", cr.Token, "client", other.Client, "uid", cr.UID},
		"no uid":               {"access-token", cr.Token, "client", cr.Client},
		"another user's token": {"access-token", wrongSecret[:23] + other.Token[23:], "client", other.Client, "uid", other.UID},
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, c.do(http.MethodDelete, "/auth/sign_out", nil, header...), http.StatusNotFound, msgNotSignedIn)
		})
	}
	wantValid(t, c.validate(cr))
	wantValid(t, c.validate(other))
}
