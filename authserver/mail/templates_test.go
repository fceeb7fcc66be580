package mail

import (
	"errors"
	"html"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
)

func TestDefaultTemplates(t *testing.T) {
	tmpl, err := LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	d := Data{
		Realm:     "acme",
		Link:      "https://app.example/reset?uid=AAAA&t=b-c_d",
		Login:     `<script>alert("x")</script>`,
		ExpiresIn: Lifespan(time.Hour),
	}
	for _, tt := range []struct {
		kind    Kind
		subject string
	}{
		{Reset, "Reset your acme password"},
		{Confirm, "Confirm your acme account"},
	} {
		subject, text, htmlBody, err := tmpl.Render(tt.kind, d)
		if err != nil {
			t.Fatal(err)
		}
		if subject != tt.subject {
			t.Errorf("%s subject = %q, want %q", tt.kind, subject, tt.subject)
		}
		if !strings.Contains(text, d.Link) || !strings.Contains(text, "within 1 hour") || !strings.Contains(text, d.Login) {
			t.Errorf("%s text lacks the link, lifespan or login:\n%s", tt.kind, text)
		}
		if strings.HasPrefix(text, "\n") {
			t.Errorf("%s text starts with a blank line left by the subject block", tt.kind)
		}
		// html/template escapes the link's '&' in the href and the hostile login everywhere.
		if !strings.Contains(htmlBody, `href="https://app.example/reset?uid=AAAA&amp;t=b-c_d"`) {
			t.Errorf("%s html lacks the escaped link:\n%s", tt.kind, htmlBody)
		}
		if strings.Contains(htmlBody, "<script>") || !strings.Contains(htmlBody, "&lt;script&gt;") {
			t.Errorf("%s html does not escape the login:\n%s", tt.kind, htmlBody)
		}
		if !strings.Contains(html.UnescapeString(htmlBody), d.Link) {
			t.Errorf("%s html does not show the link", tt.kind)
		}
	}
	if _, _, _, err := tmpl.Render("welcome", d); err == nil {
		t.Error("Render of an unknown kind: no error")
	}
}

func writeTemplates(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestTemplateOverrides(t *testing.T) {
	dir := writeTemplates(t, map[string]string{
		// No subject block: the default subject stays.
		"reset.txt": "Custom reset for {{.Login}}: {{.Link}} ({{.ExpiresIn}})\n",
		// With a subject block: it replaces the default subject.
		"confirm.txt":  `{{define "subject"}}Welcome to {{.Realm}}!{{end}}Confirm: {{.Link}}`,
		"confirm.html": `<a href="{{.Link}}">Custom confirm</a>`,
	})
	tmpl, err := LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := Data{Realm: "acme", Link: "https://x.example/?uid=1&t=2", Login: "ada", ExpiresIn: Lifespan(30 * time.Minute)}

	subject, text, htmlBody, err := tmpl.Render(Reset, d)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Reset your acme password" {
		t.Errorf("reset subject = %q, want the default", subject)
	}
	if text != "Custom reset for ada: https://x.example/?uid=1&t=2 (30 minutes)\n" {
		t.Errorf("reset text = %q, want the override", text)
	}
	if !strings.Contains(htmlBody, "Reset your password") {
		t.Errorf("reset html is not the default:\n%s", htmlBody)
	}

	subject, text, htmlBody, err = tmpl.Render(Confirm, d)
	if err != nil {
		t.Fatal(err)
	}
	if subject != "Welcome to acme!" || text != "Confirm: https://x.example/?uid=1&t=2" {
		t.Errorf("confirm = %q / %q, want the override", subject, text)
	}
	if htmlBody != `<a href="https://x.example/?uid=1&amp;t=2">Custom confirm</a>` {
		t.Errorf("confirm html = %q", htmlBody)
	}
}

func TestTemplateErrorsFailAtLoad(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"syntax error":  writeTemplates(t, map[string]string{"reset.txt": "{{.Link"}),
		"unknown field": writeTemplates(t, map[string]string{"confirm.html": "{{.Password}}"}),
		"html syntax":   writeTemplates(t, map[string]string{"reset.html": "{{if}}"}),
		"too large":     writeTemplates(t, map[string]string{"reset.txt": strings.Repeat("x", maxTemplateSize+1)}),
		"missing dir":   filepath.Join(t.TempDir(), "missing"),
		"not a dir":     file,
	}
	for name, dir := range tests {
		if _, err := LoadTemplates(dir); err == nil {
			t.Errorf("%s: LoadTemplates succeeded", name)
		}
	}
}

func TestLifespan(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour:                    "1 hour",
		24 * time.Hour:               "24 hours",
		90 * time.Minute:             "1 hour 30 minutes",
		time.Minute:                  "1 minute",
		45 * time.Minute:             "45 minutes",
		72 * time.Hour:               "3 days",
		49 * time.Hour:               "49 hours",
		30 * time.Second:             "30 seconds",
		time.Second:                  "1 second",
		time.Hour + 59*time.Second:   "1 hour",
		2*time.Hour + 61*time.Second: "2 hours 1 minute",
	} {
		if got := Lifespan(d).String(); got != want {
			t.Errorf("Lifespan(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestLink(t *testing.T) {
	tests := []struct{ page, uid, tok, want string }{
		{"https://app.example/reset", "AAAA", "b-c_d", "https://app.example/reset?uid=AAAA&t=b-c_d"},
		{"https://app.example/reset?lang=fr", "AAAA", "tok", "https://app.example/reset?lang=fr&uid=AAAA&t=tok"},
		{"https://app.example/#/reset", "AAAA", "tok", "https://app.example/#/reset?uid=AAAA&t=tok"},
		{"https://app.example/r", "a&b=c", "x y+/?#", "https://app.example/r?uid=a%26b%3Dc&t=x+y%2B%2F%3F%23"},
	}
	for _, tt := range tests {
		if got := Link(tt.page, tt.uid, tt.tok); got != tt.want {
			t.Errorf("Link(%q, %q, %q) = %q, want %q", tt.page, tt.uid, tt.tok, got, tt.want)
		}
	}
}

func testEmailConfig() config.Email {
	return config.Email{
		From:                 "Latch <no-reply@latch.test>",
		ResetURL:             "https://app.example/reset",
		ConfirmURL:           "https://app.example/confirm",
		ResetTokenLifespan:   config.D(time.Hour),
		ConfirmTokenLifespan: config.D(24 * time.Hour),
	}
}

func TestComposer(t *testing.T) {
	c, err := NewComposer("acme", testEmailConfig())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := c.Confirm("Ada <ada@example.com>", "ada@example.com", "AAAAAAAAAAAAAAAAAAAAAA", "tok_en-1")
	if err != nil {
		t.Fatal(err)
	}
	if msg.To != "Ada <ada@example.com>" || msg.Subject != "Confirm your acme account" {
		t.Errorf("message = %+v", msg)
	}
	link := "https://app.example/confirm?uid=AAAAAAAAAAAAAAAAAAAAAA&t=tok_en-1"
	if !strings.Contains(msg.Text, link) || !strings.Contains(msg.Text, "within 24 hours") {
		t.Errorf("text lacks %s and its lifespan:\n%s", link, msg.Text)
	}

	noURL := testEmailConfig()
	noURL.ResetURL = ""
	c, err = NewComposer("acme", noURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Reset("ada@example.com", "ada", "id", "tok"); !errors.Is(err, ErrNoURL) {
		t.Errorf("Reset without email.resetURL = %v, want ErrNoURL", err)
	}

	for _, bad := range []string{"/reset", "ftp://x.example/r", "javascript:alert(1)", "https://", "http://[::1"} {
		cfg := testEmailConfig()
		cfg.ConfirmURL = bad
		if _, err := NewComposer("acme", cfg); err == nil {
			t.Errorf("NewComposer accepted confirmURL %q", bad)
		}
	}
}

func TestLogMailerNeverLogsTheBody(t *testing.T) {
	logger, logs := newTestLogger()
	m, err := NewLog(logger, "no-reply@latch.test")
	if err != nil {
		t.Fatal(err)
	}
	const secret = "s3cr3t-t0ken"
	err = m.Send(t.Context(), Message{To: "ada@example.com", Subject: "Reset", Text: "t=" + secret, HTML: "<p>t=" + secret + "</p>"})
	if err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if !strings.Contains(out, "to=ada@example.com") || !strings.Contains(out, "subject=Reset") {
		t.Errorf("log lacks the recipient or subject: %s", out)
	}
	if strings.Contains(out, secret) {
		t.Errorf("log holds the body's token: %s", out)
	}
	if err := m.Send(t.Context(), Message{To: "ada@example.com\r\nBcc: eve@example.com", Subject: "x", Text: "x"}); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("log mailer accepted an injected header: %v", err)
	}
	if _, err := NewLog(nil, "no-reply@latch.test"); err == nil {
		t.Error("NewLog(nil logger): no error")
	}
}

func TestNewChoosesMailer(t *testing.T) {
	cfg := testEmailConfig()
	m, err := New(cfg, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*Log); !ok {
		t.Errorf("New without smtp = %T, want *Log", m)
	}
	cfg.SMTP = &config.SMTP{Host: "mail.example", Port: 587, Security: config.SMTPStartTLS}
	m, err = New(cfg, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m.(*SMTP); !ok {
		t.Errorf("New with smtp = %T, want *SMTP", m)
	}
}
