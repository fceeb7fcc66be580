package account_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
)

// The success rows of docs/protocol.md#account-endpoints for session, login, logout and register.
func TestSessionLifecycle(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	b := newBrowser(t, s)

	// POST /register → 200 User + session cookie.
	r := b.post("/account/register", map[string]string{
		"login": "Ada@Example.com", "password": password, "firstName": "Ada", "lastName": "Lovelace",
	})
	u := wantUser(t, r)
	if u.Login != "Ada@Example.com" || u.FirstName != "Ada" || u.LastName != "Lovelace" || u.Status != 1 || len(u.ID) != 22 {
		t.Errorf("registered User = %+v, want login as typed, names, status 1 (active) and an id", u)
	}
	c := sessionCookie(t, r)
	if !c.HttpOnly || c.Path != "/" || c.SameSite != http.SameSiteLaxMode || c.Secure || c.MaxAge <= 0 {
		t.Errorf("cookie = %+v, want HttpOnly, Path=/, SameSite=Lax, not Secure (plain HTTP), persistent", c)
	}

	// GET /session → 200 User.
	if got := wantUser(t, b.get("/account/session")); got != u {
		t.Errorf("GET session = %+v, want %+v", got, u)
	}

	// POST /logout → 204, cookie cleared, session ended.
	r = b.post("/account/logout", nil)
	wantNoContent(t, r)
	if c := sessionCookie(t, r); c.MaxAge >= 0 || c.Value != "" {
		t.Errorf("logout cookie = %+v, want it cleared (Max-Age<0)", c)
	}
	wantError(t, b.get("/account/session"), http.StatusUnauthorized)

	// The ended session stays ended even when presented again.
	stale := newBrowser(t, s)
	wantError(t, stale.do(http.MethodGet, "/account/session", nil, "Cookie", "latch_session="+c.Value), http.StatusUnauthorized)

	// POST /login, with the login trimmed and in another case → 200 User + cookie.
	r = b.post("/account/login", map[string]string{"login": "  ADA@example.COM ", "password": password})
	if got := wantUser(t, r); got != u {
		t.Errorf("login User = %+v, want %+v", got, u)
	}
	sessionCookie(t, r)
	if got := wantUser(t, b.get("/account/session")); got != u {
		t.Errorf("GET session after login = %+v, want %+v", got, u)
	}

	// POST /logout without a session → 204 all the same.
	wantNoContent(t, newBrowser(t, s).post("/account/logout", nil))
	wantNoContent(t, newBrowser(t, s).do(http.MethodPost, "/account/logout", nil, "Cookie", "latch_session=garbage"))
}

// Two browsers of one user hold independent sessions; a new login from a browser that holds
// a session ends the older one.
func TestSessionsAreIndependent(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	a, _ := register(t, s, "two@example.com")
	b := newBrowser(t, s)
	creds := map[string]string{"login": "two@example.com", "password": password}
	first := sessionCookie(t, b.post("/account/login", creds))

	wantNoContent(t, a.post("/account/logout", nil))
	wantError(t, a.get("/account/session"), http.StatusUnauthorized)
	wantUser(t, b.get("/account/session"))

	second := sessionCookie(t, b.post("/account/login", creds))
	if second.Value == first.Value {
		t.Fatal("a second login reused the session token")
	}
	wantUser(t, b.get("/account/session"))
	replaced := newBrowser(t, s).do(http.MethodGet, "/account/session", nil, "Cookie", "latch_session="+first.Value)
	wantError(t, replaced, http.StatusUnauthorized)
}

// GET /session, POST /login: every failure row is 401 Error.
func TestUnauthorized(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	register(t, s, "known@example.com")
	b := newBrowser(t, s)
	wantError(t, b.get("/account/session"), http.StatusUnauthorized)
	for name, cookie := range map[string]string{
		"garbage":     "latch_session=garbage",
		"wrong token": "latch_session=AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"empty":       "latch_session=",
	} {
		t.Run(name, func(t *testing.T) {
			wantError(t, b.do(http.MethodGet, "/account/session", nil, "Cookie", cookie), http.StatusUnauthorized)
		})
	}
	for name, body := range map[string]map[string]string{
		"wrong password": {"login": "known@example.com", "password": "not the password"},
		"unknown login":  {"login": "nobody@example.com", "password": password},
		"empty":          {},
	} {
		t.Run(name, func(t *testing.T) {
			r := b.post("/account/login", body)
			wantError(t, r, http.StatusUnauthorized)
			if len(r.Cookies()) != 0 {
				t.Errorf("a failed login set cookies: %q", r.Header.Values("Set-Cookie"))
			}
		})
	}
}

// POST /register refusals: 401 for closed registration, a taken login and a weak password;
// 400 for malformed fields.
func TestRegisterRefused(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	register(t, s, "taken@example.com")
	b := newBrowser(t, s)

	msg := wantError(t, b.post("/account/register", map[string]string{"login": " TAKEN@example.com", "password": password}), http.StatusUnauthorized)
	if strings.Contains(strings.ToLower(msg), "exist") {
		t.Errorf("taken-login message %q says the login exists", msg)
	}
	msg = wantError(t, b.post("/account/register", map[string]string{"login": "weak@example.com", "password": "short"}), http.StatusUnauthorized)
	if !strings.Contains(msg, "too short") {
		t.Errorf("weak-password message %q does not say why", msg)
	}
	// The refused registration did not create the account.
	wantUser(t, b.post("/account/register", map[string]string{"login": "weak@example.com", "password": password}))

	for name, body := range map[string]map[string]string{
		"empty login":            {"login": "  ", "password": password},
		"control char in name":   {"login": "ctl@example.com", "password": password, "firstName": "A\u0007"},
		"overlong last name":     {"login": "long@example.com", "password": password, "lastName": strings.Repeat("x", 300)},
		"overlong login":         {"login": strings.Repeat("x", 400) + "@example.com", "password": password},
		"newline in login":       {"login": "a\nb@example.com", "password": password},
		"login with space in it": {"login": "bad login\x00", "password": password},
	} {
		t.Run(name, func(t *testing.T) {
			r := b.post("/account/register", body)
			wantError(t, r, http.StatusBadRequest)
			if len(r.Cookies()) != 0 {
				t.Errorf("a refused registration set cookies")
			}
		})
	}

	closed := servertest.Start(t, servertest.Options{InMemory: true, Config: func(c *config.Config) { c.Registration.Closed = true }})
	msg = wantError(t, newBrowser(t, closed).post("/account/register", map[string]string{"login": "new@example.com", "password": password}), http.StatusUnauthorized)
	if !strings.Contains(msg, "closed") {
		t.Errorf("closed-registration message = %q", msg)
	}
}

// POST /register with confirmation optional → 200 User with status 0 and a session; the
// confirmation mail's link confirms through POST /confirm.
func TestConfirm(t *testing.T) {
	s := servertest.Start(t, servertest.Options{Config: func(c *config.Config) { c.Registration.EmailConfirmation = config.ConfirmationOptional }})
	b, u := register(t, s, "pending@example.com")
	if u.Status != 0 {
		t.Fatalf("status after registration = %d, want 0 (pending)", u.Status)
	}
	if got := wantUser(t, b.get("/account/session")); got.Status != 0 {
		t.Errorf("session status = %d, want 0", got.Status)
	}
	// A pending user may log in (the seed's registration already signs them in).
	wantUser(t, newBrowser(t, s).post("/account/login", map[string]string{"login": "pending@example.com", "password": password}))

	m := s.Mailbox.Wait(t, "pending@example.com", 1)
	if !strings.Contains(m.Text, "https://app.test.example/confirm?uid=") {
		t.Errorf("confirmation mail does not link to confirmURL:\n%s", m.Text)
	}
	uid, tok := m.Link(t)
	if uid != u.ID {
		t.Errorf("link uid = %q, want the user id %q", uid, u.ID)
	}

	anon := newBrowser(t, s)
	// A wrong token is the seed's 500 Error and does not spend the real one.
	wantError(t, anon.post("/account/confirm", map[string]string{"id": uid, "token": strings.Repeat("A", 43)}), http.StatusInternalServerError)
	wantNoContent(t, anon.post("/account/confirm", map[string]string{"id": uid, "token": tok}))
	if got := wantUser(t, b.get("/account/session")); got.Status != 1 {
		t.Errorf("status after confirm = %d, want 1", got.Status)
	}
	// Single use.
	wantError(t, anon.post("/account/confirm", map[string]string{"id": uid, "token": tok}), http.StatusInternalServerError)
	// Malformed fields are 400.
	wantError(t, anon.post("/account/confirm", map[string]string{"id": "5ce560da993911b1162fca9b", "token": tok}), http.StatusBadRequest)
	wantError(t, anon.post("/account/confirm", map[string]string{"id": uid, "token": "4ddb9c2e-e6c8-4cab-a46d-d3dd1a7a6a2b"}), http.StatusBadRequest)
	wantError(t, anon.post("/account/confirm", map[string]string{}), http.StatusBadRequest)

	// Without confirmation required, registration makes active users and sends no mail.
	plain := servertest.Start(t, servertest.Options{InMemory: true})
	_, u2 := register(t, plain, "active@example.com")
	if u2.Status != 1 {
		t.Errorf("status without confirmation = %d, want 1", u2.Status)
	}
	if n := plain.Mailbox.Count("active@example.com"); n != 0 {
		t.Errorf("%d mails sent without confirmation required", n)
	}
}

// POST /forgot → 204 for any login, a mail to a known one; POST /reset spends the token,
// sets the password and ends every session.
func TestForgotAndReset(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	first, u := register(t, s, "forgetful@example.com")
	second := newBrowser(t, s)
	wantUser(t, second.post("/account/login", map[string]string{"login": "forgetful@example.com", "password": password}))

	anon := newBrowser(t, s)
	wantNoContent(t, anon.post("/account/forgot", map[string]string{"login": "nobody@example.com"}))
	wantNoContent(t, anon.post("/account/forgot", map[string]string{"login": " Forgetful@Example.com "}))
	m := s.Mailbox.Wait(t, "forgetful@example.com", 1)
	if !strings.Contains(m.Text, "https://app.test.example/reset-password?uid="+u.ID+"&t=") {
		t.Errorf("reset mail does not hold {resetURL}?uid=USER_ID&t=RESET_TOKEN:\n%s", m.Text)
	}
	uid, tok := m.Link(t)
	if n := len(s.Mailbox.Mails()); n != 1 {
		t.Errorf("mailbox holds %d messages, want 1 (none for the unknown login)", n)
	}

	// A weak password is refused (500, the seed's contract) without spending the token.
	msg := wantError(t, anon.post("/account/reset", map[string]string{"id": uid, "token": tok, "password": "short"}), http.StatusInternalServerError)
	if !strings.Contains(msg, "too short") {
		t.Errorf("weak reset message = %q", msg)
	}
	wantError(t, anon.post("/account/reset", map[string]string{"id": uid, "token": strings.Repeat("A", 43), "password": "a new password"}), http.StatusInternalServerError)
	wantNoContent(t, anon.post("/account/reset", map[string]string{"id": uid, "token": tok, "password": "a new password"}))

	// Every session ended; the old password is gone, the new one works.
	wantError(t, first.get("/account/session"), http.StatusUnauthorized)
	wantError(t, second.get("/account/session"), http.StatusUnauthorized)
	wantError(t, anon.post("/account/login", map[string]string{"login": "forgetful@example.com", "password": password}), http.StatusUnauthorized)
	wantUser(t, anon.post("/account/login", map[string]string{"login": "forgetful@example.com", "password": "a new password"}))
	// The user is told.
	if m := s.Mailbox.Wait(t, "forgetful@example.com", 2); m.Subject != "Your test password was changed" {
		t.Errorf("second mail %q, want the notice of the new password", m.Subject)
	}

	// The token is spent.
	wantError(t, anon.post("/account/reset", map[string]string{"id": uid, "token": tok, "password": "another password"}), http.StatusInternalServerError)
	// Malformed id or token: 400.
	wantError(t, anon.post("/account/reset", map[string]string{"id": "x", "token": tok, "password": "another password"}), http.StatusBadRequest)
	// A second forgot mails a new link.
	wantNoContent(t, anon.post("/account/forgot", map[string]string{"login": "forgetful@example.com"}))
	_, tok2 := s.Mailbox.Wait(t, "forgetful@example.com", 3).Link(t)
	if tok2 == tok {
		t.Error("a second reset mail carried the same token")
	}
}
