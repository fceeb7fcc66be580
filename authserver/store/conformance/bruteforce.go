package conformance

import (
	"fmt"
	"strings"
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
		got, err := f.s.CheckLockouts(f.ctx, []store.Subject{subj}, f.now)
		must(t, err, "check %s", what)
		if d := diffLockouts([]store.Lockout{want}, got); d != "" {
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
	_, err = f.s.CheckLockouts(f.ctx, []store.Subject{ip, {Value: "x"}}, f.now)
	wantErr(t, err, store.ErrInvalidArgument, "check a subject without a kind")
	_, err = f.s.RecordFailure(f.ctx, login, store.BruteForceLimit{MaxFailures: 3, Window: time.Minute, Lockout: time.Minute, Delay: -time.Second}, f.now)
	wantErr(t, err, store.ErrInvalidArgument, "record with a negative delay")
	wantErr(t, f.s.ResetFailures(f.ctx, store.Subject{Kind: store.SubjectLogin}), store.ErrInvalidArgument, "reset an empty subject")
}

// diffLockouts compares two lists of lockouts element by element.
func diffLockouts(want, got []store.Lockout) string {
	if len(want) != len(got) {
		return fmt.Sprintf("want %d lockouts, got %d: %+v", len(want), len(got), got)
	}
	var out []string
	for i := range want {
		if d := diff(want[i], got[i]); d != "" {
			out = append(out, fmt.Sprintf("[%d] %s", i, d))
		}
	}
	return strings.Join(out, "; ")
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

// testBruteForceDelay: past the free failures each failure holds the subject back for a
// doubling delay (capped by the lockout), attempts while held back are not counted, and the
// limit still locks.
func testBruteForceDelay(t *testing.T, f *fixture) {
	limit := store.BruteForceLimit{MaxFailures: 6, Window: time.Hour, Lockout: 10 * time.Second, Delay: time.Second, FreeFailures: 2}
	subj := store.LoginIPSubject("ada@example.com", "198.51.100.20")
	record := func(what string, want store.Lockout) {
		t.Helper()
		got, err := f.s.RecordFailure(f.ctx, subj, limit, f.now)
		must(t, err, "record %s", what)
		if d := diff(want, got); d != "" {
			t.Errorf("%s: %s", what, d)
		}
	}
	check := func(what string, want store.Lockout) {
		t.Helper()
		got, err := f.s.CheckLockouts(f.ctx, []store.Subject{subj}, f.now)
		must(t, err, "check %s", what)
		if d := diffLockouts([]store.Lockout{want}, got); d != "" {
			t.Errorf("%s: %s", what, d)
		}
	}
	record("free failure 1", store.Lockout{Failures: 1})
	record("free failure 2", store.Lockout{Failures: 2})
	record("failure 3: held back 1s", store.Lockout{Locked: true, Until: f.now.Add(time.Second), Failures: 3})
	check("held back", store.Lockout{Locked: true, Until: f.now.Add(time.Second), Failures: 3})
	f.tick(500 * time.Millisecond)
	record("a failure while held back is not counted", store.Lockout{Locked: true, Until: f.now.Add(500 * time.Millisecond), Failures: 3})
	f.tick(500 * time.Millisecond)
	check("the delay is over", store.Lockout{Failures: 3})
	record("failure 4: held back 2s", store.Lockout{Locked: true, Until: f.now.Add(2 * time.Second), Failures: 4})
	f.tick(2 * time.Second)
	record("failure 5: held back 4s", store.Lockout{Locked: true, Until: f.now.Add(4 * time.Second), Failures: 5})
	f.tick(4 * time.Second)
	record("failure 6 locks for the lockout", store.Lockout{Locked: true, Until: f.now.Add(limit.Lockout)})
	f.tick(limit.Lockout)
	record("after the lock the count starts again", store.Lockout{Failures: 1})

	// The delay never exceeds the lockout.
	long := store.BruteForceLimit{MaxFailures: 60, Window: time.Hour, Lockout: 3 * time.Second, Delay: time.Second, FreeFailures: 0}
	other := store.DeviceSubject("dev-" + newID())
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second} {
		got, err := f.s.RecordFailure(f.ctx, other, long, f.now)
		must(t, err, "record %d", i)
		if !got.Locked || got.Until.Sub(f.now) != want {
			t.Errorf("failure %d: %+v, want held back %s", i+1, got, want)
		}
		f.tick(want)
	}
}

// testBruteForceSubjects: every kind of subject is its own counter, IPv6 addresses are
// counted per /64, and one call reads several subjects in order.
func testBruteForceSubjects(t *testing.T, f *fixture) {
	limit := store.BruteForceLimit{MaxFailures: 2, Window: time.Minute, Lockout: time.Minute}
	subjects := []store.Subject{
		store.LoginSubject("grace@example.com"),
		store.IPSubject("2001:db8:aa:bb::1"),
		store.LoginIPSubject("grace@example.com", "2001:db8:aa:bb::1"),
		store.DeviceSubject("dev-" + newID()),
		store.RateSubject("forgot", "grace@example.com"),
	}
	for i, subj := range subjects {
		if !subj.Valid() {
			t.Fatalf("subject %d (%+v) is not valid", i, subj)
		}
		for range i + 1 {
			_, err := f.s.RecordFailure(f.ctx, subj, limit, f.now)
			must(t, err, "record subject %d", i)
		}
	}
	got, err := f.s.CheckLockouts(f.ctx, subjects, f.now)
	must(t, err, "check all")
	until := f.now.Add(limit.Lockout)
	want := []store.Lockout{{Failures: 1}, {Locked: true, Until: until}, {Locked: true, Until: until}, {Locked: true, Until: until}, {Locked: true, Until: until}}
	if d := diffLockouts(want, got); d != "" {
		t.Errorf("five kinds of subject: %s", d)
	}
	// Another address of the same /64 is the same counter; the next /64 is not.
	sameBlock := []store.Subject{store.IPSubject("2001:db8:aa:bb:ffff::9"), store.LoginIPSubject("GRACE@example.com", "2001:db8:aa:bb::77"), store.IPSubject("2001:db8:aa:bc::1")}
	got, err = f.s.CheckLockouts(f.ctx, sameBlock, f.now)
	must(t, err, "check the /64")
	if d := diffLockouts([]store.Lockout{{Locked: true, Until: until}, {Locked: true, Until: until}, {}}, got); d != "" {
		t.Errorf("IPv6 per /64: %s", d)
	}
	got, err = f.s.CheckLockouts(f.ctx, nil, f.now)
	must(t, err, "check nothing")
	if len(got) != 0 {
		t.Errorf("checking no subject returned %v", got)
	}
}
