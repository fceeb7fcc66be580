package devisetoken_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
)

// wantRecordError checks devise's refused update: 422 {"success":false,"errors":{field:[msg],
// "full_messages":[...]}} with exactly fields, and the rotated headers. It returns them.
func wantRecordError(t *testing.T, r response, fields map[string]string) creds {
	t.Helper()
	wantStatus(t, r, http.StatusUnprocessableEntity)
	var b struct {
		Success *bool               `json:"success"`
		Errors  map[string][]string `json:"errors"`
	}
	decode(t, r, &b)
	if b.Success == nil || *b.Success || len(b.Errors) != len(fields)+1 || len(b.Errors["full_messages"]) != len(fields) {
		t.Errorf("body %s, want success false and errors %v with full_messages", r.Body, fields)
	}
	for f, msg := range fields {
		if got := b.Errors[f]; len(got) != 1 || got[0] != msg {
			t.Errorf("errors[%s] = %q, want [%q]", f, got, msg)
		}
	}
	return wantCreds(t, r)
}

// change is a PUT (or PATCH) password body.
func change(pw, current string) map[string]string {
	b := map[string]string{"password": pw, "password_confirmation": pw}
	if current != "\x00" {
		b["current_password"] = current
	}
	return b
}

const noCurrent = "\x00"

// An attacker holding only a stolen session (its headers) tries to set a password of their
// own, so as to lock the owner out: PUT and PATCH password need current_password, a wrong one
// is refused, and the owner keeps their password and, changing it, ends the stolen session.
func TestStolenTokenCannotChangePassword(t *testing.T) {
	s := start(t, servertest.Options{})
	c := newClient(t, s)
	_, mine := register(t, c, "victim@example.com")
	stolen := signIn(t, c, "victim@example.com")

	for _, tc := range []struct {
		method  string
		current string
		field   string
	}{
		{http.MethodPut, noCurrent, "can't be blank"},
		{http.MethodPatch, noCurrent, "can't be blank"},
		{http.MethodPut, "", "can't be blank"},
		{http.MethodPut, "password1", "is invalid"},
		{http.MethodPatch, "letmein!!", "is invalid"},
	} {
		r := c.do(tc.method, "/auth/password", change("the attacker's password", tc.current), stolen.headers()...)
		stolen = wantRecordError(t, r, map[string]string{"current_password": tc.field})
	}
	// Blank and wrong current passwords are reported beside the other errors, as devise does.
	r := c.do(http.MethodPut, "/auth/password", map[string]string{"password": "short", "password_confirmation": "short"}, stolen.headers()...)
	stolen = wantRecordError(t, r, map[string]string{"current_password": "can't be blank", "password": "is too short (minimum is 8 characters)"})

	// Nothing changed: the owner signs in with their password, and no notice was sent.
	wantSignedIn(t, c.post("/auth/sign_in", map[string]string{"email": "victim@example.com", "password": password}))
	if n := s.Mailbox.Count("victim@example.com"); n != 0 {
		t.Errorf("%d mails after refused changes", n)
	}
	// The owner changes the password with it: the stolen session ends, a notice arrives.
	r = c.do(http.MethodPut, "/auth/password", change(newPassword, password), mine.headers()...)
	wantStatus(t, r, http.StatusOK)
	wantError(t, c.validate(stolen), http.StatusUnauthorized, msgInvalidToken)
	if m := s.Mailbox.Wait(t, "victim@example.com", 1); m.Subject != "Your test password was changed" {
		t.Errorf("notice subject %q", m.Subject)
	}
}

// Wrong current passwords count against the brute-force limits like failed sign-ins.
func TestWrongCurrentPasswordCounts(t *testing.T) {
	s := start(t, servertest.Options{}, func(c *config.Config) { c.BruteForce.MaxFailuresPerLogin = 2 })
	c := newClient(t, s)
	_, cr := register(t, c, "counted@example.com")
	for _, guess := range []string{"guess one", "guess two"} {
		cr = wantRecordError(t, c.do(http.MethodPut, "/auth/password", change(newPassword, guess), cr.headers()...),
			map[string]string{"current_password": "is invalid"})
	}
	if !strings.Contains(s.Logs(), `"event":"lockout"`) {
		t.Error("two wrong current passwords did not lock the login")
	}
	if n := s.Metric(t, "latch_auth_operations_total", map[string]string{"operation": "change_password", "outcome": "invalid_credentials"}); n != 2 {
		t.Errorf("%v change_password operations counted invalid_credentials, want 2", n)
	}
}

// The session a reset link opens (GET password/edit) may set the password without
// current_password, once: the user has forgotten it. The leave is spent by the change.
func TestResetSessionChangesPasswordOnce(t *testing.T) {
	s := start(t, servertest.Options{})
	c := newClient(t, s)
	register(t, c, "forgot@example.com")
	wantStatus(t, c.post("/auth/password", map[string]string{"email": "forgot@example.com"}), http.StatusOK)
	uid, tok := s.Mailbox.Wait(t, "forgot@example.com", 1).Link(t)
	reset := wantRedirect(t, c.get("/auth/password/edit?reset_password_token="+url.QueryEscape(uid+"."+tok)+"&redirect_url="+url.QueryEscape(origin)), origin+"?")

	r := c.do(http.MethodPut, "/auth/password", change(newPassword, noCurrent), reset.headers()...)
	wantStatus(t, r, http.StatusOK)
	after := wantCreds(t, r)
	r = c.do(http.MethodPut, "/auth/password", change("yet another password", noCurrent), after.headers()...)
	wantRecordError(t, r, map[string]string{"current_password": "can't be blank"})
	wantSignedIn(t, c.post("/auth/sign_in", map[string]string{"email": "forgot@example.com", "password": newPassword}))
	if m := s.Mailbox.Wait(t, "forgot@example.com", 2); m.Subject != "Your test password was changed" {
		t.Errorf("second mail %q, want the change notice", m.Subject)
	}
}

// The leave ends after protocols.deviseToken.allowPasswordChangeFor.
func TestResetSessionLeaveExpires(t *testing.T) {
	s := start(t, servertest.Options{}, func(c *config.Config) {
		c.Protocols.DeviseToken.AllowPasswordChangeFor = config.D(time.Second)
	})
	c := newClient(t, s)
	register(t, c, "slow@example.com")
	wantStatus(t, c.post("/auth/password", map[string]string{"email": "slow@example.com"}), http.StatusOK)
	uid, tok := s.Mailbox.Wait(t, "slow@example.com", 1).Link(t)
	reset := wantRedirect(t, c.get("/auth/password/edit?uid="+uid+"&t="+tok+"&redirect_url="+url.QueryEscape(origin)), origin+"?")
	time.Sleep(1100 * time.Millisecond)
	wantRecordError(t, c.do(http.MethodPut, "/auth/password", change(newPassword, noCurrent), reset.headers()...),
		map[string]string{"current_password": "can't be blank"})
}

// protocols.deviseToken.currentPasswordOptional restores devise's default: the session alone
// changes the password; a current_password given must still be right.
func TestCurrentPasswordOptional(t *testing.T) {
	s := start(t, servertest.Options{}, func(c *config.Config) { c.Protocols.DeviseToken.CurrentPasswordOptional = true })
	c := newClient(t, s)
	_, cr := register(t, c, "relaxed@example.com")
	cr = wantRecordError(t, c.do(http.MethodPut, "/auth/password", change(newPassword, "wrong one"), cr.headers()...),
		map[string]string{"current_password": "is invalid"})
	wantStatus(t, c.do(http.MethodPatch, "/auth/password", change(newPassword, noCurrent), cr.headers()...), http.StatusOK)
	wantSignedIn(t, c.post("/auth/sign_in", map[string]string{"email": "relaxed@example.com", "password": newPassword}))
}
