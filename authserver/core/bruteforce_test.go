package core_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/store"
)

// defaultLimits gives the fixture the realm's default brute-force policy.
func defaultLimits(c *config.Config) { c.BruteForce = config.BruteForce{} }

// guesses counts the attempts that reached u's password and failed.
func guesses(f *fixture, u store.User) int {
	return len(f.audits(map[string]any{"event": "login", "reason": "wrong_password", "user_id": u.ID}))
}

// TestDeviceCookieOutlastsGuessing plays docs/security.md's attack with the default limits and
// delays on a clock: an attacker guesses ada's password from one address, 1,000 times, one
// every 100 ms, then from a thousand addresses for an hour. Ada, from the device she signed
// in on before, gets in throughout, even from the attacker's own address (a shared NAT); a
// stranger's right password from a fresh address gets in after one address's guessing, and
// is refused once strangers have spent the login's budget; at most 100 guesses an hour
// reach her password (ASVS's cap).
func TestDeviceCookieOutlastsGuessing(t *testing.T) {
	f := newFixture(t, defaultLimits)
	ada := f.register("ada@example.com")
	home := core.Meta{Dialect: "test", ClientIP: "192.0.2.10", RequestID: "home"}
	_, is, err := f.Login(t.Context(), home, core.LoginRequest{Login: "ada@example.com", Password: pw})
	if err != nil || is.Device == "" {
		t.Fatalf("ada's first login = %v, device cookie %q; want a cookie", err, is.Device)
	}
	device := home
	device.Device = is.Device

	x := core.Meta{Dialect: "test", ClientIP: "198.51.100.1", RequestID: "x"}
	for i := range 1000 {
		_, _, err := f.Login(t.Context(), x, core.LoginRequest{Login: "ada@example.com", Password: fmt.Sprintf("guess %d", i)})
		wantErr(t, err, core.ErrInvalidCredentials)
		f.clock.Advance(100 * time.Millisecond)
	}
	if n := guesses(f, ada); n > 10 {
		t.Errorf("%d of one address's 1,000 guesses reached the password, want at most 10", n)
	}
	// Past half the pair's limit the address waited 1 s, 2 s, 4 s, 8 s between guesses.
	if n := guesses(f, ada); n < 6 {
		t.Errorf("only %d guesses reached the password in 100 s: the delays are longer than documented", n)
	}
	atX := device
	atX.ClientIP = x.ClientIP
	for _, m := range []core.Meta{device, atX} {
		if _, _, err := f.Login(t.Context(), m, core.LoginRequest{Login: "ada@example.com", Password: pw}); err != nil {
			t.Fatalf("ada from her device at %s = %v", m.ClientIP, err)
		}
	}
	fresh := core.Meta{Dialect: "test", ClientIP: "203.0.113.1", RequestID: "fresh"}
	if _, _, err := f.Login(t.Context(), fresh, core.LoginRequest{Login: "ada@example.com", Password: pw}); err != nil {
		t.Errorf("ada's password from a fresh address after one address's guessing = %v, want success", err)
	}

	// An hour of guessing from a thousand addresses, each guessing until held back.
	before := guesses(f, ada)
	start := f.clock.Now()
	for i := 0; f.clock.Now().Before(start.Add(time.Hour)); i++ {
		m := core.Meta{Dialect: "test", ClientIP: fmt.Sprintf("10.%d.%d.1", i%1000/250, i%250), RequestID: "botnet"}
		_, _, err := f.Login(t.Context(), m, core.LoginRequest{Login: "ada@example.com", Password: fmt.Sprintf("botnet guess %d", i)})
		wantErr(t, err, core.ErrInvalidCredentials)
		if i%10 == 0 {
			if _, _, err := f.Login(t.Context(), device, core.LoginRequest{Login: "ada@example.com", Password: pw}); err != nil {
				t.Fatalf("ada from her device during the botnet's hour = %v", err)
			}
		}
		f.clock.Advance(250 * time.Millisecond)
	}
	n := guesses(f, ada) - before
	t.Logf("%d guesses reached the password in the hour", n)
	if n > 100 || n < 20 {
		t.Errorf("%d guesses reached ada's password in the hour, want 20 to 100 (ASVS's cap)", n)
	}
	stranger := core.Meta{Dialect: "test", ClientIP: "203.0.113.2", RequestID: "stranger"}
	_, _, err = f.Login(t.Context(), stranger, core.LoginRequest{Login: "ada@example.com", Password: pw})
	wantErr(t, err, core.ErrInvalidCredentials)
}

// TestStolenDeviceCookieIsLimited: a device cookie is checked against its login and counted on
// its own: one copied to another login is a stranger's, a forged one too, and the cookie's
// owner device is locked after maxFailuresPerDevice wrong passwords.
func TestStolenDeviceCookieIsLimited(t *testing.T) {
	f := newFixture(t, defaultLimits)
	ada := f.register("ada@example.com")
	f.register("bob@example.com")
	_, is, err := f.Login(t.Context(), f.meta, core.LoginRequest{Login: "ada@example.com", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	// Lock bob for strangers; ada's cookie does not open bob's account.
	for i := range 40 {
		m := core.Meta{Dialect: "test", ClientIP: fmt.Sprintf("198.51.100.%d", i), RequestID: "x"}
		_, _, _ = f.Login(t.Context(), m, core.LoginRequest{Login: "bob@example.com", Password: "guess"})
	}
	for name, cookie := range map[string]string{
		"ada's cookie": is.Device, "forged": is.Device[:44] + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "garbage": "x.y",
	} {
		m := f.meta
		m.Device = cookie
		_, _, err := f.Login(t.Context(), m, core.LoginRequest{Login: "bob@example.com", Password: pw})
		wantErr(t, err, core.ErrInvalidCredentials)
		if t.Failed() {
			t.Fatalf("%s opened a login locked for strangers", name)
		}
	}

	thief := core.Meta{Dialect: "test", ClientIP: "198.51.100.200", RequestID: "thief", Device: is.Device}
	for i := range 10 {
		_, _, err := f.Login(t.Context(), thief, core.LoginRequest{Login: "ada@example.com", Password: fmt.Sprintf("guess %d", i)})
		wantErr(t, err, core.ErrInvalidCredentials)
		f.clock.Advance(time.Minute) // past the delays
	}
	if n := guesses(f, ada); n != 10 {
		t.Errorf("%d of the device's guesses reached the password, want its limit, 10", n)
	}
	if _, _, err := f.Login(t.Context(), thief, core.LoginRequest{Login: "ada@example.com", Password: pw}); err == nil {
		t.Error("a device cookie past its limit still signs in")
	}
	if n := len(f.audits(map[string]any{"event": "lockout", "subject": "device"})); n != 1 {
		t.Errorf("%d device lockout events, want 1", n)
	}
	if err := testutil.GatherAndCompare(f.Metrics.Registry, strings.NewReader(`
# HELP latch_lockouts_total `+lockoutsHelp+`
# TYPE latch_lockouts_total counter
latch_lockouts_total{dialect="test",subject="device"} 1
`), "latch_lockouts_total"); err != nil {
		t.Errorf("the lock is not counted as one device lockout: %v", err)
	}
}

// lockoutsHelp is latch_lockouts_total's help text, which the exposition carries.
const lockoutsHelp = "Brute-force locks set, by dialect and subject (login, ip, login_ip, device): each is a failure that reached its subject's limit. Attempts the lock then refuses are counted as invalid_credentials operations, like any failure."

// TestParallelGuessesAreCountedOneByOne: 200 wrong guesses for ada at once, from one address.
// Were the lock checked for all of them before any was counted, all 200 would reach the
// password; judged one after another, only the pair's limit does.
func TestParallelGuessesAreCountedOneByOne(t *testing.T) {
	f := newFixture(t, defaultLimits, func(c *config.Config) {
		c.Passwords.Argon2 = config.Argon2{MemoryKiB: 8 << 10, Iterations: 1, Parallelism: 1} // milliseconds, so guesses overlap
	})
	ada := f.register("ada@example.com")
	x := core.Meta{Dialect: "test", ClientIP: "198.51.100.1", RequestID: "burst"}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			_, _, err := f.Login(t.Context(), x, core.LoginRequest{Login: "ada@example.com", Password: fmt.Sprintf("guess %d", i)})
			if err != core.ErrInvalidCredentials { //nolint:errorlint // the very same value
				t.Errorf("guess %d = %v", i, err)
			}
		})
	}
	wg.Wait()
	// The clock does not move: past half the pair's limit the first delay holds the rest back.
	if n := guesses(f, ada); n > 10 {
		t.Errorf("%d of 200 simultaneous guesses reached the password, want at most 10", n)
	}
}

// hangUpStore cancels the request a moment after the login lookup, while the password is
// being hashed (the client hangs up) and, like the Redis client, refuses to count on a
// cancelled context.
type hangUpStore struct {
	store.Store
	cancel context.CancelFunc
}

func (h hangUpStore) GetUserByLogin(ctx context.Context, login string) (store.User, error) {
	time.AfterFunc(3*time.Millisecond, h.cancel)
	return h.Store.GetUserByLogin(ctx, login)
}

func (h hangUpStore) RecordFailure(ctx context.Context, subj store.Subject, l store.BruteForceLimit, now time.Time) (store.Lockout, error) {
	if err := ctx.Err(); err != nil {
		return store.Lockout{}, err
	}
	return h.Store.RecordFailure(ctx, subj, l, now)
}

// TestHangingUpDoesNotSkipTheCount: a guesser hangs up while its password is hashed; the hash
// runs to its end and the answer would tell right from wrong, so the failure must be counted
// all the same. A failure that cannot be counted is not answered as a plain wrong password.
func TestHangingUpDoesNotSkipTheCount(t *testing.T) {
	f := newFixture(t, defaultLimits, func(c *config.Config) {
		c.Passwords.Argon2 = config.Argon2{MemoryKiB: 16 << 10, Iterations: 2, Parallelism: 1} // tens of ms
	})
	f.register("ada@example.com")
	answered := 0
	for range 5 { // below the pair's limit, so every answer counts

		ctx, cancel := context.WithCancel(t.Context())
		f.Store = hangUpStore{Store: f.mem, cancel: cancel}
		_, _, err := f.Login(ctx, f.meta, core.LoginRequest{Login: "ada@example.com", Password: "guess"})
		cancel()
		switch {
		case errors.Is(err, core.ErrInvalidCredentials):
			answered++ // the hash had started when the client hung up
		case !errors.Is(err, context.Canceled):
			t.Fatalf("Login = %v", err)
		}
		f.clock.Advance(time.Minute)
	}
	f.Store = f.mem
	l, err := lockout(t, f, store.LoginIPSubject("ada@example.com", f.meta.ClientIP))
	if answered == 0 || err != nil || l.Failures != answered {
		t.Errorf("%d guesses answered after their client hung up, the pair counts %+v (%v); want every one counted", answered, l, err)
	}

	f.Store = failingCounts{f.mem}
	_, _, err = f.Login(t.Context(), f.meta, core.LoginRequest{Login: "ada@example.com", Password: "guess again"})
	if err == nil || errors.Is(err, core.ErrInvalidCredentials) {
		t.Errorf("a guess that could not be counted = %v, want an internal error", err)
	}
}

// failingCounts cannot count failures (Redis failed between the check and the count).
type failingCounts struct{ store.Store }

func (failingCounts) RecordFailure(context.Context, store.Subject, store.BruteForceLimit, time.Time) (store.Lockout, error) {
	return store.Lockout{}, store.ErrUnavailable
}

// TestDeviceCookieExpires: a device cookie is honoured for bruteForce.deviceCookieLifespan and
// not a second longer: an old cookie (a former partner's, a machine sold years ago) makes its
// holder a stranger again.
func TestDeviceCookieExpires(t *testing.T) {
	f := newFixture(t, defaultLimits)
	f.register("ada@example.com")
	_, is, err := f.Login(t.Context(), f.meta, core.LoginRequest{Login: "ada@example.com", Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	lockForStrangers := func() {
		for i := range 40 {
			m := core.Meta{Dialect: "test", ClientIP: fmt.Sprintf("198.51.100.%d", i), RequestID: "x"}
			_, _, _ = f.Login(t.Context(), m, core.LoginRequest{Login: "ada@example.com", Password: "guess"})
		}
	}
	device := f.meta
	device.Device = is.Device
	f.clock.Advance(f.Config.BruteForce.DeviceCookieLifespan.Duration - time.Hour)
	lockForStrangers()
	if _, _, err := f.Login(t.Context(), device, core.LoginRequest{Login: "ada@example.com", Password: pw}); err != nil {
		t.Fatalf("a device cookie an hour before its end = %v, want a sign-in", err)
	}
	f.clock.Advance(time.Hour)
	lockForStrangers()
	_, _, err = f.Login(t.Context(), device, core.LoginRequest{Login: "ada@example.com", Password: pw})
	wantErr(t, err, core.ErrInvalidCredentials)
}
