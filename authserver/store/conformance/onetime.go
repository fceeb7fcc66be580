package conformance

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

func testOneTimeTokens(t *testing.T, f *fixture) {
	u := f.createUser("zoe@example.com")
	issue := func(kind store.OneTimeKind, secret string, ttl time.Duration) error {
		return f.s.IssueOneTimeToken(f.ctx, store.OneTimeToken{UserID: u.ID, Kind: kind, Hash: hashOf(secret), ExpiresAt: f.now.Add(ttl)}, f.now)
	}
	consume := func(kind store.OneTimeKind, secret string) error {
		return f.s.ConsumeOneTimeToken(f.ctx, u.ID, kind, hashOf(secret), f.now)
	}

	must(t, issue(store.OneTimeReset, "reset-1", time.Hour), "issue reset")
	must(t, issue(store.OneTimeConfirm, "confirm-1", 24*time.Hour), "issue confirm")
	// A wrong guess fails and leaves the real token usable.
	wantErr(t, consume(store.OneTimeReset, "guess"), store.ErrInvalidToken, "consume a wrong token")
	wantErr(t, consume(store.OneTimeReset, "confirm-1"), store.ErrInvalidToken, "consume a token of another kind")
	must(t, consume(store.OneTimeReset, "reset-1"), "consume reset")
	wantErr(t, consume(store.OneTimeReset, "reset-1"), store.ErrInvalidToken, "consume reset twice")
	must(t, consume(store.OneTimeConfirm, "confirm-1"), "consume confirm")

	// A new token replaces the outstanding one.
	must(t, issue(store.OneTimeReset, "reset-2", time.Hour), "issue reset 2")
	must(t, issue(store.OneTimeReset, "reset-3", time.Hour), "issue reset 3")
	wantErr(t, consume(store.OneTimeReset, "reset-2"), store.ErrInvalidToken, "consume a replaced token")
	must(t, consume(store.OneTimeReset, "reset-3"), "consume the replacing token")

	// Several live tokens: each of the newest Keep works, older and expired ones do not, and
	// spending one spends them all.
	keep := func(secret string, ttl time.Duration, n int) error {
		return f.s.IssueOneTimeToken(f.ctx, store.OneTimeToken{UserID: u.ID, Kind: store.OneTimeReset, Hash: hashOf(secret), ExpiresAt: f.now.Add(ttl), Keep: n}, f.now)
	}
	must(t, keep("k-short", time.Minute, 3), "issue a short-lived token")
	must(t, keep("k-1", time.Hour, 3), "issue k-1")
	f.tick(2 * time.Minute) // k-short expires and no longer takes a place
	must(t, keep("k-2", time.Hour, 3), "issue k-2")
	must(t, keep("k-3", time.Hour, 3), "issue k-3")
	wantErr(t, consume(store.OneTimeReset, "k-short"), store.ErrInvalidToken, "consume an expired kept token")
	wantErr(t, consume(store.OneTimeReset, "guess"), store.ErrInvalidToken, "a wrong guess among several")
	must(t, consume(store.OneTimeReset, "k-2"), "consume one of three live tokens")
	for _, s := range []string{"k-1", "k-3"} {
		wantErr(t, consume(store.OneTimeReset, s), store.ErrInvalidToken, "consume %s after another was spent", s)
	}
	for i := range 5 {
		must(t, keep(fmt.Sprintf("k-%d", 10+i), time.Hour, 3), "issue k-%d", 10+i)
	}
	wantErr(t, consume(store.OneTimeReset, "k-11"), store.ErrInvalidToken, "consume a token past the newest three")
	must(t, consume(store.OneTimeReset, "k-12"), "consume the oldest of the newest three")
	must(t, keep("k-20", time.Hour, 3), "issue k-20")
	must(t, issue(store.OneTimeReset, "k-21", time.Hour), "issue k-21 replacing all")
	wantErr(t, consume(store.OneTimeReset, "k-20"), store.ErrInvalidToken, "consume a token a Keep-0 issue replaced")
	must(t, consume(store.OneTimeReset, "k-21"), "consume the replacing token")
	wantErr(t, f.s.IssueOneTimeToken(f.ctx, store.OneTimeToken{UserID: u.ID, Kind: store.OneTimeReset, Hash: hashOf("x"), ExpiresAt: f.now.Add(time.Hour), Keep: store.MaxLiveOneTimeTokens + 1}, f.now), store.ErrInvalidArgument, "issue with Keep too large")

	// Expiry: usable to its last millisecond.
	must(t, issue(store.OneTimeReset, "reset-4", time.Hour), "issue reset 4")
	must(t, issue(store.OneTimeConfirm, "confirm-2", time.Hour), "issue confirm 2")
	f.tick(time.Hour - time.Millisecond)
	must(t, consume(store.OneTimeConfirm, "confirm-2"), "consume just before expiry")
	f.tick(time.Millisecond)
	wantErr(t, consume(store.OneTimeReset, "reset-4"), store.ErrInvalidToken, "consume at expiry")

	// Refusals.
	err := f.s.IssueOneTimeToken(f.ctx, store.OneTimeToken{UserID: newID(), Kind: store.OneTimeReset, Hash: hashOf("x"), ExpiresAt: f.now.Add(time.Hour)}, f.now)
	wantErr(t, err, store.ErrNotFound, "issue for an unknown user")
	for name, tok := range map[string]store.OneTimeToken{
		"expired":        {UserID: u.ID, Kind: store.OneTimeReset, Hash: hashOf("x"), ExpiresAt: f.now},
		"malformed kind": {UserID: u.ID, Kind: "Reset!", Hash: hashOf("x"), ExpiresAt: f.now.Add(time.Hour)},
		"no hash":        {UserID: u.ID, Kind: store.OneTimeReset, ExpiresAt: f.now.Add(time.Hour)},
		"malformed user": {UserID: "{}", Kind: store.OneTimeReset, Hash: hashOf("x"), ExpiresAt: f.now.Add(time.Hour)},
	} {
		wantErr(t, f.s.IssueOneTimeToken(f.ctx, tok, f.now), store.ErrInvalidArgument, "issue %s", name)
	}
	wantErr(t, f.s.ConsumeOneTimeToken(f.ctx, newID(), store.OneTimeReset, hashOf("x"), f.now), store.ErrInvalidToken, "consume for an unknown user")
	wantErr(t, f.s.ConsumeOneTimeToken(f.ctx, "{}", store.OneTimeReset, hashOf("x"), f.now), store.ErrInvalidToken, "consume with a malformed user ID")
	wantErr(t, f.s.ConsumeOneTimeToken(f.ctx, u.ID, "", hashOf("x"), f.now), store.ErrInvalidToken, "consume with no kind")
}

func testOneTimeConcurrentConsume(t *testing.T, f *fixture) {
	u := f.createUser("amy@example.com")
	must(t, f.s.IssueOneTimeToken(f.ctx, store.OneTimeToken{UserID: u.ID, Kind: store.OneTimeConfirm, Hash: hashOf("c"), ExpiresAt: f.now.Add(time.Hour)}, f.now), "issue")
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = f.s.ConsumeOneTimeToken(f.ctx, u.ID, store.OneTimeConfirm, hashOf("c"), f.now) })
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrInvalidToken):
			t.Errorf("consumer %d: %v", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d racing consumers succeeded, want exactly 1", ok)
	}
}
