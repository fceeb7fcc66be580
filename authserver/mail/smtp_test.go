package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"html"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
)

const (
	testUserID = "AAAAAAAAAAAAAAAAAAAAAA"
	testToken  = "Zm9vYmFyLWJhei1xdXV4LTAxMjM0NTY3ODlfLV9hYmM"
)

// smtpConfig points at srv with credentials from a file and an env variable, as a realm would.
func smtpConfig(t *testing.T, srv *smtpServer, security config.SMTPSecurity, tlsConf *config.TLS) config.SMTP {
	t.Helper()
	c := config.SMTP{Host: "127.0.0.1", Port: srv.port(t), Security: security, TLS: tlsConf}
	if srv.user != "" {
		t.Setenv("LATCH_TEST_SMTP_PASSWORD", srv.pass)
		c.Username = config.Secret{File: writeSecret(t, "smtp-user", srv.user)}
		c.Password = config.Secret{Env: "LATCH_TEST_SMTP_PASSWORD"}
	}
	return c
}

func newSMTP(t *testing.T, c config.SMTP) *SMTP {
	t.Helper()
	m, err := NewSMTP(c, "Latch <no-reply@latch.test>")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func resetMessage(t *testing.T) Message {
	t.Helper()
	c, err := NewComposer("acme", testEmailConfig())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := c.Reset("Ada <ada@example.com>", "ada@example.com", testUserID, testToken)
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// checkResetDelivered asserts srv received exactly one reset email for Ada, with both parts
// carrying the link.
func checkResetDelivered(t *testing.T, srv *smtpServer, wantTLS bool) {
	t.Helper()
	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages, want 1", len(msgs))
	}
	r := msgs[0]
	if r.from != "no-reply@latch.test" || len(r.to) != 1 || r.to[0] != "ada@example.com" {
		t.Errorf("envelope from %q to %q", r.from, r.to)
	}
	if r.tls != wantTLS {
		t.Errorf("delivered over TLS: %v, want %v", r.tls, wantTLS)
	}
	if r.authUser != srv.user {
		t.Errorf("authenticated as %q, want %q", r.authUser, srv.user)
	}
	p := parseMessage(t, r.data)
	if got := p.header.Get("Subject"); got != "Reset your acme password" {
		t.Errorf("Subject = %q", got)
	}
	if to, err := p.header.AddressList("To"); err != nil || len(to) != 1 || *to[0] != (mail.Address{Name: "Ada", Address: "ada@example.com"}) {
		t.Errorf("To = %v, %v", to, err)
	}
	for _, h := range []string{"From", "Date", "Message-Id", "Mime-Version"} {
		if p.header.Get(h) == "" {
			t.Errorf("header %s is missing", h)
		}
	}
	link := "https://app.example/reset?uid=" + testUserID + "&t=" + testToken
	if !strings.Contains(p.text, link) {
		t.Errorf("text part lacks %s:\n%s", link, p.text)
	}
	if !strings.Contains(html.UnescapeString(p.html), `href="`+link+`"`) {
		t.Errorf("html part lacks a link to %s:\n%s", link, p.html)
	}
}

func TestSMTPStartTLSWithAuthPlain(t *testing.T) {
	ca := newTestCA(t)
	srv := &smtpServer{tls: &tls.Config{Certificates: []tls.Certificate{ca.cert}}, startTLS: true, user: "mailer", pass: "p@ss word"}
	srv.start(t)
	m := newSMTP(t, smtpConfig(t, srv, config.SMTPStartTLS, &config.TLS{CAFile: ca.pemFile}))
	if err := m.Send(t.Context(), resetMessage(t)); err != nil {
		t.Fatal(err)
	}
	checkResetDelivered(t, srv, true)
}

func TestSMTPImplicitTLS(t *testing.T) {
	ca := newTestCA(t)
	srv := &smtpServer{tls: &tls.Config{Certificates: []tls.Certificate{ca.cert}}, implicitTLS: true, user: "mailer", pass: "secret"}
	srv.start(t)
	// Connect by IP but verify the certificate's DNS name, as behind a load balancer.
	m := newSMTP(t, smtpConfig(t, srv, config.SMTPTLS, &config.TLS{CAFile: ca.pemFile, ServerName: "mail.test"}))
	if err := m.Send(t.Context(), resetMessage(t)); err != nil {
		t.Fatal(err)
	}
	checkResetDelivered(t, srv, true)
}

func TestSMTPNoSecurityToLocalRelay(t *testing.T) {
	srv := &smtpServer{}
	srv.start(t)
	m := newSMTP(t, smtpConfig(t, srv, config.SMTPNone, nil))
	if err := m.Send(t.Context(), resetMessage(t)); err != nil {
		t.Fatal(err)
	}
	checkResetDelivered(t, srv, false)
}

// A line holding only "." ends DATA; the client must dot-stuff it so the body arrives whole.
func TestSMTPDotStuffing(t *testing.T) {
	srv := &smtpServer{}
	srv.start(t)
	m := newSMTP(t, smtpConfig(t, srv, config.SMTPNone, nil))
	text := "before\n.\n..\nafter\n"
	if err := m.Send(t.Context(), Message{To: "ada@example.com", Subject: "dots", Text: text}); err != nil {
		t.Fatal(err)
	}
	msgs := srv.messages()
	if len(msgs) != 1 {
		t.Fatalf("received %d messages", len(msgs))
	}
	if got := parseMessage(t, msgs[0].data).text; got != text {
		t.Errorf("text = %q, want %q", got, text)
	}
}

func TestSMTPRefusesUntrustedCertificate(t *testing.T) {
	ca := newTestCA(t)
	srv := &smtpServer{tls: &tls.Config{Certificates: []tls.Certificate{ca.cert}}, startTLS: true, user: "mailer", pass: "secret"}
	srv.start(t)
	m := newSMTP(t, smtpConfig(t, srv, config.SMTPStartTLS, nil)) // system roots only
	err := m.Send(t.Context(), resetMessage(t))
	var unknownCA x509.UnknownAuthorityError
	if !errors.As(err, &unknownCA) {
		t.Fatalf("Send = %v, want an unknown-authority error", err)
	}
	if n := srv.authAttempts.Load(); n != 0 {
		t.Errorf("credentials were offered %d times to an unverified server", n)
	}
	if len(srv.messages()) != 0 {
		t.Error("a message was delivered")
	}
}

func TestSMTPNeverDowngradesStartTLS(t *testing.T) {
	srv := &smtpServer{user: "mailer", pass: "secret"} // no TLS, offers AUTH in clear
	srv.start(t)
	m := newSMTP(t, smtpConfig(t, srv, config.SMTPStartTLS, nil))
	err := m.Send(t.Context(), resetMessage(t))
	if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") {
		t.Fatalf("Send = %v, want a missing-STARTTLS error", err)
	}
	if srv.authAttempts.Load() != 0 || srv.mailAttempts.Load() != 0 {
		t.Error("the client went on in clear text")
	}
}

func TestSMTPBadCredentialsArePermanent(t *testing.T) {
	ca := newTestCA(t)
	srv := &smtpServer{tls: &tls.Config{Certificates: []tls.Certificate{ca.cert}}, startTLS: true, user: "mailer", pass: "right"}
	srv.start(t)
	c := smtpConfig(t, srv, config.SMTPStartTLS, &config.TLS{CAFile: ca.pemFile})
	t.Setenv("LATCH_TEST_SMTP_PASSWORD", "wrong")
	err := newSMTP(t, c).Send(t.Context(), resetMessage(t))
	if err == nil || !IsPermanent(err) {
		t.Fatalf("Send = %v, want a permanent (535) error", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the error repeats the password: %v", err)
	}
}

func TestSMTPTemporaryFailureIsRetryable(t *testing.T) {
	srv := &smtpServer{}
	srv.failMail.Store(1)
	srv.start(t)
	m := newSMTP(t, smtpConfig(t, srv, config.SMTPNone, nil))
	err := m.Send(t.Context(), resetMessage(t))
	if err == nil || IsPermanent(err) {
		t.Fatalf("Send = %v, want a temporary (451) error", err)
	}
	if err := m.Send(t.Context(), resetMessage(t)); err != nil {
		t.Fatalf("second Send = %v", err)
	}
	checkResetDelivered(t, srv, false)
}

func TestSMTPTimeoutAndCancel(t *testing.T) {
	srv := &smtpServer{silent: true} // accepts, never greets
	srv.start(t)
	m := newSMTP(t, smtpConfig(t, srv, config.SMTPNone, nil))
	m.Timeout = 200 * time.Millisecond
	start := time.Now()
	err := m.Send(t.Context(), resetMessage(t))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send to a silent server = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send took %s with a 200ms timeout", d)
	}

	m.Timeout = time.Minute
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	if err := m.Send(ctx, resetMessage(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Send = %v, want Canceled", err)
	}
}

func TestNewSMTPRefusesBadConfig(t *testing.T) {
	t.Setenv("LATCH_TEST_SMTP_PASSWORD", "secret")
	user := config.Secret{File: writeSecret(t, "user", "mailer")}
	pass := config.Secret{Env: "LATCH_TEST_SMTP_PASSWORD"}
	tests := map[string]config.SMTP{
		"clear-text credentials": {Host: "mail.example", Port: 25, Security: config.SMTPNone, Username: user, Password: pass},
		"password without user":  {Host: "mail.example", Port: 587, Security: config.SMTPStartTLS, Password: pass},
		"unknown security":       {Host: "mail.example", Port: 587, Security: "SSL"},
		"no host":                {Port: 587, Security: config.SMTPStartTLS},
		"no port":                {Host: "mail.example", Security: config.SMTPStartTLS},
		"missing CA file":        {Host: "mail.example", Port: 465, Security: config.SMTPTLS, TLS: &config.TLS{CAFile: "/nonexistent/ca.pem"}},
		"CA file without PEM":    {Host: "mail.example", Port: 465, Security: config.SMTPTLS, TLS: &config.TLS{CAFile: writeSecret(t, "ca", "not a cert")}},
		"unset env password":     {Host: "mail.example", Port: 587, Security: config.SMTPStartTLS, Username: user, Password: config.Secret{Env: "LATCH_TEST_UNSET"}},
	}
	for name, c := range tests {
		if _, err := NewSMTP(c, "no-reply@latch.test"); err == nil {
			t.Errorf("%s: NewSMTP accepted %+v", name, c)
		}
	}
	if _, err := NewSMTP(config.SMTP{Host: "mail.example", Port: 587, Security: config.SMTPStartTLS}, "not an address"); err == nil {
		t.Error("NewSMTP accepted an invalid from address")
	}
}
