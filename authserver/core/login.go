package core

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/latchauth/latch/authserver/password"
	"github.com/latchauth/latch/authserver/store"
)

// LoginRequest is a password login.
type LoginRequest struct {
	// Login is matched trimmed and case-insensitively.
	Login    string
	Password string
	// Session shapes the session a successful login creates.
	Session SessionOptions
}

// Login checks a login and password and creates a session. Every failure, whatever its
// cause (unknown login, wrong password, a lock, a disabled or pending account, a password
// changed meanwhile), is ErrInvalidCredentials. Every attempt that is not held back by a
// lock costs one argon2id verification (the user's hash, or the pool's dummy hash), so
// neither the answer nor its timing tells which logins exist; an attempt refused by a lock
// gets the same answer without hashing and is not counted, so a locked client can neither
// spend the hashing pool nor add to anyone's counters. The brute-force policy is guardFor's.
// A success returns a fresh device cookie for the login in Issued.Device.
//
// Other errors are internal (the store is unreachable, the pool is saturated): the dialect
// answers them with its internal error, and nothing is counted.
func (s *Service) Login(ctx context.Context, m Meta, req LoginRequest) (_ store.User, _ Issued, err error) {
	began, now := time.Now(), s.Now()
	defer func() { s.observe(m, "login", began, err) }()

	login := store.NormalizeLogin(req.Login)
	defer s.serialize(login)()
	g := s.guardFor(login, m)
	locked, err := s.locked(ctx, g, now)
	switch {
	case err != nil:
		return store.User{}, Issued{}, err
	case locked:
		s.audit(ctx, m, "login", "", "failure", slog.String("reason", "locked"))
		return store.User{}, Issued{}, ErrInvalidCredentials
	}

	var u store.User
	known := false
	u, err = s.Store.GetUserByLogin(ctx, login)
	switch {
	case err == nil:
		known = u.PasswordHash != ""
	case !errors.Is(err, store.ErrNotFound):
		return store.User{}, Issued{}, internal("login", err)
	}

	// Exactly one verification on every path past the lock, before any decision is visible.
	reason, rehash, err := s.verify(ctx, m, u, known, req.Password)
	if err != nil {
		return store.User{}, Issued{}, err
	}
	switch {
	case reason != "":
	case u.Status == store.StatusDisabled:
		reason = "disabled"
	case !s.MayLogIn(u):
		reason = "pending"
	}
	if reason != "" {
		return store.User{}, Issued{}, s.loginFailed(ctx, m, g, u.ID, reason, now)
	}

	issued, err := s.issue(ctx, m, u, req.Session)
	switch {
	case errors.Is(err, ErrDeviceLimit):
		s.audit(ctx, m, "login", u.ID, outcomeRefused, slog.String("reason", "device_limit"))
		return store.User{}, Issued{}, err
	case errors.Is(err, ErrUnknownClient):
		// The app client was deregistered while the password was being checked.
		s.audit(ctx, m, "login", u.ID, outcomeRefused, slog.String("reason", "unknown_client"))
		return store.User{}, Issued{}, err
	case errors.Is(err, store.ErrConflict):
		// The password changed between the check and the session: the one just checked is
		// no longer the user's.
		return store.User{}, Issued{}, s.loginFailed(ctx, m, g, u.ID, "password_changed", now)
	case err != nil:
		return store.User{}, Issued{}, err
	}
	s.clearFailures(ctx, m, g)
	if issued.Device, err = s.NewDeviceCookie(login); err != nil {
		// The session exists; the client only misses its device cookie this time.
		s.Logger.WarnContext(ctx, "cannot make a device cookie", "request_id", m.RequestID, "error", err)
	}
	if rehash {
		s.rehash(ctx, m, u, req.Password)
	}
	s.audit(ctx, m, "login", u.ID, outcomeSuccess, slog.String("session_id", issued.Session.ID))
	return u, issued, nil
}

// verify spends one password verification: against the user's hash when known, otherwise
// against the pool's dummy hash. It returns the failure reason ("" when the password
// matches) and whether the hash should be upgraded; err is set only for an internal failure.
func (s *Service) verify(ctx context.Context, m Meta, u store.User, known bool, pw string) (reason string, rehash bool, err error) {
	if known {
		rehash, err = s.Passwords.VerifyFloored(ctx, pw, u.PasswordHash, s.failureFloor)
		switch {
		case err == nil:
			return "", rehash, nil
		case errors.Is(err, password.ErrMismatch):
			return "wrong_password", false, nil
		case errors.Is(err, password.ErrMalformedHash):
			// A corrupt record must not answer faster than a real check, or be usable.
			s.Logger.ErrorContext(ctx, "stored password hash is malformed", "request_id", m.RequestID,
				"user_id", u.ID, "error", err)
		default:
			return "", false, internal("verify password", err)
		}
	}
	if err := s.Passwords.VerifyUnknownFloored(ctx, pw, s.failureFloor); !errors.Is(err, password.ErrMismatch) {
		return "", false, internal("verify password", err)
	}
	if u.ID != "" {
		return "no_usable_password", false, nil
	}
	return "unknown_login", false, nil
}

// failureFloor returns how long a failed check must take while users imported with another
// system's hashes have not all logged in (store.ImportedHashes): as long as a check of the
// costliest of those schemes, so that "wrong password" takes as long for a login that does
// not exist, or whose hash is argon2id, as for one whose hash is bcrypt. The pool asks it only
// after a mismatch, so a failed login pays the read and a successful one does not; with no
// imported hashes left it is 0.
func (s *Service) failureFloor(ctx context.Context) (password.Floor, error) {
	rec, err := s.Store.ImportedHashes(ctx)
	if err != nil {
		return 0, internal("read imported hashes", err)
	}
	if rec.Remaining <= 0 || len(rec.Twins) == 0 {
		return 0, nil
	}
	twins := make([]string, len(rec.Twins))
	for i, t := range rec.Twins {
		twins[i] = t.Hash
	}
	floor, err := s.Passwords.FloorOf(ctx, twins)
	if err != nil {
		return 0, internal("measure imported hashes", err)
	}
	return floor, nil
}

// loginFailed counts and audits a failed login and returns the one error every failure gets,
// or an internal error when the failure could not be counted.
func (s *Service) loginFailed(ctx context.Context, m Meta, g guard, userID, reason string, now time.Time) error {
	err := s.countFailure(ctx, m, g, userID, now)
	s.audit(ctx, m, "login", userID, "failure", slog.String("reason", reason))
	if err != nil {
		return err
	}
	return ErrInvalidCredentials
}

// rehash upgrades a user's hash to the current parameters after a successful login, without
// ending sessions (store.Users.RehashPassword). Failures are logged: the login has succeeded.
func (s *Service) rehash(ctx context.Context, m Meta, u store.User, pw string) {
	h, err := s.Passwords.Hash(ctx, pw)
	if err == nil {
		err = s.Store.RehashPassword(ctx, u.ID, u.PasswordHash, h)
	}
	switch {
	case errors.Is(err, store.ErrConflict):
		// The password changed, or a racing login upgraded it, since it was verified.
		s.Logger.DebugContext(ctx, "password hash changed meanwhile; not upgraded", "request_id", m.RequestID, "user_id", u.ID)
		return
	case err != nil:
		s.Logger.WarnContext(ctx, "cannot upgrade password hash", "request_id", m.RequestID, "user_id", u.ID, "error", err)
		return
	}
	if !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
		// One user fewer holds an imported hash; the store removes the record, and with it
		// every login's floor, when none is left.
		if err := s.Store.AddImportedHashes(ctx, -1, nil); err != nil {
			s.Logger.WarnContext(ctx, "cannot count an imported hash rehashed", "request_id", m.RequestID, "error", err)
		}
	}
	s.audit(ctx, m, "password.rehash", u.ID, outcomeSuccess)
}
