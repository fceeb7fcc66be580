package core

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// ProfileChange is a signed-in user's change of their own profile. Nil fields are kept.
type ProfileChange struct {
	// Email, when set, replaces both the email and the login: it is for dialects whose login
	// is the email address (keyToken). It must be a bare email address.
	Email     *string
	FirstName *string
	LastName  *string
}

// UpdateProfile applies c to the user userID. An email change moves the login too (in the
// store's atomic login-claim steps); when the realm requires email confirmation and the
// address really changes (not just its case), an active user becomes pending again and a
// confirmation mail goes to the new address, so an unverified address is never taken as
// verified. Sessions are kept.
//
// Errors: a *FieldError (ErrInvalidInput), ErrLoginTaken, ErrInvalidToken (the user no
// longer exists), or internal.
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
	requireConfirmation := s.Config.Registration.RequireConfirmation
	var loginChanged bool
	u, err := s.Store.UpdateUser(ctx, userID, now, func(u store.User) (store.User, error) {
		// A pure function of u: the store may run it again on a concurrent change.
		loginChanged = false
		if c.Email != nil {
			loginChanged = store.NormalizeLogin(u.Login) != store.NormalizeLogin(*c.Email)
			u.Login, u.Email = *c.Email, *c.Email
			if loginChanged && requireConfirmation && u.Status == store.StatusActive {
				u.Status = store.StatusPending
			}
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
	case errors.Is(err, store.ErrNotFound):
		return store.User{}, ErrInvalidToken
	case err != nil:
		return store.User{}, internal("update profile", err)
	}
	s.audit(ctx, m, "profile.update", u.ID, outcomeSuccess, slog.Bool("login_changed", loginChanged))
	if loginChanged && requireConfirmation && u.Status == store.StatusPending {
		// The change is stored whatever happens to the mail, as at registration.
		if err := s.SendConfirmation(ctx, m, u); err != nil {
			s.Logger.ErrorContext(ctx, "cannot send confirmation mail", "request_id", m.RequestID, "user_id", u.ID, "error", err)
		}
	}
	return u, nil
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
