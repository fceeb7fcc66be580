package core_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
)

func ptr(s string) *string { return &s }

func TestUpdateProfile(t *testing.T) {
	f := newFixture(t)
	u := f.register("ada@example.com")
	f.register("taken@example.com")

	// Names change at once, without the password; the same address (any case of it, with
	// the password) is no move.
	got, err := f.UpdateProfile(t.Context(), f.meta, u.ID, core.ProfileChange{FirstName: ptr(" Augusta "), Email: ptr("ada@example.com")})
	if err != nil {
		t.Fatal(err)
	}
	if got.FirstName != "Augusta" || got.LastName != u.LastName || got.Login != u.Login || got.UnconfirmedEmail != "" {
		t.Errorf("updated user = %+v", got)
	}
	got, err = f.UpdateProfile(t.Context(), f.meta, u.ID, core.ProfileChange{Email: ptr(" ADA@example.com "), Password: pw})
	if err != nil || got.Login != "ADA@example.com" || got.Email != "ADA@example.com" || got.UnconfirmedEmail != "" {
		t.Fatalf("change of case = %+v, %v; want it made at once", got, err)
	}
	if n := len(f.mail.all()); n != 0 {
		t.Errorf("%d mails for a change of case, want none", n)
	}

	for name, tc := range map[string]struct {
		c    core.ProfileChange
		want error
	}{
		"taken, other case": {core.ProfileChange{Email: ptr("TAKEN@example.com"), Password: pw}, core.ErrLoginTaken},
		"not an address":    {core.ProfileChange{Email: ptr("ada"), Password: pw}, core.ErrInvalidInput},
		"empty email":       {core.ProfileChange{Email: ptr(" "), Password: pw}, core.ErrInvalidInput},
		"no password":       {core.ProfileChange{Email: ptr("new@example.com")}, core.ErrPasswordRequired},
		"case, no password": {core.ProfileChange{Email: ptr("ada@EXAMPLE.com")}, core.ErrPasswordRequired},
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
	_, err = f.UpdateProfile(t.Context(), f.meta, "AAAAAAAAAAAAAAAAAAAAAA", core.ProfileChange{Email: ptr("x@example.com"), Password: pw})
	wantErr(t, err, core.ErrInvalidToken)
	if after, err := f.Store.GetUser(t.Context(), u.ID); err != nil || after.Login != "ADA@example.com" || after.UnconfirmedEmail != "" {
		t.Errorf("refused changes touched the user: %+v, %v", after, err)
	}
	if n := len(f.audits(map[string]any{"event": "profile.update", "outcome": "success", "login_changed": true})); n != 1 {
		t.Errorf("%d profile.update audit events with the login changed, want 1 (the change of case)", n)
	}
}

// A realm that cannot mail the confirmation refuses the change rather than keep an address
// waiting for a link that was never sent.
func TestUpdateProfileWithoutConfirmURL(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Email.ConfirmURL = "" })
	u := f.register("ada@example.com")
	_, err := f.UpdateProfile(t.Context(), f.meta, u.ID, core.ProfileChange{Email: ptr("new@example.com"), Password: pw})
	if err == nil || errors.Is(err, core.ErrInvalidInput) {
		t.Fatalf("UpdateProfile without email.confirmURL = %v, want an internal error", err)
	}
	if got, _ := f.Store.GetUser(t.Context(), u.ID); got.UnconfirmedEmail != "" || got.Login != "ada@example.com" {
		t.Errorf("the refused change was stored: %+v", got)
	}
}
