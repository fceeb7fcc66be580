package password

import (
	"errors"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/config"
)

func TestPolicyCheck(t *testing.T) {
	p := Policy{MinLength: 8, MaxLength: 16}
	tests := []struct {
		name    string
		pw      string
		want    error
		message string
	}{
		{"ok", "abcdefgh", nil, ""},
		{"max bytes", strings.Repeat("a", 16), nil, ""},
		{"empty", "", ErrTooShort, "password is too short (minimum is 8 characters)"},
		{"seven", "abcdefg", ErrTooShort, "password is too short (minimum is 8 characters)"},
		// Eight characters but sixteen bytes: the minimum counts characters.
		{"eight runes", "üüüüüüüü", nil, ""},
		{"seven runes", "üüüüüüü", ErrTooShort, "password is too short (minimum is 8 characters)"},
		{"too long", strings.Repeat("a", 17), ErrTooLong, "password is too long (maximum is 16 bytes)"},
		// Nine characters but eighteen bytes: the maximum counts bytes.
		{"long in bytes", "üüüüüüüüü", ErrTooLong, "password is too long (maximum is 16 bytes)"},
		{"invalid utf-8", "abcdefg\xff", ErrNotUTF8, "password is not valid UTF-8 text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Check(tt.pw)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
			if err != nil && err.Error() != tt.message {
				t.Errorf("message = %q, want %q", err.Error(), tt.message)
			}
		})
	}
}

func TestPolicyFrom(t *testing.T) {
	if got, want := PolicyFrom(config.Passwords{}), (Policy{MinLength: 8, MaxLength: 256}); got != want {
		t.Errorf("PolicyFrom(zero) = %+v, want %+v", got, want)
	}
	if got, want := PolicyFrom(config.Passwords{MinLength: 12, MaxLength: 64}), (Policy{MinLength: 12, MaxLength: 64}); got != want {
		t.Errorf("PolicyFrom = %+v, want %+v", got, want)
	}
	if got, want := PolicyFrom(defaults()), (Policy{MinLength: 8, MaxLength: 256}); got != want {
		t.Errorf("PolicyFrom(config defaults) = %+v, want %+v", got, want)
	}
}
