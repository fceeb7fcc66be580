package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"
)

//go:embed templates/*.txt templates/*.html
var defaultTemplates embed.FS

// Kind names one email the server sends; it is also the base name of its template files.
type Kind string

// The emails.
const (
	// Reset carries a password-reset link.
	Reset Kind = "reset"
	// Confirm carries the link that confirms a new account's address.
	Confirm Kind = "confirm"
	// PasswordChanged tells the user their password was changed or reset.
	PasswordChanged Kind = "password_changed"
	// ConfirmEmail carries, to the new address, the link that confirms an email change.
	ConfirmEmail Kind = "confirm_email"
	// EmailChangeRequested tells the old address that an email change waits for confirmation.
	EmailChangeRequested Kind = "email_change_requested"
)

var kinds = []Kind{Reset, Confirm, PasswordChanged, ConfirmEmail, EmailChangeRequested}

// maxTemplateSize bounds an override file: templates are small, and a wrong path (a log file,
// a device) should fail at startup rather than fill memory.
const maxTemplateSize = 64 << 10

// Data is what the templates see.
type Data struct {
	// Realm is the realm's name.
	Realm string
	// Link is the page to open, with the user ID and token in its query; empty in the
	// notices (password_changed, email_change_requested).
	Link string
	// Login is the user's login.
	Login string
	// NewEmail is the address an email change moves to (confirm_email,
	// email_change_requested); empty in the other mails.
	NewEmail string
	// ExpiresIn is how long the link works; it prints as "1 hour", "24 hours", "30 minutes".
	ExpiresIn Lifespan
}

// Templates renders each Kind as a subject, a text body and an HTML body. The text and HTML
// bodies come from KIND.txt and KIND.html; the subject from a {{define "subject"}} block in
// KIND.txt, or the default's when an override does not define one.
type Templates struct {
	byKind map[Kind]kindTemplates
}

type kindTemplates struct {
	subject *texttemplate.Template // holds a "subject" template
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// LoadTemplates returns the embedded defaults, each overridden by a file of the same name in
// dir (KIND.txt and KIND.html of each Kind: reset, confirm, password_changed, confirm_email,
// email_change_requested) when dir is set and holds it. Every
// template is parsed and executed once with sample data, so a typo fails at startup.
func LoadTemplates(dir string) (*Templates, error) {
	if dir != "" {
		info, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("email.templatesDir: %w", err)
		}
		if !info.IsDir() {
			return nil, fmt.Errorf("email.templatesDir: %s is not a directory", dir)
		}
	}
	t := &Templates{byKind: map[Kind]kindTemplates{}}
	for _, k := range kinds {
		kt, err := loadKind(dir, k)
		if err != nil {
			return nil, err
		}
		t.byKind[k] = kt
		sample := Data{Realm: "example", Link: "https://example.com/reset?uid=u&t=t", Login: "user@example.com",
			NewEmail: "new@example.com", ExpiresIn: Lifespan(time.Hour)}
		if _, _, _, err := t.Render(k, sample); err != nil {
			return nil, fmt.Errorf("email templates: %w", err)
		}
	}
	return t, nil
}

func loadKind(dir string, k Kind) (kindTemplates, error) {
	var kt kindTemplates
	textName, htmlName := string(k)+".txt", string(k)+".html"

	defText, err := defaultTemplates.ReadFile("templates/" + textName)
	if err != nil {
		return kt, fmt.Errorf("email templates: embedded %s: %w", textName, err)
	}
	defaults, err := parseText(textName, string(defText))
	if err != nil {
		return kt, fmt.Errorf("email templates: embedded %s: %w", textName, err)
	}
	kt.subject, kt.text = defaults, defaults
	if src, ok, err := readOverride(dir, textName); err != nil {
		return kt, err
	} else if ok {
		if kt.text, err = parseText(textName, src); err != nil {
			return kt, fmt.Errorf("email.templatesDir: %s: %w", textName, err)
		}
		if kt.text.Lookup("subject") != nil {
			kt.subject = kt.text
		}
	}

	src, ok, err := readOverride(dir, htmlName)
	if err != nil {
		return kt, err
	}
	if !ok {
		b, err := defaultTemplates.ReadFile("templates/" + htmlName)
		if err != nil {
			return kt, fmt.Errorf("email templates: embedded %s: %w", htmlName, err)
		}
		src = string(b)
	}
	kt.html, err = htmltemplate.New(htmlName).Option("missingkey=error").Parse(src)
	if err != nil {
		return kt, fmt.Errorf("email templates: %s: %w", htmlName, err)
	}
	return kt, nil
}

func parseText(name, src string) (*texttemplate.Template, error) {
	return texttemplate.New(name).Option("missingkey=error").Parse(src)
}

// readOverride returns the file name in dir, if dir is set and the file exists.
func readOverride(dir, name string) (string, bool, error) {
	if dir == "" {
		return "", false, nil
	}
	path := filepath.Join(dir, name)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("email.templatesDir: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTemplateSize+1))
	if err != nil {
		return "", false, fmt.Errorf("email.templatesDir: %w", err)
	}
	if len(b) > maxTemplateSize {
		return "", false, fmt.Errorf("email.templatesDir: %s is larger than %d bytes", path, maxTemplateSize)
	}
	return string(b), true, nil
}

// Render executes the templates of kind with d. The subject's whitespace, newlines included,
// is collapsed to single spaces, since a header is one line.
func (t *Templates) Render(kind Kind, d Data) (subject, text, html string, err error) {
	kt, ok := t.byKind[kind]
	if !ok {
		return "", "", "", fmt.Errorf("email templates: unknown kind %q", kind)
	}
	var b bytes.Buffer
	if err := kt.subject.ExecuteTemplate(&b, "subject", d); err != nil {
		return "", "", "", fmt.Errorf("render %s subject: %w", kind, err)
	}
	subject = strings.Join(strings.Fields(b.String()), " ")
	b.Reset()
	if err := kt.text.Execute(&b, d); err != nil {
		return "", "", "", fmt.Errorf("render %s.txt: %w", kind, err)
	}
	text = b.String()
	b.Reset()
	if err := kt.html.Execute(&b, d); err != nil {
		return "", "", "", fmt.Errorf("render %s.html: %w", kind, err)
	}
	return subject, text, b.String(), nil
}

// Lifespan is a duration that prints for people: "1 hour", "24 hours", "1 hour 30 minutes",
// "7 days". It is rounded down to the minute, never shown longer than it is.
type Lifespan time.Duration

// String formats l for an email.
func (l Lifespan) String() string {
	d := time.Duration(l)
	if d < time.Minute {
		return plural(int64(d/time.Second), "second")
	}
	if d >= 48*time.Hour && d%(24*time.Hour) == 0 {
		return plural(int64(d/(24*time.Hour)), "day")
	}
	h, m := int64(d/time.Hour), int64(d%time.Hour/time.Minute)
	switch {
	case h == 0:
		return plural(m, "minute")
	case m == 0:
		return plural(h, "hour")
	}
	return plural(h, "hour") + " " + plural(m, "minute")
}

func plural(n int64, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
