package token

import (
	"errors"
	"fmt"
	"strings"
)

// MaxClientIDLen bounds a client ID. Client IDs are chosen by people (a DeviceClient's name by
// default), so unlike user and session IDs they vary in length; 63 is a DNS label's limit.
const MaxClientIDLen = 63

// The exact or largest lengths of the composite tokens. Parsers refuse longer input before
// looking at it, so a hostile header costs no more than a valid one.
const (
	SessionTokenLen   = IDLen + 1 + IDLen + 1 + SecretLen
	UserTokenLen      = IDLen + 1 + SecretLen
	MaxDeviceTokenLen = MaxClientIDLen + 1 + SecretLen
)

const separator = "."

// ErrMalformed is returned, wrapped, for every token that does not parse. The wrapped message
// names what is wrong but never repeats the input, so it is safe to log.
var ErrMalformed = errors.New("malformed token")

// SessionToken is `<userID>.<sessionID>.<secret>`: the IDs route the lookup, the secret
// authenticates it.
type SessionToken struct {
	UserID    string
	SessionID string
	Secret    string
}

// String formats the token for the client.
func (t SessionToken) String() string {
	return t.UserID + separator + t.SessionID + separator + t.Secret
}

// ParseSessionToken parses a session token strictly: exactly three parts, two canonical IDs and
// a canonical secret.
func ParseSessionToken(s string) (SessionToken, error) {
	var t SessionToken
	if len(s) != SessionTokenLen {
		// Every valid session token has exactly this length; reporting "too long" or "too
		// short" would tell a prober nothing more useful than "malformed".
		return t, fmt.Errorf("%w: must be %d bytes long", ErrMalformed, SessionTokenLen)
	}
	parts, err := split(s, 3)
	if err != nil {
		return t, err
	}
	switch {
	case !ValidID(parts[0]):
		return t, invalid("user ID")
	case !ValidID(parts[1]):
		return t, invalid("session ID")
	case !ValidSecret(parts[2]):
		return t, invalid("secret")
	}
	return SessionToken{UserID: parts[0], SessionID: parts[1], Secret: parts[2]}, nil
}

// UserToken is `<userID>.<secret>`: a one-time confirmation (activation) or reset token.
type UserToken struct {
	UserID string
	Secret string
}

// String formats the token for the client.
func (t UserToken) String() string { return t.UserID + separator + t.Secret }

// ParseUserToken parses a one-time token strictly: exactly two parts, a canonical user ID and a
// canonical secret.
func ParseUserToken(s string) (UserToken, error) {
	var t UserToken
	if len(s) != UserTokenLen {
		return t, fmt.Errorf("%w: must be %d bytes long", ErrMalformed, UserTokenLen)
	}
	parts, err := split(s, 2)
	if err != nil {
		return t, err
	}
	switch {
	case !ValidID(parts[0]):
		return t, invalid("user ID")
	case !ValidSecret(parts[1]):
		return t, invalid("secret")
	}
	return UserToken{UserID: parts[0], Secret: parts[1]}, nil
}

// DeviceToken is `<clientID>.<secret>`: the token the operator mints for a DeviceClient of type
// device. It is looked up by its client ID and the hash of its secret: the ID routes the lookup
// to the client's registrations, so a token can only ever match the client it names.
type DeviceToken struct {
	ClientID string
	Secret   string
}

// String formats the token for the client.
func (t DeviceToken) String() string { return t.ClientID + separator + t.Secret }

// ParseDeviceToken parses a device token strictly: exactly two parts, a valid client ID and a
// canonical secret.
func ParseDeviceToken(s string) (DeviceToken, error) {
	var t DeviceToken
	if len(s) > MaxDeviceTokenLen {
		return t, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxDeviceTokenLen)
	}
	parts, err := split(s, 2)
	if err != nil {
		return t, err
	}
	switch {
	case !ValidClientID(parts[0]):
		return t, invalid("client ID")
	case !ValidSecret(parts[1]):
		return t, invalid("secret")
	}
	return DeviceToken{ClientID: parts[0], Secret: parts[1]}, nil
}

// ValidClientID reports whether s can name a client inside a token: 1 to MaxClientIDLen
// characters of the base64url alphabet (letters, digits, '-' and '_'). The dot is excluded
// because it separates the parts of a token; the DeviceClient API must validate clientID with
// the same rule (^[A-Za-z0-9_-]{1,63}$).
func ValidClientID(s string) bool {
	return len(s) >= 1 && len(s) <= MaxClientIDLen && isBase64URL(s)
}

// split cuts s at dots into exactly n parts. It never allocates more than n strings, whatever
// the input holds.
func split(s string, n int) ([]string, error) {
	if strings.Count(s, separator) != n-1 {
		return nil, fmt.Errorf("%w: must have %d dot-separated parts", ErrMalformed, n)
	}
	return strings.SplitN(s, separator, n), nil
}

func invalid(part string) error { return fmt.Errorf("%w: %s is not valid", ErrMalformed, part) }
