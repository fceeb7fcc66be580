package account_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/authserver/store"
)

// A failed login for an unknown login, a wrong password, a disabled account and from a locked
// address look the same: status, body and headers (but Date and X-Request-Id). All but the
// locked one take about the same time; a locked attempt answers at once, spending no hash.
// A pending account is refused the same way once the realm requires confirmation.
func TestFailedLoginsAreIndistinguishable(t *testing.T) {
	s := servertest.Start(t, servertest.Options{Config: servertest.RealHashing})
	register(t, s, "victim@example.com")
	register(t, s, "disabled@example.com")
	s.SetUserStatus(t, "disabled@example.com", store.StatusDisabled)
	register(t, s, "pending@example.com")
	s.SetUserStatus(t, "pending@example.com", store.StatusPending)
	s = s.SiblingWith(t, func(c *config.Config) { c.Registration.EmailConfirmation = config.ConfirmationRequired })
	b := newBrowser(t, s)
	login := func(login, pw string) func(...string) response {
		return func(header ...string) response {
			return b.do(http.MethodPost, "/account/login", map[string]string{"login": login, "password": pw}, header...)
		}
	}
	servertest.LockAddress(t, func(l string, header ...string) response { return login(l, password)(header...) })
	wantError(t, login("victim@example.com", "wrong "+password)(), http.StatusUnauthorized)
	servertest.CheckFailedLogins(t,
		servertest.FailedLogin{Name: "wrong password", Attempt: login("victim@example.com", "wrong "+password)},
		servertest.FailedLogin{Name: "unknown login", Attempt: login("ghost@example.com", password)},
		servertest.FailedLogin{Name: "disabled account", Attempt: login("disabled@example.com", password)},
		servertest.FailedLogin{Name: "pending account", Attempt: login("pending@example.com", password)},
		// The right password: a lock refuses it exactly like a wrong one.
		servertest.FailedLogin{Name: "locked address", Untimed: true, Attempt: func(...string) response {
			return login("victim@example.com", password)(servertest.FromLockedAddress...)
		}},
	)
}

// Failures per login lock the login (known or not) for the lockout; failures per address
// lock the address; a client behind an untrusted peer cannot pick its address.
func TestBruteForceLockout(t *testing.T) {
	t.Run("per login", func(t *testing.T) {
		s := servertest.Start(t, servertest.Options{Config: func(c *config.Config) {
			c.BruteForce.MaxFailuresPerLogin = 3
			c.BruteForce.Lockout = config.D(2 * time.Second)
			c.BruteForce.Delay = config.D(time.Millisecond)
		}})
		register(t, s, "target@example.com")
		b := newBrowser(t, s)
		good := map[string]string{"login": "target@example.com", "password": password}
		for range 3 {
			wantError(t, b.post("/account/login", map[string]string{"login": "TARGET@example.com", "password": "guess"}), http.StatusUnauthorized)
			time.Sleep(5 * time.Millisecond) // past the progressive delay
		}
		lockedAt := time.Now()
		wantError(t, b.post("/account/login", good), http.StatusUnauthorized)
		if n := len(s.LogLines(map[string]any{"audit": true, "event": "lockout", "subject": "login"})); n != 1 {
			t.Errorf("%d lockout audit events, want 1", n)
		}
		// Other logins from the same address are not affected.
		register(t, s, "bystander@example.com")
		wantUser(t, b.post("/account/login", map[string]string{"login": "bystander@example.com", "password": password}))

		time.Sleep(time.Until(lockedAt.Add(2100 * time.Millisecond)))
		wantUser(t, b.post("/account/login", good))

		// Unknown logins lock too, so a lockout tells nothing about which logins exist.
		for range 3 {
			wantError(t, b.post("/account/login", map[string]string{"login": "ghost@example.com", "password": "guess"}), http.StatusUnauthorized)
			time.Sleep(5 * time.Millisecond)
		}
		if n := len(s.LogLines(map[string]any{"audit": true, "event": "lockout"})); n != 2 {
			t.Errorf("%d lockout audit events, want 2 (the unknown login locked too)", n)
		}
	})

	t.Run("per address", func(t *testing.T) {
		s := servertest.Start(t, servertest.Options{Config: func(c *config.Config) {
			c.BruteForce.MaxFailuresPerLogin = 100
			c.BruteForce.MaxFailuresPerIP = 3
		}})
		register(t, s, "target@example.com")
		b := newBrowser(t, s)
		for i := range 3 {
			wantError(t, b.post("/account/login", map[string]string{"login": fmt.Sprintf("spray%d@example.com", i), "password": "guess"}), http.StatusUnauthorized)
		}
		good := map[string]string{"login": "target@example.com", "password": password}
		wantError(t, b.post("/account/login", good), http.StatusUnauthorized)
		// X-Forwarded-For from a peer that is not a trusted proxy is ignored.
		wantError(t, b.do(http.MethodPost, "/account/login", good, "X-Forwarded-For", "198.51.100.77"), http.StatusUnauthorized)
		if n := len(s.LogLines(map[string]any{"audit": true, "event": "lockout", "subject": "ip", "client_ip": "127.0.0.1"})); n != 1 {
			t.Errorf("%d address lockout events for 127.0.0.1, want 1", n)
		}
	})

	t.Run("behind a trusted proxy", func(t *testing.T) {
		s := servertest.Start(t, servertest.Options{Config: func(c *config.Config) {
			c.BruteForce.MaxFailuresPerLogin = 100
			c.BruteForce.MaxFailuresPerIP = 3
			c.BruteForce.TrustedProxies = []string{"127.0.0.1/32"}
		}})
		register(t, s, "target@example.com")
		b := newBrowser(t, s)
		for i := range 3 {
			wantError(t, b.do(http.MethodPost, "/account/login",
				map[string]string{"login": fmt.Sprintf("spray%d@example.com", i), "password": "guess"},
				"X-Forwarded-For", "6.6.6.6, 198.51.100.1"), http.StatusUnauthorized)
		}
		good := map[string]string{"login": "target@example.com", "password": password}
		wantError(t, b.do(http.MethodPost, "/account/login", good, "X-Forwarded-For", "198.51.100.1"), http.StatusUnauthorized)
		wantUser(t, b.do(http.MethodPost, "/account/login", good, "X-Forwarded-For", "198.51.100.2"))
	})
}

// CORS from the realm's origins, with credentials; unsafe requests from other origins are
// refused.
func TestCORS(t *testing.T) {
	const origin = "https://app.test.example"
	s := servertest.Start(t, servertest.Options{InMemory: true, Config: func(c *config.Config) { c.AllowedOrigins = []string{origin} }})
	register(t, s, "cors@example.com")
	b := newBrowser(t, s)

	r := b.do(http.MethodOptions, "/account/login", nil, "Origin", origin, "Access-Control-Request-Method", "POST",
		"Access-Control-Request-Headers", "content-type")
	if r.StatusCode != http.StatusNoContent || r.Header.Get("Access-Control-Allow-Origin") != origin ||
		r.Header.Get("Access-Control-Allow-Credentials") != "true" || !strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Content-Type") {
		t.Errorf("preflight = %d %v", r.StatusCode, r.Header)
	}
	r = b.do(http.MethodOptions, "/account/login", nil, "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
	if r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from another origin granted: %v", r.Header)
	}

	creds := map[string]string{"login": "cors@example.com", "password": password}
	r = b.do(http.MethodPost, "/account/login", creds, "Origin", origin)
	wantUser(t, r)
	if r.Header.Get("Access-Control-Allow-Origin") != origin || r.Header.Get("Access-Control-Expose-Headers") != "X-Request-Id" {
		t.Errorf("CORS headers = %v", r.Header)
	}
	r = b.do(http.MethodGet, "/account/session", nil, "Origin", origin)
	wantUser(t, r)

	// Login CSRF and forced logout from a foreign site are refused.
	wantError(t, b.do(http.MethodPost, "/account/login", creds, "Origin", "https://evil.example"), http.StatusForbidden)
	wantError(t, b.do(http.MethodPost, "/account/logout", nil, "Origin", "https://evil.example"), http.StatusForbidden)
	wantUser(t, b.get("/account/session"))
}

// X-Request-Id is echoed when well formed and ties the audit event to the access log.
func TestRequestID(t *testing.T) {
	s := servertest.Start(t, servertest.Options{InMemory: true})
	register(t, s, "rid@example.com")
	b := newBrowser(t, s)
	r := b.do(http.MethodPost, "/account/login", map[string]string{"login": "rid@example.com", "password": password}, "X-Request-Id", "trace-42")
	wantUser(t, r)
	if got := r.Header.Get("X-Request-Id"); got != "trace-42" {
		t.Errorf("X-Request-Id = %q, want trace-42", got)
	}
	if n := len(s.LogLines(map[string]any{"audit": true, "event": "login", "request_id": "trace-42"})); n != 1 {
		t.Errorf("%d login audit events with the request id, want 1", n)
	}
	if n := len(s.LogLines(map[string]any{"msg": "http request", "request_id": "trace-42", "route": "login"})); n != 1 {
		t.Errorf("%d access-log lines with the request id, want 1", n)
	}
	r = b.do(http.MethodGet, "/account/session", nil, "X-Request-Id", `bad id "}{`)
	if got := r.Header.Get("X-Request-Id"); got == "" || strings.Contains(got, " ") {
		t.Errorf("X-Request-Id = %q, want a fresh id replacing the malformed one", got)
	}
}

// Audit events cover login, failed login, logout, lockout, password reset and registration,
// and no log line holds a password, a token or a hash.
func TestAuditEventsHoldNoSecrets(t *testing.T) {
	s := servertest.Start(t, servertest.Options{Config: func(c *config.Config) {
		c.BruteForce.MaxFailuresPerLogin = 2
		c.Registration.EmailConfirmation = config.ConfirmationOptional
	}})
	b, u := register(t, s, "audit@example.com")
	cookie1 := b.hc.Jar.Cookies(mustURL(t, s.PublicURL))[0].Value
	_, ctok := s.Mailbox.Wait(t, "audit@example.com", 1).Link(t)
	wantNoContent(t, b.post("/account/confirm", map[string]string{"id": u.ID, "token": ctok}))
	wantNoContent(t, b.post("/account/logout", nil))
	wantUser(t, b.post("/account/login", map[string]string{"login": "audit@example.com", "password": password}))
	cookie2 := b.hc.Jar.Cookies(mustURL(t, s.PublicURL))[0].Value
	stranger := newBrowser(t, s) // b holds a device cookie now: its failures would lock only that
	for range 2 {
		wantError(t, stranger.post("/account/login", map[string]string{"login": "audit@example.com", "password": "wrong-guess-xyz"}), http.StatusUnauthorized)
	}
	wantNoContent(t, b.post("/account/forgot", map[string]string{"login": "audit@example.com"}))
	_, rtok := s.Mailbox.Wait(t, "audit@example.com", 2).Link(t)
	wantNoContent(t, b.post("/account/reset", map[string]string{"id": u.ID, "token": rtok, "password": "brand new secret pw"}))

	for _, want := range []map[string]any{
		{"event": "register", "outcome": "success", "user_id": u.ID},
		{"event": "confirm", "outcome": "success", "user_id": u.ID},
		{"event": "logout", "outcome": "success", "user_id": u.ID},
		{"event": "login", "outcome": "success", "user_id": u.ID},
		{"event": "login", "outcome": "failure", "user_id": u.ID, "reason": "wrong_password"},
		{"event": "lockout", "user_id": u.ID, "subject": "login"},
		{"event": "password.forgot", "user_id": u.ID},
		{"event": "password.reset", "outcome": "success", "user_id": u.ID, "sessions_ended": float64(1)},
	} {
		want["audit"] = true
		want["dialect"] = "account"
		want["client_ip"] = "127.0.0.1"
		if len(s.LogLines(want)) == 0 {
			t.Errorf("no audit event %v", want)
		}
	}
	logs := s.Logs()
	for name, secret := range map[string]string{
		"password": password, "wrong password": "wrong-guess-xyz", "new password": "brand new secret pw",
		"first session token": cookie1, "second session token": cookie2,
		"confirmation token": ctok, "reset token": rtok, "a password hash": "$argon2id$",
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs hold the %s", name)
		}
	}
}
