package conformance

import (
	"errors"
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
