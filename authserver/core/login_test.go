package core_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/password"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

func TestLoginAndAuthenticate(t *testing.T) {
	f := newFixture(t)
	u := f.register("Ada@Example.com")
	got, issued, err := f.login("  ADA@example.COM\t", pw)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != u.ID {
		t.Errorf("Login user = %s, want %s", got.ID, u.ID)
	}
	tok := issued.Token.String()
	if _, err := token.ParseSessionToken(tok); err != nil || issued.Token.UserID != u.ID {
		t.Fatalf("issued token %q: %v", tok, err)
	}
	if issued.Session.TokenHash != f.Hasher.Hash(issued.Token.Secret) || strings.Contains(issued.Session.TokenHash, issued.Token.Secret) {
		t.Error("the session does not hold the token's hash (or holds the secret)")
	}
	cfg := f.Config.Sessions
	if !issued.Session.ExpiresAt.Equal(f.clock.Now().Add(cfg.AbsoluteTimeout.Duration)) || issued.Session.IdleTimeout != cfg.IdleTimeout.Duration {
		t.Errorf("session lifetimes %s/%s, want the config's", issued.Session.ExpiresAt, issued.Session.IdleTimeout)
	}
	a, err := f.Authenticate(t.Context(), f.meta, tok)
	if err != nil || a.User.ID != u.ID || a.Session.ID != issued.Session.ID {
		t.Fatalf("Authenticate = %+v, %v", a, err)
	}
	if n := len(f.audits(map[string]any{"event": "login", "outcome": "success", "user_id": u.ID, "client_ip": "192.0.2.1", "dialect": "test"})); n != 1 {
		t.Errorf("%d login audit events, want 1", n)
	}
}

// Every failure is the same error, counted against the login and the address.
func TestLoginFailuresAreOneError(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.BruteForce.MaxFailuresPerLogin = 100
		c.BruteForce.MaxFailuresPerIP = 100
	})
	f.register("known@example.com")
	disabled := f.register("disabled@example.com")
	if _, err := f.Store.UpdateUser(t.Context(), disabled.ID, f.clock.Now(), func(u store.User) (store.User, error) {
		u.Status = store.StatusDisabled
		return u, nil
	}); err != nil {
		t.Fatal(err)
	}
	nopw, err := f.Store.CreateUser(t.Context(), store.User{ID: mustID(t), Login: "nopw@example.com", Status: store.StatusActive}, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string][2]string{
		"unknown login":   {"nobody@example.com", pw},
		"wrong password":  {"known@example.com", "not it"},
		"empty password":  {"known@example.com", ""},
		"disabled":        {"disabled@example.com", pw},
		"no password set": {nopw.Login, ""},
		"empty login":     {"", pw},
		"huge login":      {strings.Repeat("x", 10000), pw},
		"huge password":   {"known@example.com", strings.Repeat("x", 10000)},
	} {
		t.Run(name, func(t *testing.T) {
			before, err := lockout(t, f, store.LoginSubject(c[0]))
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = f.login(c[0], c[1])
			if err != core.ErrInvalidCredentials { //nolint:errorlint // the very same value, not a wrapper
				t.Fatalf("Login = %v, want exactly ErrInvalidCredentials", err)
			}
			after, err := lockout(t, f, store.LoginSubject(c[0]))
			if err != nil || after.Failures != before.Failures+1 {
				t.Errorf("failures of the login went from %d to %+v (%v); want one more", before.Failures, after, err)
			}
		})
	}
	l, err := lockout(t, f, store.IPSubject("192.0.2.1"))
	if err != nil || l.Failures != 8 {
		t.Errorf("failures of the address = %+v, %v; want 8", l, err)
	}
	if n := len(f.audits(map[string]any{"event": "login", "outcome": "failure"})); n != 8 {
		t.Errorf("%d failed-login audit events, want 8", n)
	}
	for reason := range map[string]bool{"unknown_login": true, "wrong_password": true, "disabled": true, "no_usable_password": true} {
		if len(f.audits(map[string]any{"event": "login", "reason": reason})) == 0 {
			t.Errorf("no failed-login audit event with reason %s", reason)
		}
	}
}

func TestLoginLockout(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.BruteForce.MaxFailuresPerLogin = 3
		c.BruteForce.Lockout = config.D(10 * time.Minute)
	})
	f.register("target@example.com")
	for range 3 {
		_, _, err := f.login("target@example.com", "guess")
		wantErr(t, err, core.ErrInvalidCredentials)
		f.clock.Advance(time.Minute) // past any progressive delay
	}
	if n := len(f.audits(map[string]any{"event": "lockout", "subject": "login"})); n != 1 {
		t.Errorf("%d lockout events, want 1", n)
	}
	// Locked for strangers: the right password fails like a wrong one, unhashed and uncounted.
	_, _, err := f.login("TARGET@example.com", pw)
	wantErr(t, err, core.ErrInvalidCredentials)
	if len(f.audits(map[string]any{"event": "login", "reason": "locked"})) != 1 {
		t.Error("no audit event for the locked attempt")
	}
	f.clock.Advance(10 * time.Minute)
	if _, _, err := f.login("target@example.com", pw); err != nil {
		t.Fatalf("login after the lockout = %v", err)
	}
}

// lockout reads one subject's state.
func lockout(t *testing.T, f *fixture, subj store.Subject) (store.Lockout, error) {
	t.Helper()
	l, err := f.Store.CheckLockouts(t.Context(), []store.Subject{subj}, f.clock.Now())
	if err != nil {
		return store.Lockout{}, err
	}
	return l[0], nil
}

// The realm's confirmation mode decides whether a user who has not confirmed the email may
// log in, for every dialect at once: None (active at once), Optional (pending, in, for
// unconfirmedAccessFor when set), Required (pending, refused with the failed-login answer
// until confirmed).
func TestConfirmationModeDecidesLogin(t *testing.T) {
	for _, c := range []struct {
		mode    config.ConfirmationMode
		grace   time.Duration
		status  store.UserStatus
		in      bool
		inLater bool // after 2 h
	}{
		{config.ConfirmationNone, 0, store.StatusActive, true, true},
		{config.ConfirmationOptional, 0, store.StatusPending, true, true},
		{config.ConfirmationOptional, time.Hour, store.StatusPending, true, false},
		{config.ConfirmationRequired, 0, store.StatusPending, false, false},
	} {
		t.Run(fmt.Sprintf("%s %s", c.mode, c.grace), func(t *testing.T) {
			f := newFixture(t, func(cf *config.Config) {
				cf.Registration.EmailConfirmation = c.mode
				cf.Registration.UnconfirmedAccessFor = config.Duration{Duration: c.grace}
			})
			u := f.register("new@example.com")
			if u.Status != c.status {
				t.Fatalf("status after registering = %v, want %v", u.Status, c.status)
			}
			if got := len(f.mail.all()); (got > 0) != (c.status == store.StatusPending) {
				t.Fatalf("%d confirmation mails for status %v", got, u.Status)
			}
			_, _, err := f.login("new@example.com", pw)
			if (err == nil) != c.in {
				t.Fatalf("login right after registering = %v, want allowed %v", err, c.in)
			}
			if err != nil {
				wantErr(t, err, core.ErrInvalidCredentials)
			}
			f.clock.Advance(2 * time.Hour)
			_, _, err = f.login("new@example.com", pw)
			if (err == nil) != c.inLater {
				t.Fatalf("login 2 h after registering = %v, want allowed %v", err, c.inLater)
			}
		})
	}
}

// An outage is an internal error, never "invalid credentials" or "invalid token", and is
// not counted as a failure.
func TestStoreDownIsInternal(t *testing.T) {
	f := newFixture(t)
	f.register("a@example.com")
	_, issued, err := f.login("a@example.com", pw)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.mem.Close(); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.login("a@example.com", pw)
	if err == nil || errors.Is(err, core.ErrInvalidCredentials) || !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Login = %v, want an internal error wrapping store.ErrUnavailable", err)
	}
	if _, err := f.Authenticate(t.Context(), f.meta, issued.Token.String()); err == nil || errors.Is(err, core.ErrInvalidToken) {
		t.Errorf("Authenticate = %v, want an internal error", err)
	}
	if err := f.Logout(t.Context(), f.meta, issued.Token.String()); err == nil || errors.Is(err, core.ErrInvalidToken) {
		t.Errorf("Logout = %v, want an internal error", err)
	}
	if err := f.Forgot(t.Context(), f.meta, "a@example.com", nil); err == nil {
		t.Error("Forgot succeeded with the store down")
	}
	if _, err := f.Register(t.Context(), f.meta, core.Registration{Login: "b@example.com", Password: pw}); err == nil || errors.Is(err, core.ErrLoginTaken) {
		t.Errorf("Register = %v, want an internal error", err)
	}
}

// A saturated password pool is an internal error too, for known and unknown logins alike.
func TestPoolSaturatedIsInternal(t *testing.T) {
	f := newFixture(t)
	f.register("a@example.com")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, login := range []string{"a@example.com", "nobody@example.com"} {
		_, _, err := f.Login(ctx, f.meta, core.LoginRequest{Login: login, Password: pw})
		if err == nil || errors.Is(err, core.ErrInvalidCredentials) {
			t.Errorf("Login(%s) with a cancelled context = %v, want an internal error", login, err)
		}
	}
}

// A login under old argon2id parameters upgrades the stored hash in place: the password works
// as before, the user's other sessions stay, and it happens once.
func TestLoginRehashesOldParameters(t *testing.T) {
	f := newFixture(t)
	u := f.register("old@example.com")
	_, other, err := f.login("old@example.com", pw) // a session on another device
	if err != nil {
		t.Fatal(err)
	}
	// The realm raises its parameters.
	stronger := f.Config.Passwords
	stronger.Argon2.Iterations = 2
	pool, err := password.NewPool(stronger)
	if err != nil {
		t.Fatal(err)
	}
	f.Passwords = pool

	if _, _, err := f.login("old@example.com", pw); err != nil {
		t.Fatal(err)
	}
	after, err := f.mem.GetUser(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.PasswordHash == u.PasswordHash {
		t.Fatal("the hash was not upgraded")
	}
	if rehash, err := pool.Verify(t.Context(), pw, after.PasswordHash); err != nil || rehash {
		t.Errorf("the new hash verifies: %v, needs rehash: %v; want it current", err, rehash)
	}
	if !after.PasswordChangedAt.Equal(u.PasswordChangedAt) {
		t.Errorf("PasswordChangedAt moved from %s to %s: the password has not changed", u.PasswordChangedAt, after.PasswordChangedAt)
	}
	if _, err := f.Authenticate(t.Context(), f.meta, other.Token.String()); err != nil {
		t.Errorf("the other device's session ended with the rehash: %v", err)
	}
	// Current parameters: no further rehash.
	if _, _, err := f.login("old@example.com", pw); err != nil {
		t.Fatal(err)
	}
	if n := len(f.audits(map[string]any{"event": "password.rehash", "user_id": u.ID})); n != 1 {
		t.Errorf("%d password.rehash audit events, want 1", n)
	}
}

func mustID(t *testing.T) string {
	t.Helper()
	id, err := token.NewID()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A login for an app client that must be registered is refused with ErrUnknownClient when
// the client is not (or no longer) registered as the session is filed, and succeeds once it is.
func TestLoginRequiresTheRegisteredClientAtSessionTime(t *testing.T) {
	f := newFixture(t)
	u := f.register("app-user@example.com")
	opts := core.SessionOptions{ClientName: "mobile", TrackClient: true, RequireRegisteredClient: true}
	login := func() error {
		_, _, err := f.Login(t.Context(), f.meta, core.LoginRequest{Login: "app-user@example.com", Password: pw, Session: opts})
		return err
	}
	wantErr(t, login(), core.ErrUnknownClient)
	if n := len(f.audits(map[string]any{"event": "login", "user_id": u.ID, "outcome": "refused", "reason": "unknown_client"})); n != 1 {
		t.Errorf("%d refused login audit events with reason unknown_client, want 1", n)
	}
	if err := f.mem.PutAppClient(t.Context(), store.AppClient{ID: "mobile"}); err != nil {
		t.Fatal(err)
	}
	if err := login(); err != nil {
		t.Fatalf("login with the client registered: %v", err)
	}
}
