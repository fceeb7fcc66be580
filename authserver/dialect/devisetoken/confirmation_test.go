package devisetoken_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
)

// publicURL is the realm's public URL in these tests. The servers listen on loopback ports
// only known once they run, so a mail's link is followed by replacing this origin with the
// server's: what a client sees behind its Ingress.
const publicURL = "https://auth.test.example"

// apiLinkRE finds a link to the API in a mail: devise's password/edit and confirmation.
var apiLinkRE = regexp.MustCompile(`https://auth\.test\.example(/auth/[a-z_/]+\?\S+)`)

// apiLink returns the path and query of the mail's link to the API, to follow on the server.
func apiLink(t *testing.T, m servertest.Mail, path string) url.Values {
	t.Helper()
	sub := apiLinkRE.FindStringSubmatch(m.Text)
	if sub == nil {
		t.Fatalf("no link to %s%s in the mail %q:\n%s", publicURL, path, m.Subject, m.Text)
	}
	u, err := url.Parse(sub[1])
	if err != nil || u.Path != path {
		t.Fatalf("mail link %q, want %s%s?…", sub[0], publicURL, path)
	}
	return u.Query()
}

func withPublicURL(c *config.Config) { c.PublicURL = publicURL }

// The confirmation flow's messages.
const (
	msgConfirmInvalid = "The confirmation token is invalid or has expired."
	msgMissingEmail   = "You must provide an email address."
)

// A reset asked with redirect_url mails devise's link, {publicURL}{prefix}/password/edit with
// reset_password_token and redirect_url, which a devise client follows unchanged: it
// redirects to redirect_url signed in, and the new password is set on that session.
func TestResetMailLinksToTheAPI(t *testing.T) {
	s := start(t, servertest.Options{}, withPublicURL)
	c := newClient(t, s)
	u, _ := register(t, c, "devise-reset@example.com")
	const target = origin + "/new-password#/reset"
	wantStatus(t, c.post("/auth/password", map[string]string{"email": "devise-reset@example.com", "redirect_url": target}), http.StatusOK)
	q := apiLink(t, s.Mailbox.Wait(t, "devise-reset@example.com", 1), "/auth/password/edit")
	if q.Get("redirect_url") != target || !strings.HasPrefix(q.Get("reset_password_token"), u.ID+".") {
		t.Fatalf("link parameters %v, want reset_password_token %s.… and redirect_url %s", q, u.ID, target)
	}
	// The link is followed on another replica; the password set on the first.
	other := newClient(t, s.Sibling(t))
	reset := wantRedirect(t, other.get("/auth/password/edit?"+q.Encode()), origin+"/new-password?")
	r := c.do(http.MethodPut, "/auth/password", map[string]string{"password": newPassword, "password_confirmation": newPassword}, reset.headers()...)
	wantStatus(t, r, http.StatusOK)
	wantStatus(t, c.post("/auth/sign_in", map[string]string{"email": "devise-reset@example.com", "password": newPassword}), http.StatusOK)

	// Without redirect_url, the realm's reset page as before (the second mail was the notice of
	// the change); without a publicURL too.
	wantStatus(t, c.post("/auth/password", map[string]string{"email": "devise-reset@example.com"}), http.StatusOK)
	if m := s.Mailbox.Wait(t, "devise-reset@example.com", 3); !strings.Contains(m.Text, "https://app.test.example/reset-password?uid=") {
		t.Errorf("a reset without redirect_url does not link to email.resetURL:\n%s", m.Text)
	}
	plain := start(t, servertest.Options{})
	pc := newClient(t, plain)
	register(t, pc, "no-public-url@example.com")
	wantStatus(t, pc.post("/auth/password", map[string]string{"email": "no-public-url@example.com", "redirect_url": target}), http.StatusOK)
	if m := plain.Mailbox.Wait(t, "no-public-url@example.com", 1); !strings.Contains(m.Text, "https://app.test.example/reset-password?uid=") {
		t.Errorf("a realm without publicURL does not link to email.resetURL:\n%s", m.Text)
	}
}

// Registration under Required: no credentials, sign-in refused like a wrong password, the
// mail's confirmation link (devise's, with confirm_success_url) confirms and redirects with
// account_confirmation_success=true, after which sign-in works. A spent link redirects with
// false; a redirect outside the allowed origins is refused and spends nothing; resending is
// answered alike for any email.
func TestConfirmationFlow(t *testing.T) {
	s := start(t, servertest.Options{}, withPublicURL, func(c *config.Config) {
		c.Registration.EmailConfirmation = config.ConfirmationRequired
	})
	c := newClient(t, s)
	const welcome = origin + "/welcome"
	wantError(t, c.post("/auth", map[string]string{"email": "x@example.com", "password": password, "confirm_success_url": "https://evil.example/"}),
		http.StatusUnprocessableEntity, "")
	r := c.post("/auth", map[string]string{"email": "confirm@example.com", "password": password, "confirm_success_url": welcome})
	wantStatus(t, r, http.StatusOK)
	wantNoCreds(t, r)
	refused := c.post("/auth/sign_in", map[string]string{"email": "confirm@example.com", "password": password})
	wantError(t, refused, http.StatusUnauthorized, msgBadCredentials)

	q := apiLink(t, s.Mailbox.Wait(t, "confirm@example.com", 1), "/auth/confirmation")
	if q.Get("redirect_url") != welcome || q.Get("confirmation_token") == "" {
		t.Fatalf("confirmation link parameters %v", q)
	}
	// A refused redirect spends nothing.
	bad := url.Values{"confirmation_token": {q.Get("confirmation_token")}, "redirect_url": {"https://evil.example/"}}
	wantError(t, c.get("/auth/confirmation?"+bad.Encode()), http.StatusUnprocessableEntity, "")
	// Confirmed on another replica, signed in on the first.
	other := newClient(t, s.Sibling(t))
	wantConfirmRedirect(t, other.get("/auth/confirmation?"+q.Encode()), welcome, "true")
	wantStatus(t, c.post("/auth/sign_in", map[string]string{"email": "confirm@example.com", "password": password}), http.StatusOK)
	// Spent: devise's failure redirect; without redirect_url, 404.
	wantConfirmRedirect(t, c.get("/auth/confirmation?"+q.Encode()), welcome, "false")
	wantError(t, c.get("/auth/confirmation?confirmation_token="+url.QueryEscape(q.Get("confirmation_token"))), http.StatusNotFound, msgConfirmInvalid)

	// Resend: the same answer for a pending user, a confirmed one and a stranger; only the
	// pending user gets mail, linking back to the API.
	r = c.post("/auth", map[string]string{"email": "late@example.com", "password": password})
	wantStatus(t, r, http.StatusOK)
	var bodies []string
	for _, email := range []string{"late@example.com", "confirm@example.com", "nobody@example.com"} {
		r := c.post("/auth/confirmation", map[string]string{"email": email, "redirect_url": welcome})
		wantStatus(t, r, http.StatusOK)
		bodies = append(bodies, string(r.Body))
	}
	if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Errorf("resend answers differ: %q", bodies)
	}
	second := apiLink(t, s.Mailbox.Wait(t, "late@example.com", 2), "/auth/confirmation")
	wantConfirmRedirect(t, c.get("/auth/confirmation?"+second.Encode()), welcome, "true")
	if n := len(s.Mailbox.Mails()); n != 3 {
		t.Errorf("%d mails, want 3 (two registrations, one resend to the pending user)", n)
	}
	wantError(t, c.post("/auth/confirmation", map[string]string{}), http.StatusUnauthorized, msgMissingEmail)
}

// Under Optional a new account is pending but signed in at once, as with devise's
// allow_unconfirmed_access_for.
func TestOptionalConfirmationSignsIn(t *testing.T) {
	s := start(t, servertest.Options{}, func(c *config.Config) { c.Registration.EmailConfirmation = config.ConfirmationOptional })
	c := newClient(t, s)
	u, cr := register(t, c, "optional@example.com")
	wantValid(t, c.validate(cr))
	signIn(t, c, "optional@example.com")
	uid, _ := s.Mailbox.Wait(t, "optional@example.com", 1).Link(t)
	if uid != u.ID {
		t.Errorf("confirmation mail for %s, want %s", uid, u.ID)
	}
}

func wantConfirmRedirect(t *testing.T, r response, target, success string) {
	t.Helper()
	if r.StatusCode != http.StatusFound {
		t.Fatalf("GET confirmation = %d %s, want 302", r.StatusCode, r.Body)
	}
	loc := r.Header.Get("Location")
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(loc, target+"?") || u.Query().Get("account_confirmation_success") != success {
		t.Fatalf("Location = %q, want %s?account_confirmation_success=%s", loc, target, success)
	}
}

// The pre-hijack: an attacker registers the victim's address with a password of their own and
// never confirms; the victim, who never registered, uses "forgot password" and follows the
// link. The link proves the victim's mailbox and makes the account theirs: the attacker's
// password no longer signs in, and the attacker's session (Optional gave one) is over.
func TestResetLinkTakesASquattedAccountBack(t *testing.T) {
	s := start(t, servertest.Options{}, withPublicURL, func(c *config.Config) {
		c.Registration.EmailConfirmation = config.ConfirmationOptional
	})
	attacker := newClient(t, s)
	_, squat := register(t, attacker, "victim@example.com")
	wantValid(t, attacker.validate(squat))

	victim := newClient(t, s)
	const target = origin + "/new-password"
	wantStatus(t, victim.post("/auth/password", map[string]string{"email": "victim@example.com", "redirect_url": target}), http.StatusOK)
	q := apiLink(t, s.Mailbox.Wait(t, "victim@example.com", 2), "/auth/password/edit")
	reset := wantRedirect(t, victim.get("/auth/password/edit?"+q.Encode()), target+"?")

	wantError(t, attacker.post("/auth/sign_in", map[string]string{"email": "victim@example.com", "password": password}), http.StatusUnauthorized, msgBadCredentials)
	wantError(t, attacker.validate(squat), http.StatusUnauthorized, msgInvalidToken)
	// The victim sets a password on the link's session and signs in with it.
	r := victim.do(http.MethodPut, "/auth/password", map[string]string{"password": newPassword, "password_confirmation": newPassword}, reset.headers()...)
	wantStatus(t, r, http.StatusOK)
	wantStatus(t, victim.post("/auth/sign_in", map[string]string{"email": "victim@example.com", "password": newPassword}), http.StatusOK)
}
