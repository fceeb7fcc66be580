package devisetoken_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
)

const (
	msgResetSent        = "If your email address exists in our database, you will receive a password recovery link at your email address in a few minutes."
	msgPasswordUpdated  = "Your password has been successfully updated."
	msgMissingPasswords = "You must fill out the fields labeled 'Password' and 'Password confirmation'."
	newPassword         = "a brand new password"
)

// wantRedirect checks a 302 from password/edit to a Location starting with prefix and returns
// the credentials its query carries.
func wantRedirect(t *testing.T, r response, prefix string) creds {
	t.Helper()
	if r.StatusCode != http.StatusFound {
		t.Fatalf("GET password/edit = %d %s, want 302", r.StatusCode, r.Body)
	}
	loc := r.Header.Get("Location")
	if !strings.HasPrefix(loc, prefix) {
		t.Fatalf("Location = %q, want %s…", loc, prefix)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("reset_password") != "true" {
		t.Errorf("Location %q has no reset_password=true", loc)
	}
	sec, err := strconv.ParseInt(q.Get("expiry"), 10, 64)
	if err != nil || time.Unix(sec, 0).Before(time.Now()) {
		t.Errorf("Location expiry %q is not a future Unix time", q.Get("expiry"))
	}
	// devise's legacy names carry the same values.
	if q.Get("token") != q.Get("access-token") || q.Get("client_id") != q.Get("client") {
		t.Errorf("Location %q: legacy token/client_id differ from access-token/client", loc)
	}
	return creds{Token: q.Get("access-token"), Client: q.Get("client"), UID: q.Get("uid"), Expiry: time.Unix(sec, 0)}
}

// The reset flow: POST password for any email, the mail's link, GET password/edit redirects
// to redirect_url signed in, PUT password sets the new one and ends every other session.
func TestResetFlow(t *testing.T) {
	s := start(t, servertest.Options{})
	c := newClient(t, s)
	u, other := register(t, c, "reset@example.com")
	if r := c.post("/account/login", map[string]string{"login": "reset@example.com", "password": password}); r.StatusCode != http.StatusOK {
		t.Fatalf("account login = %d", r.StatusCode)
	}

	const target = origin + "/new-password"
	for _, email := range []string{"nobody@example.com", " RESET@example.com "} {
		r := c.post("/auth/password", map[string]string{"email": email, "redirect_url": target})
		wantStatus(t, r, http.StatusOK)
		if string(r.Body) != `{"success":true,"message":"`+msgResetSent+`"}`+"\n" {
			t.Errorf("POST password (%q) = %s", email, r.Body)
		}
	}
	// Form bodies and a missing redirect_url are fine too.
	wantStatus(t, c.post("/auth/password", url.Values{"email": {"nobody@example.com"}}), http.StatusOK)
	uid, tok := s.Mailbox.Wait(t, "reset@example.com", 1).Link(t)
	if uid != u.ID || len(s.Mailbox.Mails()) != 1 {
		t.Fatalf("mail link for %s (%d mails), want one mail for %s", uid, len(s.Mailbox.Mails()), u.ID)
	}

	// A refused redirect does not spend the token.
	edit := "/auth/password/edit?reset_password_token=" + url.QueryEscape(uid+"."+tok) + "&redirect_url="
	wantError(t, c.get(edit+url.QueryEscape("https://evil.example/steal")), http.StatusUnauthorized, "")
	r := c.get(edit + url.QueryEscape(target) + "&config=default")
	reset := wantRedirect(t, r, target+"?")
	if reset.UID != "reset@example.com" || len(reset.Client) != 22 {
		t.Errorf("redirect credentials = %+v", reset)
	}
	if r.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("Referrer-Policy = %q, want no-referrer", r.Header.Get("Referrer-Policy"))
	}
	// The token is spent.
	wantError(t, c.get(edit+url.QueryEscape(target)), http.StatusUnauthorized, "")
	// The redirect's credentials are a session.
	wantValid(t, c.validate(reset))

	// PUT password on that session without current_password (the reset link's leave): 200,
	// every other session ends, this one stays, with rotated headers.
	r = c.do(http.MethodPut, "/auth/password", map[string]string{"password": newPassword, "password_confirmation": newPassword}, reset.headers()...)
	wantStatus(t, r, http.StatusOK)
	var b struct {
		Success bool   `json:"success"`
		Data    user   `json:"data"`
		Message string `json:"message"`
	}
	decode(t, r, &b)
	if !b.Success || b.Data.ID != u.ID || b.Message != msgPasswordUpdated {
		t.Errorf("PUT password = %s", r.Body)
	}
	after := wantCreds(t, r)
	wantValid(t, c.validate(after))
	wantError(t, c.validate(other), http.StatusUnauthorized, msgInvalidToken)
	if r := c.get("/account/session"); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("the account session after the password change = %d, want 401", r.StatusCode)
	}
	wantError(t, c.post("/auth/sign_in", map[string]string{"email": "reset@example.com", "password": password}), http.StatusUnauthorized, msgBadCredentials)
	wantSignedIn(t, c.post("/auth/sign_in", map[string]string{"email": "reset@example.com", "password": newPassword}))

	for name, secret := range map[string]string{"reset token": tok, "session token": reset.Token, "new password": newPassword} {
		if strings.Contains(s.Logs(), secret) {
			t.Errorf("the logs hold the %s", name)
		}
	}
}

// The mail's own uid and t work on password/edit, so email.resetURL may point straight at it
// with a redirect_url in its query; a hash-routed target gets the query repeated after the
// fragment, as devise does.
func TestResetLinkToEdit(t *testing.T) {
	const target = origin + "/#/reset"
	s := start(t, servertest.Options{}, func(c *config.Config) {
		c.Email.ResetURL = "http://127.0.0.1/auth/password/edit?redirect_url=" + url.QueryEscape(target)
	})
	c := newClient(t, s)
	register(t, c, "link@example.com")
	wantStatus(t, c.post("/auth/password", map[string]string{"email": "link@example.com"}), http.StatusOK)
	m := s.Mailbox.Wait(t, "link@example.com", 1)
	uid, tok := m.Link(t)
	if !strings.Contains(m.Text, "/auth/password/edit?redirect_url=") {
		t.Fatalf("mail does not link to the edit route:\n%s", m.Text)
	}
	r := c.get("/auth/password/edit?redirect_url=" + url.QueryEscape(target) + "&uid=" + uid + "&t=" + tok)
	if r.StatusCode != http.StatusFound {
		t.Fatalf("GET password/edit = %d %s", r.StatusCode, r.Body)
	}
	loc := r.Header.Get("Location")
	base, frag, ok := strings.Cut(loc, "#")
	if !ok || !strings.HasPrefix(base, origin+"/?") || !strings.HasPrefix(frag, "/reset?") {
		t.Fatalf("Location = %q, want the query before and after the fragment", loc)
	}
	q, err := url.ParseQuery(strings.TrimPrefix(frag, "/reset?"))
	if err != nil {
		t.Fatal(err)
	}
	wantValid(t, c.validate(creds{Token: q.Get("access-token"), Client: q.Get("client"), UID: q.Get("uid")}))
}

// GET password/edit: every failure is 401 and spends nothing; redirect_url must be an
// allowed origin exactly.
func TestResetEditRefused(t *testing.T) {
	s := start(t, servertest.Options{})
	c := newClient(t, s)
	register(t, c, "edit@example.com")
	wantStatus(t, c.post("/auth/password", map[string]string{"email": "edit@example.com"}), http.StatusOK)
	uid, tok := s.Mailbox.Wait(t, "edit@example.com", 1).Link(t)
	good := url.QueryEscape(uid + "." + tok)
	for name, query := range map[string]string{
		"no token":          "redirect_url=" + url.QueryEscape(origin+"/x"),
		"wrong token":       "reset_password_token=" + url.QueryEscape(uid+"."+strings.Repeat("A", 43)) + "&redirect_url=" + url.QueryEscape(origin),
		"garbage token":     "reset_password_token=garbage&redirect_url=" + url.QueryEscape(origin),
		"no redirect":       "reset_password_token=" + good,
		"bad query":         "reset_password_token=" + good + "&redirect_url=%zz",
		"other host":        "reset_password_token=" + good + "&redirect_url=" + url.QueryEscape("https://evil.example/"),
		"suffix host":       "reset_password_token=" + good + "&redirect_url=" + url.QueryEscape("https://app.test.example.evil.example/"),
		"user info":         "reset_password_token=" + good + "&redirect_url=" + url.QueryEscape("https://app.test.example@evil.example/"),
		"backslash":         "reset_password_token=" + good + "&redirect_url=" + url.QueryEscape(`https://evil.example\@app.test.example/`),
		"other scheme":      "reset_password_token=" + good + "&redirect_url=" + url.QueryEscape("http://app.test.example/"),
		"other port":        "reset_password_token=" + good + "&redirect_url=" + url.QueryEscape("https://app.test.example:8443/"),
		"scheme-relative":   "reset_password_token=" + good + "&redirect_url=" + url.QueryEscape("//app.test.example/"),
		"relative":          "reset_password_token=" + good + "&redirect_url=" + url.QueryEscape("/new-password"),
		"javascript":        "reset_password_token=" + good + "&redirect_url=" + url.QueryEscape("javascript:alert(1)"),
		"control character": "reset_password_token=" + good + "&redirect_url=" + url.QueryEscape("https://app.test.example/\t"),
	} {
		t.Run(name, func(t *testing.T) {
			r := c.get("/auth/password/edit?" + query)
			wantError(t, r, http.StatusUnauthorized, "")
			if r.Header.Get("Location") != "" {
				t.Errorf("a refusal redirects to %q", r.Header.Get("Location"))
			}
		})
	}
	// Nothing above spent the token; an explicit default port is the same origin.
	wantRedirect(t, c.get("/auth/password/edit?reset_password_token="+good+"&redirect_url="+url.QueryEscape("https://APP.test.example:443/p?x=1")),
		"https://APP.test.example:443/p?x=1&")
}

// POST password: any email is 200; a missing email or a refused redirect_url is 422, a
// malformed body 400.
func TestForgotRefused(t *testing.T) {
	s := start(t, servertest.Options{})
	c := newClient(t, s)
	wantError(t, c.post("/auth/password", map[string]string{"redirect_url": origin}), http.StatusUnprocessableEntity, "You must provide an email address.")
	wantError(t, c.post("/auth/password", map[string]string{"email": "  "}), http.StatusUnprocessableEntity, "You must provide an email address.")
	wantError(t, c.post("/auth/password", map[string]string{"email": "a@example.com", "redirect_url": "https://evil.example/"}), http.StatusUnprocessableEntity, "")
	wantError(t, c.post("/auth/password", `{"email":`), http.StatusBadRequest, "")
	wantError(t, c.post("/auth/password", `{"email":["a@example.com"]}`), http.StatusBadRequest, "")
	if n := len(s.Mailbox.Mails()); n != 0 {
		t.Errorf("%d mails sent for refused requests", n)
	}
}

// PUT password failures: 401 without a session; 422 for a missing, mismatched or weak
// password or a missing or wrong current password, with the rotated headers, and the password
// unchanged.
func TestPasswordUpdateRefused(t *testing.T) {
	s := start(t, servertest.Options{})
	c := newClient(t, s)
	_, cr := register(t, c, "upd@example.com")
	other := signIn(t, c, "upd@example.com")

	wantError(t, c.do(http.MethodPut, "/auth/password", map[string]string{"password": newPassword, "password_confirmation": newPassword}),
		http.StatusUnauthorized, "Unauthorized")
	bad := cr
	bad.Token = cr.Token[:len(cr.Token)-43] + strings.Repeat("A", 43)
	r := c.do(http.MethodPut, "/auth/password", map[string]string{"password": newPassword, "password_confirmation": newPassword}, bad.headers()...)
	wantError(t, r, http.StatusUnauthorized, "Unauthorized")
	wantNoCreds(t, r)

	for _, tc := range []struct {
		name   string
		body   map[string]string
		fields map[string]string
	}{
		{"missing confirmation", map[string]string{"password": newPassword}, nil},
		{"missing password", map[string]string{"password_confirmation": newPassword}, nil},
		{"mismatch", map[string]string{"password": newPassword, "password_confirmation": newPassword + "x", "current_password": password},
			map[string]string{"password_confirmation": "doesn't match Password"}},
		{"too short", map[string]string{"password": "abc1234", "password_confirmation": "abc1234", "current_password": password},
			map[string]string{"password": "is too short (minimum is 8 characters)"}},
		{"wrong current password", map[string]string{"password": newPassword, "password_confirmation": newPassword, "current_password": "nope"},
			map[string]string{"current_password": "is invalid"}},
		{"no current password", map[string]string{"password": newPassword, "password_confirmation": newPassword},
			map[string]string{"current_password": "can't be blank"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.do(http.MethodPut, "/auth/password", tc.body, cr.headers()...)
			if tc.fields == nil {
				wantError(t, r, http.StatusUnprocessableEntity, msgMissingPasswords)
			} else {
				wantStatus(t, r, http.StatusUnprocessableEntity)
				var b struct {
					Success *bool               `json:"success"`
					Errors  map[string][]string `json:"errors"`
				}
				decode(t, r, &b)
				if b.Success == nil || *b.Success || len(b.Errors) != len(tc.fields)+1 || len(b.Errors["full_messages"]) != len(tc.fields) {
					t.Errorf("body %s, want success false and errors %v with full_messages", r.Body, tc.fields)
				}
				for f, msg := range tc.fields {
					if got := b.Errors[f]; len(got) != 1 || got[0] != msg {
						t.Errorf("errors[%s] = %q, want [%q]", f, got, msg)
					}
				}
			}
			// The request authenticated, so its token rotated or was echoed: it is in the headers.
			cr = wantCreds(t, r)
		})
	}
	// Nothing changed: the old password works, the other session lives.
	wantValid(t, c.validate(other))
	wantSignedIn(t, c.post("/auth/sign_in", map[string]string{"email": "upd@example.com", "password": password}))

	// The right current password is accepted (and PATCH is PUT).
	r = c.do(http.MethodPatch, "/auth/password", map[string]string{"password": newPassword, "password_confirmation": newPassword, "current_password": password}, cr.headers()...)
	wantStatus(t, r, http.StatusOK)
	wantError(t, c.validate(other), http.StatusUnauthorized, msgInvalidToken)
}
