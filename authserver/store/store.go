package store

import (
	"context"
	"time"
)

// Store is everything the dialects keep. Every method takes ctx first and, where time matters,
// the caller's now: backends never read a clock for expiry logic, so tests drive time and
// every replica judges expiry alike. Backends are safe for concurrent use.
//
// Secrets never reach a Store: callers pass HMAC hashes of tokens (DESIGN.md), and the store
// compares hashes only.
//
// Errors are the sentinels of this package, wrapped. A backend outage is ErrUnavailable and
// never anything else: no method reports "not found" or "invalid token" because it could not
// ask, and none deletes or shortens a record because of an error.
type Store interface {
	Users
	Sessions
	OneTimeTokens
	BruteForce
	Clients
	Revocations
	LegacyTokens
	ImportedHashes

	// Ping reports whether the backend can serve this replica's requests, writes included
	// (the admin port's /readyz).
	Ping(ctx context.Context) error
	// Close releases the backend and ends every subscription. Later calls fail with
	// ErrUnavailable.
	Close() error
}

// Users holds accounts and the login index.
type Users interface {
	// CreateUser stores a new user. ID, Login and a valid Status are required; CreatedAt and
	// UpdatedAt are set to now, and PasswordChangedAt too when a password hash is given. The
	// login is claimed atomically: of racing registrations of one login exactly one succeeds,
	// the others get ErrAlreadyExists (as does a taken ID).
	CreateUser(ctx context.Context, u User, now time.Time) (User, error)
	// GetUser returns the user with id, or ErrNotFound.
	GetUser(ctx context.Context, id string) (User, error)
	// GetUserByLogin returns the user holding login (normalized, so case and surrounding space
	// do not matter), or ErrNotFound.
	GetUserByLogin(ctx context.Context, login string) (User, error)
	// UpdateUser applies update to the current record and stores the result, retrying on
	// concurrent changes (so update may run more than once and must be a pure function of its
	// input). ID, CreatedAt, PasswordHash and PasswordChangedAt are kept from the stored record
	// (the password changes only through SetPassword); UpdatedAt becomes now. A login change
	// moves the index entry: ErrAlreadyExists if another user holds the new login. An error
	// from update is returned unchanged and nothing is written.
	UpdateUser(ctx context.Context, id string, now time.Time, update func(User) (User, error)) (User, error)
	// SetPassword replaces the password hash and, in the same atomic step, ends every session
	// of the user except keepSessionID (empty: all), cancels an outstanding reset token and
	// publishes a revocation per ended session. It returns the ended session IDs.
	SetPassword(ctx context.Context, id, passwordHash, keepSessionID string, now time.Time) ([]string, error)
	// RehashPassword replaces the password hash with newHash, the same password hashed with
	// new parameters, if the stored hash is still oldHash (ErrConflict otherwise: the password
	// changed meanwhile, and the new hash must not bring the old password back). Nothing else
	// changes: PasswordChangedAt, sessions and tokens stay, since the password has not.
	RehashPassword(ctx context.Context, id, oldHash, newHash string) error
	// ScanUsers calls fn with every user, in batches of at most batch, in no particular order,
	// without their password hashes; a user created or deleted meanwhile may or may not be
	// seen, no user is seen twice. An error from fn stops the scan and is returned. It is for
	// administration: it walks the whole keyspace (Redis SCAN, never KEYS).
	ScanUsers(ctx context.Context, batch int, fn func([]User) error) error
	// DeleteUser removes the user and everything stored under it: every session (ended and
	// announced with ReasonUserDeleted, returned), the one-time tokens, the login's claim and
	// its failed-login counter. ErrNotFound if there is no such user.
	DeleteUser(ctx context.Context, id string, now time.Time) (ended []string, err error)
}

// Sessions holds logged-in clients. Every method that authenticates reads the session and its
// user together, so a dialect needs nothing else; each is one round trip in Redis. The user
// they return has no PasswordHash: a session check never needs it, so it does not travel with
// every request (GetUser has it).
type Sessions interface {
	// CreateSession stores a new session after enforcing the device limit in the same step:
	// with EvictOldest the oldest sessions of the dialect end (and are returned and
	// announced), with DenyNew the call fails with ErrDeviceLimit. The user must exist
	// (ErrNotFound); a taken session ID is ErrAlreadyExists; a stale PasswordChangedAt is
	// ErrConflict.
	CreateSession(ctx context.Context, req NewSession) (evicted []string, err error)
	// ListSessions returns the user's live sessions, oldest first, without touching them:
	// none is an empty list, not an error (nor is an unknown user).
	ListSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
	// GetSession returns a live session without touching it, or ErrNotFound.
	GetSession(ctx context.Context, ref SessionRef, now time.Time) (Session, error)
	// TouchSession slides a live session's idle window to now and returns it, or ErrNotFound.
	TouchSession(ctx context.Context, ref SessionRef, now time.Time) (Session, error)
	// ValidateSession authenticates tokenHash against the session (the current token, or the
	// previous one inside its buffer, and the token's own expiry), slides the idle window and
	// returns the session with its user. Anything that does not authenticate, a missing user
	// included, is ErrInvalidToken.
	ValidateSession(ctx context.Context, ref SessionRef, tokenHash string, now time.Time) (Session, User, error)
	// RotateSession is devise's validate-and-rotate in one atomic step (DESIGN.md). Racing
	// calls with the same token all succeed and all end up handing back the current token;
	// one rotation happens per buffer window. Failure is ErrInvalidToken.
	RotateSession(ctx context.Context, req Rotation) (RotationResult, error)
	// RefreshSession exchanges the current refresh token for new token and refresh hashes,
	// spending the old one. A spent refresh token presented again revokes the whole session
	// and returns ErrTokenReused; anything else that does not match is ErrInvalidToken. A
	// retry of the very request that spent it (same NewRefreshHash) succeeds again, so a lost
	// reply cannot look like theft.
	RefreshSession(ctx context.Context, req Refresh) (Session, User, error)
	// RevokeSession ends one session and announces it. With a non-empty tokenHash the token
	// must authenticate the session (as in ValidateSession) or nothing happens and
	// ErrInvalidToken is returned: a logout is then one round trip. With an empty tokenHash it
	// revokes by reference (admin paths, or a caller that has just validated). A session that
	// does not exist or has expired is ErrNotFound. It returns the ended session.
	RevokeSession(ctx context.Context, ref SessionRef, tokenHash string, reason Reason, now time.Time) (Session, error)
	// RevokeAllSessions ends every session of the user except exceptSessionID (empty: all)
	// in one step, announces each, and returns the ended IDs. The user's legacy tokens
	// (LegacyTokens: the sessions of the system the user was imported from, never the kept
	// one) go in the same step, as they do with SetPassword and DeleteUser.
	RevokeAllSessions(ctx context.Context, userID, exceptSessionID string, reason Reason, now time.Time) ([]string, error)
	// SpendPasswordChange spends the session's leave to change the password without the
	// current one: if its PasswordChangeUntil is after now, it is cleared and nil returned, in
	// one atomic step, so of racing calls exactly one succeeds. A session without that leave
	// (never given, spent, or past) is ErrConflict; a session that is not live, ErrNotFound.
	SpendPasswordChange(ctx context.Context, ref SessionRef, now time.Time) error
}

// OneTimeTokens holds reset and confirmation tokens.
type OneTimeTokens interface {
	// IssueOneTimeToken stores t beside the newest t.Keep-1 live tokens of its kind for the
	// user, replacing the rest (all of them when Keep is 0 or 1). The user must exist
	// (ErrNotFound).
	IssueOneTimeToken(ctx context.Context, t OneTimeToken, now time.Time) error
	// ConsumeOneTimeToken spends the user's tokens of kind if hash matches a live one;
	// otherwise ErrInvalidToken, and a mismatch leaves the outstanding tokens alone (a wrong
	// guess must not cancel the user's real link). Of racing consumers one succeeds.
	ConsumeOneTimeToken(ctx context.Context, userID string, kind OneTimeKind, hash string, now time.Time) error
}

// BruteForce holds failure counters and locks: failed logins per login, address, (login,
// address) pair and device cookie, and the requests of rate-limited actions.
type BruteForce interface {
	// RecordFailure counts a failure (or a rate-limited request) for subj under limit and
	// returns the resulting state: reaching MaxFailures within Window locks the subject for
	// Lockout; before that, limit.Delay holds it back progressively. A failure while locked
	// is not counted and does not extend the lock.
	RecordFailure(ctx context.Context, subj Subject, limit BruteForceLimit, now time.Time) (Lockout, error)
	// CheckLockouts returns the current state of each subject, in order, in one round trip.
	CheckLockouts(ctx context.Context, subjects []Subject, now time.Time) ([]Lockout, error)
	// ResetFailures forgets subj's failures and any lock (after a successful login).
	ResetFailures(ctx context.Context, subj Subject) error
}

// Clients holds the registrations the operator writes for DeviceClients. Everything of one
// client is kept under its client ID (in Redis, one hash slot), so that the operator can list
// and revoke a client's tokens in one atomic step, and the server finds a presented device
// token `<clientID>.<secret>` in one round trip from the ID it carries.
type Clients interface {
	// PutAppClient creates or replaces an app client.
	PutAppClient(ctx context.Context, c AppClient) error
	// GetAppClient returns the app client with id, or ErrNotFound.
	GetAppClient(ctx context.Context, id string) (AppClient, error)
	// DeleteAppClient removes the app client, or returns ErrNotFound.
	DeleteAppClient(ctx context.Context, id string) error
	// PutDeviceToken creates or replaces a device token registration of t.ClientID; it
	// disappears at its ExpiresAt, which must be after now.
	PutDeviceToken(ctx context.Context, t DeviceToken, now time.Time) error
	// GetDeviceToken returns the unexpired registration of the token with hash of client
	// clientID, or ErrNotFound (a hash registered to another client is not found).
	GetDeviceToken(ctx context.Context, clientID, hash string, now time.Time) (DeviceToken, error)
	// ListDeviceTokens returns every unexpired registration of client clientID, soonest
	// expiry first; none is an empty list, not an error.
	ListDeviceTokens(ctx context.Context, clientID string, now time.Time) ([]DeviceToken, error)
	// DeleteDeviceToken removes one registration of client clientID, or returns ErrNotFound.
	DeleteDeviceToken(ctx context.Context, clientID, hash string) error
	// DeleteAllDeviceTokens removes every registration of client clientID in one atomic
	// step and returns how many of them were unexpired at now.
	DeleteAllDeviceTokens(ctx context.Context, clientID string, now time.Time) (int, error)
	// RevokeClientSessions ends every live session created with NewSession.TrackClient for
	// client clientID, announces each, and returns their references. A session created while
	// it runs may outlive it: callers remove the client's registration first, so that no
	// new session can start, and then call it.
	RevokeClientSessions(ctx context.Context, clientID string, reason Reason, now time.Time) ([]SessionRef, error)
}

// Revocations fans session ends out to every replica, so live sockets bound to an ended
// session are closed wherever they are. Every Store method that ends a session publishes its
// own revocations in the same atomic step; PublishRevocation is for ends the store does not
// see (an expiry noticed by a caller).
type Revocations interface {
	// PublishRevocation announces r to every subscriber of every replica.
	PublishRevocation(ctx context.Context, r Revocation) error
	// SubscribeRevocations returns once the subscription is in place (events published after
	// it returns are delivered) and delivers events until ctx ends or the store closes, then
	// closes the channel. A subscriber must keep reading: events that cannot be buffered are
	// dropped and replaced by one Resync event, as are those lost while reconnecting.
	SubscribeRevocations(ctx context.Context) (<-chan RevocationEvent, error)
}

// LegacyTokens holds the session tokens of users imported from devise_token_auth, under the
// user (in Redis, the user's hash slot), until each is exchanged for a session of this server
// or expires. DeleteUser removes them with the user.
type LegacyTokens interface {
	// PutLegacyTokens stores tokens for the user (ValidateLegacyTokens), each replacing a
	// stored token of its client; the user must exist (ErrNotFound). A user holds at most
	// MaxLegacyTokens exchangeable tokens: a put that would pass it is ErrInvalidArgument and
	// stores nothing.
	PutLegacyTokens(ctx context.Context, userID string, tokens []LegacyToken, now time.Time) error
	// GetLegacyToken returns the user's token of client if it is exchangeable at now, or
	// ErrNotFound. It changes nothing: reading it costs the legitimate holder nothing, whoever
	// asks.
	GetLegacyToken(ctx context.Context, userID, client string, now time.Time) (LegacyToken, error)
	// SpendLegacyToken exchanges the user's token of client, if hash is still its hash and it
	// is exchangeable at now, in one atomic step: the first exchange sets SpentUntil to now +
	// grace and reports first; a later one before SpentUntil succeeds without first (a racing
	// request of the same client). Anything else is ErrInvalidToken.
	SpendLegacyToken(ctx context.Context, userID, client, hash string, grace time.Duration, now time.Time) (first bool, err error)
}

// ImportedHashes is the realm's record of the users imported with a password hash of another
// scheme (bcrypt, PBKDF2, argon2i) that no login has rehashed yet. A failed login's check of
// such a hash costs what its scheme costs, not what the dummy hash of an unknown login costs,
// so login reads this record and makes every failed check cost at least what the costliest
// imported scheme costs: a slower "wrong password" must not tell that a login exists.
type ImportedHashes interface {
	// AddImportedHashes adds n to the count of users still holding an imported hash (n < 0
	// gives back an importer's unused reservation, or counts one rehash) and keeps each twin
	// whose Cost is above the stored twin of its scheme, in one atomic step. A count left at
	// 0 or below removes the record, twins included.
	AddImportedHashes(ctx context.Context, n int64, twins []HashTwin) error
	// ImportedHashes returns the record; with none stored it is the zero record.
	ImportedHashes(ctx context.Context) (ImportedHashRecord, error)
}
