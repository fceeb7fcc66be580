package core_test

import (
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/store"
)

func TestForgotAndReset(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.BruteForce.MaxFailuresPerLogin = 2 })
	u := f.register("a@example.com")
	_, s1, _ := f.login("a@example.com", pw)
	_, s2, _ := f.login("a@example.com", pw)
	// Lock the login: the reset lifts the lock.
	for range 2 {
		_, _, _ = f.login("a@example.com", "guess")
	}

	if err := f.Forgot(t.Context(), f.meta, "nobody@example.com", nil); err != nil {
		t.Fatal(err)
	}
	f.Wait() // the lookup, token and mail happen after the answer
	if err := f.Forgot(t.Context(), f.meta, " A@EXAMPLE.COM", nil); err != nil {
		t.Fatal(err)
	}
	f.Wait() // the lookup, token and mail happen after the answer
	msgs := f.mail.all()
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "https://app.example/reset?uid="+u.ID+"&t=") {
		t.Fatalf("mails = %+v, want one reset link to the known user", msgs)
	}
	uid, tok := f.mail.link(t, "a@example.com")

	err := f.Reset(t.Context(), f.meta, uid, tok, "short")
	wantErr(t, err, core.ErrWeakPassword)
	wantErr(t, f.Reset(t.Context(), f.meta, uid, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "a new password"), core.ErrInvalidToken)
	if err := f.Reset(t.Context(), f.meta, uid, tok, "a new password"); err != nil {
		t.Fatalf("Reset after a refused weak password = %v: the weak one spent the token", err)
	}
	wantErr(t, f.Reset(t.Context(), f.meta, uid, tok, "a third password"), core.ErrInvalidToken)
	for _, s := range []core.Issued{s1, s2} {
		_, err := f.Authenticate(t.Context(), f.meta, s.Token.String())
		wantErr(t, err, core.ErrInvalidToken)
	}
	_, _, err = f.login("a@example.com", pw)
	wantErr(t, err, core.ErrInvalidCredentials)
	if _, _, err := f.login("a@example.com", "a new password"); err != nil {
		t.Fatalf("login with the new password = %v", err)
	}
	if len(f.audits(map[string]any{"event": "password.reset", "outcome": "success", "sessions_ended": float64(2)})) != 1 {
		t.Error("no password.reset audit event with 2 sessions ended")
	}
}

func TestForgotSendsNothingToDisabledOrExpired(t *testing.T) {
	f := newFixture(t)
	u := f.register("a@example.com")
	if err := f.Forgot(t.Context(), f.meta, "a@example.com", nil); err != nil {
		t.Fatal(err)
	}
	f.Wait() // the lookup, token and mail happen after the answer
	uid, tok := f.mail.link(t, "a@example.com")
	f.clock.Advance(f.Config.Email.ResetTokenLifespan.Duration + 1)
	wantErr(t, f.Reset(t.Context(), f.meta, uid, tok, "a new password"), core.ErrInvalidToken)

	if _, err := f.Store.UpdateUser(t.Context(), u.ID, f.clock.Now(), func(u store.User) (store.User, error) {
		u.Status = store.StatusDisabled
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := f.Forgot(t.Context(), f.meta, "a@example.com", nil); err != nil {
		t.Fatal(err)
	}
	f.Wait() // the lookup, token and mail happen after the answer
	if n := len(f.mail.all()); n != 1 {
		t.Errorf("%d mails, want none to the disabled user", n-1)
	}
}

func TestRedeemResetToken(t *testing.T) {
	f := newFixture(t)
	u := f.register("a@example.com")
	if err := f.Forgot(t.Context(), f.meta, "a@example.com", nil); err != nil {
		t.Fatal(err)
	}
	f.Wait() // the lookup, token and mail happen after the answer
	uid, tok := f.mail.link(t, "a@example.com")
	got, err := f.RedeemResetToken(t.Context(), f.meta, uid, tok)
	if err != nil || got.ID != u.ID {
		t.Fatalf("RedeemResetToken = %+v, %v", got, err)
	}
	_, err = f.RedeemResetToken(t.Context(), f.meta, uid, tok)
	wantErr(t, err, core.ErrInvalidToken)
}

func TestChangePassword(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.BruteForce.MaxFailuresPerLogin = 2 })
	f.register("a@example.com")
	_, here, _ := f.login("a@example.com", pw)
	_, other, _ := f.login("a@example.com", pw)
	a, err := f.Authenticate(t.Context(), f.meta, here.Token.String())
	if err != nil {
		t.Fatal(err)
	}
	err = f.ChangePassword(t.Context(), f.meta, a, core.PasswordChange{Current: "wrong", New: "a new password"})
	wantErr(t, err, core.ErrInvalidCredentials)
	err = f.ChangePassword(t.Context(), f.meta, a, core.PasswordChange{Current: pw, New: "short"})
	wantErr(t, err, core.ErrWeakPassword)
	if err := f.ChangePassword(t.Context(), f.meta, a, core.PasswordChange{Current: pw, New: "a new password"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Authenticate(t.Context(), f.meta, here.Token.String()); err != nil {
		t.Errorf("the current session ended: %v", err)
	}
	_, err = f.Authenticate(t.Context(), f.meta, other.Token.String())
	wantErr(t, err, core.ErrInvalidToken)
	// Where the realm lets the session alone suffice (devise's relaxed setting), it does.
	if err := f.ChangePassword(t.Context(), f.meta, a, core.PasswordChange{SessionSuffices: true, New: "a third password"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.login("a@example.com", "a third password"); err != nil {
		t.Errorf("login with the changed password = %v", err)
	}
	// Wrong current passwords count (the login above reset the count): the second locks the
	// login, and then even the right one is refused.
	for _, guess := range []string{"wrong again", "and wrong again"} {
		err = f.ChangePassword(t.Context(), f.meta, a, core.PasswordChange{Current: guess, New: "x new password"})
		wantErr(t, err, core.ErrInvalidCredentials)
	}
	err = f.ChangePassword(t.Context(), f.meta, a, core.PasswordChange{Current: "a third password", New: "x new password"})
	wantErr(t, err, core.ErrInvalidCredentials)
}

// No audit event or log line holds a password, a token or a hash.
func TestLogsHoldNoSecrets(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Registration.EmailConfirmation = config.ConfirmationOptional })
	u := f.register("a@example.com")
	_, ctok := f.mail.link(t, "a@example.com")
	_, is, _ := f.login("a@example.com", pw)
	_, _, _ = f.login("a@example.com", "a wrong guess")
	_ = f.Logout(t.Context(), f.meta, is.Token.String())
	_ = f.Forgot(t.Context(), f.meta, "a@example.com", nil)
	f.Wait()
	_, rtok := f.mail.link(t, "a@example.com")
	_ = f.Reset(t.Context(), f.meta, u.ID, rtok, "a new password")
	logs := f.logs.String()
	for _, secret := range []string{pw, "a wrong guess", "a new password", is.Token.Secret, ctok, rtok, "$argon2id$", is.Session.TokenHash} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs hold %q", secret)
		}
	}
	if !strings.Contains(logs, `"audit":true`) {
		t.Error("no audit events were logged")
	}
}
