package servertest

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redisstore"
)

// FailedLogin is one kind of failed login that a dialect must answer exactly like a wrong
// password.
type FailedLogin struct {
	// Name labels the kind in failure messages ("unknown login", "disabled account", ...).
	Name string
	// Attempt sends one attempt of the kind with header (name, value pairs: an
	// X-Forwarded-For naming a fresh client address) added, and returns the dialect's answer.
	Attempt func(header ...string) Response
	// Untimed kinds must answer the same bytes but are not held to the same time: an attempt
	// refused by a brute-force lock answers at once, without spending a hash.
	Untimed bool
}

// LockedAddress is the client address LockAddress locks.
const LockedAddress = "203.0.113.66"

// FromLockedAddress is the header that sends a request from LockedAddress (RealHashing
// trusts the test's X-Forwarded-For).
var FromLockedAddress = []string{"X-Forwarded-For", LockedAddress}

// FailuresToLock is the per-address limit RealHashing sets.
const FailuresToLock = 5

// timingRounds is the number of timed attempts of each kind.
const timingRounds = 7

// RealHashing edits a config for CheckFailedLogins: argon2id parameters costly enough that a
// failure path which skipped the hash would stand out from one that spent it (the base
// config's are cheap), and brute-force counting that locks nothing by accident: a refused
// attempt spends no hash, so a lock or delay reached halfway would look like a timing oracle.
// Every attempt of CheckFailedLogins comes from its own client address (the test's
// X-Forwarded-For is believed), so no address and no (login, address) pair fails twice;
// logins fail many times, so their limit is high. Only LockAddress reaches a limit, the
// per-address one, on purpose.
func RealHashing(c *config.Config) {
	c.Passwords.Argon2 = config.Argon2{MemoryKiB: 16 << 10, Iterations: 2, Parallelism: 1}
	c.BruteForce.MaxFailuresPerLogin = 1000
	c.BruteForce.MaxFailuresPerIP = FailuresToLock
	c.BruteForce.TrustedProxies = []string{"127.0.0.1/32", "::1/128"}
}

// LockAddress locks LockedAddress by failing FailuresToLock logins from it, each a different
// unknown login, so that nothing but the address counts more than one failure. fail sends one
// attempt for login with header added and must fail like a wrong password.
func LockAddress(t testing.TB, fail func(login string, header ...string) Response) {
	t.Helper()
	for i := range FailuresToLock {
		fail(fmt.Sprintf("lock-%d@example.com", i), FromLockedAddress...)
	}
}

// addresses numbers the fresh client addresses of attempts.
var addresses atomic.Uint32

// freshAddress returns a client address no other attempt of the test process used.
func freshAddress() []string {
	n := addresses.Add(1)
	return []string{"X-Forwarded-For", fmt.Sprintf("198.18.%d.%d", n>>8&0xff, n&0xff)}
}

// CheckFailedLogins checks the claim that a failed login tells nothing (on a server started
// with RealHashing): the first kind is the reference (a wrong password); every kind's first
// answer has its status, body and headers (ComparableHeaders: all but Date and X-Request-Id);
// and each timed kind's median time over interleaved rounds (MedianTimes) is within a factor
// of three of the reference's. A path that skipped the hash would be an order of magnitude
// off; a factor of three leaves room for a busy machine.
func CheckFailedLogins(t *testing.T, kinds ...FailedLogin) {
	t.Helper()
	ref := kinds[0].Attempt(freshAddress()...)
	if ref.StatusCode < 200 || ref.StatusCode >= 500 {
		t.Fatalf("%s: status %d %s", kinds[0].Name, ref.StatusCode, ref.Body)
	}
	for _, k := range kinds[1:] {
		r := k.Attempt(freshAddress()...)
		if r.StatusCode != ref.StatusCode || string(r.Body) != string(ref.Body) {
			t.Errorf("%s: %d %s, %s: %d %s", k.Name, r.StatusCode, r.Body, kinds[0].Name, ref.StatusCode, ref.Body)
		}
		if got, want := ComparableHeaders(r.Header), ComparableHeaders(ref.Header); got != want {
			t.Errorf("%s headers:\n%s\n%s headers:\n%s", k.Name, got, kinds[0].Name, want)
		}
	}

	var timed []FailedLogin
	var fns []func()
	for _, k := range kinds {
		if !k.Untimed {
			timed = append(timed, k)
			fns = append(fns, func() {
				if r := k.Attempt(freshAddress()...); r.StatusCode != ref.StatusCode {
					t.Errorf("%s: %d %s, want %d", k.Name, r.StatusCode, r.Body, ref.StatusCode)
				}
			})
		}
	}
	medians := MedianTimes(timingRounds, fns...)
	base := medians[0]
	for i, k := range timed {
		t.Logf("median failed-login time of %s: %s", k.Name, medians[i])
		if m := medians[i]; m < base/3 || m > base*3 {
			t.Errorf("%s fails in %s against %s for %s: a timing oracle", k.Name, m, base, timed[0].Name)
		}
	}
}

// SetUserStatus sets the status of the user with login (normalized as the server does) in the
// server's Redis, as an administrator would: disabled, or pending again. The server reads the
// user from Redis on every login, so the change holds at once.
func (s *Server) SetUserStatus(t testing.TB, login string, status store.UserStatus) {
	t.Helper()
	if s.Config.Redis == nil {
		t.Fatal("servertest: SetUserStatus needs a server on Redis")
	}
	st, err := redisstore.Open(s.Config.Redis)
	if err != nil {
		t.Fatalf("servertest: open the server's redis: %v", err)
	}
	defer st.Close()
	u, err := st.GetUserByLogin(t.Context(), store.NormalizeLogin(login))
	if err != nil {
		t.Fatalf("servertest: user %s: %v", login, err)
	}
	if _, err := st.UpdateUser(t.Context(), u.ID, time.Now(), func(u store.User) (store.User, error) {
		u.Status = status
		return u, nil
	}); err != nil {
		t.Fatalf("servertest: set the status of %s: %v", login, err)
	}
}
