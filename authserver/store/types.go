package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// UserStatus is a user's lifecycle state; its numbers are the account dialect's wire values.
type UserStatus int

// The user statuses.
const (
	StatusPending  UserStatus = 0 // registered, email not yet confirmed
	StatusActive   UserStatus = 1
	StatusDisabled UserStatus = 2
)

// User is one account, shared by every dialect.
type User struct {
	ID string
	// Login is kept as the user typed it (trimmed); it is unique and matched through
	// NormalizeLogin. Dialects whose login is an email set Login and Email to the same value.
	Login     string
	Email     string
	FirstName string
	LastName  string
	Role      string
	Status    UserStatus
	// UnconfirmedEmail is an address the user asked to move their email and login to, not yet
	// confirmed from a mail sent to it (devise's unconfirmed_email). It is not indexed: the
	// login moves only when the confirmation claims it (UpdateUser). Empty: none pending.
	UnconfirmedEmail string
	// PasswordHash is the encoded argon2id hash; empty for a user who cannot log in with a
	// password. It changes only through SetPassword, which ends the user's other sessions.
	PasswordHash      string
	CreatedAt         time.Time
	UpdatedAt         time.Time
	PasswordChangedAt time.Time
}

// NormalizeLogin returns the form logins are indexed and compared in: trimmed and lower-cased,
// so "  Alice@Example.com" and "alice@example.com" are one login.
func NormalizeLogin(login string) string { return strings.ToLower(strings.TrimSpace(login)) }

// SessionRef names a session. Session tokens carry both IDs (DESIGN.md), so every lookup goes
// straight to the user's hash slot.
type SessionRef struct {
	UserID    string
	SessionID string
}

// Session is one logged-in client of a user in one dialect.
type Session struct {
	ID     string
	UserID string
	// Dialect names the protocol that created the session; device limits count per dialect.
	Dialect string
	// ClientName is the dialect's client label (devise's "client", keyToken's app client).
	ClientName string
	// TokenHash is the hash of the current token.
	TokenHash string
	// PreviousTokenHash is the token replaced by the last rotation; it authenticates until
	// PreviousValidUntil (the batch buffer), never after.
	PreviousTokenHash  string
	PreviousValidUntil time.Time
	// RotatedAt is when TokenHash was issued (creation, rotation or refresh).
	RotatedAt time.Time
	// TokenExpiresAt, when set, ends the current token before the session itself: keyToken's
	// short access tokens live inside a long refresh session.
	TokenExpiresAt time.Time
	// RefreshHash is the hash of the current refresh token (keyToken); empty if none.
	RefreshHash string
	// SpentRefreshHashes are refresh tokens already exchanged, newest first, at most
	// MaxSpentRefreshHashes. Presenting one again revokes the session.
	SpentRefreshHashes []string
	CreatedAt          time.Time
	LastSeenAt         time.Time
	// IdleTimeout ends the session when unused for this long; zero disables it. Every
	// successful validation, rotation, refresh or touch slides it.
	IdleTimeout time.Duration
	// ExpiresAt is the absolute end of the session, whatever its use. Required.
	ExpiresAt time.Time
	// PasswordChangeUntil, when set, lets the session change the user's password without the
	// current one until then, once (devise's allow_password_change after a reset link):
	// SpendPasswordChange clears it. Zero: never.
	PasswordChangeUntil time.Time
	// ClientIP and UserAgent are where the session was created from (at most
	// MaxUserAgentBytes of the User-Agent), for the user's and the admin's session lists.
	// Session checks never read them.
	ClientIP  string
	UserAgent string
}

// MaxUserAgentBytes bounds the User-Agent a session keeps: enough to tell browsers and
// devices apart, not a place to store a client's megabyte header.
const MaxUserAgentBytes = 256

// MaxSpentRefreshHashes bounds the spent-refresh list of a session, so a session refreshed
// hourly for weeks stays small. Reuse of an older refresh token is still refused, just as
// an unknown token rather than as detected reuse.
const MaxSpentRefreshHashes = 32

// Ref returns the session's reference.
func (s Session) Ref() SessionRef { return SessionRef{UserID: s.UserID, SessionID: s.ID} }

// Deadline is when the session ends if nothing touches it again: the earlier of its absolute
// expiry and the end of its idle window.
func (s Session) Deadline() time.Time {
	d := s.ExpiresAt
	if s.IdleTimeout > 0 {
		if idle := s.LastSeenAt.Add(s.IdleTimeout); idle.Before(d) {
			d = idle
		}
	}
	return d
}

// Live reports whether the session is still usable at now.
func (s Session) Live(now time.Time) bool { return now.Before(s.Deadline()) }

// DevicePolicy says what CreateSession does when a user already holds the maximum number of
// sessions of a dialect.
type DevicePolicy int

// The device policies.
const (
	// EvictOldest ends the user's oldest sessions of the dialect to make room (devise's way).
	EvictOldest DevicePolicy = iota
	// DenyNew refuses the new session with ErrDeviceLimit.
	DenyNew
)

// DeviceLimit bounds the live sessions a user holds in one dialect.
type DeviceLimit struct {
	// Max is the number of live sessions allowed; zero means no limit.
	Max    int
	Policy DevicePolicy
}

// NewSession is a CreateSession request.
type NewSession struct {
	// Session is the session to create. ID, UserID, Dialect, TokenHash and ExpiresAt are
	// required; CreatedAt, LastSeenAt and RotatedAt are set to Now; the previous-token and
	// spent-refresh fields must be empty.
	Session Session
	Limit   DeviceLimit
	// PasswordChangedAt, when set, is the User.PasswordChangedAt the caller verified the
	// password against. If the password has changed since, nothing is created and
	// ErrConflict is returned, so a login that raced a reset cannot outlive it.
	PasswordChangedAt time.Time
	// TrackClient also files the session under its ClientName, which must then be a valid
	// client ID, so that RevokeClientSessions ends it when that client is deregistered.
	// keyToken sets it: its sessions belong to a registered app client.
	TrackClient bool
	// RequireRegisteredClient, with TrackClient, makes the session's creation fail with
	// ErrUnknownClient unless ClientName is a registered app client at the moment the session
	// is filed. A login checks the client before hashing the password, which can take a while
	// under load; checked again here, a login racing the client's deregistration cannot open a
	// session after the deregistration's RevokeClientSessions has run, but within one round trip.
	RequireRegisteredClient bool
	Now                     time.Time
}

// Rotation is a RotateSession request: the devise validate-and-rotate step (DESIGN.md).
type Rotation struct {
	Ref SessionRef
	// PresentedHash is hash(presented token); SuccessorHash is hash(successor(presented)).
	PresentedHash string
	SuccessorHash string
	// Buffer is the batch-request window: inside it the current token is echoed instead of
	// rotated, and the previous token still authenticates.
	Buffer time.Duration
	// Dialect, when set, is the only dialect whose sessions this rotation may touch: a session
	// of another dialect is refused (ErrInvalidToken) in the same step, unchanged, so a token
	// presented to the wrong dialect is never rotated under its holder.
	Dialect string
	Now     time.Time
}

// RotationOutcome says which token the caller hands back.
type RotationOutcome int

// The rotation outcomes.
const (
	// Rotated: the presented token was current and has just been replaced by its successor.
	Rotated RotationOutcome = iota + 1
	// Echoed: the presented token is current and was issued inside the buffer; hand it back
	// unchanged (never a blank header).
	Echoed
	// PreviousInBuffer: the presented token was replaced inside the buffer by a racing
	// request; its successor is current, hand that back.
	PreviousInBuffer
)

// ReturnsSuccessor reports whether the caller answers with successor(presented) rather than
// the presented token itself.
func (o RotationOutcome) ReturnsSuccessor() bool { return o == Rotated || o == PreviousInBuffer }

// String names the outcome for logs and metrics.
func (o RotationOutcome) String() string {
	switch o {
	case Rotated:
		return "rotated"
	case Echoed:
		return "echoed"
	case PreviousInBuffer:
		return "previous-in-buffer"
	}
	return "unknown"
}

// RotationResult is everything a dialect needs after RotateSession, in the same round trip.
type RotationResult struct {
	Outcome RotationOutcome
	Session Session
	User    User
}

// Refresh is a RefreshSession request: keyToken's refresh-token exchange.
type Refresh struct {
	Ref                  SessionRef
	PresentedRefreshHash string
	// NewTokenHash and NewRefreshHash replace the session's token and refresh token.
	NewTokenHash   string
	NewRefreshHash string
	// TokenExpiresAt is the new access token's expiry; zero lets it live as long as the session.
	TokenExpiresAt time.Time
	Now            time.Time
}

// OneTimeKind names a one-time token's purpose. A user has at most one outstanding token
// per kind; issuing another replaces it.
type OneTimeKind string

// The one-time token kinds.
const (
	// OneTimeReset is a password-reset token. SetPassword also cancels it.
	OneTimeReset OneTimeKind = "reset"
	// OneTimeConfirm is an email-confirmation (activation) token.
	OneTimeConfirm OneTimeKind = "confirm"
)

// OneTimeToken is an outstanding single-use token.
type OneTimeToken struct {
	UserID    string
	Kind      OneTimeKind
	Hash      string
	ExpiresAt time.Time
	// Keep is how many live tokens of the kind the user may hold with this one: 0 or 1
	// replaces the others; more keeps the newest Keep-1 alive beside it (at most
	// MaxLiveOneTimeTokens), so a stranger asking for reset links again and again cannot void
	// the one the user is about to click. Spending one spends them all.
	Keep int
}

// MaxLiveOneTimeTokens bounds OneTimeToken.Keep.
const MaxLiveOneTimeTokens = 16

// SubjectKind says what a brute-force counter counts failures of.
type SubjectKind int

// The brute-force subject kinds.
const (
	// SubjectLogin counts a login's failures from clients that hold no device cookie for it.
	SubjectLogin SubjectKind = iota + 1
	// SubjectIP counts a client address's failures, whatever the login (IPv6 per /64).
	SubjectIP
	// SubjectLoginIP counts the failures of one login from one address (IPv6 per /64).
	SubjectLoginIP
	// SubjectDevice counts the failures of one device cookie (a client that signed in before).
	SubjectDevice
	// SubjectRate counts requests of one rate-limited action per address or per login.
	SubjectRate
)

// Subject is what a brute-force counter is kept for. Build it with LoginSubject, IPSubject,
// LoginIPSubject, DeviceSubject or RateSubject.
type Subject struct {
	Kind  SubjectKind
	Value string
}

// LoginSubject is the counter of a login, whether or not a user holds it (counting unknown
// logins too keeps lockouts from revealing which logins exist). The login is normalized and
// hashed, so backends never store login names in counter keys.
func LoginSubject(login string) Subject {
	return Subject{Kind: SubjectLogin, Value: digest(NormalizeLogin(login))}
}

// IPSubject is the counter of a client address (already resolved through trusted proxies).
// An IPv6 address is counted as its /64: one host is usually given a whole /64, so counting
// single addresses would let it rotate through 2^64 of them.
func IPSubject(ip string) Subject { return Subject{Kind: SubjectIP, Value: AddressBlock(ip)} }

// LoginIPSubject is the counter of one login tried from one address (IPv6 per /64).
func LoginIPSubject(login, ip string) Subject {
	return Subject{Kind: SubjectLoginIP, Value: digest(NormalizeLogin(login) + "\x00" + AddressBlock(ip))}
}

// DeviceSubject is the counter of a device cookie, named by an identifier derived from it
// (never the cookie itself).
func DeviceSubject(id string) Subject { return Subject{Kind: SubjectDevice, Value: id} }

// RateSubject is the counter of a rate-limited action ("register", "forgot", ...) for one key:
// an address (IPv6 per /64) or a login. The key is hashed, so logins never appear in keys.
func RateSubject(action, key string) Subject {
	return Subject{Kind: SubjectRate, Value: action + "." + digest(key)}
}

// AddressBlock returns the form an address is counted under: an IPv4 address as it is, an
// IPv6 address as its /64 ("2001:db8:1:2::/64"). Anything that does not parse is returned
// unchanged (the "unknown" address of a request without one).
func AddressBlock(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// BruteForceLimit is the policy RecordFailure applies.
type BruteForceLimit struct {
	// MaxFailures within Window lock the subject for Lockout.
	MaxFailures int
	Window      time.Duration
	Lockout     time.Duration
	// Delay, when set, slows a subject down before it is locked: after more than
	// FreeFailures failures in the window, the n-th failure locks it for
	// Delay × 2^(n-FreeFailures-1), at most Lockout, so a client that mistypes a few times
	// waits seconds while a guesser's rate falls off fast. The count is kept meanwhile.
	Delay        time.Duration
	FreeFailures int
}

// DelayAfter is how long the n-th failure in a window holds the subject back (zero: not at
// all); the MaxFailures-th locks it for Lockout instead.
func (l BruteForceLimit) DelayAfter(n int) time.Duration {
	if l.Delay <= 0 || n <= l.FreeFailures {
		return 0
	}
	d := l.Delay
	for i := l.FreeFailures + 1; i < n && d < l.Lockout; i++ {
		d *= 2
	}
	return min(d, l.Lockout)
}

// Lockout is a subject's brute-force state.
type Lockout struct {
	// Locked is set while the subject is locked or held back by a progressive delay.
	Locked bool
	// Until is when the lock ends; zero when not locked.
	Until time.Time
	// Failures counts failures in the current window (zero after a full lock: the lock
	// replaced it; kept through a progressive delay).
	Failures int
}

// AppClient is a registered keyToken client (a DeviceClient of type app).
type AppClient struct {
	ID    string
	Roles []string
}

// DeviceToken is a registered device token (a DeviceClient of type device); only its hash is
// stored. During a rotation overlap a client has two.
type DeviceToken struct {
	Hash      string
	ClientID  string
	DeviceID  string
	Roles     []string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Reason says why a session ended; it travels with revocation events and audit logs.
type Reason string

// The reasons the store itself records. Callers may publish others.
const (
	ReasonLogout          Reason = "logout"
	ReasonRevokeAll       Reason = "revoke-all"
	ReasonPasswordChanged Reason = "password-changed"
	ReasonEvicted         Reason = "evicted"
	ReasonRefreshReuse    Reason = "refresh-reuse"
	ReasonAdmin           Reason = "admin"
	ReasonExpired         Reason = "expired"
	// ReasonClientDeleted ends the sessions of a deregistered app client.
	ReasonClientDeleted Reason = "client-deleted"
	// ReasonUserDeleted ends the sessions of a deleted user.
	ReasonUserDeleted Reason = "user-deleted"
)

// Revocation announces that a session has ended.
type Revocation struct {
	UserID    string
	SessionID string
	Reason    Reason
	At        time.Time
}

// RevocationEvent is what a subscription delivers: a revocation, or a resync.
type RevocationEvent struct {
	Revocation Revocation
	// Resync is set when revocations may have been missed: the subscription reconnected after
	// an outage, or the reader fell so far behind that events were dropped. The subscriber
	// must re-validate every session it holds (a socket hub re-checks its bound sessions).
	Resync bool
}

// LegacyToken is a session token of the system users were imported from (devise_token_auth's
// `tokens` column): the client holds the raw token, the store only its bcrypt hash. It is
// exchanged once for a session of this server (deviseToken's first request after the cutover),
// so a migrated user is never logged out; racing requests of one client inside SpentUntil are
// exchanged too, as devise's batch buffer would have accepted them.
type LegacyToken struct {
	// Client is devise's client ID (its "client" header), the key of the token.
	Client string
	// Hash is the old system's bcrypt of the raw access token.
	Hash      string
	ExpiresAt time.Time
	// SpentUntil is zero until the first exchange; from then on the token is exchanged again
	// only before SpentUntil.
	SpentUntil time.Time
}

// Bounds on legacy tokens: devise keeps at most max_number_of_devices (10 by default) per
// user, and a bcrypt hash is 60 characters.
const (
	MaxLegacyTokens  = 64
	MaxLegacyHashLen = 128
)

// Exchangeable reports whether the token may still be exchanged at now.
func (t LegacyToken) Exchangeable(now time.Time) bool {
	return now.Before(t.ExpiresAt) && (t.SpentUntil.IsZero() || now.Before(t.SpentUntil))
}

// ValidateLegacyTokens checks tokens before they are stored: a client ID each (at most once),
// a printable hash without spaces of at most MaxLegacyHashLen, an expiry after now, and at most
// MaxLegacyTokens of them.
func ValidateLegacyTokens(tokens []LegacyToken, now time.Time) error {
	if len(tokens) > MaxLegacyTokens {
		return invalidArg("%d legacy tokens, more than %d", len(tokens), MaxLegacyTokens)
	}
	seen := map[string]bool{}
	for _, t := range tokens {
		switch {
		case !ValidClientID(t.Client) || seen[t.Client]:
			return invalidArg("legacy token client %q is malformed or repeated", t.Client)
		case len(t.Hash) > MaxLegacyHashLen || !validLabel(t.Hash):
			return invalidArg("legacy token of client %s: malformed hash", t.Client)
		case !t.ExpiresAt.After(now):
			return invalidArg("legacy token of client %s: expiry %s is not after now", t.Client, t.ExpiresAt)
		case !t.SpentUntil.IsZero():
			return invalidArg("legacy token of client %s: a stored token starts unspent", t.Client)
		}
		seen[t.Client] = true
	}
	return nil
}

// HashTwin stands for the costliest imported hash of one scheme: a hash with the same scheme
// and cost parameters, of a random secret nobody knows, so checking a password against it
// costs what checking against the imported hashes costs without keeping a copy of anyone's.
type HashTwin struct {
	// Scheme names the hash format (password.Scheme).
	Scheme string
	// Cost orders twins of one scheme (bcrypt's cost, PBKDF2's iterations, argon2's memory
	// times passes); it does not compare across schemes.
	Cost int64
	Hash string
}

// ImportedHashRecord is what ImportedHashes keeps: how many users still hold an imported
// hash (an upper bound: a password set by a reset or a change does not count down, only a
// rehash at login does), and one twin per scheme seen.
type ImportedHashRecord struct {
	Remaining int64
	Twins     []HashTwin
}

// Bounds on a hash twin, checked by ValidateHashTwins.
const (
	MaxHashTwins      = 8
	MaxHashTwinLen    = 256
	maxHashSchemeName = 32
)

// ValidateHashTwins checks twins before they are stored: at most MaxHashTwins, each with a
// scheme name of letters, digits and dashes, a cost of at least 1 and a printable hash
// without spaces of at most MaxHashTwinLen.
func ValidateHashTwins(twins []HashTwin) error {
	if len(twins) > MaxHashTwins {
		return fmt.Errorf("%w: more than %d hash twins", ErrInvalidArgument, MaxHashTwins)
	}
	for _, t := range twins {
		if t.Scheme == "" || len(t.Scheme) > maxHashSchemeName || strings.Trim(t.Scheme, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return fmt.Errorf("%w: hash twin scheme %q", ErrInvalidArgument, t.Scheme)
		}
		if t.Cost < 1 {
			return fmt.Errorf("%w: hash twin cost %d", ErrInvalidArgument, t.Cost)
		}
		if t.Hash == "" || len(t.Hash) > MaxHashTwinLen || strings.IndexFunc(t.Hash, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
			return fmt.Errorf("%w: hash twin of %s is not a printable hash of at most %d bytes", ErrInvalidArgument, t.Scheme, MaxHashTwinLen)
		}
	}
	return nil
}
