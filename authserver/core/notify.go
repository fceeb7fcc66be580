package core

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/latchauth/latch/authserver/mail"
	"github.com/latchauth/latch/authserver/store"
)

// send queues msg, or logs why it could not be built or queued. Notices never fail the change
// they report: it has happened.
func (s *Service) send(ctx context.Context, m Meta, userID, what string, msg mail.Message, err error) {
	if err == nil {
		err = s.Mailer.Send(ctx, msg)
	}
	if err != nil {
		s.Logger.ErrorContext(ctx, "cannot send "+what+" mail", "request_id", m.RequestID, "user_id", userID, "error", err)
	}
}

// notifyPasswordChanged mails u that their password was changed or reset.
func (s *Service) notifyPasswordChanged(ctx context.Context, m Meta, u store.User) {
	to := mailAddress(u)
	if to == "" {
		return
	}
	msg, err := s.Composer.PasswordChanged(to, u.Login)
	s.send(ctx, m, u.ID, "password change notice", msg, err)
}

// afterReset cancels the user's email change waiting for confirmation, if any, and mails the
// notice of the new password. Failures are logged: the reset has happened.
func (s *Service) afterReset(ctx context.Context, m Meta, userID string, now time.Time) {
	if u, ok := s.cancelEmailChange(ctx, m, userID, now); ok {
		s.notifyPasswordChanged(ctx, m, u)
	}
}

// cancelEmailChange drops the user's email change waiting for confirmation, if any, when the
// holder of the current address proves it (a reset link), and returns the user. Failures are
// logged (ok false).
func (s *Service) cancelEmailChange(ctx context.Context, m Meta, userID string, now time.Time) (store.User, bool) {
	u, err := s.Store.UpdateUser(ctx, userID, now, func(u store.User) (store.User, error) {
		if u.UnconfirmedEmail == "" {
			return u, errNothingPending
		}
		u.UnconfirmedEmail = ""
		return u, nil
	})
	switch {
	case errors.Is(err, errNothingPending):
		u, err = s.Store.GetUser(ctx, userID)
	case err == nil:
		s.audit(ctx, m, "email.change_cancelled", userID, outcomeSuccess, slog.String("reason", "password_reset"))
	}
	if err != nil {
		s.Logger.ErrorContext(ctx, "cannot finish a password reset", "request_id", m.RequestID, "user_id", userID, "error", err)
		return store.User{}, false
	}
	return u, true
}

// errNothingPending stops an update that would change nothing.
var errNothingPending = errors.New("no email change is pending")
