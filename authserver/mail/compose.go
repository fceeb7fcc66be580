package mail

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/latchauth/latch/authserver/config"
)

// Composer builds the realm's messages (reset and confirmation links, notices of sensitive
// changes) from its templates and URLs.
type Composer struct {
	realm      string
	templates  *Templates
	resetURL   string
	confirmURL string
	resetTTL   time.Duration
	confirmTTL time.Duration
}

// ErrNoURL is returned when a message's page (email.resetURL or email.confirmURL) is not
// configured.
var ErrNoURL = errors.New("the email link's page is not configured")

// NewComposer loads the templates (email.templatesDir over the defaults) and checks the URLs.
func NewComposer(realm string, c config.Email) (*Composer, error) {
	for field, u := range map[string]string{"email.resetURL": c.ResetURL, "email.confirmURL": c.ConfirmURL} {
		if err := checkPageURL(u); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
	}
	t, err := LoadTemplates(c.TemplatesDir)
	if err != nil {
		return nil, err
	}
	return &Composer{
		realm:      realm,
		templates:  t,
		resetURL:   c.ResetURL,
		confirmURL: c.ConfirmURL,
		resetTTL:   c.ResetTokenLifespan.Duration,
		confirmTTL: c.ConfirmTokenLifespan.Duration,
	}, nil
}

func checkPageURL(s string) error {
	if s == "" {
		return nil // unset: the messages that need it fail with ErrNoURL
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("must be an absolute http or https URL, got %q", s)
	}
	return nil
}

// Reset builds the password-reset message for the user userID, known as login, at address to.
// token is the one-time secret the link carries.
func (c *Composer) Reset(to, login, userID, token string) (Message, error) {
	return c.withLink(Reset, c.resetURL, c.resetTTL, to, Data{Login: login}, userID, token)
}

// ResetAt is Reset with the link given whole (a dialect's own, such as devise's
// password/edit on the API).
func (c *Composer) ResetAt(to, login, link string) (Message, error) {
	return c.compose(Reset, to, Data{Login: login, Link: link, ExpiresIn: Lifespan(c.resetTTL)})
}

// ConfirmAt is Confirm with the link given whole; see ResetAt.
func (c *Composer) ConfirmAt(to, login, link string) (Message, error) {
	return c.compose(Confirm, to, Data{Login: login, Link: link, ExpiresIn: Lifespan(c.confirmTTL)})
}

// Confirm builds the email-confirmation message; see Reset.
func (c *Composer) Confirm(to, login, userID, token string) (Message, error) {
	return c.withLink(Confirm, c.confirmURL, c.confirmTTL, to, Data{Login: login}, userID, token)
}

// ConfirmEmail builds the message that confirms an email change, to the new address to
// (newEmail as the user typed it), with the realm's confirmation link; see Reset.
func (c *Composer) ConfirmEmail(to, login, newEmail, userID, token string) (Message, error) {
	return c.withLink(ConfirmEmail, c.confirmURL, c.confirmTTL, to, Data{Login: login, NewEmail: newEmail}, userID, token)
}

// PasswordChanged builds the notice that the password of login was changed or reset.
func (c *Composer) PasswordChanged(to, login string) (Message, error) {
	return c.compose(PasswordChanged, to, Data{Login: login})
}

// EmailChangeRequested builds the notice, to the current address to, that login asked to
// move to newEmail.
func (c *Composer) EmailChangeRequested(to, login, newEmail string) (Message, error) {
	return c.compose(EmailChangeRequested, to, Data{Login: login, NewEmail: newEmail})
}

// withLink composes a message whose link is page?uid=USER_ID&t=TOKEN, valid for ttl.
func (c *Composer) withLink(kind Kind, page string, ttl time.Duration, to string, d Data, userID, token string) (Message, error) {
	if page == "" {
		return Message{}, fmt.Errorf("%s email: %w", kind, ErrNoURL)
	}
	d.Link, d.ExpiresIn = Link(page, userID, token), Lifespan(ttl)
	return c.compose(kind, to, d)
}

func (c *Composer) compose(kind Kind, to string, d Data) (Message, error) {
	d.Realm = c.realm
	subject, text, html, err := c.templates.Render(kind, d)
	if err != nil {
		return Message{}, err
	}
	return Message{To: to, Subject: subject, Text: text, HTML: html}, nil
}

// Link returns page?uid=USER_ID&t=TOKEN, both values query-escaped. The parameters are
// appended to the string as written (with '&' when page already has a query) rather than
// re-encoded through url.URL, so a single-page app's hash route such as
// https://app.example/#/reset receives them where its router looks.
func Link(page, userID, token string) string {
	sep := "?"
	if strings.Contains(page, "?") {
		sep = "&"
	}
	return page + sep + "uid=" + url.QueryEscape(userID) + "&t=" + url.QueryEscape(token)
}
