package mail

import (
	"errors"
	"html"
	"strings"
	"testing"
	"time"
)

// The notices of sensitive changes: their subjects, that they name what changed, and that the
// HTML escapes what a user chose (an address is the user's input).
func TestNoticeTemplates(t *testing.T) {
	tmpl, err := LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	d := Data{
		Realm:     "acme",
		Link:      "https://app.example/confirm?uid=AAAA&t=b-c_d",
		Login:     "ada@example.com",
		NewEmail:  `eve+<b>x</b>@example.com`,
		ExpiresIn: Lifespan(24 * time.Hour),
	}
	for _, tt := range []struct {
		kind     Kind
		subject  string
		contains []string
		link     bool
	}{
		{PasswordChanged, "Your acme password was changed", []string{d.Login, "Forgot password"}, false},
		{ConfirmEmail, "Confirm your new acme email address", []string{d.Login, d.NewEmail, "within 24 hours"}, true},
		{EmailChangeRequested, "Your acme email address is being changed", []string{d.Login, d.NewEmail, "Forgot password"}, false},
	} {
		subject, text, htmlBody, err := tmpl.Render(tt.kind, d)
		if err != nil {
			t.Fatalf("%s: %v", tt.kind, err)
		}
		if subject != tt.subject {
			t.Errorf("%s subject = %q, want %q", tt.kind, subject, tt.subject)
		}
		for _, s := range tt.contains {
			if !strings.Contains(text, s) || !strings.Contains(html.UnescapeString(htmlBody), s) {
				t.Errorf("%s: text or html lacks %q:\n%s\n%s", tt.kind, s, text, htmlBody)
			}
		}
		if strings.Contains(text, d.Link) != tt.link || strings.Contains(html.UnescapeString(htmlBody), d.Link) != tt.link {
			t.Errorf("%s: holds the link %v, want %v", tt.kind, !tt.link, tt.link)
		}
		if strings.Contains(htmlBody, "<b>x</b>") {
			t.Errorf("%s html does not escape the address:\n%s", tt.kind, htmlBody)
		}
		if strings.HasPrefix(text, "\n") {
			t.Errorf("%s text starts with a blank line left by the subject block", tt.kind)
		}
	}
}

// The notices are overridden like the other mails, by file name in email.templatesDir.
func TestNoticeOverrides(t *testing.T) {
	dir := writeTemplates(t, map[string]string{
		"password_changed.txt":        `{{define "subject"}}Password changed ({{.Realm}}){{end}}Changed for {{.Login}}.`,
		"password_changed.html":       `<p>Changed for {{.Login}}</p>`,
		"confirm_email.txt":           `Confirm {{.NewEmail}}: {{.Link}}`,
		"email_change_requested.html": `<p>{{.Login}} to {{.NewEmail}}</p>`,
	})
	tmpl, err := LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := Data{Realm: "acme", Login: "ada", NewEmail: "new@example.com", Link: "https://x.example/?uid=1&t=2", ExpiresIn: Lifespan(time.Hour)}
	subject, text, htmlBody, err := tmpl.Render(PasswordChanged, d)
	if err != nil || subject != "Password changed (acme)" || text != "Changed for ada." || htmlBody != "<p>Changed for ada</p>" {
		t.Errorf("password_changed = %q / %q / %q, %v", subject, text, htmlBody, err)
	}
	subject, text, _, err = tmpl.Render(ConfirmEmail, d)
	if err != nil || subject != "Confirm your new acme email address" || text != "Confirm new@example.com: https://x.example/?uid=1&t=2" {
		t.Errorf("confirm_email = %q / %q, %v", subject, text, err)
	}
	_, _, htmlBody, err = tmpl.Render(EmailChangeRequested, d)
	if err != nil || htmlBody != "<p>ada to new@example.com</p>" {
		t.Errorf("email_change_requested html = %q, %v", htmlBody, err)
	}
	if _, err := LoadTemplates(writeTemplates(t, map[string]string{"confirm_email.html": "{{.Password}}"})); err == nil {
		t.Error("an override naming an unknown field loaded")
	}
}

func TestComposeNotices(t *testing.T) {
	c, err := NewComposer("acme", testEmailConfig())
	if err != nil {
		t.Fatal(err)
	}
	msg, err := c.PasswordChanged("ada@example.com", "ada@example.com")
	if err != nil || msg.To != "ada@example.com" || msg.Subject != "Your acme password was changed" {
		t.Errorf("PasswordChanged = %+v, %v", msg, err)
	}
	msg, err = c.ConfirmEmail("new@example.com", "ada@example.com", "new@example.com", "AAAAAAAAAAAAAAAAAAAAAA", "tok")
	if err != nil || msg.To != "new@example.com" || !strings.Contains(msg.Text, "https://app.example/confirm?uid=AAAAAAAAAAAAAAAAAAAAAA&t=tok") {
		t.Errorf("ConfirmEmail = %+v, %v", msg, err)
	}
	msg, err = c.EmailChangeRequested("ada@example.com", "ada@example.com", "new@example.com")
	if err != nil || msg.To != "ada@example.com" || !strings.Contains(msg.Text, "new@example.com") {
		t.Errorf("EmailChangeRequested = %+v, %v", msg, err)
	}

	noURL := testEmailConfig()
	noURL.ConfirmURL = ""
	c, err = NewComposer("acme", noURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ConfirmEmail("new@example.com", "ada", "new@example.com", "id", "tok"); !errors.Is(err, ErrNoURL) {
		t.Errorf("ConfirmEmail without email.confirmURL = %v, want ErrNoURL", err)
	}
	if _, err := c.PasswordChanged("ada@example.com", "ada"); err != nil {
		t.Errorf("PasswordChanged needs no page: %v", err)
	}
}
