package conformance

import (
	"sync"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

func testBruteForce(t *testing.T, f *fixture) {
	limit := store.BruteForceLimit{MaxFailures: 3, Window: 15 * time.Minute, Lockout: 10 * time.Minute}
	// Unknown logins count like known ones: the store never looks the login up.
	login := store.LoginSubject("  Nobody@Example.com")
	if login != store.LoginSubject("nobody@example.com") {
		t.Fatal("LoginSubject does not normalize")
	}
	ip := store.IPSubject("2001:db8::1")
	check := func(subj store.Subject, what string, want store.Lockout) {
		t.Helper()
		got, err := f.s.CheckLockout(f.ctx, subj, f.now)
		must(t, err, "check %s", what)
		if d := diff(want, got); d != "" {
			t.Errorf("%s: %s", what, d)
		}
	}
	record := func(subj store.Subject, what string, want store.Lockout) {
		t.Helper()
		got, err := f.s.RecordFailure(f.ctx, subj, limit, f.now)
		must(t, err, "record %s", what)
		if d := diff(want, got); d != "" {
			t.Errorf("%s: %s", what, d)
		}
	}

	check(login, "fresh subject", store.Lockout{})
	record(login, "first failure", store.Lockout{Failures: 1})
	f.tick(time.Minute)
	record(login, "second failure", store.Lockout{Failures: 2})
	check(login, "after two failures", store.Lockout{Failures: 2})
	check(ip, "another subject", store.Lockout{})
	lockedAt := f.tick(time.Minute)
	until := lockedAt.Add(limit.Lockout)
	record(login, "third failure", store.Lockout{Locked: true, Until: until})
	check(login, "locked", store.Lockout{Locked: true, Until: until})
	// Failures while locked do not extend the lock.
	f.tick(5 * time.Minute)
	record(login, "failure while locked", store.Lockout{Locked: true, Until: until})
	f.now = until.Add(-time.Millisecond)
	check(login, "just before the lock ends", store.Lockout{Locked: true, Until: until})
	f.now = until
	check(login, "when the lock ends", store.Lockout{})
	record(login, "first failure after the lock", store.Lockout{Failures: 1})

	// The window: failures older than it are forgotten.
	windowStart := f.tick(time.Minute)
	record(ip, "ip failure 1", store.Lockout{Failures: 1})
	f.now = windowStart.Add(limit.Window - time.Millisecond)
	record(ip, "ip failure 2 inside the window", store.Lockout{Failures: 2})
	f.now = windowStart.Add(limit.Window)
	check(ip, "when the window ends", store.Lockout{})
	record(ip, "ip failure in a new window", store.Lockout{Failures: 1})

	// A success resets, locks included.
	must(t, f.s.ResetFailures(f.ctx, ip), "reset ip")
	check(ip, "after reset", store.Lockout{})
	known := store.LoginSubject("known@example.com")
	record(known, "failure 1", store.Lockout{Failures: 1})
	record(known, "failure 2", store.Lockout{Failures: 2})
	record(known, "failure 3", store.Lockout{Locked: true, Until: f.now.Add(limit.Lockout)})
	must(t, f.s.ResetFailures(f.ctx, known), "reset login")
	check(known, "after resetting a lock", store.Lockout{})
	must(t, f.s.ResetFailures(f.ctx, store.IPSubject("192.0.2.9")), "reset a subject without failures")

	// Refusals.
	_, err := f.s.RecordFailure(f.ctx, login, store.BruteForceLimit{MaxFailures: 0, Window: time.Minute, Lockout: time.Minute}, f.now)
	wantErr(t, err, store.ErrInvalidArgument, "record with a zero limit")
	bad := store.Subject{Kind: store.SubjectIP, Value: "has space"}
	_, err = f.s.RecordFailure(f.ctx, bad, limit, f.now)
	wantErr(t, err, store.ErrInvalidArgument, "record for a malformed subject")
	_, err = f.s.CheckLockout(f.ctx, store.Subject{Value: "x"}, f.now)
	wantErr(t, err, store.ErrInvalidArgument, "check a subject without a kind")
	wantErr(t, f.s.ResetFailures(f.ctx, store.Subject{Kind: store.SubjectLogin}), store.ErrInvalidArgument, "reset an empty subject")
}

// testBruteForceConcurrent: racing failures are each counted once; the limit-th locks.
func testBruteForceConcurrent(t *testing.T, f *fixture) {
	const n = 40
	limit := store.BruteForceLimit{MaxFailures: 10, Window: time.Minute, Lockout: time.Minute}
	subj := store.IPSubject("198.51.100.7")
	results := make([]store.Lockout, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { results[i], errs[i] = f.s.RecordFailure(f.ctx, subj, limit, f.now) })
	}
	wg.Wait()
	seen := map[int]bool{}
	locked := 0
	for i := range n {
		must(t, errs[i], "failure %d", i)
		if results[i].Locked {
			locked++
			continue
		}
		if seen[results[i].Failures] {
			t.Errorf("two failures both counted as number %d", results[i].Failures)
		}
		seen[results[i].Failures] = true
	}
	if len(seen) != limit.MaxFailures-1 || locked != n-limit.MaxFailures+1 {
		t.Errorf("%d counted and %d locked answers, want %d and %d", len(seen), locked, limit.MaxFailures-1, n-limit.MaxFailures+1)
	}
}
