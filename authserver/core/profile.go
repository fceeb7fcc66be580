package core

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/latchauth/latch/authserver/mail"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// ProfileChange is a signed-in user's change of their own profile. Nil fields are kept.
type ProfileChange struct {
	// Email, when set, is the address the user's email and login are to be: it is for
	// dialects whose login is the email address (keyToken). It must be a bare email address.
	// A new address waits for confirmation (UpdateProfile); a change of case only is made at
	// once; the current address cancels a change waiting for confirmation.
	Email     *string
	FirstName *string
	LastName  *string
	// Password is the user's current password, required with an Email that changes the
	// address or its case: a session alone (perhaps stolen) must not move the account's mail,
	// from where a reset would hand the account over.
	Password string
}

// UpdateProfile applies c to the user userID. Names change at once. A change of the email
// needs the current password (ErrPasswordRequired without it; a wrong one is
// ErrInvalidCredentials and counts against the brute-force limits like a failed login). A new
// address, if no other user holds it as a login, is only recorded as waiting for confirmation
// (User.UnconfirmedEmail, like devise's unconfirmed_email): a confirmation link goes to the
// new address, a notice to the current one, and the login stays where it is until the link
// is used (Confirm). The user's status is left alone and sessions are kept.
//
// Errors: a *FieldError (ErrInvalidInput), ErrPasswordRequired, ErrInvalidCredentials,
// ErrRateLimited, ErrLoginTaken, ErrInvalidToken (the user no longer exists), or internal.
func (s *Service) UpdateProfile(ctx context.Context, m Meta, userID string, c ProfileChange) (_ store.User, err error) {
	began, now := time.Now(), s.Now()
	defer func() { s.observe(m, "update_profile", began, err) }()
	defer func() {
		if err != nil {
			s.audit(ctx, m, "profile.update", loggableID(userID), errorOutcome(err))
		}
	}()

	c, err = cleanProfileChange(c)
	if err != nil {
		return store.User{}, err
	}
	var cur store.User
	var move *emailMove
	if c.Email != nil {
		if cur, err = s.Store.GetUser(ctx, userID); err != nil {
			return store.User{}, userError("update profile", err)
		}
		if move, err = s.prepareEmailChange(ctx, m, cur, *c.Email, c.Password, now); err != nil {
			return store.User{}, err
		}
	}
	u, err := s.Store.UpdateUser(ctx, userID, now, func(u store.User) (store.User, error) {
		// A pure function of u: the store may run it again on a concurrent change.
		switch {
		case c.Email == nil:
		case store.NormalizeLogin(u.Login) != store.NormalizeLogin(cur.Login):
			// The login moved since it was read (a confirmation): what was checked is stale.
			return u, store.ErrConflict
		case move != nil:
			u.UnconfirmedEmail = move.to
		default:
			// The same address, perhaps in another case: the same mailbox, nothing to confirm.
			u.Login, u.Email, u.UnconfirmedEmail = *c.Email, *c.Email, ""
		}
		if c.FirstName != nil {
			u.FirstName = *c.FirstName
		}
		if c.LastName != nil {
			u.LastName = *c.LastName
		}
		return u, nil
	})
	switch {
	case errors.Is(err, store.ErrAlreadyExists):
		return store.User{}, ErrLoginTaken
	case err != nil:
		return store.User{}, userError("update profile", err)
	}
	s.audit(ctx, m, "profile.update", u.ID, outcomeSuccess,
		slog.Bool("login_changed", c.Email != nil && u.Login != cur.Login), slog.Bool("email_change_pending", move != nil))
	if move != nil {
		if err := s.sendEmailChange(ctx, m, cur, move, now); err != nil {
			return store.User{}, err
		}
	}
	return u, nil
}

// emailMove is an email change on its way: the new address and the confirmation mail to it,
// built before anything is stored, so a realm that cannot send it refuses the change.
type emailMove struct {
	to      string
	secret  string
	confirm mail.Message
}

// prepareEmailChange checks the password for a change of cur's address to email and, when the
// address is a new one (not a change of case), that no other user holds it, and builds the
// confirmation mail. It returns nil when email is cur's address, or differs only in case.
func (s *Service) prepareEmailChange(ctx context.Context, m Meta, cur store.User, email, pw string, now time.Time) (*emailMove, error) {
	if email == cur.Login && email == cur.Email {
		return nil, nil
	}
	if pw == "" {
		return nil, ErrPasswordRequired
	}
	if err := s.confirmPassword(ctx, m, cur.ID, pw, now); err != nil {
		return nil, err
	}
	if store.NormalizeLogin(email) == store.NormalizeLogin(cur.Login) {
		return nil, nil
	}
	// A move to another address mails a link to an address of the caller's choosing, and its
	// answer says whether the address is taken: rateLimits.confirmation bounds both, per
	// client address and per target address, before either happens.
	if err := s.rateLimit(ctx, m, actionConfirmation, s.Config.RateLimits.Confirmation, email); err != nil {
		return nil, err
	}
	// Checked again, atomically, when the confirmation claims the login.
	switch other, err := s.Store.GetUserByLogin(ctx, email); {
	case err == nil && other.ID != cur.ID:
		return nil, ErrLoginTaken
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return nil, internal("update profile", err)
	}
	secret, err := token.New()
	if err != nil {
		return nil, internal("update profile", err)
	}
	msg, err := s.Composer.ConfirmEmail(email, cur.Login, email, cur.ID, secret)
	if err != nil {
		return nil, internal("update profile", err)
	}
	return &emailMove{to: email, secret: secret, confirm: msg}, nil
}

// sendEmailChange files the confirmation token of move, bound to its address (it replaces
// any outstanding confirmation token of the user), and queues the confirmation to the new
// address and the notice to the current one.
func (s *Service) sendEmailChange(ctx context.Context, m Meta, cur store.User, move *emailMove, now time.Time) error {
	err := s.Store.IssueOneTimeToken(ctx, store.OneTimeToken{
		UserID: cur.ID, Kind: store.OneTimeConfirm, Hash: s.emailTokenHash(move.secret, move.to),
		ExpiresAt: now.Add(s.Config.Email.ConfirmTokenLifespan.Duration),
	}, now)
	if err != nil {
		return internal("issue email change token", err)
	}
	s.send(ctx, m, cur.ID, "email change confirmation", move.confirm, nil)
	if to := mailAddress(cur); to != "" {
		msg, err := s.Composer.EmailChangeRequested(to, cur.Login, move.to)
		s.send(ctx, m, cur.ID, "email change notice", msg, err)
	}
	return nil
}

// emailTokenHash is the stored hash of the confirmation token of an email change: bound to
// the address it was mailed to, so that it confirms that address and no other, whatever
// changes race with it.
func (s *Service) emailTokenHash(secret, email string) string {
	return s.Hasher.Hash(secret + "\n" + store.NormalizeLogin(email))
}

// userError maps a store error of a signed-in user's record: gone is ErrInvalidToken.
func userError(op string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrInvalidToken
	}
	return internal(op, err)
}

// cleanProfileChange trims and validates the fields of c with the rules of registration.
func cleanProfileChange(c ProfileChange) (ProfileChange, error) {
	if c.Email != nil {
		email := strings.TrimSpace(*c.Email)
		if !isAddress(email) {
			return c, &FieldError{"email", "must be an email address"}
		}
		c.Email = &email
	}
	for _, f := range []struct {
		name string
		v    **string
	}{{"firstName", &c.FirstName}, {"lastName", &c.LastName}} {
		if *f.v == nil {
			continue
		}
		v := strings.TrimSpace(**f.v)
		if len(v) > maxNameLen {
			return c, &FieldError{f.name, "is too long"}
		}
		if !printable(v) {
			return c, &FieldError{f.name, "must be printable text"}
		}
		*f.v = &v
	}
	return c, nil
}
