package password

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/latchauth/latch/authserver/config"
)

// Policy defaults, the same as the config's.
const (
	DefaultMinLength = 8
	DefaultMaxLength = 256
)

// The policy's refusals. Check wraps them in a message fit for a 422 response, such as
// "password is too short (minimum is 8 characters)".
var (
	ErrTooShort = errors.New("password is too short")
	ErrTooLong  = errors.New("password is too long")
	// ErrNotUTF8 refuses bytes that are not text: a JSON client would send the same keystrokes
	// as U+FFFD, so such a password could never be typed again.
	ErrNotUTF8 = errors.New("password is not valid UTF-8 text")
)

// Policy is what a new password must satisfy.
type Policy struct {
	// MinLength is counted in characters (runes), so "ü" counts once as a user would count it.
	MinLength int
	// MaxLength is counted in bytes, the unit hashing cost and request size are paid in. A
	// longer password is refused, never truncated: truncation would silently make two
	// passwords with a common prefix equal.
	MaxLength int
}

// PolicyFrom reads the policy from the config, with the defaults for unset fields.
func PolicyFrom(c config.Passwords) Policy {
	p := Policy{MinLength: c.MinLength, MaxLength: c.MaxLength}
	if p.MinLength <= 0 {
		p.MinLength = DefaultMinLength
	}
	if p.MaxLength <= 0 {
		p.MaxLength = DefaultMaxLength
	}
	return p
}

// Check returns nil if password may be set, or an error wrapping ErrTooShort, ErrTooLong or
// ErrNotUTF8 whose message says what is wrong. The message never contains the password.
func (p Policy) Check(password string) error {
	// Bytes first: a huge input is refused before it is walked rune by rune.
	if len(password) > p.MaxLength {
		return fmt.Errorf("%w (maximum is %d bytes)", ErrTooLong, p.MaxLength)
	}
	if !utf8.ValidString(password) {
		return ErrNotUTF8
	}
	if n := utf8.RuneCountInString(password); n < p.MinLength {
		return fmt.Errorf("%w (minimum is %d characters)", ErrTooShort, p.MinLength)
	}
	return nil
}
