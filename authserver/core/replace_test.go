package core_test

import (
	"errors"
	"testing"

	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/store"
)

// SessionOptions.Replaces ends the named session of the same user and dialect before the
// device limit is applied, and leaves every other session alone.
func TestLoginReplacesSession(t *testing.T) {
	f := newFixture(t)
	u := f.register("a@example.com")
	other := f.register("b@example.com")
	limit := store.DeviceLimit{Max: 2, Policy: store.DenyNew}
	login := func(m core.Meta, login, replaces string) (core.Issued, error) {
		t.Helper()
		_, is, err := f.Login(t.Context(), m, core.LoginRequest{
			Login: login, Password: pw, Session: core.SessionOptions{Limit: limit, Replaces: replaces},
		})
		return is, err
	}
	first, err := login(f.meta, "a@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	second, err := login(f.meta, "a@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = login(f.meta, "a@example.com", "")
	wantErr(t, err, core.ErrDeviceLimit)

	// At the limit, a device signing in again replaces its own session.
	third, err := login(f.meta, "a@example.com", first.Session.ID)
	if err != nil {
		t.Fatalf("login replacing a session at the limit: %v", err)
	}
	_, err = f.Authenticate(t.Context(), f.meta, first.Token.String())
	wantErr(t, err, core.ErrInvalidToken)
	for _, is := range []core.Issued{second, third} {
		if _, err := f.Authenticate(t.Context(), f.meta, is.Token.String()); err != nil {
			t.Errorf("session %s ended: %v", is.Session.ID, err)
		}
	}
	if n := len(f.audits(map[string]any{"event": "session.replaced", "user_id": u.ID, "session_id": first.Session.ID})); n != 1 {
		t.Errorf("%d session.replaced audit events, want 1", n)
	}

	// Another dialect's session, another user's session, and garbage are left alone.
	foreign, err := login(core.Meta{Dialect: "other"}, "a@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	bobs, err := login(f.meta, "b@example.com", "")
	if err != nil {
		t.Fatal(err)
	}
	for name, replaces := range map[string]string{
		"another dialect's session": foreign.Session.ID,
		"another user's session":    bobs.Session.ID,
		"not an id":                 "default",
	} {
		// Still at the limit: a login that replaced nothing is refused.
		if _, err := login(f.meta, "a@example.com", replaces); !errors.Is(err, core.ErrDeviceLimit) {
			t.Errorf("%s: login = %v, want ErrDeviceLimit (nothing replaced)", name, err)
		}
	}
	for name, is := range map[string]core.Issued{"other dialect": foreign, "other user": bobs} {
		if _, err := f.Authenticate(t.Context(), f.meta, is.Token.String()); err != nil {
			t.Errorf("the %s session ended: %v", name, err)
		}
	}
	if n := len(f.audits(map[string]any{"event": "session.replaced", "user_id": other.ID})); n != 0 {
		t.Errorf("another user's session was replaced")
	}
}
