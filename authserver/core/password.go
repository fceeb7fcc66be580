package core

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/latchauth/latch/authserver/mail"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// Forgot starts a password reset for login. Past the rate limits (rateLimits.forgot, per
// address and per login, known or not) it answers the same for every login in the same time:
// the lookup, the token and the mail are done after the answer, in the background (Wait
// drains them), so neither the answer nor its timing tells which logins exist. Only a known,
// enabled user with an email address is sent a link `{resetURL}?uid=USER_ID&t=TOKEN`, which
// stays valid beside the user's perLogin-1 newest earlier links: strangers asking again and
// again cannot void the one the user is about to click.
//
// Errors: ErrRateLimited, or internal (the store cannot count the request).
func (s *Service) Forgot(ctx context.Context, m Meta, login string, link LinkFunc) (err error) {
	began := time.Now()
	defer func() { s.observe(m, "forgot", began, err) }()

	if err := s.rateLimit(ctx, m, actionForgot, s.Config.RateLimits.Forgot, login); err != nil {
		return err
	}
	s.background(ctx, func(ctx context.Context) { s.sendReset(ctx, m, login, link) })
	return nil
}

// sendReset is Forgot's work after the answer: failures are the operator's to see (logged),
// since the caller got the same answer as everyone else.
func (s *Service) sendReset(ctx context.Context, m Meta, login string, link LinkFunc) {
	u, err := s.Store.GetUserByLogin(ctx, login)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.audit(ctx, m, "password.forgot", "", outcomeSuccess, slog.Bool("mail_sent", false))
		return
	case err != nil:
		s.Logger.ErrorContext(ctx, "cannot look up a password reset's login", "request_id", m.RequestID, "error", err)
		return
	}
	to := mailAddress(u)
	if u.Status == store.StatusDisabled || to == "" {
		s.audit(ctx, m, "password.forgot", u.ID, outcomeSuccess, slog.Bool("mail_sent", false))
		return
	}
	secret, err := s.issueOneTimeKeep(ctx, u.ID, store.OneTimeReset, s.Config.Email.ResetTokenLifespan.Duration,
		s.Config.RateLimits.Forgot.PerLogin)
	if err == nil {
		var msg mail.Message
		if link != nil {
			msg, err = s.Composer.ResetAt(to, u.Login, link(u.ID, secret))
		} else {
			msg, err = s.Composer.Reset(to, u.Login, u.ID, secret)
		}
		if err == nil {
			err = s.Mailer.Send(ctx, msg)
		}
	}
	if err != nil {
		s.Logger.ErrorContext(ctx, "cannot send password reset mail", "request_id", m.RequestID, "user_id", u.ID, "error", err)
	}
	s.audit(ctx, m, "password.forgot", u.ID, outcomeSuccess, slog.Bool("mail_sent", err == nil))
}

// Reset sets a new password with a reset token: the token is spent, the password replaced,
// every session of the user ended, an email change waiting for confirmation cancelled (the
// holder of the current address decides) and a notice mailed. The policy is checked before
// the token is spent, so a refused password does not cost the user their link; the password
// is hashed after, so an unauthenticated caller cannot make the server hash at will.
//
// Errors: *WeakPasswordError, ErrInvalidToken, or internal.
func (s *Service) Reset(ctx context.Context, m Meta, userID, secret, newPassword string) (err error) {
	began, now := time.Now(), s.Now()
	defer func() { s.observe(m, "reset", began, err) }()
	defer func() {
		if err != nil {
			s.audit(ctx, m, "password.reset", loggableID(userID), errorOutcome(err))
		}
	}()

	if err := s.Passwords.Policy().Check(newPassword); err != nil {
		return &WeakPasswordError{Err: err}
	}
	if err := s.consumeOneTime(ctx, userID, secret, store.OneTimeReset, now); err != nil {
		return err
	}
	ended, err := s.setPassword(ctx, userID, newPassword, "", now)
	if err != nil {
		return err
	}
	// Whoever holds the mailbox is the user: lift a lock the forgotten password caused, and
	// confirm a pending account.
	if u, err := s.Store.GetUser(ctx, userID); err == nil {
		s.unlockLogin(ctx, m, u.Login)
	}
	s.activatePending(ctx, m, userID, now)
	s.audit(ctx, m, "password.reset", userID, outcomeSuccess, sessionsEnded(ended))
	s.afterReset(ctx, m, userID, now)
	return nil
}

// RedeemResetToken spends a reset token without setting a password and returns its user, for
// dialects whose reset link signs the user in to choose a password next (devise's
// password/edit). Like Reset, it lifts the login's lock, confirms a pending account (whose
// password it then voids and whose sessions it ends: see below) and cancels a waiting email
// change.
// The caller then issues a session with IssueSession.
func (s *Service) RedeemResetToken(ctx context.Context, m Meta, userID, secret string) (_ store.User, err error) {
	began, now := time.Now(), s.Now()
	defer func() { s.observe(m, "redeem_reset", began, err) }()

	if err := s.consumeOneTime(ctx, userID, secret, store.OneTimeReset, now); err != nil {
		s.audit(ctx, m, "password.reset_link", loggableID(userID), errorOutcome(err))
		return store.User{}, err
	}
	u, err := s.Store.GetUser(ctx, userID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.User{}, ErrInvalidToken
	case err != nil:
		return store.User{}, internal("redeem reset token", err)
	case u.Status == store.StatusDisabled:
		return store.User{}, ErrInvalidToken
	}
	// The link proves the mailbox, as a reset does: lift the login's lock and drop an email
	// change a session thief may have filed.
	s.unlockLogin(ctx, m, u.Login)
	if u.Status == store.StatusPending {
		// Whoever registered the address may not own it (an account squatted with someone
		// else's address, never confirmed). The link proves the owner: the account becomes
		// theirs, the registrant's password stops working and every session of the account
		// ends; the owner sets a password on the session the link opens.
		if _, ok := s.activatePending(ctx, m, u.ID, now); !ok {
			return store.User{}, internal("redeem reset token", errors.New("cannot activate the pending account"))
		}
		unusable, err := token.New()
		if err != nil {
			return store.User{}, internal("redeem reset token", err)
		}
		ended, err := s.setPassword(ctx, u.ID, unusable, "", now)
		if err != nil {
			return store.User{}, err
		}
		s.audit(ctx, m, "password.reset_link", u.ID, outcomeSuccess, slog.String("note", "pending account taken back"), sessionsEnded(ended))
		if u, err = s.Store.GetUser(ctx, u.ID); err != nil {
			return store.User{}, internal("redeem reset token", err)
		}
	}
	if cur, ok := s.cancelEmailChange(ctx, m, u.ID, now); ok {
		u = cur
	}
	s.audit(ctx, m, "password.reset_link", u.ID, outcomeSuccess)
	return u, nil
}

// PasswordChange is a change of password by a signed-in user.
type PasswordChange struct {
	// Current is the user's password: the proof a change needs, so that a session alone
	// (perhaps stolen) cannot lock the user out. When it is empty, the session's leave from a
	// reset link (SessionOptions.PasswordChangeWindow) is spent instead, if it has one.
	Current string
	// SessionSuffices lets the session alone change the password when Current is empty, as
	// devise does with check_current_password_before_update false. A Current given is still
	// checked.
	SessionSuffices bool
	New             string
}

// ChangePassword sets a new password for the authenticated user, ends every other session of
// the user (the current one stays) and mails the user a notice. The proof is the current
// password (a wrong one is ErrInvalidCredentials and counts against the brute-force limits
// like a failed login); without it, the session's unspent leave from a reset link, or nothing
// if c.SessionSuffices; otherwise the change is ErrPasswordRequired.
//
// Errors: *WeakPasswordError, ErrInvalidCredentials, ErrPasswordRequired, ErrInvalidToken
// (the session ended meanwhile), or internal.
func (s *Service) ChangePassword(ctx context.Context, m Meta, a Auth, c PasswordChange) (err error) {
	began, now := time.Now(), s.Now()
	defer func() { s.observe(m, "change_password", began, err) }()
	defer func() {
		if err != nil {
			s.audit(ctx, m, "password.change", a.User.ID, errorOutcome(err))
		}
	}()

	leave := c.Current == "" && !c.SessionSuffices
	switch {
	case c.Current != "":
		if err := s.confirmPassword(ctx, m, a.User.ID, c.Current, now); err != nil {
			return err
		}
	case leave && !now.Before(a.Session.PasswordChangeUntil):
		return ErrPasswordRequired
	}
	if err := s.Passwords.Policy().Check(c.New); err != nil {
		return &WeakPasswordError{Err: err}
	}
	if leave {
		// Spent before the change, atomically: of two racing changes on the leave, one wins.
		err := s.Store.SpendPasswordChange(ctx, a.Session.Ref(), now)
		switch {
		case errors.Is(err, store.ErrConflict):
			return ErrPasswordRequired
		case errors.Is(err, store.ErrNotFound):
			return ErrInvalidToken
		case err != nil:
			return internal("change password", err)
		}
	}
	ended, err := s.setPassword(ctx, a.User.ID, c.New, a.Session.ID, now)
	if err != nil {
		return err
	}
	s.audit(ctx, m, "password.change", a.User.ID, outcomeSuccess, sessionsEnded(ended), slog.Bool("reset_leave", leave))
	s.notifyPasswordChanged(ctx, m, a.User)
	return nil
}

// confirmPassword checks that pw is the password of the signed-in user userID, before a
// sensitive change: a session alone (perhaps stolen) must not be enough. The attempt is
// judged and counted like a login (guardFor): a wrong password is ErrInvalidCredentials and
// a failure against the limits, and while a lock holds, every attempt fails unhashed.
//
// Errors: ErrInvalidCredentials, ErrInvalidToken (the user no longer exists), or internal.
func (s *Service) confirmPassword(ctx context.Context, m Meta, userID, pw string, now time.Time) error {
	// The session check's user has no password hash (store.Sessions): read it now.
	u, err := s.Store.GetUser(ctx, userID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrInvalidToken
	case err != nil:
		return internal("confirm password", err)
	}
	login := store.NormalizeLogin(u.Login)
	defer s.serialize(login)()
	g := s.guardFor(login, m)
	locked, err := s.locked(ctx, g, now)
	switch {
	case err != nil:
		return err
	case locked:
		return ErrInvalidCredentials
	}
	reason, _, err := s.verify(ctx, m, u, u.PasswordHash != "", pw)
	if err != nil {
		return err
	}
	if reason != "" {
		if err := s.countFailure(ctx, m, g, u.ID, now); err != nil {
			return err
		}
		return ErrInvalidCredentials
	}
	return nil
}

// setPassword hashes pw and stores it, ending every session of the user but keep.
func (s *Service) setPassword(ctx context.Context, userID, pw, keep string, now time.Time) ([]string, error) {
	h, err := s.Passwords.Hash(ctx, pw)
	switch {
	case err != nil && isPolicy(err):
		return nil, &WeakPasswordError{Err: err}
	case err != nil:
		return nil, internal("set password", err)
	}
	ended, err := s.Store.SetPassword(ctx, userID, h, keep, now)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, ErrInvalidToken
	case err != nil:
		return nil, internal("set password", err)
	}
	return ended, nil
}
