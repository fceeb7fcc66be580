package core_test

import (
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/store"
)

func TestRotate(t *testing.T) {
	f := newFixture(t)
	f.register("a@example.com")
	_, is, err := f.login("a@example.com", pw)
	if err != nil {
		t.Fatal(err)
	}
	const buffer = 5 * time.Second
	first := is.Token

	// Inside the buffer after issue: echoed.
	a, out, err := f.Rotate(t.Context(), f.meta, first, buffer)
	if err != nil || out != store.Echoed || a.Token != first {
		t.Fatalf("Rotate inside the buffer = %v %v %v, want the token echoed", a.Token, out, err)
	}
	f.clock.Advance(buffer + time.Second)
	a, out, err = f.Rotate(t.Context(), f.meta, first, buffer)
	if err != nil || out != store.Rotated || a.Token == first {
		t.Fatalf("Rotate after the buffer = %v %v, want a new token", out, err)
	}
	second := a.Token
	// A racing request with the old token, inside the buffer: the same successor.
	b, out, err := f.Rotate(t.Context(), f.meta, first, buffer)
	if err != nil || out != store.PreviousInBuffer || b.Token != second {
		t.Fatalf("racing Rotate = %v %v, want the successor %s", out, err, second)
	}
	if _, err := f.Authenticate(t.Context(), f.meta, second.String()); err != nil {
		t.Errorf("the successor does not authenticate: %v", err)
	}
	// After the buffer the previous token is dead.
	f.clock.Advance(buffer + time.Second)
	_, _, err = f.Rotate(t.Context(), f.meta, first, buffer)
	wantErr(t, err, core.ErrInvalidToken)
	// Another dialect's session is refused, and left as it was.
	other := f.meta
	other.Dialect = "another"
	_, _, err = f.Rotate(t.Context(), other, second, buffer)
	wantErr(t, err, core.ErrInvalidToken)
	if a, out, err := f.Rotate(t.Context(), f.meta, second, buffer); err != nil || out != store.Rotated {
		t.Fatalf("Rotate after another dialect's attempt = %v %v %v, want the session rotated by its own", a.Token, out, err)
	}
}

func TestRefresh(t *testing.T) {
	f := newFixture(t)
	u := f.register("a@example.com")
	is, err := f.IssueSession(t.Context(), f.meta, u, core.SessionOptions{WithRefresh: true, TokenLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ref := is.Session.Ref()
	r, err := f.Refresh(t.Context(), f.meta, ref, is.Refresh, time.Hour)
	if err != nil || r.Refresh == is.Refresh || r.Token == is.Token {
		t.Fatalf("Refresh = %+v, %v; want new secrets", r, err)
	}
	if _, err := f.Authenticate(t.Context(), f.meta, r.Token.String()); err != nil {
		t.Errorf("the refreshed token: %v", err)
	}
	// The access token is short: past its hour it fails, the session lives on.
	f.clock.Advance(time.Hour + time.Second)
	_, err = f.Authenticate(t.Context(), f.meta, r.Token.String())
	wantErr(t, err, core.ErrInvalidToken)
	r2, err := f.Refresh(t.Context(), f.meta, ref, r.Refresh, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// Reuse of a spent refresh secret revokes the whole session.
	_, err = f.Refresh(t.Context(), f.meta, ref, is.Refresh, time.Hour)
	wantErr(t, err, core.ErrInvalidToken)
	_, err = f.Authenticate(t.Context(), f.meta, r2.Token.String())
	wantErr(t, err, core.ErrInvalidToken)
	if len(f.audits(map[string]any{"event": "session.refresh_reuse", "user_id": u.ID})) != 1 {
		t.Error("no refresh-reuse audit event")
	}
	_, err = f.Refresh(t.Context(), f.meta, ref, "not a secret", time.Hour)
	wantErr(t, err, core.ErrInvalidToken)
}
