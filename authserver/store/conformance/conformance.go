package conformance

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// Run runs the suite. newStore must return an empty, independent store for each subtest and
// arrange its Close at t.Cleanup (ignoring the error of a second Close: one subtest closes its
// store itself).
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, f *fixture)
	}{
		{"CreateAndGetUser", testCreateAndGetUser},
		{"CreateUserInvalid", testCreateUserInvalid},
		{"ConcurrentRegistrationOfOneLogin", testConcurrentRegistration},
		{"UpdateUser", testUpdateUser},
		{"UpdateUserLogin", testUpdateUserLogin},
		{"ConcurrentUpdatesLoseNothing", testConcurrentUpdates},
		{"SetPassword", testSetPassword},
		{"RehashPassword", testRehashPassword},
		{"UnconfirmedEmail", testUnconfirmedEmail},
		{"CreateAndGetSession", testCreateAndGetSession},
		{"CreateSessionInvalid", testCreateSessionInvalid},
		{"CreateSessionPasswordGuard", testCreateSessionPasswordGuard},
		{"SessionExpiry", testSessionExpiry},
		{"ValidateSession", testValidateSession},
		{"RotateSession", testRotateSession},
		{"ConcurrentRotationOfOneToken", testConcurrentRotation},
		{"RefreshSession", testRefreshSession},
		{"RefreshSpentListIsBounded", testRefreshSpentListBounded},
		{"RevokeSession", testRevokeSession},
		{"RevokeAllSessions", testRevokeAllSessions},
		{"RevokeDuringValidate", testRevokeDuringValidate},
		{"PasswordChangeLeave", testPasswordChangeLeave},
		{"DeviceLimitEvictOldest", testDeviceLimitEvict},
		{"DeviceLimitDenyNew", testDeviceLimitDeny},
		{"DeviceLimitConcurrentLogins", testDeviceLimitConcurrent},
		{"OneTimeTokens", testOneTimeTokens},
		{"OneTimeTokenConcurrentConsume", testOneTimeConcurrentConsume},
		{"BruteForce", testBruteForce},
		{"BruteForceConcurrentFailures", testBruteForceConcurrent},
		{"BruteForceDelay", testBruteForceDelay},
		{"BruteForceSubjects", testBruteForceSubjects},
		{"AppClients", testAppClients},
		{"DeviceTokens", testDeviceTokens},
		{"DeviceTokenIndex", testDeviceTokenIndex},
		{"RevokeClientSessions", testRevokeClientSessions},
		{"RevocationEvents", testRevocationEvents},
		{"RevocationSubscriptionEnds", testRevocationSubscriptionEnds},
		{"ListSessions", testListSessions},
		{"ScanUsers", testScanUsers},
		{"DeleteUser", testDeleteUser},
		{"LegacyTokens", testLegacyTokens},
		{"LegacyTokensInvalid", testLegacyTokensInvalid},
		{"LegacyTokenConcurrentSpend", testLegacyTokenConcurrentSpend},
		{"LegacyTokensDeletedWithUser", testLegacyTokensDeletedWithUser},
		{"ImportedHashes", testImportedHashes},
		{"LegacyTokensEndWithSessions", testLegacyTokensEndWithSessions},
		{"ClosedStoreIsUnavailable", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, &fixture{t: t, s: newStore(t), ctx: t.Context(), now: start()})
		})
	}
}

// start is the suite's virtual epoch: the real time, at the millisecond precision stores keep.
// Tests move their own clock forward instead of sleeping, which is why every store method
// takes now.
func start() time.Time { return time.UnixMilli(time.Now().UnixMilli()).UTC() }

type fixture struct {
	t   *testing.T
	s   store.Store
	ctx context.Context
	now time.Time
}

// tick advances the fixture's clock and returns the new now.
func (f *fixture) tick(d time.Duration) time.Time {
	f.now = f.now.Add(d)
	return f.now
}

// hashKey stands in for the realm's tokenHashKey: the store only ever sees HMACs.
var hashKey = []byte("conformance-suite-token-hash-key-0123456789")

func mac(msg string) string {
	m := hmac.New(sha256.New, hashKey)
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// hashOf is what a caller stores for a secret; successorOf is the devise rotation successor
// (DESIGN.md): hash(successorOf(x)) is what RotateSession installs.
func hashOf(secret string) string      { return mac(secret) }
func successorOf(secret string) string { return mac("rotate:" + secret) }

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func newID() string     { return random(16) }
func newSecret() string { return random(32) }

// createUser stores an active user with a password.
func (f *fixture) createUser(login string) store.User {
	f.t.Helper()
	u, err := f.s.CreateUser(f.ctx, store.User{
		ID: newID(), Login: login, Email: login, FirstName: "Ada", LastName: "Lovelace",
		Role: "user", Status: store.StatusActive, PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
	}, f.now)
	must(f.t, err, "create user %s", login)
	return u
}

// session is a template: a devise session of u with a 14-day sliding lifespan inside a
// 30-day absolute one.
func (f *fixture) session(u store.User, secret string) store.Session {
	return store.Session{
		ID: newID(), UserID: u.ID, Dialect: "deviseToken", ClientName: "web",
		TokenHash: hashOf(secret), IdleTimeout: 14 * 24 * time.Hour, ExpiresAt: f.now.Add(30 * 24 * time.Hour),
	}
}

// createSession stores a session built by session, changed by edit if given, and returns it
// as stored with its secret.
func (f *fixture) createSession(u store.User, edit ...func(*store.Session)) (store.Session, string) {
	f.t.Helper()
	secret := newSecret()
	s := f.session(u, secret)
	for _, e := range edit {
		e(&s)
	}
	_, err := f.s.CreateSession(f.ctx, store.NewSession{Session: s, Now: f.now})
	must(f.t, err, "create session")
	got, err := f.s.GetSession(f.ctx, s.Ref(), f.now)
	must(f.t, err, "get created session")
	return got, secret
}

// alive reports whether GetSession finds the session at the fixture's now.
func (f *fixture) alive(ref store.SessionRef) bool {
	f.t.Helper()
	_, err := f.s.GetSession(f.ctx, ref, f.now)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		f.t.Fatalf("get session: %v", err)
	}
	return err == nil
}

func must(t testing.TB, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", fmt.Sprintf(format, args...), err)
	}
}

func wantErr(t testing.TB, err, target error, format string, args ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want %v", fmt.Sprintf(format, args...), err, target)
	}
}

// diff lists the fields of two structs of one type that differ; times compare with Equal and
// nil and empty slices are equal, as stores need not preserve either distinction.
func diff(want, got any) string {
	wv, gv := reflect.ValueOf(want), reflect.ValueOf(got)
	var out []string
	for i := range wv.NumField() {
		w, g := wv.Field(i).Interface(), gv.Field(i).Interface()
		if !equalValue(w, g) {
			out = append(out, fmt.Sprintf("%s: want %v, got %v", wv.Type().Field(i).Name, w, g))
		}
	}
	return strings.Join(out, "; ")
}

func equalValue(w, g any) bool {
	switch w := w.(type) {
	case time.Time:
		return w.Equal(g.(time.Time))
	case []string:
		return slices.Equal(w, g.([]string))
	}
	return reflect.DeepEqual(w, g)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
