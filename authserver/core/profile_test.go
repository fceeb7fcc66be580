package core_test

import (
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/store"
)

func ptr(s string) *string { return &s }

func TestUpdateProfile(t *testing.T) {
	f := newFixture(t)
	u := f.register("ada@example.com")
	f.register("taken@example.com")
	_, issued, err := f.login("ada@example.com", pw)
	if err != nil {
		t.Fatal(err)
	}

	got, err := f.UpdateProfile(t.Context(), f.meta, u.ID, core.ProfileChange{
		Email: ptr(" Ada.L@Example.com "), FirstName: ptr(" Augusta "),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Login != "Ada.L@Example.com" || got.Email != "Ada.L@Example.com" || got.FirstName != "Augusta" ||
		got.LastName != u.LastName || got.Status != store.StatusActive {
		t.Errorf("updated user = %+v", got)
	}
	// The login moved: the new one logs in, the old one does not, and the session lives on.
	if _, _, err := f.login("ada.l@example.com", pw); err != nil {
		t.Errorf("login with the new email: %v", err)
	}
	_, _, err = f.login("ada@example.com", pw)
	wantErr(t, err, core.ErrInvalidCredentials)
	if _, err := f.Authenticate(t.Context(), f.meta, issued.Token.String()); err != nil {
		t.Errorf("the session ended with the email change: %v", err)
	}
	if n := len(f.audits(map[string]any{"event": "profile.update", "outcome": "success", "login_changed": true})); n != 1 {
		t.Errorf("%d profile.update audit events, want 1", n)
	}

	for name, tc := range map[string]struct {
		c    core.ProfileChange
		want error
	}{
		"taken, other case": {core.ProfileChange{Email: ptr("TAKEN@example.com")}, core.ErrLoginTaken},
		"not an address":    {core.ProfileChange{Email: ptr("ada")}, core.ErrInvalidInput},
		"empty email":       {core.ProfileChange{Email: ptr(" ")}, core.ErrInvalidInput},
		"long name":         {core.ProfileChange{LastName: ptr(strings.Repeat("x", 257))}, core.ErrInvalidInput},
		"control in name":   {core.ProfileChange{FirstName: ptr("a\nb")}, core.ErrInvalidInput},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.UpdateProfile(t.Context(), f.meta, u.ID, tc.c)
			wantErr(t, err, tc.want)
		})
	}
	_, err = f.UpdateProfile(t.Context(), f.meta, "AAAAAAAAAAAAAAAAAAAAAA", core.ProfileChange{FirstName: ptr("x")})
	wantErr(t, err, core.ErrInvalidToken)
	if after, err := f.Store.GetUser(t.Context(), u.ID); err != nil || after.Login != "Ada.L@Example.com" {
		t.Errorf("refused changes touched the user: %+v, %v", after, err)
	}
}

// With confirmation required, a new address is unverified: the user is pending again and
// the confirmation goes to the new address. A change of case only is the same mailbox.
func TestUpdateProfileReconfirms(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Registration.RequireConfirmation = true })
	u := f.register("ada@example.com")
	uid, tok := f.mail.link(t, "ada@example.com")
	if _, err := f.Confirm(t.Context(), f.meta, uid, tok); err != nil {
		t.Fatal(err)
	}

	got, err := f.UpdateProfile(t.Context(), f.meta, u.ID, core.ProfileChange{Email: ptr("ADA@example.com")})
	if err != nil || got.Status != store.StatusActive {
		t.Fatalf("case-only change = %+v, %v; want still active", got, err)
	}
	got, err = f.UpdateProfile(t.Context(), f.meta, u.ID, core.ProfileChange{Email: ptr("new@example.com")})
	if err != nil || got.Status != store.StatusPending {
		t.Fatalf("address change = %+v, %v; want pending", got, err)
	}
	uid, tok = f.mail.link(t, "new@example.com")
	if got, err := f.Confirm(t.Context(), f.meta, uid, tok); err != nil || got.Status != store.StatusActive {
		t.Errorf("Confirm of the new address = %+v, %v", got, err)
	}
}
