package core_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/store"
)

// auth authenticates a session token, failing the test otherwise.
func (f *fixture) auth(is core.Issued) core.Auth {
	f.t.Helper()
	a, err := f.Authenticate(f.t.Context(), f.meta, is.Token.String())
	if err != nil {
		f.t.Fatalf("Authenticate: %v", err)
	}
	return a
}

// mailsTo returns the subjects of the mails sent to to, in order.
func (f *fixture) mailsTo(to string) []string {
	var out []string
	for _, m := range f.mail.all() {
		if m.To == to {
			out = append(out, m.Subject)
		}
	}
	return out
}

// An attacker holding only a stolen session token tries to set a password of their own, so
// as to lock the owner out. Without the current password nothing changes; the owner keeps
// their password, and changing it with that password ends the stolen session.
func TestStolenSessionCannotChangePassword(t *testing.T) {
	f := newFixture(t)
	f.register("ada@example.com")
	_, mine, _ := f.login("ada@example.com", pw)
	_, stolen, _ := f.login("ada@example.com", pw)
	a := f.auth(stolen)

	err := f.ChangePassword(t.Context(), f.meta, a, core.PasswordChange{New: "the attacker's password"})
	wantErr(t, err, core.ErrPasswordRequired)
	for _, guess := range []string{"password1", "letmein!"} {
		err := f.ChangePassword(t.Context(), f.meta, a, core.PasswordChange{Current: guess, New: "the attacker's password"})
		wantErr(t, err, core.ErrInvalidCredentials)
	}
	if n := len(f.mail.all()); n != 0 {
		t.Errorf("%d mails after refused changes, want none", n)
	}

	// The owner, on the device they signed in on: the password is theirs still (the
	// attacker's guesses count against strangers only), and changing it ends the stolen
	// session.
	own := f.meta
	own.Device = mine.Device
	if _, _, err := f.Login(t.Context(), own, core.LoginRequest{Login: "ada@example.com", Password: pw}); err != nil {
		t.Fatalf("the owner's password no longer works: %v", err)
	}
	if err := f.ChangePassword(t.Context(), own, f.auth(mine), core.PasswordChange{Current: pw, New: "the owner's new password"}); err != nil {
		t.Fatal(err)
	}
	_, err = f.Authenticate(t.Context(), f.meta, stolen.Token.String())
	wantErr(t, err, core.ErrInvalidToken)
	if got := f.mailsTo("ada@example.com"); len(got) != 1 || got[0] != "Your test password was changed" {
		t.Errorf("mails to the owner = %q, want the one change notice", got)
	}
}

// The session a reset link opens may set the password without the current one (the user has
// forgotten it), once, within its window; no other session may.
func TestResetLinkLeave(t *testing.T) {
	f := newFixture(t)
	u := f.register("ada@example.com")
	resetSession := func() core.Issued {
		t.Helper()
		if err := f.Forgot(t.Context(), f.meta, "ada@example.com", nil); err != nil {
			t.Fatal(err)
		}
		f.Wait() // the lookup, token and mail come after the answer
		uid, tok := f.mail.link(t, "ada@example.com")
		ru, err := f.RedeemResetToken(t.Context(), f.meta, uid, tok)
		if err != nil {
			t.Fatal(err)
		}
		is, err := f.IssueSession(t.Context(), f.meta, ru, core.SessionOptions{PasswordChangeWindow: 15 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return is
	}

	is := resetSession()
	if want := f.clock.Now().Add(15 * time.Minute); !is.Session.PasswordChangeUntil.Equal(want) {
		t.Errorf("PasswordChangeUntil = %s, want %s", is.Session.PasswordChangeUntil, want)
	}
	// A refused password does not spend the leave.
	err := f.ChangePassword(t.Context(), f.meta, f.auth(is), core.PasswordChange{New: "short"})
	wantErr(t, err, core.ErrWeakPassword)
	if err := f.ChangePassword(t.Context(), f.meta, f.auth(is), core.PasswordChange{New: "a new password"}); err != nil {
		t.Fatalf("the reset session's change = %v", err)
	}
	// Spent: a second change needs the password (the new one now).
	err = f.ChangePassword(t.Context(), f.meta, f.auth(is), core.PasswordChange{New: "a third password"})
	wantErr(t, err, core.ErrPasswordRequired)
	if err := f.ChangePassword(t.Context(), f.meta, f.auth(is), core.PasswordChange{Current: "a new password", New: "a third password"}); err != nil {
		t.Errorf("a change with the current password on the reset session = %v", err)
	}

	// Past the window, the leave is gone.
	late := resetSession()
	f.clock.Advance(15 * time.Minute)
	err = f.ChangePassword(t.Context(), f.meta, f.auth(late), core.PasswordChange{New: "a fourth password"})
	wantErr(t, err, core.ErrPasswordRequired)
	// A session opened by a login never has one.
	_, login, _ := f.login("ada@example.com", "a third password")
	if !login.Session.PasswordChangeUntil.IsZero() {
		t.Errorf("a login's session has PasswordChangeUntil %s", login.Session.PasswordChangeUntil)
	}
	err = f.ChangePassword(t.Context(), f.meta, f.auth(login), core.PasswordChange{New: "a fourth password"})
	wantErr(t, err, core.ErrPasswordRequired)
	if _, _, err := f.login(u.Login, "a third password"); err != nil {
		t.Errorf("the password changed by refused requests: %v", err)
	}
}

// confirmPassword is one check for both sensitive changes: their wrong passwords add up, with
// failed logins, against one brute-force limit (3 per login in the fixture; the clock moves
// past each progressive delay), and a lock refuses the right password too.
func TestSensitiveChangesShareTheLimit(t *testing.T) {
	f := newFixture(t)
	u := f.register("ada@example.com")
	_, is, _ := f.login("ada@example.com", pw)
	a := f.auth(is)
	_, err := f.UpdateProfile(t.Context(), f.meta, u.ID, core.ProfileChange{Email: ptr("eve@evil.example"), Password: "guess 1"})
	wantErr(t, err, core.ErrInvalidCredentials)
	f.clock.Advance(time.Minute)
	err = f.ChangePassword(t.Context(), f.meta, a, core.PasswordChange{Current: "guess 2", New: "the attacker's password"})
	wantErr(t, err, core.ErrInvalidCredentials)
	f.clock.Advance(time.Minute)
	_, _, err = f.login("ada@example.com", "guess 3")
	wantErr(t, err, core.ErrInvalidCredentials)
	f.clock.Advance(time.Minute)

	_, err = f.UpdateProfile(t.Context(), f.meta, u.ID, core.ProfileChange{Email: ptr("eve@evil.example"), Password: pw})
	wantErr(t, err, core.ErrInvalidCredentials)
	err = f.ChangePassword(t.Context(), f.meta, a, core.PasswordChange{Current: pw, New: "the attacker's password"})
	wantErr(t, err, core.ErrInvalidCredentials)
	if n := len(f.audits(map[string]any{"event": "lockout", "user_id": u.ID})); n == 0 {
		t.Error("no lockout audit event")
	}
	if got, _ := f.Store.GetUser(t.Context(), u.ID); got.UnconfirmedEmail != "" || got.Login != "ada@example.com" {
		t.Errorf("the user changed: %+v", got)
	}
}

// An attacker holding only a stolen session tries to move the account's email (and login) to
// their own address, from where a reset would hand them the account. Without the password
// nothing changes, and the owner's login and reset mail stay theirs.
func TestStolenSessionCannotMoveEmail(t *testing.T) {
	f := newFixture(t)
	u := f.register("ada@example.com")
	_, err := f.UpdateProfile(t.Context(), f.meta, u.ID, core.ProfileChange{Email: ptr("eve@evil.example")})
	wantErr(t, err, core.ErrPasswordRequired)
	_, err = f.UpdateProfile(t.Context(), f.meta, u.ID, core.ProfileChange{Email: ptr("eve@evil.example"), Password: "a guess"})
	wantErr(t, err, core.ErrInvalidCredentials)
	if got, _ := f.Store.GetUser(t.Context(), u.ID); got.Login != "ada@example.com" || got.Email != "ada@example.com" || got.UnconfirmedEmail != "" {
		t.Fatalf("the user changed: %+v", got)
	}
	if n := len(f.mail.all()); n != 0 {
		t.Errorf("%d mails for refused changes", n)
	}
	if _, _, err := f.login("ada@example.com", pw); err != nil {
		t.Errorf("the owner's login: %v", err)
	}
	if err := f.Forgot(t.Context(), f.meta, "eve@evil.example", nil); err != nil {
		t.Fatal(err)
	}
	f.Wait() // the lookup, token and mail come after the answer
	if err := f.Forgot(t.Context(), f.meta, "ada@example.com", nil); err != nil {
		t.Fatal(err)
	}
	f.Wait() // the lookup, token and mail come after the answer
	if got := f.mailsTo("eve@evil.example"); len(got) != 0 {
		t.Errorf("mails to the attacker: %q", got)
	}
	if got := f.mailsTo("ada@example.com"); len(got) != 1 {
		t.Errorf("mails to the owner: %q, want the reset link", got)
	}
}

// With the password, a new address waits for confirmation from a mail sent to it; the old
// address is told; the login moves only when the link is used.
func TestEmailChangeWaitsForConfirmation(t *testing.T) {
	f := newFixture(t)
	u := f.register("ada@example.com")
	_, is, _ := f.login("ada@example.com", pw)
	got, err := f.UpdateProfile(t.Context(), f.meta, u.ID, core.ProfileChange{Email: ptr(" Ada@New.example "), LastName: ptr("King"), Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	if got.Login != "ada@example.com" || got.Email != "ada@example.com" || got.UnconfirmedEmail != "Ada@New.example" || got.LastName != "King" {
		t.Fatalf("after the request: %+v", got)
	}
	if subj := f.mailsTo("Ada@New.example"); len(subj) != 1 || subj[0] != "Confirm your new test email address" {
		t.Errorf("mails to the new address: %q", subj)
	}
	notice := f.mail.all()[1]
	if notice.To != "ada@example.com" || notice.Subject != "Your test email address is being changed" || !strings.Contains(notice.Text, "Ada@New.example") {
		t.Errorf("notice to the old address: %+v", notice)
	}
	_, err = f.Store.GetUserByLogin(t.Context(), "ada@new.example")
	wantErr(t, err, store.ErrNotFound)
	_, _, err = f.login("ada@new.example", pw)
	wantErr(t, err, core.ErrInvalidCredentials)
	if _, _, err := f.login("ada@example.com", pw); err != nil {
		t.Errorf("the old login before confirmation: %v", err)
	}

	uid, tok := f.mail.link(t, "Ada@New.example")
	confirmed, err := f.Confirm(t.Context(), f.meta, uid, tok)
	if err != nil {
		t.Fatal(err)
	}
	if confirmed.Login != "Ada@New.example" || confirmed.Email != "Ada@New.example" || confirmed.UnconfirmedEmail != "" || confirmed.Status != store.StatusActive {
		t.Errorf("after confirmation: %+v", confirmed)
	}
	if _, _, err := f.login("ada@new.example", pw); err != nil {
		t.Errorf("the new login: %v", err)
	}
	_, _, err = f.login("ada@example.com", pw)
	wantErr(t, err, core.ErrInvalidCredentials)
	if _, err := f.Authenticate(t.Context(), f.meta, is.Token.String()); err != nil {
		t.Errorf("the session ended with the email change: %v", err)
	}
	_, err = f.Confirm(t.Context(), f.meta, uid, tok)
	wantErr(t, err, core.ErrInvalidToken)
	if n := len(f.audits(map[string]any{"event": "confirm", "outcome": "success", "login_changed": true})); n != 1 {
		t.Errorf("%d confirm audit events with the login changed, want 1", n)
	}
}

// The address is claimed when confirmed: if someone registered it meanwhile, the claim fails
// cleanly, the login stays, and the waiting address is dropped.
func TestEmailChangeTakenMeanwhile(t *testing.T) {
	f := newFixture(t)
	u := f.register("ada@example.com")
	if _, err := f.UpdateProfile(t.Context(), f.meta, u.ID, core.ProfileChange{Email: ptr("x@example.com"), Password: pw}); err != nil {
		t.Fatal(err)
	}
	uid, tok := f.mail.link(t, "x@example.com")
	bob := f.register("X@example.com")
	_, err := f.Confirm(t.Context(), f.meta, uid, tok)
	wantErr(t, err, core.ErrLoginTaken)
	if got, _ := f.Store.GetUser(t.Context(), u.ID); got.Login != "ada@example.com" || got.UnconfirmedEmail != "" {
		t.Errorf("after the failed claim: %+v", got)
	}
	if holder, err := f.Store.GetUserByLogin(t.Context(), "x@example.com"); err != nil || holder.ID != bob.ID {
		t.Errorf("x@example.com is held by %q, %v; want bob", holder.ID, err)
	}
	// Asking again is refused at once.
	_, err = f.UpdateProfile(t.Context(), f.meta, u.ID, core.ProfileChange{Email: ptr("x@example.com"), Password: pw})
	wantErr(t, err, core.ErrLoginTaken)
}

// A confirmation token confirms the address it was mailed to and no other: a second change
// replaces the first, whose link then fails.
func TestEmailChangeTokenBoundToAddress(t *testing.T) {
	f := newFixture(t)
	u := f.register("ada@example.com")
	for _, to := range []string{"x@example.com", "y@example.com"} {
		if _, err := f.UpdateProfile(t.Context(), f.meta, u.ID, core.ProfileChange{Email: ptr(to), Password: pw}); err != nil {
			t.Fatal(err)
		}
	}
	uidX, tokX := f.mail.link(t, "x@example.com")
	uidY, tokY := f.mail.link(t, "y@example.com")
	_, err := f.Confirm(t.Context(), f.meta, uidX, tokX)
	wantErr(t, err, core.ErrInvalidToken)
	got, err := f.Confirm(t.Context(), f.meta, uidY, tokY)
	if err != nil || got.Login != "y@example.com" {
		t.Fatalf("Confirm of the latest change = %+v, %v", got, err)
	}

	// The current address cancels a waiting change, without the password.
	if _, err := f.UpdateProfile(t.Context(), f.meta, u.ID, core.ProfileChange{Email: ptr("z@example.com"), Password: pw}); err != nil {
		t.Fatal(err)
	}
	got, err = f.UpdateProfile(t.Context(), f.meta, u.ID, core.ProfileChange{Email: ptr("y@example.com")})
	if err != nil || got.UnconfirmedEmail != "" {
		t.Fatalf("cancel = %+v, %v", got, err)
	}
	uidZ, tokZ := f.mail.link(t, "z@example.com")
	_, err = f.Confirm(t.Context(), f.meta, uidZ, tokZ)
	wantErr(t, err, core.ErrInvalidToken)
}

// The owner's way back when someone who has the password (phished) asks to move the account:
// the notice reaches the owner's address, whose reset cancels the change and ends every
// session.
func TestResetCancelsEmailChange(t *testing.T) {
	f := newFixture(t)
	u := f.register("ada@example.com")
	_, eve, _ := f.login("ada@example.com", pw)
	if _, err := f.UpdateProfile(t.Context(), f.meta, u.ID, core.ProfileChange{Email: ptr("eve@evil.example"), Password: pw}); err != nil {
		t.Fatal(err)
	}
	if err := f.Forgot(t.Context(), f.meta, "ada@example.com", nil); err != nil {
		t.Fatal(err)
	}
	f.Wait() // the lookup, token and mail come after the answer
	uid, tok := f.mail.link(t, "ada@example.com")
	if err := f.Reset(t.Context(), f.meta, uid, tok, "the owner's new password"); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Store.GetUser(t.Context(), u.ID); got.UnconfirmedEmail != "" {
		t.Errorf("the change still waits after the reset: %+v", got)
	}
	euid, etok := f.mail.link(t, "eve@evil.example")
	_, err := f.Confirm(t.Context(), f.meta, euid, etok)
	wantErr(t, err, core.ErrInvalidToken)
	_, err = f.Authenticate(t.Context(), f.meta, eve.Token.String())
	wantErr(t, err, core.ErrInvalidToken)
	want := []string{"Your test email address is being changed", "Reset your test password", "Your test password was changed"}
	if got := f.mailsTo("ada@example.com"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("mails to the owner = %q, want %q", got, want)
	}
}

// With email confirmation required, an email change no longer makes the user pending: the
// old address stays the confirmed one until the new one is confirmed. A user still pending
// from registration who changes address confirms the new one instead, and is then active.
func TestEmailChangeWithRequiredConfirmation(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Registration.EmailConfirmation = config.ConfirmationRequired })
	u := f.register("ada@example.com")
	uid, tok := f.mail.link(t, "ada@example.com")
	if _, err := f.Confirm(t.Context(), f.meta, uid, tok); err != nil {
		t.Fatal(err)
	}
	got, err := f.UpdateProfile(t.Context(), f.meta, u.ID, core.ProfileChange{Email: ptr("new@example.com"), Password: pw})
	if err != nil || got.Status != store.StatusActive {
		t.Fatalf("address change = %+v, %v; want still active", got, err)
	}

	p := f.register("pending@example.com")
	_, oldTok := f.mail.link(t, "pending@example.com")
	if _, err := f.UpdateProfile(t.Context(), f.meta, p.ID, core.ProfileChange{Email: ptr("fixed@example.com"), Password: pw}); err != nil {
		t.Fatal(err)
	}
	_, err = f.Confirm(t.Context(), f.meta, p.ID, oldTok)
	wantErr(t, err, core.ErrInvalidToken)
	uid, tok = f.mail.link(t, "fixed@example.com")
	got, err = f.Confirm(t.Context(), f.meta, uid, tok)
	if err != nil || got.Status != store.StatusActive || got.Login != "fixed@example.com" {
		t.Errorf("Confirm of the new address = %+v, %v", got, err)
	}
}

// Every password change and reset tells the user by mail, so a change they did not make does
// not go unnoticed.
func TestPasswordChangeNotices(t *testing.T) {
	f := newFixture(t)
	f.register("ada@example.com")
	_, is, _ := f.login("ada@example.com", pw)
	if err := f.ChangePassword(t.Context(), f.meta, f.auth(is), core.PasswordChange{Current: pw, New: "n3w-passw0rd"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Forgot(t.Context(), f.meta, "ada@example.com", nil); err != nil {
		t.Fatal(err)
	}
	f.Wait() // the lookup, token and mail come after the answer
	uid, tok := f.mail.link(t, "ada@example.com")
	if err := f.Reset(t.Context(), f.meta, uid, tok, "th1rd-passw0rd"); err != nil {
		t.Fatal(err)
	}
	want := []string{"Your test password was changed", "Reset your test password", "Your test password was changed"}
	if got := f.mailsTo("ada@example.com"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("mails = %q, want %q", got, want)
	}
	for _, m := range f.mail.all() {
		if strings.Contains(m.Text, "n3w-passw0rd") || strings.Contains(m.Text, "th1rd-passw0rd") {
			t.Errorf("a mail holds a password: %q", m.Subject)
		}
	}
	// A mailer that fails does not fail the change: it has happened, and the failure is logged.
	_, is, _ = f.login("ada@example.com", "th1rd-passw0rd")
	f.mail.mu.Lock()
	f.mail.err = errors.New("smtp down")
	f.mail.mu.Unlock()
	if err := f.ChangePassword(t.Context(), f.meta, f.auth(is), core.PasswordChange{Current: "th1rd-passw0rd", New: "f0urth-passw0rd"}); err != nil {
		t.Fatalf("ChangePassword with a failing mailer = %v", err)
	}
	if !strings.Contains(f.logs.String(), "cannot send password change notice mail") {
		t.Error("the failed notice was not logged")
	}
}

// A thief who holds a session and the password files an email change and locks the login for
// strangers; the owner opens a reset link (devise's password/edit): the waiting change is
// dropped and the lock lifted, as a reset does.
func TestResetLinkCancelsEmailChangeAndLock(t *testing.T) {
	f := newFixture(t)
	u := f.register("ada@example.com")
	if _, err := f.UpdateProfile(t.Context(), f.meta, u.ID, core.ProfileChange{Email: ptr("eve@evil.example"), Password: pw}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		m := core.Meta{Dialect: "test", ClientIP: fmt.Sprintf("198.51.100.%d", i), RequestID: "x"}
		_, _, _ = f.Login(t.Context(), m, core.LoginRequest{Login: "ada@example.com", Password: "guess"})
		f.clock.Advance(time.Minute)
	}
	if err := f.Forgot(t.Context(), f.meta, "ada@example.com", nil); err != nil {
		t.Fatal(err)
	}
	f.Wait()
	uid, tok := f.mail.link(t, "ada@example.com")
	got, err := f.RedeemResetToken(t.Context(), f.meta, uid, tok)
	if err != nil {
		t.Fatal(err)
	}
	if stored, _ := f.Store.GetUser(t.Context(), u.ID); got.UnconfirmedEmail != "" || stored.UnconfirmedEmail != "" {
		t.Errorf("the change still waits after the reset link: %+v", stored)
	}
	stranger := core.Meta{Dialect: "test", ClientIP: "203.0.113.5", RequestID: "new device"}
	if _, _, err := f.Login(t.Context(), stranger, core.LoginRequest{Login: "ada@example.com", Password: pw}); err != nil {
		t.Errorf("login from a new device after the reset link = %v, want the lock lifted", err)
	}
}
