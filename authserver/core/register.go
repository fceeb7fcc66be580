package core

import (
	"context"
	"errors"
	"log/slog"
	netmail "net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/mail"
	"github.com/latchauth/latch/authserver/password"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// maxNameLen bounds profile fields (first and last name, role) in bytes.
const maxNameLen = 256

// Registration is a new account.
type Registration struct {
	// Login is kept as typed (trimmed) and matched case-insensitively.
	Login string
	// Email is where mail goes; empty means the login, when the login is an email address.
	Email     string
	Password  string
	FirstName string
	LastName  string
	Role      string
	// ConfirmLink builds the confirmation mail's link when the realm confirms emails; nil
	// is the realm's email.confirmURL page.
	ConfirmLink LinkFunc
}

// LinkFunc builds the link a mail carries for the user userID and the one-time secret: a
// dialect whose clients expect a link to the API itself (devise's password/edit and
// confirmation) gives its own; nil is the realm's page (email.resetURL, email.confirmURL).
type LinkFunc func(userID, secret string) string

// Register creates a user. The checks run in an order that leaks as little as possible: a
// closed registration is refused before anything else, the fields and the password policy
// next, then the rate limits (rateLimits.register, per address and per login), and the login
// is claimed last, after the password is hashed, so a taken login costs the same time as a
// new one. The user is pending when the realm confirms emails (registration.emailConfirmation
// Optional or Required; a confirmation mail is then sent) and active otherwise; MayLogIn says
// whether the new user may be given a session.
//
// Errors: ErrRegistrationClosed, a *FieldError (ErrInvalidInput), a *WeakPasswordError
// (ErrWeakPassword), ErrRateLimited, ErrLoginTaken, or an internal error.
func (s *Service) Register(ctx context.Context, m Meta, r Registration) (_ store.User, err error) {
	began, now := time.Now(), s.Now()
	defer func() { s.observe(m, "register", began, err) }()
	defer func() {
		if err != nil {
			s.audit(ctx, m, "register", "", errorOutcome(err), slog.String("reason", err.Error()))
		}
	}()

	reg := s.Config.Registration
	if reg.Closed {
		return store.User{}, ErrRegistrationClosed
	}
	u, err := s.newUser(r, reg.Confirms())
	if err != nil {
		return store.User{}, err
	}
	// Counted before the hash: a flood of registrations costs a round trip each, not 20 ms
	// of argon2id.
	if err := s.rateLimit(ctx, m, actionRegister, s.Config.RateLimits.Register, u.Login); err != nil {
		return store.User{}, err
	}
	u.PasswordHash, err = s.Passwords.Hash(ctx, r.Password)
	if err != nil {
		if isPolicy(err) {
			return store.User{}, &WeakPasswordError{Err: err}
		}
		return store.User{}, internal("register", err)
	}
	u, err = s.Store.CreateUser(ctx, u, now)
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		return store.User{}, ErrLoginTaken
	case err != nil:
		return store.User{}, internal("register", err)
	}
	s.audit(ctx, m, "register", u.ID, outcomeSuccess)
	if u.Status == store.StatusPending {
		// The account exists now whatever happens to the mail; a failure is logged, and the
		// user can ask for another confirmation where the dialect offers it.
		if err := s.SendConfirmation(ctx, m, u, r.ConfirmLink); err != nil {
			s.Logger.ErrorContext(ctx, "cannot send confirmation mail", "request_id", m.RequestID, "user_id", u.ID, "error", err)
		}
	}
	return u, nil
}

// newUser validates the registration's fields and builds the record to store.
func (s *Service) newUser(r Registration, requireConfirmation bool) (store.User, error) {
	login := strings.TrimSpace(r.Login)
	switch {
	case login == "":
		return store.User{}, &FieldError{"login", "must not be empty"}
	case len(store.NormalizeLogin(login)) > store.MaxLoginLen:
		return store.User{}, &FieldError{"login", "is too long"}
	case !printable(login):
		return store.User{}, &FieldError{"login", "must be printable text"}
	}
	email := strings.TrimSpace(r.Email)
	switch {
	case email != "" && !isAddress(email):
		return store.User{}, &FieldError{"email", "must be an email address"}
	case email == "" && isAddress(login):
		email = login
	case email == "" && requireConfirmation:
		return store.User{}, &FieldError{"login", "must be an email address"}
	}
	for _, f := range []struct{ name, value string }{
		{"firstName", r.FirstName}, {"lastName", r.LastName}, {"role", r.Role},
	} {
		if len(f.value) > maxNameLen {
			return store.User{}, &FieldError{f.name, "is too long"}
		}
		if !printable(f.value) {
			return store.User{}, &FieldError{f.name, "must be printable text"}
		}
	}
	id, err := token.NewID()
	if err != nil {
		return store.User{}, internal("register", err)
	}
	status := store.StatusActive
	if requireConfirmation {
		status = store.StatusPending
	}
	return store.User{
		ID: id, Login: login, Email: email, Status: status,
		FirstName: strings.TrimSpace(r.FirstName), LastName: strings.TrimSpace(r.LastName), Role: r.Role,
	}, nil
}

// printable accepts valid UTF-8 without control characters: these fields end up in mail
// headers, logs and other systems' UIs.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	return strings.IndexFunc(s, unicode.IsControl) < 0
}

// isAddress accepts one bare email address (no display name, no comments).
func isAddress(s string) bool {
	if len(s) > store.MaxLoginLen {
		return false
	}
	a, err := netmail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

func isPolicy(err error) bool {
	return errors.Is(err, password.ErrTooShort) || errors.Is(err, password.ErrTooLong) || errors.Is(err, password.ErrNotUTF8)
}

// mailAddress is where the user's mail goes: the email, or the login when it is an address.
func mailAddress(u store.User) string {
	if u.Email != "" {
		return u.Email
	}
	if isAddress(u.Login) {
		return u.Login
	}
	return ""
}

// MayLogIn reports whether u may be given a session: not when disabled, and not while pending
// under registration.emailConfirmation Required, or under Optional once
// registration.unconfirmedAccessFor has passed since the account was created.
func (s *Service) MayLogIn(u store.User) bool {
	switch {
	case u.Status == store.StatusDisabled:
		return false
	case u.Status != store.StatusPending:
		return true
	}
	reg := s.Config.Registration
	switch reg.EmailConfirmation {
	case config.ConfirmationRequired:
		return false
	case config.ConfirmationOptional:
		grace := reg.UnconfirmedAccessFor.Duration
		return grace <= 0 || s.Now().Before(u.CreatedAt.Add(grace))
	}
	return true
}

// SendConfirmation issues a new confirmation token for u (replacing any outstanding one) and
// queues the mail with its link: link's, or `{confirmURL}?uid=USER_ID&t=TOKEN` when nil.
func (s *Service) SendConfirmation(ctx context.Context, m Meta, u store.User, link LinkFunc) error {
	to := mailAddress(u)
	if to == "" {
		return internal("send confirmation", errors.New("the user has no email address"))
	}
	secret, err := s.issueOneTime(ctx, u.ID, store.OneTimeConfirm, s.Config.Email.ConfirmTokenLifespan.Duration)
	if err != nil {
		return err
	}
	var msg mail.Message
	if link != nil {
		msg, err = s.Composer.ConfirmAt(to, u.Login, link(u.ID, secret))
	} else {
		msg, err = s.Composer.Confirm(to, u.Login, u.ID, secret)
	}
	if err != nil {
		return internal("send confirmation", err)
	}
	if err := s.Mailer.Send(ctx, msg); err != nil {
		return internal("send confirmation", err)
	}
	return nil
}

// ResendConfirmation mails a new confirmation link to a pending user (see SendConfirmation for
// link). The answer is the same whether or not login names a pending user with an address, and
// the mail is sent after it; requests are limited by rateLimits.confirmation per address and
// per login.
//
// Errors: ErrRateLimited, or internal.
func (s *Service) ResendConfirmation(ctx context.Context, m Meta, login string, link LinkFunc) (err error) {
	began := time.Now()
	defer func() { s.observe(m, "resend_confirmation", began, err) }()

	if err := s.rateLimit(ctx, m, actionConfirmation, s.Config.RateLimits.Confirmation, login); err != nil {
		return err
	}
	s.background(ctx, func(ctx context.Context) {
		u, err := s.Store.GetUserByLogin(ctx, store.NormalizeLogin(login))
		switch {
		case errors.Is(err, store.ErrNotFound):
			s.audit(ctx, m, "confirmation.resend", "", outcomeSuccess, slog.Bool("mail_sent", false))
			return
		case err != nil:
			s.Logger.ErrorContext(ctx, "cannot look up a confirmation's login", "request_id", m.RequestID, "error", err)
			return
		case u.Status != store.StatusPending || mailAddress(u) == "":
			s.audit(ctx, m, "confirmation.resend", u.ID, outcomeSuccess, slog.Bool("mail_sent", false))
			return
		}
		err = s.SendConfirmation(ctx, m, u, link)
		if err != nil {
			s.Logger.ErrorContext(ctx, "cannot send confirmation mail", "request_id", m.RequestID, "user_id", u.ID, "error", err)
		}
		s.audit(ctx, m, "confirmation.resend", u.ID, outcomeSuccess, slog.Bool("mail_sent", err == nil))
	})
	return nil
}

// activatePending makes a pending user active: a reset link they followed proves the
// mailbox, as a confirmation link does (devise confirms an unconfirmed user on password/edit).
// Failures are logged: the reset itself has happened.
func (s *Service) activatePending(ctx context.Context, m Meta, userID string, now time.Time) (store.User, bool) {
	u, err := s.Store.UpdateUser(ctx, userID, now, func(u store.User) (store.User, error) {
		if u.Status != store.StatusPending {
			return u, errNothingPending
		}
		u.Status = store.StatusActive
		return u, nil
	})
	if err != nil {
		if !errors.Is(err, errNothingPending) {
			s.Logger.WarnContext(ctx, "cannot activate a user after a reset", "request_id", m.RequestID, "user_id", userID, "error", err)
		}
		return store.User{}, false
	}
	s.audit(ctx, m, "confirm", userID, outcomeSuccess, slog.String("by", "reset_link"))
	return u, true
}

// issueOneTime stores the hash of a fresh secret as the user's one outstanding token of kind
// and returns the secret.
func (s *Service) issueOneTime(ctx context.Context, userID string, kind store.OneTimeKind, ttl time.Duration) (string, error) {
	return s.issueOneTimeKeep(ctx, userID, kind, ttl, 1)
}

// issueOneTimeKeep is issueOneTime keeping the newest keep-1 live tokens of kind beside the new
// one (store.OneTimeToken.Keep).
func (s *Service) issueOneTimeKeep(ctx context.Context, userID string, kind store.OneTimeKind, ttl time.Duration, keep int) (string, error) {
	secret, err := token.New()
	if err != nil {
		return "", internal("issue "+string(kind)+" token", err)
	}
	now := s.Now()
	err = s.Store.IssueOneTimeToken(ctx, store.OneTimeToken{
		UserID: userID, Kind: kind, Hash: s.Hasher.Hash(secret), ExpiresAt: now.Add(ttl),
		Keep: min(keep, store.MaxLiveOneTimeTokens),
	}, now)
	if err != nil {
		return "", internal("issue "+string(kind)+" token", err)
	}
	return secret, nil
}

// consumeOneTime spends the user's token of kind. Anything that does not match is
// ErrInvalidToken; the IDs are checked before the store is asked.
func (s *Service) consumeOneTime(ctx context.Context, userID, secret string, kind store.OneTimeKind, now time.Time) error {
	if !token.ValidID(userID) || !token.ValidSecret(secret) {
		return ErrInvalidToken
	}
	return s.consumeHash(ctx, userID, kind, s.Hasher.Hash(secret), now)
}

// consumeHash spends the user's token of kind stored as hash.
func (s *Service) consumeHash(ctx context.Context, userID string, kind store.OneTimeKind, hash string, now time.Time) error {
	err := s.Store.ConsumeOneTimeToken(ctx, userID, kind, hash, now)
	switch {
	case errors.Is(err, store.ErrInvalidToken), errors.Is(err, store.ErrNotFound):
		return ErrInvalidToken
	case err != nil:
		return internal("consume "+string(kind)+" token", err)
	}
	return nil
}

// Confirm spends a confirmation token and makes a pending user active. When an email change
// waits for confirmation (User.UnconfirmedEmail), the token is the one mailed to the new
// address (bound to it, see emailTokenHash), and in the same atomic step the user's email and
// login move there. If another user has taken that login meanwhile, nothing moves, the waiting
// address is dropped and the answer is ErrLoginTaken. A disabled user stays disabled, and
// their login stays where it is; an active one stays active.
//
// Errors: ErrInvalidToken, ErrLoginTaken, or internal.
func (s *Service) Confirm(ctx context.Context, m Meta, userID, secret string) (_ store.User, err error) {
	began, now := time.Now(), s.Now()
	defer func() { s.observe(m, "confirm", began, err) }()
	defer func() {
		if err != nil {
			s.audit(ctx, m, "confirm", loggableID(userID), errorOutcome(err))
		}
	}()

	if !token.ValidID(userID) || !token.ValidSecret(secret) {
		return store.User{}, ErrInvalidToken
	}
	cur, err := s.Store.GetUser(ctx, userID)
	if err != nil {
		return store.User{}, userError("confirm", err)
	}
	to := cur.UnconfirmedEmail
	hash := s.Hasher.Hash(secret)
	if to != "" {
		hash = s.emailTokenHash(secret, to)
	}
	if err := s.consumeHash(ctx, userID, store.OneTimeConfirm, hash, now); err != nil {
		return store.User{}, err
	}
	u, err := s.Store.UpdateUser(ctx, userID, now, func(u store.User) (store.User, error) {
		if to != "" {
			// The token confirms the address it was mailed to, and only while it waits.
			if u.UnconfirmedEmail != to || u.Status == store.StatusDisabled {
				return u, ErrInvalidToken
			}
			u.Login, u.Email, u.UnconfirmedEmail = to, to, ""
		}
		if u.Status == store.StatusPending {
			u.Status = store.StatusActive
		}
		return u, nil
	})
	switch {
	case errors.Is(err, ErrInvalidToken):
		return store.User{}, err
	case errors.Is(err, store.ErrAlreadyExists):
		s.dropEmailChange(ctx, m, userID, to, now)
		return store.User{}, ErrLoginTaken
	case err != nil:
		return store.User{}, userError("confirm", err)
	}
	s.audit(ctx, m, "confirm", u.ID, outcomeSuccess, slog.Bool("login_changed", to != ""))
	return u, nil
}

// dropEmailChange forgets the user's waiting address if it is still to: its confirmation
// cannot succeed (the login is taken). Failures are logged.
func (s *Service) dropEmailChange(ctx context.Context, m Meta, userID, to string, now time.Time) {
	_, err := s.Store.UpdateUser(ctx, userID, now, func(u store.User) (store.User, error) {
		if u.UnconfirmedEmail != to {
			return u, errNothingPending
		}
		u.UnconfirmedEmail = ""
		return u, nil
	})
	if err != nil && !errors.Is(err, errNothingPending) {
		s.Logger.WarnContext(ctx, "cannot drop an email change", "request_id", m.RequestID, "user_id", userID, "error", err)
	}
}
