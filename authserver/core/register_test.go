package core_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/password"
	"github.com/latchauth/latch/authserver/store"
)

func TestRegister(t *testing.T) {
	f := newFixture(t)
	u, err := f.Register(t.Context(), f.meta, core.Registration{Login: "  Ada@Example.com ", Password: pw, FirstName: " Ada ", LastName: "Lovelace"})
	if err != nil {
		t.Fatal(err)
	}
	if u.Login != "Ada@Example.com" || u.Email != "Ada@Example.com" || u.FirstName != "Ada" || u.Status != store.StatusActive || len(u.ID) != 22 {
		t.Errorf("user = %+v", u)
	}
	if _, err := password.ParsePHC(u.PasswordHash); err != nil {
		t.Errorf("stored hash: %v", err)
	}
	if n := len(f.mail.all()); n != 0 {
		t.Errorf("%d mails without confirmation required", n)
	}
}

func TestRegisterRefused(t *testing.T) {
	f := newFixture(t)
	f.register("taken@example.com")
	for name, tc := range map[string]struct {
		r    core.Registration
		want error
	}{
		"taken, other case":  {core.Registration{Login: "TAKEN@example.com ", Password: pw}, core.ErrLoginTaken},
		"weak":               {core.Registration{Login: "w@example.com", Password: "Xq7"}, core.ErrWeakPassword},
		"too long password":  {core.Registration{Login: "w@example.com", Password: strings.Repeat("x", 300)}, password.ErrTooLong},
		"empty login":        {core.Registration{Login: " ", Password: pw}, core.ErrInvalidInput},
		"control in login":   {core.Registration{Login: "a\tb", Password: pw}, core.ErrInvalidInput},
		"long name":          {core.Registration{Login: "n@example.com", Password: pw, FirstName: strings.Repeat("x", 257)}, core.ErrInvalidInput},
		"bad UTF-8 name":     {core.Registration{Login: "n@example.com", Password: pw, LastName: "\xff"}, core.ErrInvalidInput},
		"bad email":          {core.Registration{Login: "n", Email: "not an address", Password: pw}, core.ErrInvalidInput},
		"display-name email": {core.Registration{Login: "n", Email: "Ada <a@example.com>", Password: pw}, core.ErrInvalidInput},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.Register(t.Context(), f.meta, tc.r)
			wantErr(t, err, tc.want)
			if strings.Contains(err.Error(), tc.r.Password) && tc.r.Password != "" {
				t.Errorf("error %q holds the password", err)
			}
		})
	}
	var fe *core.FieldError
	_, err := f.Register(t.Context(), f.meta, core.Registration{Login: "", Password: pw})
	if !errors.As(err, &fe) || fe.Field != "login" {
		t.Errorf("empty login error = %v, want a FieldError for login", err)
	}
	// A login that is not an address is fine without confirmation, and gets no email.
	u, err := f.Register(t.Context(), f.meta, core.Registration{Login: "just-a-name", Password: pw})
	if err != nil || u.Email != "" {
		t.Errorf("Register(just-a-name) = %+v, %v", u, err)
	}

	closed := newFixture(t, func(c *config.Config) { c.Registration.Closed = true })
	_, err = closed.Register(t.Context(), closed.meta, core.Registration{Login: "a@example.com", Password: pw})
	wantErr(t, err, core.ErrRegistrationClosed)
}

func TestRegisterWithConfirmation(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Registration.EmailConfirmation = config.ConfirmationRequired })
	_, err := f.Register(t.Context(), f.meta, core.Registration{Login: "not-an-address", Password: pw})
	wantErr(t, err, core.ErrInvalidInput)

	u := f.register("new@example.com")
	if u.Status != store.StatusPending {
		t.Fatalf("status = %d, want pending", u.Status)
	}
	msgs := f.mail.all()
	if len(msgs) != 1 || msgs[0].To != "new@example.com" || !strings.Contains(msgs[0].Text, "https://app.example/confirm?uid="+u.ID+"&t=") {
		t.Fatalf("confirmation mail = %+v", msgs)
	}
	uid, tok := f.mail.link(t, "new@example.com")

	_, err = f.Confirm(t.Context(), f.meta, uid, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	wantErr(t, err, core.ErrInvalidToken)
	got, err := f.Confirm(t.Context(), f.meta, uid, tok)
	if err != nil || got.Status != store.StatusActive {
		t.Fatalf("Confirm = %+v, %v", got, err)
	}
	_, err = f.Confirm(t.Context(), f.meta, uid, tok)
	wantErr(t, err, core.ErrInvalidToken)
	_, err = f.Confirm(t.Context(), f.meta, "not an id", tok)
	wantErr(t, err, core.ErrInvalidToken)

	// Expired tokens do not confirm; a disabled user stays disabled.
	late := f.register("late@example.com")
	lateUID, lateTok := f.mail.link(t, "late@example.com")
	f.clock.Advance(f.Config.Email.ConfirmTokenLifespan.Duration + 1)
	_, err = f.Confirm(t.Context(), f.meta, lateUID, lateTok)
	wantErr(t, err, core.ErrInvalidToken)
	if err := f.SendConfirmation(t.Context(), f.meta, late, nil); err != nil {
		t.Fatal(err)
	}
	_, tok2 := f.mail.link(t, "late@example.com")
	if _, err := f.Store.UpdateUser(t.Context(), late.ID, f.clock.Now(), func(u store.User) (store.User, error) {
		u.Status = store.StatusDisabled
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err = f.Confirm(t.Context(), f.meta, late.ID, tok2)
	if err != nil || got.Status != store.StatusDisabled {
		t.Errorf("Confirm of a disabled user = %+v, %v; want it to stay disabled", got.Status, err)
	}
}

// A mail failure does not undo a registration.
func TestRegisterSurvivesMailFailure(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Registration.EmailConfirmation = config.ConfirmationRequired })
	f.mail.err = errors.New("smtp down")
	u := f.register("a@example.com")
	if u.Status != store.StatusPending {
		t.Errorf("status = %d", u.Status)
	}
	if !strings.Contains(f.logs.String(), "cannot send confirmation mail") {
		t.Error("the mail failure was not logged")
	}
}
