package keytoken_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// pendingUser is the dialect's user while an email change waits for confirmation.
type pendingUser struct {
	user
	UnconfirmedEmail string `json:"unconfirmedEmail"`
}

func wantPendingUser(t *testing.T, r response) pendingUser {
	t.Helper()
	wantJSON(t, r, http.StatusOK, "id", "email", "role", "firstName", "lastName", "unconfirmedEmail")
	var u pendingUser
	if err := json.Unmarshal(r.Body, &u); err != nil {
		t.Fatalf("user %s: %v", r.Body, err)
	}
	return u
}

// An attacker holding only a stolen key and token tries to move the account's email (its
// login) to their own address, from where a password reset would hand them the account:
// without the password, or with a wrong one, nothing changes, and the owner still signs in
// and gets the reset mail.
func TestStolenTokenCannotMoveEmail(t *testing.T) {
	s := start(t, "/")
	c := newClient(t, s)
	stolen := c.register("web", "victim@example.com")

	msg := wantError(t, c.do(http.MethodPatch, "/users", map[string]string{"email": "eve@evil.example"}, stolen.auth()...), http.StatusBadRequest)
	if !strings.Contains(msg, "password") {
		t.Errorf("message %q does not say the password is needed", msg)
	}
	wantError(t, c.do(http.MethodPatch, "/users", map[string]string{"email": "eve@evil.example", "password": "a guess!"}, stolen.auth()...), http.StatusUnauthorized)
	// A refusal of the password leaves the session alone.
	if u := wantUser(t, c.do(http.MethodGet, "/users", nil, stolen.auth()...)); u.Email != "victim@example.com" {
		t.Errorf("email after refused changes = %q", u.Email)
	}
	c.login("web", "victim@example.com")
	if r := c.raw(http.MethodPost, "/account/forgot", map[string]string{"login": "victim@example.com"}); r.StatusCode != http.StatusNoContent {
		t.Fatalf("account forgot = %d", r.StatusCode)
	}
	if m := s.Mailbox.Wait(t, "victim@example.com", 1); !strings.Contains(m.Subject, "Reset") {
		t.Errorf("the owner's mail = %q, want the reset link", m.Subject)
	}
	if n := s.Mailbox.Count("eve@evil.example"); n != 0 {
		t.Errorf("%d mails to the attacker's address", n)
	}
}

// With the password the new address waits for confirmation from a mail sent to it (through
// the realm's confirmation link and the account dialect's /confirm); the old address gets a
// notice; the login moves only then.
func TestEmailChangeIsConfirmed(t *testing.T) {
	s := start(t, "/")
	c := newClient(t, s)
	a := c.register("web", "ada@example.com")
	u := wantPendingUser(t, c.do(http.MethodPatch, "/users", map[string]string{"email": "Ada@New.example", "firstName": "Augusta", "password": password}, a.auth()...))
	if u.Email != "ada@example.com" || u.UnconfirmedEmail != "Ada@New.example" || u.FirstName != "Augusta" {
		t.Errorf("PATCH = %+v", u)
	}
	if again := wantPendingUser(t, c.do(http.MethodGet, "/users", nil, a.auth()...)); again != u {
		t.Errorf("GET = %+v, want %+v", again, u)
	}
	confirm := s.Mailbox.Wait(t, "Ada@New.example", 1)
	if notice := s.Mailbox.Wait(t, "ada@example.com", 1); !strings.Contains(notice.Text, "Ada@New.example") {
		t.Errorf("the notice to the old address does not name the new one:\n%s", notice.Text)
	}
	wantError(t, c.do(http.MethodPost, "/users/token", map[string]string{"client": "web", "email": "ada@new.example", "password": password}), http.StatusUnauthorized)
	c.login("web", "ada@example.com")

	uid, tok := confirm.Link(t)
	if r := c.raw(http.MethodPost, "/account/confirm", map[string]string{"id": uid, "token": tok}); r.StatusCode != http.StatusNoContent {
		t.Fatalf("account confirm = %d %s", r.StatusCode, r.Body)
	}
	if got := wantUser(t, c.do(http.MethodGet, "/users", nil, a.auth()...)); got.Email != "Ada@New.example" {
		t.Errorf("email after confirmation = %q", got.Email)
	}
	c.login("web", "ada@new.example")
	wantError(t, c.do(http.MethodPost, "/users/token", map[string]string{"client": "web", "email": "ada@example.com", "password": password}), http.StatusUnauthorized)
}

// If the address is taken between the request and the confirmation, the confirmation fails
// cleanly (the account dialect's 500 Error) and the login stays.
func TestEmailChangeTakenBeforeConfirmation(t *testing.T) {
	s := start(t, "/")
	c := newClient(t, s)
	a := c.register("web", "first@example.com")
	wantPendingUser(t, c.do(http.MethodPatch, "/users", map[string]string{"email": "x@example.com", "password": password}, a.auth()...))
	uid, tok := s.Mailbox.Wait(t, "x@example.com", 1).Link(t)
	c.register("web", "X@example.com")
	r := c.raw(http.MethodPost, "/account/confirm", map[string]string{"id": uid, "token": tok})
	if r.StatusCode != http.StatusInternalServerError || !strings.Contains(string(r.Body), "taken") {
		t.Errorf("confirm of a taken address = %d %s, want 500 saying it is taken", r.StatusCode, r.Body)
	}
	if u := wantUser(t, c.do(http.MethodGet, "/users", nil, a.auth()...)); u.Email != "first@example.com" {
		t.Errorf("email after the failed confirmation = %q", u.Email)
	}
}
