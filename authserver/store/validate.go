package store

import (
	"strings"
	"time"
)

// Limits on caller-supplied strings. They keep keys and records small and refuse input that a
// backend would have to escape.
const (
	// MaxIDLen bounds IDs and token hashes (a 32-byte hash in base64url is 43 characters).
	MaxIDLen = 128
	// MaxClientIDLen bounds client IDs (a Kubernetes object name).
	MaxClientIDLen = 253
	// MaxLoginLen bounds a login in bytes (an email address is at most 254).
	MaxLoginLen = 320
	// MaxLabelLen bounds dialect names, client names, reasons and brute-force subjects.
	MaxLabelLen = 256
)

// ValidID reports whether s can be a user or session ID or a token hash: 1 to MaxIDLen
// characters of the base64url alphabet (hex digests qualify too). Backends build keys from
// these, so nothing else is accepted.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIDByte(s[i]) {
			return false
		}
	}
	return true
}

// ValidClientID reports whether s can be a client ID: 1 to MaxClientIDLen characters of
// letters, digits, '-', '_' and '.' (every Kubernetes object name qualifies).
func ValidClientID(s string) bool {
	if len(s) == 0 || len(s) > MaxClientIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isIDByte(c) && c != '.' {
			return false
		}
	}
	return true
}

func isIDByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// validLabel accepts short printable strings without whitespace or braces (braces would
// change a Redis Cluster hash tag if the label ever became part of a key).
func validLabel(s string) bool {
	if len(s) == 0 || len(s) > MaxLabelLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '{' || c == '}' {
			return false
		}
	}
	return true
}

// ValidRef reports whether both IDs of ref are well formed. A malformed reference cannot name
// a stored session, so authenticating methods answer it like a wrong token.
func ValidRef(ref SessionRef) bool { return ValidID(ref.UserID) && ValidID(ref.SessionID) }

// Validate checks a user record before it is stored.
func (u User) Validate() error {
	switch login := NormalizeLogin(u.Login); {
	case !ValidID(u.ID):
		return invalidArg("user ID %q is malformed", u.ID)
	case login == "":
		return invalidArg("user %s has an empty login", u.ID)
	case len(login) > MaxLoginLen:
		return invalidArg("user %s has a login longer than %d bytes", u.ID, MaxLoginLen)
	case u.Status < StatusPending || u.Status > StatusDisabled:
		return invalidArg("user %s has unknown status %d", u.ID, u.Status)
	case len(u.UnconfirmedEmail) > MaxLoginLen:
		return invalidArg("user %s has an unconfirmed email longer than %d bytes", u.ID, MaxLoginLen)
	}
	return nil
}

// Validate checks a session creation request.
func (r NewSession) Validate() error {
	s := r.Session
	switch {
	case r.Now.IsZero():
		return invalidArg("session %s: now is not set", s.ID)
	case !ValidID(s.ID) || !ValidID(s.UserID):
		return invalidArg("session %q of user %q: malformed ID", s.ID, s.UserID)
	case !validLabel(s.Dialect):
		return invalidArg("session %s: malformed dialect %q", s.ID, s.Dialect)
	case len(s.ClientName) > MaxLabelLen:
		return invalidArg("session %s: client name longer than %d bytes", s.ID, MaxLabelLen)
	case len(s.ClientIP) > MaxLabelLen:
		return invalidArg("session %s: client address longer than %d bytes", s.ID, MaxLabelLen)
	case len(s.UserAgent) > MaxUserAgentBytes:
		return invalidArg("session %s: user agent longer than %d bytes", s.ID, MaxUserAgentBytes)
	case r.RequireRegisteredClient && !r.TrackClient:
		return invalidArg("session %s: a registered client is required only of a tracked session", s.ID)
	case r.TrackClient && !ValidClientID(s.ClientName):
		return invalidArg("session %s: a tracked session needs a client ID, not %q", s.ID, s.ClientName)
	case !ValidID(s.TokenHash):
		return invalidArg("session %s: malformed token hash", s.ID)
	case s.RefreshHash != "" && !ValidID(s.RefreshHash):
		return invalidArg("session %s: malformed refresh hash", s.ID)
	case s.PreviousTokenHash != "" || len(s.SpentRefreshHashes) > 0:
		return invalidArg("session %s: a new session has no previous or spent tokens", s.ID)
	case !s.ExpiresAt.After(r.Now):
		return invalidArg("session %s: expiry %s is not after now", s.ID, s.ExpiresAt)
	case !s.TokenExpiresAt.IsZero() && !s.TokenExpiresAt.After(r.Now):
		return invalidArg("session %s: token expiry %s is not after now", s.ID, s.TokenExpiresAt)
	case !s.PasswordChangeUntil.IsZero() && !s.PasswordChangeUntil.After(r.Now):
		return invalidArg("session %s: password change allowed until %s, not after now", s.ID, s.PasswordChangeUntil)
	case s.IdleTimeout < 0:
		return invalidArg("session %s: negative idle timeout", s.ID)
	case r.Limit.Max < 0:
		return invalidArg("session %s: negative device limit", s.ID)
	case r.Limit.Policy != EvictOldest && r.Limit.Policy != DenyNew:
		return invalidArg("session %s: unknown device policy %d", s.ID, r.Limit.Policy)
	}
	return nil
}

// Validate checks the caller's part of a rotation request; the client's part (the reference
// and the presented hash) is checked by ValidRef and ValidID and answered with ErrInvalidToken.
func (r Rotation) Validate() error {
	switch {
	case r.Now.IsZero():
		return invalidArg("rotation: now is not set")
	case !ValidID(r.SuccessorHash):
		return invalidArg("rotation: malformed successor hash")
	case r.Buffer < 0:
		return invalidArg("rotation: negative buffer")
	}
	return nil
}

// Validate checks the caller's part of a refresh request.
func (r Refresh) Validate() error {
	switch {
	case r.Now.IsZero():
		return invalidArg("refresh: now is not set")
	case !ValidID(r.NewTokenHash) || !ValidID(r.NewRefreshHash):
		return invalidArg("refresh: malformed new token or refresh hash")
	case r.NewRefreshHash == r.PresentedRefreshHash:
		return invalidArg("refresh: the new refresh hash equals the presented one")
	case !r.TokenExpiresAt.IsZero() && !r.TokenExpiresAt.After(r.Now):
		return invalidArg("refresh: token expiry %s is not after now", r.TokenExpiresAt)
	}
	return nil
}

// ValidKind reports whether k can name a one-time token kind: 1 to 32 lower-case letters.
func ValidKind(k OneTimeKind) bool {
	if len(k) == 0 || len(k) > 32 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 'a' || k[i] > 'z' {
			return false
		}
	}
	return true
}

// Validate checks a one-time token before it is stored.
func (t OneTimeToken) Validate(now time.Time) error {
	switch {
	case !ValidID(t.UserID):
		return invalidArg("one-time token: malformed user ID %q", t.UserID)
	case !ValidKind(t.Kind):
		return invalidArg("one-time token: malformed kind %q", t.Kind)
	case !ValidID(t.Hash):
		return invalidArg("one-time token: malformed hash")
	case !t.ExpiresAt.After(now):
		return invalidArg("one-time token: expiry %s is not after now", t.ExpiresAt)
	case t.Keep < 0 || t.Keep > MaxLiveOneTimeTokens:
		return invalidArg("one-time token: Keep %d is not between 0 and %d", t.Keep, MaxLiveOneTimeTokens)
	}
	return nil
}

// Valid reports whether subj names a counter: a known kind and a short value without
// whitespace or braces.
func (s Subject) Valid() bool {
	return s.Kind >= SubjectLogin && s.Kind <= SubjectRate && validLabel(s.Value)
}

// Validate checks a brute-force policy.
func (l BruteForceLimit) Validate() error {
	if l.MaxFailures < 1 || l.Window <= 0 || l.Lockout <= 0 || l.Delay < 0 || l.FreeFailures < 0 {
		return invalidArg("brute-force limit needs MaxFailures >= 1, positive Window and Lockout, and no negative Delay or FreeFailures, got %+v", l)
	}
	return nil
}

// ValidReason reports whether r can be recorded with a revocation.
func ValidReason(r Reason) bool { return validLabel(string(r)) }

// Validate checks an app client before it is stored.
func (c AppClient) Validate() error {
	if !ValidClientID(c.ID) {
		return invalidArg("app client: malformed ID %q", c.ID)
	}
	return validRoles(c.Roles)
}

// Validate checks a device token registration before it is stored.
func (t DeviceToken) Validate(now time.Time) error {
	switch {
	case !ValidID(t.Hash):
		return invalidArg("device token: malformed hash")
	case !ValidClientID(t.ClientID):
		return invalidArg("device token: malformed client ID %q", t.ClientID)
	case len(t.DeviceID) > MaxLabelLen:
		return invalidArg("device token of %s: device ID longer than %d bytes", t.ClientID, MaxLabelLen)
	case !t.ExpiresAt.After(now):
		return invalidArg("device token of %s: expiry %s is not after now", t.ClientID, t.ExpiresAt)
	}
	return validRoles(t.Roles)
}

func validRoles(roles []string) error {
	for _, r := range roles {
		if r == "" || len(r) > MaxLabelLen || strings.ContainsAny(r, "\x00") {
			return invalidArg("malformed role %q", r)
		}
	}
	return nil
}
