package core

import (
	"errors"
	"fmt"
)

// The errors a dialect maps to its responses. Anything else a Service method returns is an
// internal error (the store is unreachable, the password pool is saturated): the dialect
// answers it with its internal-error response and never with a success. Fail closed.
var (
	// ErrInvalidCredentials is every failed login: unknown login, wrong password, locked by
	// the brute-force limits, disabled account. One error for all, so no dialect can tell
	// them apart by accident.
	ErrInvalidCredentials = errors.New("invalid login or password")
	// ErrInvalidToken is a session token, or a reset or confirmation token, that does not
	// authenticate: malformed, unknown, expired, spent, or belonging to a disabled user.
	ErrInvalidToken = errors.New("invalid or expired token")
	// ErrRegistrationClosed refuses every registration (config registration.closed).
	ErrRegistrationClosed = errors.New("registration is closed")
	// ErrLoginTaken refuses a registration whose login another user holds. Its message does
	// not say "exists": dialects that may show it reveal no more than their contract forces.
	ErrLoginTaken = errors.New("this login cannot be registered")
	// ErrDeviceLimit refuses a new session past the dialect's device limit (policy DenyNew).
	ErrDeviceLimit = errors.New("too many active sessions")
	// ErrUnknownClient refuses a session for an app client that is not registered (any more)
	// when SessionOptions.RequireRegisteredClient asks for one.
	ErrUnknownClient = errors.New("unknown client")
	// ErrInvalidInput marks a FieldError: a registration field the server refuses as given.
	ErrInvalidInput = errors.New("invalid input")
	// ErrWeakPassword marks a WeakPasswordError: a new password the policy refuses.
	ErrWeakPassword = errors.New("password refused by the policy")
	// ErrRateLimited refuses a request past one of the realm's rate limits (registration,
	// reset request, confirmation mail) until the window ends: dialects answer 429, or what
	// their contract has instead.
	ErrRateLimited = errors.New("too many requests, try again later")
	// ErrPasswordRequired refuses a sensitive change (the password, the email) asked for
	// without the current password, on a session that may not make it alone. Nothing was
	// guessed, so nothing is counted against the brute-force limits.
	ErrPasswordRequired = errors.New("the current password is required")
)

// FieldError says which input field is refused and why. Its message names the field and
// never repeats the value.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + " " + e.Reason }

// Is makes errors.Is(err, ErrInvalidInput) true.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidInput }

// WeakPasswordError wraps the password policy's refusal (password.ErrTooShort, ErrTooLong,
// ErrNotUTF8). Its message is the policy's, fit to show a user: "password is too short
// (minimum is 8 characters)".
type WeakPasswordError struct{ Err error }

func (e *WeakPasswordError) Error() string { return e.Err.Error() }

// Unwrap returns the policy's error.
func (e *WeakPasswordError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrWeakPassword) true.
func (e *WeakPasswordError) Is(target error) bool { return target == ErrWeakPassword }

// internal wraps an unexpected error with the operation's name.
func internal(op string, err error) error { return fmt.Errorf("%s: %w", op, err) }
