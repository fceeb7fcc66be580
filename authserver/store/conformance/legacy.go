package conformance

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// bcryptLike stands in for a bcrypt hash: the store compares the string and never parses it.
func bcryptLike(tag string) string { return "$2a$04$" + random(39)[:53-len(tag)] + tag }

func testLegacyTokens(t *testing.T, f *fixture) {
	u := f.createUser("migrated@example.com")
	web, phone := bcryptLike("w"), bcryptLike("p")
	tokens := []store.LegacyToken{
		{Client: "k3yWebClient-_0123456789", Hash: web, ExpiresAt: f.now.Add(14 * 24 * time.Hour)},
		{Client: "phone", Hash: phone, ExpiresAt: f.now.Add(time.Hour)},
	}
	must(t, f.s.PutLegacyTokens(f.ctx, u.ID, tokens, f.now), "put legacy tokens")

	got, err := f.s.GetLegacyToken(f.ctx, u.ID, "k3yWebClient-_0123456789", f.now)
	must(t, err, "get legacy token")
	if d := diff(tokens[0], got); d != "" {
		t.Errorf("stored token: %s", d)
	}
	// Reading changes nothing, however often: a stranger who knows the client ID cannot spend
	// the holder's token by asking.
	for range 3 {
		_, err = f.s.GetLegacyToken(f.ctx, u.ID, "phone", f.now)
		must(t, err, "get legacy token again")
	}
	_, err = f.s.GetLegacyToken(f.ctx, u.ID, "tablet", f.now)
	wantErr(t, err, store.ErrNotFound, "get an unknown client's token")
	other := f.createUser("other@example.com")
	_, err = f.s.GetLegacyToken(f.ctx, other.ID, "phone", f.now)
	wantErr(t, err, store.ErrNotFound, "get another user's client")

	// A wrong hash spends nothing; the right one is spent once, then again only inside the grace.
	_, err = f.s.SpendLegacyToken(f.ctx, u.ID, "phone", web, 5*time.Second, f.now)
	wantErr(t, err, store.ErrInvalidToken, "spend with another client's hash")
	first, err := f.s.SpendLegacyToken(f.ctx, u.ID, "phone", phone, 5*time.Second, f.now)
	if err != nil || !first {
		t.Fatalf("first spend = %v, %v; want true, nil", first, err)
	}
	spent, err := f.s.GetLegacyToken(f.ctx, u.ID, "phone", f.tick(time.Second))
	must(t, err, "get a token inside its grace")
	if !spent.SpentUntil.Equal(f.now.Add(4 * time.Second)) {
		t.Errorf("SpentUntil = %s, want the first spend + 5 s", spent.SpentUntil)
	}
	if first, err := f.s.SpendLegacyToken(f.ctx, u.ID, "phone", phone, 5*time.Second, f.now); err != nil || first {
		t.Errorf("spend inside the grace = %v, %v; want false, nil", first, err)
	}
	f.tick(4 * time.Second)
	_, err = f.s.SpendLegacyToken(f.ctx, u.ID, "phone", phone, 5*time.Second, f.now)
	wantErr(t, err, store.ErrInvalidToken, "spend after the grace")
	_, err = f.s.GetLegacyToken(f.ctx, u.ID, "phone", f.now)
	wantErr(t, err, store.ErrNotFound, "get a spent token after its grace")

	// Expiry is the caller's clock against the stored deadline.
	f.tick(14 * 24 * time.Hour)
	_, err = f.s.GetLegacyToken(f.ctx, u.ID, "k3yWebClient-_0123456789", f.now)
	wantErr(t, err, store.ErrNotFound, "get an expired token")
	_, err = f.s.SpendLegacyToken(f.ctx, u.ID, "k3yWebClient-_0123456789", web, time.Second, f.now)
	wantErr(t, err, store.ErrInvalidToken, "spend an expired token")

	// A put replaces a client's token (unspent again) and keeps the others.
	again := bcryptLike("a")
	must(t, f.s.PutLegacyTokens(f.ctx, u.ID, []store.LegacyToken{{Client: "phone", Hash: again, ExpiresAt: f.now.Add(time.Hour)}}, f.now), "put again")
	must(t, f.s.PutLegacyTokens(f.ctx, u.ID, []store.LegacyToken{{Client: "tablet", Hash: web, ExpiresAt: f.now.Add(time.Hour)}}, f.now), "put another")
	if got, err := f.s.GetLegacyToken(f.ctx, u.ID, "phone", f.now); err != nil || got.Hash != again || !got.SpentUntil.IsZero() {
		t.Errorf("replaced token = %+v, %v", got, err)
	}
	_, err = f.s.GetLegacyToken(f.ctx, u.ID, "tablet", f.now)
	must(t, err, "the other token is kept")
}

func testLegacyTokensInvalid(t *testing.T, f *fixture) {
	u := f.createUser("bounds@example.com")
	ok := store.LegacyToken{Client: "web", Hash: bcryptLike("x"), ExpiresAt: f.now.Add(time.Hour)}
	err := f.s.PutLegacyTokens(f.ctx, newID(), []store.LegacyToken{ok}, f.now)
	wantErr(t, err, store.ErrNotFound, "put for a user that does not exist")
	for name, tokens := range map[string][]store.LegacyToken{
		"expired":      {{Client: "web", Hash: ok.Hash, ExpiresAt: f.now}},
		"no client":    {{Hash: ok.Hash, ExpiresAt: ok.ExpiresAt}},
		"brace client": {{Client: "a{b}", Hash: ok.Hash, ExpiresAt: ok.ExpiresAt}},
		"repeated":     {ok, ok},
		"empty hash":   {{Client: "web", ExpiresAt: ok.ExpiresAt}},
		"spaced hash":  {{Client: "web", Hash: "a b", ExpiresAt: ok.ExpiresAt}},
		"spent":        {{Client: "web", Hash: ok.Hash, ExpiresAt: ok.ExpiresAt, SpentUntil: ok.ExpiresAt}},
		"long hash":    {{Client: "web", Hash: string(make([]byte, store.MaxLegacyHashLen+1)), ExpiresAt: ok.ExpiresAt}},
	} {
		wantErr(t, f.s.PutLegacyTokens(f.ctx, u.ID, tokens, f.now), store.ErrInvalidArgument, "put %s", name)
	}
	// The bound counts what the user would hold: stored exchangeable tokens and the new ones.
	var many []store.LegacyToken
	for i := range store.MaxLegacyTokens {
		many = append(many, store.LegacyToken{Client: fmt.Sprintf("c%d", i), Hash: ok.Hash, ExpiresAt: ok.ExpiresAt})
	}
	must(t, f.s.PutLegacyTokens(f.ctx, u.ID, many, f.now), "put the maximum")
	must(t, f.s.PutLegacyTokens(f.ctx, u.ID, many[:1], f.now), "replace one at the maximum")
	err = f.s.PutLegacyTokens(f.ctx, u.ID, []store.LegacyToken{ok}, f.now)
	wantErr(t, err, store.ErrInvalidArgument, "put one more than the maximum")
	_, err = f.s.GetLegacyToken(f.ctx, u.ID, "web", f.now)
	wantErr(t, err, store.ErrNotFound, "a refused put stores nothing")
}

// Of racing first exchanges exactly one is first; the others inside the grace still succeed.
func testLegacyTokenConcurrentSpend(t *testing.T, f *fixture) {
	u := f.createUser("racer@example.com")
	h := bcryptLike("r")
	must(t, f.s.PutLegacyTokens(f.ctx, u.ID, []store.LegacyToken{{Client: "web", Hash: h, ExpiresAt: f.now.Add(time.Hour)}}, f.now), "put")
	const n = 16
	var wg sync.WaitGroup
	results := make(chan error, n)
	firsts := make(chan bool, n)
	for range n {
		wg.Go(func() {
			first, err := f.s.SpendLegacyToken(f.ctx, u.ID, "web", h, 5*time.Second, f.now)
			results <- err
			firsts <- first
		})
	}
	wg.Wait()
	close(results)
	close(firsts)
	for err := range results {
		must(t, err, "racing spend")
	}
	count := 0
	for first := range firsts {
		if first {
			count++
		}
	}
	if count != 1 {
		t.Errorf("%d racing spends were first, want 1", count)
	}
}

func testLegacyTokensDeletedWithUser(t *testing.T, f *fixture) {
	u := f.createUser("deleted@example.com")
	must(t, f.s.PutLegacyTokens(f.ctx, u.ID, []store.LegacyToken{{Client: "web", Hash: bcryptLike("d"), ExpiresAt: f.now.Add(time.Hour)}}, f.now), "put")
	_, err := f.s.DeleteUser(f.ctx, u.ID, f.now)
	must(t, err, "delete user")
	_, err = f.s.GetLegacyToken(f.ctx, u.ID, "web", f.now)
	wantErr(t, err, store.ErrNotFound, "a deleted user's legacy token")
}

func testImportedHashes(t *testing.T, f *fixture) {
	empty, err := f.s.ImportedHashes(f.ctx)
	must(t, err, "read the record before any import")
	if d := diff(store.ImportedHashRecord{}, empty); d != "" {
		t.Fatalf("record before any import: %s", d)
	}
	bcrypt10, bcrypt12 := store.HashTwin{Scheme: "bcrypt", Cost: 10, Hash: bcryptLike("a")}, store.HashTwin{Scheme: "bcrypt", Cost: 12, Hash: bcryptLike("b")}
	pbkdf2 := store.HashTwin{Scheme: "pbkdf2-sha256", Cost: 600000, Hash: "$pbkdf2-sha256$600000$c2FsdA$" + random(43)}
	must(t, f.s.AddImportedHashes(f.ctx, 256, []store.HashTwin{bcrypt10}), "reserve 256 with a bcrypt twin")
	must(t, f.s.AddImportedHashes(f.ctx, 256, []store.HashTwin{bcrypt12, pbkdf2}), "reserve 256 more with a costlier bcrypt twin")
	// A cheaper twin never replaces a costlier one: the record keeps the worst case.
	must(t, f.s.AddImportedHashes(f.ctx, 0, []store.HashTwin{bcrypt10}), "offer a cheaper twin")
	must(t, f.s.AddImportedHashes(f.ctx, -12, nil), "give back 12")
	got, err := f.s.ImportedHashes(f.ctx)
	must(t, err, "read the record")
	want := store.ImportedHashRecord{Remaining: 500, Twins: []store.HashTwin{bcrypt12, pbkdf2}}
	if d := diff(want, got); d != "" {
		t.Errorf("record: %s", d)
	}

	wantErr(t, f.s.AddImportedHashes(f.ctx, 1, []store.HashTwin{{Scheme: "bcrypt", Cost: 12, Hash: "has space"}}),
		store.ErrInvalidArgument, "add a twin that is not a hash")
	wantErr(t, f.s.AddImportedHashes(f.ctx, 1, []store.HashTwin{{Scheme: "Bcrypt!", Cost: 12, Hash: bcrypt12.Hash}}),
		store.ErrInvalidArgument, "add a twin of a malformed scheme")

	// Counting down to zero removes the record, twins and all; a later import starts afresh.
	must(t, f.s.AddImportedHashes(f.ctx, -500, nil), "count the last rehash")
	got, err = f.s.ImportedHashes(f.ctx)
	must(t, err, "read the record after the last rehash")
	if d := diff(store.ImportedHashRecord{}, got); d != "" {
		t.Errorf("record after the last rehash: %s", d)
	}
	must(t, f.s.AddImportedHashes(f.ctx, -1, nil), "count a rehash with no record")
	must(t, f.s.AddImportedHashes(f.ctx, 1, []store.HashTwin{bcrypt10}), "a new import")
	got, err = f.s.ImportedHashes(f.ctx)
	must(t, err, "read the new record")
	if d := diff(store.ImportedHashRecord{Remaining: 1, Twins: []store.HashTwin{bcrypt10}}, got); d != "" {
		t.Errorf("record of a new import: %s", d)
	}
}

// Ending a user's sessions ends the sessions they had in the system they were imported from:
// "log her out everywhere" reaches a devise client that has not come back since the cutover.
func testLegacyTokensEndWithSessions(t *testing.T, f *fixture) {
	for _, end := range []struct {
		name string
		do   func(store.User, string) error
	}{
		{"revoke all", func(u store.User, _ string) error {
			_, err := f.s.RevokeAllSessions(f.ctx, u.ID, "", store.ReasonAdmin, f.now)
			return err
		}},
		{"revoke all but one", func(u store.User, keep string) error {
			_, err := f.s.RevokeAllSessions(f.ctx, u.ID, keep, store.ReasonRevokeAll, f.now)
			return err
		}},
		{"set password", func(u store.User, keep string) error {
			_, err := f.s.SetPassword(f.ctx, u.ID, "$argon2id$new", keep, f.now)
			return err
		}},
	} {
		u := f.createUser(strings.ReplaceAll(end.name, " ", "-") + "@example.com")
		kept, _ := f.createSession(u)
		must(t, f.s.PutLegacyTokens(f.ctx, u.ID, []store.LegacyToken{{Client: "phone", Hash: bcryptLike("p"), ExpiresAt: f.now.Add(time.Hour)}}, f.now), "put legacy tokens")
		must(t, end.do(u, kept.ID), "%s", end.name)
		_, err := f.s.GetLegacyToken(f.ctx, u.ID, "phone", f.now)
		wantErr(t, err, store.ErrNotFound, "the legacy token after %s", end.name)
	}
}
