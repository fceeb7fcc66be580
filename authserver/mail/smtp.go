package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"strconv"
	"time"

	"github.com/latchauth/latch/authserver/config"
)

// DefaultSMTPTimeout bounds one delivery, from dialing to the server's reply to the message.
const DefaultSMTPTimeout = 30 * time.Second

// SMTP delivers messages to one SMTP server: a new connection per message, secured with
// STARTTLS or implicit TLS as configured, authenticated with AUTH PLAIN when a username is set.
// A connection per message keeps it stateless and safe for concurrent use; password-reset
// traffic is far too low for connection reuse to matter.
type SMTP struct {
	addr     string // host:port
	host     string // the name PLAIN auth is bound to
	security config.SMTPSecurity
	tls      *tls.Config
	auth     smtp.Auth // nil: no AUTH
	from     string

	// Timeout bounds one Send, connection to final reply (default DefaultSMTPTimeout). A
	// sooner ctx deadline wins.
	Timeout time.Duration
	// LocalName is the name sent with EHLO (default: the host name, or "localhost").
	LocalName string
	// Now dates messages (default time.Now).
	Now func() time.Time
}

// NewSMTP returns a mailer for the server c, sending as from. It reads the credentials and the
// CA file now, so a bad config fails at startup rather than at the first password reset.
func NewSMTP(c config.SMTP, from string) (*SMTP, error) {
	if c.Host == "" {
		return nil, errors.New("email.smtp.host: is required")
	}
	if c.Port <= 0 || c.Port > 65535 {
		return nil, fmt.Errorf("email.smtp.port: must be between 1 and 65535, got %d", c.Port)
	}
	if _, err := parseAddress("from", from); err != nil {
		return nil, fmt.Errorf("email.from: %w", err)
	}
	s := &SMTP{
		addr:      net.JoinHostPort(c.Host, strconv.Itoa(c.Port)),
		host:      c.Host,
		security:  c.Security,
		from:      from,
		Timeout:   DefaultSMTPTimeout,
		LocalName: localName(),
		Now:       time.Now,
	}
	switch c.Security {
	case config.SMTPStartTLS, config.SMTPTLS:
		t, err := tlsConfig(c.Host, c.TLS)
		if err != nil {
			return nil, err
		}
		s.tls = t
	case config.SMTPNone:
	default:
		return nil, fmt.Errorf("email.smtp.security: must be StartTLS, TLS or None, got %q", c.Security)
	}

	user, err := c.Username.Read()
	if err != nil {
		return nil, fmt.Errorf("email.smtp.username: %w", err)
	}
	pass, err := c.Password.Read()
	if err != nil {
		return nil, fmt.Errorf("email.smtp.password: %w", err)
	}
	switch {
	case user == "" && pass != "":
		return nil, errors.New("email.smtp.username: is required when a password is set")
	case user != "":
		// net/smtp's PLAIN refuses to send credentials in clear text except to these three
		// names; refusing here too turns a failure at every send into one at startup.
		if c.Security == config.SMTPNone && c.Host != "localhost" && c.Host != "127.0.0.1" && c.Host != "::1" {
			return nil, errors.New("email.smtp.security: None would send the password in clear text; use StartTLS or TLS")
		}
		s.auth = smtp.PlainAuth("", user, pass, c.Host)
	}
	return s, nil
}

func tlsConfig(host string, c *config.TLS) (*tls.Config, error) {
	t := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if c == nil {
		return t, nil
	}
	if c.ServerName != "" {
		t.ServerName = c.ServerName
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("email.smtp.tls.caFile: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("email.smtp.tls.caFile: %s holds no PEM certificate", c.CAFile)
		}
		t.RootCAs = pool
	}
	t.InsecureSkipVerify = c.InsecureSkipVerify // opt-in; the config documents it as for tests only
	return t, nil
}

// localName is the EHLO name: the host name if it is a plausible domain (in Kubernetes, the pod
// name), since some servers refuse "localhost" from a remote peer.
func localName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || len(h) > 253 {
		return "localhost"
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return "localhost"
		}
	}
	return h
}

// Send delivers msg. It never downgrades: with StartTLS configured, a server that does not
// offer STARTTLS is an error, not a plain-text delivery.
func (s *SMTP) Send(ctx context.Context, msg Message) error {
	data, env, err := build(s.from, msg, s.Now())
	if err != nil {
		return err
	}
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	conn, err := s.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// net/smtp has no contexts: bound every read and write by the deadline, and on
	// cancellation move the deadline to now, which fails the blocked call at once.
	if d, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(d); err != nil {
			return fmt.Errorf("smtp: %w", err)
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()

	step := func(what string, err error) error {
		ctxErr := ctx.Err()
		if ctxErr == nil && errors.Is(err, os.ErrDeadlineExceeded) {
			// The connection's deadline is ctx's, and its timer can fire a moment before
			// ctx reports the deadline: say so, so callers can tell a timeout by errors.Is.
			ctxErr = context.DeadlineExceeded
		}
		if ctxErr != nil {
			return fmt.Errorf("smtp %s: %w: %w", what, ctxErr, err)
		}
		return fmt.Errorf("smtp %s: %w", what, err)
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return step("greeting", err)
	}
	defer c.Close()
	if err := c.Hello(s.LocalName); err != nil {
		return step("EHLO", err)
	}
	if s.security == config.SMTPStartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return step("STARTTLS", errors.New("the server does not offer STARTTLS"))
		}
		if err := c.StartTLS(s.tls); err != nil {
			return step("STARTTLS", err)
		}
	}
	if s.auth != nil {
		if ok, _ := c.Extension("AUTH"); !ok {
			return step("AUTH", errors.New("the server does not offer AUTH"))
		}
		if err := c.Auth(s.auth); err != nil {
			return step("AUTH", err)
		}
	}
	if err := c.Mail(env.from); err != nil {
		return step("MAIL FROM", err)
	}
	if err := c.Rcpt(env.to); err != nil {
		return step("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return step("DATA", err)
	}
	if _, err := w.Write(data); err != nil {
		return step("DATA", err)
	}
	if err := w.Close(); err != nil {
		return step("DATA", err)
	}
	// The server has accepted the message. A failed QUIT must not report failure, or the
	// outbox would deliver the message twice.
	_ = c.Quit()
	return nil
}

func (s *SMTP) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("smtp dial: %w", err)
	}
	if s.security != config.SMTPTLS {
		return conn, nil
	}
	tc := tls.Client(conn, s.tls)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("smtp TLS handshake: %w", err)
	}
	return tc, nil
}
