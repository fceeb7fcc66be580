package core_test

import (
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/store"
)

func TestSessionLifetimes(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Sessions.IdleTimeout = config.D(time.Hour)
		c.Sessions.AbsoluteTimeout = config.D(3 * time.Hour)
	})
	f.register("a@example.com")
	_, issued, err := f.login("a@example.com", pw)
	if err != nil {
		t.Fatal(err)
	}
	tok := issued.Token.String()
	// Use slides the idle window up to the absolute end.
	for range 2 {
		f.clock.Advance(59 * time.Minute)
		if _, err := f.Authenticate(t.Context(), f.meta, tok); err != nil {
			t.Fatalf("Authenticate within the idle window: %v", err)
		}
	}
	f.clock.Advance(61 * time.Minute) // 3h; the absolute end
	_, err = f.Authenticate(t.Context(), f.meta, tok)
	wantErr(t, err, core.ErrInvalidToken)

	_, idle, err := f.login("a@example.com", pw)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour + time.Second)
	_, err = f.Authenticate(t.Context(), f.meta, idle.Token.String())
	wantErr(t, err, core.ErrInvalidToken)
}

func TestAuthenticateRefuses(t *testing.T) {
	f := newFixture(t)
	u := f.register("a@example.com")
	_, issued, err := f.login("a@example.com", pw)
	if err != nil {
		t.Fatal(err)
	}
	good := issued.Token
	wrong := good
	wrong.Secret = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for name, raw := range map[string]string{
		"empty": "", "garbage": "x.y.z", "wrong secret": wrong.String(), "trailing space": good.String() + " ",
		"other user": mustID(t) + "." + good.SessionID + "." + good.Secret,
	} {
		_, err := f.Authenticate(t.Context(), f.meta, raw)
		if err != core.ErrInvalidToken { //nolint:errorlint // exactly the sentinel
			t.Errorf("Authenticate(%s) = %v, want ErrInvalidToken", name, err)
		}
	}
	if _, err := f.Store.UpdateUser(t.Context(), u.ID, f.clock.Now(), func(u store.User) (store.User, error) {
		u.Status = store.StatusDisabled
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err = f.Authenticate(t.Context(), f.meta, good.String())
	wantErr(t, err, core.ErrInvalidToken)
}

func TestLogoutAndRevokeAll(t *testing.T) {
	f := newFixture(t)
	u := f.register("a@example.com")
	var toks []string
	for range 3 {
		_, is, err := f.login("a@example.com", pw)
		if err != nil {
			t.Fatal(err)
		}
		toks = append(toks, is.Token.String())
	}
	// A wrong secret ends nothing.
	wrong := toks[0][:len(toks[0])-43] + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	wantErr(t, f.Logout(t.Context(), f.meta, wrong), core.ErrInvalidToken)
	if err := f.Logout(t.Context(), f.meta, toks[0]); err != nil {
		t.Fatal(err)
	}
	wantErr(t, f.Logout(t.Context(), f.meta, toks[0]), core.ErrInvalidToken)
	_, err := f.Authenticate(t.Context(), f.meta, toks[0])
	wantErr(t, err, core.ErrInvalidToken)

	keep, err := f.Authenticate(t.Context(), f.meta, toks[1])
	if err != nil {
		t.Fatal(err)
	}
	ended, err := f.RevokeAll(t.Context(), f.meta, u.ID, keep.Session.ID, store.ReasonRevokeAll)
	if err != nil || len(ended) != 1 {
		t.Fatalf("RevokeAll = %v, %v; want one session ended", ended, err)
	}
	if _, err := f.Authenticate(t.Context(), f.meta, toks[1]); err != nil {
		t.Errorf("the kept session: %v", err)
	}
	_, err = f.Authenticate(t.Context(), f.meta, toks[2])
	wantErr(t, err, core.ErrInvalidToken)
	if len(f.audits(map[string]any{"event": "logout", "user_id": u.ID})) != 1 || len(f.audits(map[string]any{"event": "session.revoke_all"})) != 1 {
		t.Error("missing logout or revoke-all audit events")
	}
}

func TestIssueSessionOptions(t *testing.T) {
	f := newFixture(t)
	u := f.register("a@example.com")
	opts := core.SessionOptions{
		ClientName: "phone", Limit: store.DeviceLimit{Max: 1, Policy: store.DenyNew},
		TokenLifetime: time.Hour, Lifetime: 24 * time.Hour, IdleTimeout: -1, WithRefresh: true,
	}
	is, err := f.IssueSession(t.Context(), f.meta, u, opts)
	if err != nil {
		t.Fatal(err)
	}
	s := is.Session
	now := f.clock.Now()
	if s.ClientName != "phone" || s.Dialect != "test" || s.IdleTimeout != 0 || !s.ExpiresAt.Equal(now.Add(24*time.Hour)) ||
		!s.TokenExpiresAt.Equal(now.Add(time.Hour)) || is.Refresh == "" || s.RefreshHash != f.Hasher.Hash(is.Refresh) {
		t.Errorf("session = %+v, refresh %q", s, is.Refresh)
	}
	_, err = f.IssueSession(t.Context(), f.meta, u, opts)
	wantErr(t, err, core.ErrDeviceLimit)

	opts.Limit.Policy = store.EvictOldest
	next, err := f.IssueSession(t.Context(), f.meta, u, opts)
	if err != nil || len(next.Evicted) != 1 || next.Evicted[0] != s.ID {
		t.Fatalf("EvictOldest: %+v, %v", next.Evicted, err)
	}
	// A login through this dialect with the same limit refuses with the same error.
	_, _, err = f.Login(t.Context(), f.meta, core.LoginRequest{Login: "a@example.com", Password: pw, Session: core.SessionOptions{Limit: store.DeviceLimit{Max: 1, Policy: store.DenyNew}}})
	wantErr(t, err, core.ErrDeviceLimit)
}
