package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Backends return them wrapped; test with errors.Is.
var (
	// ErrNotFound: the record does not exist or has expired.
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists: the ID or the login is taken.
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrConflict: a precondition no longer holds (the record changed under the caller: a
	// password changed between its verification and the session's creation, or an update lost
	// every optimistic retry). Retrying the whole request may succeed.
	ErrConflict = errors.New("store: conflicting concurrent change")
	// ErrInvalidToken: the presented token (or refresh token, or one-time token) does not
	// authenticate: the session is missing or expired, or the hash does not match.
	ErrInvalidToken = errors.New("store: invalid or expired token")
	// ErrDeviceLimit: the user already holds the maximum number of sessions of the dialect and
	// the policy is DenyNew.
	ErrDeviceLimit = errors.New("store: device limit reached")
	// ErrUnknownClient: a session that must belong to a registered app client
	// (NewSession.RequireRegisteredClient) names a client that is not registered.
	ErrUnknownClient = errors.New("store: client not registered")
	// ErrInvalidArgument: the caller passed a record the store refuses (a malformed ID, a
	// missing expiry). It is a programming error, never a client's.
	ErrInvalidArgument = errors.New("store: invalid argument")
	// ErrUnavailable wraps every backend outage (connection refused, timeout, cluster down, a
	// closed store). Callers must fail closed on it: it never means "not found", and no
	// operation that returned it has deleted or shortened anything it was not asked to.
	ErrUnavailable = errors.New("store: backend unavailable")
)

// ErrTokenReused is returned when a spent refresh token is presented again. The session it
// belonged to has been revoked in the same step (reuse detection: either the client or a thief
// holds a copy, and the store cannot tell which). It wraps ErrInvalidToken, so a caller that
// only maps ErrInvalidToken to 401 handles it correctly.
var ErrTokenReused = fmt.Errorf("%w: spent refresh token presented again, session revoked", ErrInvalidToken)

// invalidArg formats an ErrInvalidArgument.
func invalidArg(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
}
