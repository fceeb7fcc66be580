package conformance

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

func testCreateAndGetSession(t *testing.T, f *fixture) {
	u := f.createUser("ivan@example.com")
	in := store.Session{
		ID: newID(), UserID: u.ID, Dialect: "keyToken", ClientName: "ios-app",
		TokenHash: hashOf("t0"), RefreshHash: hashOf("r0"), TokenExpiresAt: f.now.Add(time.Hour),
		IdleTimeout: 14 * 24 * time.Hour, ExpiresAt: f.now.Add(30 * 24 * time.Hour),
		// Creation stamps these with now, whatever the caller sends.
		CreatedAt: f.now.Add(-time.Hour), LastSeenAt: f.now.Add(-time.Hour),
	}
	evicted, err := f.s.CreateSession(f.ctx, store.NewSession{Session: in, Now: f.now})
	must(t, err, "create session")
	if len(evicted) != 0 {
		t.Errorf("evicted %v without a limit", evicted)
	}
	want := in
	want.CreatedAt, want.LastSeenAt, want.RotatedAt = f.now, f.now, f.now
	got, err := f.s.GetSession(f.ctx, in.Ref(), f.now)
	must(t, err, "get session")
	if d := diff(want, got); d != "" {
		t.Errorf("GetSession: %s", d)
	}
	// The idle window ends before the absolute expiry.
	if !got.Deadline().Equal(f.now.Add(in.IdleTimeout)) || !got.Live(f.now) {
		t.Errorf("Deadline %s (live %v), want %s", got.Deadline(), got.Live(f.now), f.now.Add(in.IdleTimeout))
	}

	_, err = f.s.CreateSession(f.ctx, store.NewSession{Session: in, Now: f.now})
	wantErr(t, err, store.ErrAlreadyExists, "create a session twice")
	orphan := in
	orphan.ID, orphan.UserID = newID(), newID()
	_, err = f.s.CreateSession(f.ctx, store.NewSession{Session: orphan, Now: f.now})
	wantErr(t, err, store.ErrNotFound, "create a session of an unknown user")

	_, err = f.s.GetSession(f.ctx, store.SessionRef{UserID: u.ID, SessionID: newID()}, f.now)
	wantErr(t, err, store.ErrNotFound, "get unknown session")
	_, err = f.s.GetSession(f.ctx, store.SessionRef{UserID: newID(), SessionID: in.ID}, f.now)
	wantErr(t, err, store.ErrNotFound, "get a session under another user's ID")
	_, err = f.s.GetSession(f.ctx, store.SessionRef{UserID: "}{", SessionID: in.ID}, f.now)
	wantErr(t, err, store.ErrNotFound, "get with a malformed reference")
}

func testCreateSessionInvalid(t *testing.T, f *fixture) {
	u := f.createUser("judy@example.com")
	for name, edit := range map[string]func(*store.NewSession){
		"no now":               func(r *store.NewSession) { r.Now = time.Time{} },
		"malformed ID":         func(r *store.NewSession) { r.Session.ID = "a b" },
		"malformed user ID":    func(r *store.NewSession) { r.Session.UserID = "" },
		"no dialect":           func(r *store.NewSession) { r.Session.Dialect = "" },
		"dialect with a brace": func(r *store.NewSession) { r.Session.Dialect = "a{b}" },
		"no token hash":        func(r *store.NewSession) { r.Session.TokenHash = "" },
		"malformed refresh":    func(r *store.NewSession) { r.Session.RefreshHash = "has space" },
		"previous token":       func(r *store.NewSession) { r.Session.PreviousTokenHash = hashOf("p") },
		"spent refresh":        func(r *store.NewSession) { r.Session.SpentRefreshHashes = []string{hashOf("s")} },
		"no expiry":            func(r *store.NewSession) { r.Session.ExpiresAt = time.Time{} },
		"expired":              func(r *store.NewSession) { r.Session.ExpiresAt = r.Now },
		"expired token":        func(r *store.NewSession) { r.Session.TokenExpiresAt = r.Now.Add(-time.Second) },
		"negative idle":        func(r *store.NewSession) { r.Session.IdleTimeout = -time.Second },
		"negative limit":       func(r *store.NewSession) { r.Limit.Max = -1 },
		"unknown policy":       func(r *store.NewSession) { r.Limit.Policy = 9 },
	} {
		req := store.NewSession{Session: f.session(u, newSecret()), Now: f.now}
		edit(&req)
		_, err := f.s.CreateSession(f.ctx, req)
		wantErr(t, err, store.ErrInvalidArgument, "create session with %s", name)
	}
}

func testCreateSessionPasswordGuard(t *testing.T, f *fixture) {
	u := f.createUser("ken@example.com")
	verified := u.PasswordChangedAt
	_, err := f.s.CreateSession(f.ctx, store.NewSession{Session: f.session(u, newSecret()), PasswordChangedAt: verified, Now: f.now})
	must(t, err, "create session with a current password stamp")

	// A reset lands between the password check and the session's creation.
	_, err = f.s.SetPassword(f.ctx, u.ID, "reset-hash", "", f.tick(time.Second))
	must(t, err, "set password")
	late := f.session(u, newSecret())
	_, err = f.s.CreateSession(f.ctx, store.NewSession{Session: late, PasswordChangedAt: verified, Now: f.tick(time.Millisecond)})
	wantErr(t, err, store.ErrConflict, "create session with a stale password stamp")
	if f.alive(late.Ref()) {
		t.Error("a session created against the old password exists")
	}
}

func testSessionExpiry(t *testing.T, f *fixture) {
	u := f.createUser("leo@example.com")
	t0 := f.now
	idle := time.Hour
	s, secret := f.createSession(u, func(s *store.Session) { s.IdleTimeout, s.ExpiresAt = idle, t0.Add(150*time.Minute) })
	ref := s.Ref()

	// Idle window: alive to its last millisecond, touched at its middle.
	f.now = t0.Add(idle - time.Millisecond)
	if !f.alive(ref) {
		t.Fatal("session ended before its idle timeout")
	}
	f.now = t0.Add(30 * time.Minute)
	touched, err := f.s.TouchSession(f.ctx, ref, f.now)
	must(t, err, "touch")
	if !touched.LastSeenAt.Equal(f.now) || !touched.Deadline().Equal(f.now.Add(idle)) {
		t.Errorf("after touch: last seen %s, deadline %s; want %s and %s", touched.LastSeenAt, touched.Deadline(), f.now, f.now.Add(idle))
	}
	// A touch with an older clock (another replica) does not move the window back.
	older, err := f.s.TouchSession(f.ctx, ref, t0.Add(10*time.Minute))
	must(t, err, "touch with an older now")
	if !older.LastSeenAt.Equal(f.now) {
		t.Errorf("touch with an older now moved last seen to %s", older.LastSeenAt)
	}
	f.now = t0.Add(idle + time.Minute)
	if !f.alive(ref) {
		t.Fatal("touch did not slide the idle window")
	}
	// Validation slides it too.
	_, _, err = f.s.ValidateSession(f.ctx, ref, hashOf(secret), t0.Add(80*time.Minute))
	must(t, err, "validate")
	f.now = t0.Add(80*time.Minute + idle - time.Millisecond)
	if !f.alive(ref) {
		t.Fatal("validation did not slide the idle window")
	}

	// The absolute expiry bounds the sliding: a touch at 139m59.999s slides the idle window
	// past 150m, but the session still ends there.
	touched, err = f.s.TouchSession(f.ctx, ref, f.now)
	must(t, err, "touch near the absolute expiry")
	if !touched.Deadline().Equal(t0.Add(150 * time.Minute)) {
		t.Errorf("deadline near the absolute expiry = %s, want %s", touched.Deadline(), t0.Add(150*time.Minute))
	}
	f.now = t0.Add(150*time.Minute - time.Millisecond)
	if !f.alive(ref) {
		t.Fatal("session ended before its absolute expiry")
	}
	f.now = t0.Add(150 * time.Minute)
	if f.alive(ref) {
		t.Error("session outlived its absolute expiry")
	}
	_, _, err = f.s.ValidateSession(f.ctx, ref, hashOf(secret), f.now)
	wantErr(t, err, store.ErrInvalidToken, "validate after expiry")
	_, err = f.s.TouchSession(f.ctx, ref, f.now)
	wantErr(t, err, store.ErrNotFound, "touch after expiry")

	// Idle expiry on its own.
	f.now = t0
	s2, secret2 := f.createSession(u, func(s *store.Session) { s.IdleTimeout = idle })
	f.now = t0.Add(idle)
	if f.alive(s2.Ref()) {
		t.Error("session outlived its idle timeout")
	}
	_, _, err = f.s.ValidateSession(f.ctx, s2.Ref(), hashOf(secret2), f.now)
	wantErr(t, err, store.ErrInvalidToken, "validate after idle timeout")

	// A token expiry ends the token, not the session.
	f.now = t0
	s3, secret3 := f.createSession(u, func(s *store.Session) { s.TokenExpiresAt = t0.Add(time.Minute) })
	f.now = t0.Add(time.Minute)
	_, _, err = f.s.ValidateSession(f.ctx, s3.Ref(), hashOf(secret3), f.now)
	wantErr(t, err, store.ErrInvalidToken, "validate an expired access token")
	if !f.alive(s3.Ref()) {
		t.Error("token expiry ended the session")
	}
}

func testValidateSession(t *testing.T, f *fixture) {
	u := f.createUser("mallory@example.com")
	s, secret := f.createSession(u)
	other := f.createUser("niaj@example.com")

	at := f.tick(time.Minute)
	gotS, gotU, err := f.s.ValidateSession(f.ctx, s.Ref(), hashOf(secret), at)
	must(t, err, "validate")
	want := s
	want.LastSeenAt = at
	if d := diff(want, gotS); d != "" {
		t.Errorf("session: %s", d)
	}
	wantU := u
	wantU.PasswordHash = "" // never carried by a session check
	if d := diff(wantU, gotU); d != "" {
		t.Errorf("user: %s", d)
	}

	for name, tc := range map[string]struct {
		ref  store.SessionRef
		hash string
	}{
		"wrong token":         {s.Ref(), hashOf(newSecret())},
		"empty token":         {s.Ref(), ""},
		"malformed token":     {s.Ref(), "x y"},
		"unknown session":     {store.SessionRef{UserID: u.ID, SessionID: newID()}, hashOf(secret)},
		"another user's ID":   {store.SessionRef{UserID: other.ID, SessionID: s.ID}, hashOf(secret)},
		"malformed reference": {store.SessionRef{UserID: "{u}", SessionID: s.ID}, hashOf(secret)},
	} {
		_, _, err := f.s.ValidateSession(f.ctx, tc.ref, tc.hash, f.now)
		wantErr(t, err, store.ErrInvalidToken, "validate with %s", name)
	}
	// A refused validation does not slide the window.
	if got, err := f.s.GetSession(f.ctx, s.Ref(), f.tick(time.Minute)); err != nil || !got.LastSeenAt.Equal(at) {
		t.Errorf("last seen after refused validations = %s, %v; want %s", got.LastSeenAt, err, at)
	}
}

func testRotateSession(t *testing.T, f *fixture) {
	const buffer = 5 * time.Second
	u := f.createUser("olivia@example.com")
	t0 := f.now
	s, t0Secret := f.createSession(u)
	rotate := func(secret string, at time.Time) (store.RotationResult, error) {
		return f.s.RotateSession(f.ctx, store.Rotation{
			Ref: s.Ref(), PresentedHash: hashOf(secret), SuccessorHash: hashOf(successorOf(secret)), Buffer: buffer, Now: at,
		})
	}
	expect := func(step string, res store.RotationResult, err error, outcome store.RotationOutcome, current string) {
		t.Helper()
		must(t, err, "%s", step)
		if res.Outcome != outcome {
			t.Errorf("%s: outcome %s, want %s", step, res.Outcome, outcome)
		}
		if res.Session.TokenHash != hashOf(current) {
			t.Errorf("%s: the returned session's current token is not the expected one", step)
		}
		if res.User.ID != u.ID || res.User.Login != u.Login || res.User.PasswordHash != "" {
			t.Errorf("%s: returned user %s/%s (password hash %q), want %s/%s without the hash", step, res.User.ID, res.User.Login, res.User.PasswordHash, u.ID, u.Login)
		}
	}

	// Inside the buffer after login: the token is echoed, nothing rotates.
	res, err := rotate(t0Secret, t0.Add(time.Second))
	expect("rotate inside the buffer after login", res, err, store.Echoed, t0Secret)
	if res.Outcome.ReturnsSuccessor() {
		t.Error("an echo must hand back the presented token")
	}

	// Outside it: rotation to the successor, the old token kept for the buffer.
	t1Secret := successorOf(t0Secret)
	rotatedAt := t0.Add(6 * time.Second)
	res, err = rotate(t0Secret, rotatedAt)
	expect("rotate after the buffer", res, err, store.Rotated, t1Secret)
	if !res.Outcome.ReturnsSuccessor() {
		t.Error("a rotation must hand back the successor")
	}
	if res.Session.PreviousTokenHash != hashOf(t0Secret) || !res.Session.PreviousValidUntil.Equal(rotatedAt.Add(buffer)) ||
		!res.Session.RotatedAt.Equal(rotatedAt) || !res.Session.LastSeenAt.Equal(rotatedAt) {
		t.Errorf("after rotation: previous valid until %s, rotated %s, last seen %s; want %s, %s, %s",
			res.Session.PreviousValidUntil, res.Session.RotatedAt, res.Session.LastSeenAt, rotatedAt.Add(buffer), rotatedAt, rotatedAt)
	}

	// The old token inside the buffer (a racing request): answered with the current token.
	res, err = rotate(t0Secret, rotatedAt.Add(buffer-time.Millisecond))
	expect("old token inside the buffer", res, err, store.PreviousInBuffer, t1Secret)
	if !res.Outcome.ReturnsSuccessor() {
		t.Error("the previous token must be answered with its successor")
	}
	// It validates too (a racing non-rotating request).
	_, _, err = f.s.ValidateSession(f.ctx, s.Ref(), hashOf(t0Secret), rotatedAt.Add(time.Second))
	must(t, err, "validate the previous token inside the buffer")
	// The new token inside the buffer is echoed.
	res, err = rotate(t1Secret, rotatedAt.Add(2*time.Second))
	expect("new token inside the buffer", res, err, store.Echoed, t1Secret)

	// After the buffer the old token is dead, for rotation and validation alike.
	afterBuffer := rotatedAt.Add(buffer)
	_, err = rotate(t0Secret, afterBuffer)
	wantErr(t, err, store.ErrInvalidToken, "old token after the buffer")
	_, _, err = f.s.ValidateSession(f.ctx, s.Ref(), hashOf(t0Secret), afterBuffer)
	wantErr(t, err, store.ErrInvalidToken, "validate the old token after the buffer")

	// The chain goes on.
	res, err = rotate(t1Secret, afterBuffer.Add(time.Second))
	expect("second rotation", res, err, store.Rotated, successorOf(t1Secret))

	// Refusals.
	_, err = rotate(newSecret(), f.now)
	wantErr(t, err, store.ErrInvalidToken, "rotate a wrong token")
	_, err = f.s.RotateSession(f.ctx, store.Rotation{
		Ref: s.Ref(), PresentedHash: hashOf(t1Secret), SuccessorHash: hashOf("not its successor"), Buffer: buffer, Now: afterBuffer.Add(2 * time.Second),
	})
	wantErr(t, err, store.ErrInvalidToken, "previous token with a successor that is not current")
	_, err = f.s.RotateSession(f.ctx, store.Rotation{
		Ref: store.SessionRef{UserID: u.ID, SessionID: newID()}, PresentedHash: hashOf(t1Secret), SuccessorHash: hashOf("x"), Buffer: buffer, Now: f.now,
	})
	wantErr(t, err, store.ErrInvalidToken, "rotate an unknown session")
	_, err = f.s.RotateSession(f.ctx, store.Rotation{Ref: s.Ref(), PresentedHash: hashOf(t1Secret), SuccessorHash: hashOf("x"), Buffer: -buffer, Now: f.now})
	wantErr(t, err, store.ErrInvalidArgument, "rotate with a negative buffer")
	_, err = f.s.RotateSession(f.ctx, store.Rotation{Ref: s.Ref(), PresentedHash: hashOf(t1Secret), SuccessorHash: hashOf("x"), Buffer: buffer})
	wantErr(t, err, store.ErrInvalidArgument, "rotate without now")

	// A rotation for another dialect is refused in its step and changes nothing: the session's
	// own dialect then rotates the same token as if it had not happened.
	t2Secret, later := successorOf(t1Secret), afterBuffer.Add(time.Second+buffer+time.Second)
	own := store.Rotation{Ref: s.Ref(), PresentedHash: hashOf(t2Secret), SuccessorHash: hashOf(successorOf(t2Secret)), Buffer: buffer, Dialect: s.Dialect, Now: later}
	foreign := own
	foreign.Dialect = "not" + s.Dialect
	_, err = f.s.RotateSession(f.ctx, foreign)
	wantErr(t, err, store.ErrInvalidToken, "rotate another dialect's session")
	if got, err := f.s.GetSession(f.ctx, s.Ref(), later); err != nil || got.TokenHash != hashOf(t2Secret) || !got.LastSeenAt.Before(later) {
		t.Errorf("after a refused foreign rotation: %v, current token changed %v, last seen %s; want it untouched", err, got.TokenHash != hashOf(t2Secret), got.LastSeenAt)
	}
	res, err = f.s.RotateSession(f.ctx, own)
	expect("rotation by the session's own dialect", res, err, store.Rotated, successorOf(t2Secret))
}

// testConcurrentRotation: 50 requests carrying one token race, in two successive buffer
// windows. Every request succeeds, every one ends up holding the same, valid, current token,
// and exactly one of them rotated per window. In the second window the requests' clocks are
// spread over half the buffer, as replicas' and arrival times are.
func testConcurrentRotation(t *testing.T, f *fixture) {
	const (
		n      = 50
		buffer = 5 * time.Second
	)
	u := f.createUser("peggy@example.com")
	s, secret := f.createSession(u)
	held := secret
	for window := range 2 {
		at := f.tick(buffer + time.Second)
		spread := time.Duration(window) * buffer / 2 / n
		presented := held
		results := make([]store.RotationResult, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				results[i], errs[i] = f.s.RotateSession(f.ctx, store.Rotation{
					Ref: s.Ref(), PresentedHash: hashOf(presented), SuccessorHash: hashOf(successorOf(presented)), Buffer: buffer,
					Now: at.Add(time.Duration(i) * spread),
				})
			})
		}
		wg.Wait()
		at = f.tick(time.Duration(n) * spread)
		rotations := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("window %d, request %d: %v", window, i, errs[i])
			}
			if results[i].Outcome == store.Rotated {
				rotations++
			}
			got := presented
			if results[i].Outcome.ReturnsSuccessor() {
				got = successorOf(presented)
			}
			if got != successorOf(presented) {
				t.Fatalf("window %d, request %d (%s) would leave the client holding a stale token", window, i, results[i].Outcome)
			}
		}
		if rotations != 1 {
			t.Fatalf("window %d: %d rotations, want exactly 1", window, rotations)
		}
		held = successorOf(presented)
		cur, _, err := f.s.ValidateSession(f.ctx, s.Ref(), hashOf(held), at)
		must(t, err, "window %d: validate the held token", window)
		if cur.TokenHash != hashOf(held) {
			t.Fatalf("window %d: the held token is not current", window)
		}
	}
}

func testRefreshSession(t *testing.T, f *fixture) {
	u := f.createUser("quentin@example.com")
	s, t0 := f.createSession(u, func(s *store.Session) {
		s.Dialect, s.RefreshHash, s.TokenExpiresAt = "keyToken", hashOf("r0"), f.now.Add(time.Hour)
	})
	refresh := func(presented, token, next string, at time.Time) (store.Session, store.User, error) {
		return f.s.RefreshSession(f.ctx, store.Refresh{
			Ref: s.Ref(), PresentedRefreshHash: hashOf(presented), NewTokenHash: hashOf(token), NewRefreshHash: hashOf(next),
			TokenExpiresAt: at.Add(time.Hour), Now: at,
		})
	}

	at1 := f.tick(50 * time.Minute)
	got, gotU, err := refresh("r0", "t1", "r1", at1)
	must(t, err, "refresh")
	if got.TokenHash != hashOf("t1") || got.RefreshHash != hashOf("r1") || !got.TokenExpiresAt.Equal(at1.Add(time.Hour)) ||
		!got.LastSeenAt.Equal(at1) || !got.RotatedAt.Equal(at1) || !equalValue([]string{hashOf("r0")}, got.SpentRefreshHashes) {
		t.Errorf("after refresh: %+v", got)
	}
	if gotU.ID != u.ID || gotU.Email != u.Email || gotU.PasswordHash != "" {
		t.Errorf("refresh returned user %s/%s (password hash %q), want %s/%s without the hash", gotU.ID, gotU.Email, gotU.PasswordHash, u.ID, u.Email)
	}
	_, _, err = f.s.ValidateSession(f.ctx, s.Ref(), hashOf(t0), at1)
	wantErr(t, err, store.ErrInvalidToken, "old access token after refresh")
	_, _, err = f.s.ValidateSession(f.ctx, s.Ref(), hashOf("t1"), at1)
	must(t, err, "new access token after refresh")

	// The same request again (its reply was lost): answered, not taken for theft.
	again, _, err := refresh("r0", "t1", "r1", at1.Add(time.Second))
	must(t, err, "retry of the same refresh")
	if again.RefreshHash != hashOf("r1") || again.TokenHash != hashOf("t1") {
		t.Error("a retried refresh changed the tokens")
	}

	at2 := f.tick(time.Hour)
	got, _, err = refresh("r1", "t2", "r2", at2)
	must(t, err, "second refresh")
	if !equalValue([]string{hashOf("r1"), hashOf("r0")}, got.SpentRefreshHashes) {
		t.Errorf("spent list %v, want newest first", got.SpentRefreshHashes)
	}

	// An unknown refresh token is refused and ends nothing.
	_, _, err = refresh("never-issued", "tx", "rx", f.tick(time.Second))
	wantErr(t, err, store.ErrInvalidToken, "unknown refresh token")
	if !f.alive(s.Ref()) {
		t.Fatal("an unknown refresh token ended the session")
	}
	if errors.Is(err, store.ErrTokenReused) {
		t.Error("an unknown refresh token was reported as reuse")
	}

	// A spent one, from someone other than its last spender, ends the whole session.
	_, _, err = refresh("r0", "t-thief", "r-thief", f.tick(time.Second))
	wantErr(t, err, store.ErrTokenReused, "reuse of a spent refresh token")
	wantErr(t, err, store.ErrInvalidToken, "reuse is also an invalid token")
	if f.alive(s.Ref()) {
		t.Fatal("the session survived refresh-token reuse")
	}
	_, _, err = refresh("r2", "t3", "r3", f.now)
	wantErr(t, err, store.ErrInvalidToken, "the current refresh token after reuse was detected")

	// A session without a refresh token has nothing to exchange.
	plain, _ := f.createSession(u)
	_, _, err = f.s.RefreshSession(f.ctx, store.Refresh{Ref: plain.Ref(), PresentedRefreshHash: hashOf("r"), NewTokenHash: hashOf("t"), NewRefreshHash: hashOf("n"), Now: f.now})
	wantErr(t, err, store.ErrInvalidToken, "refresh a session without a refresh token")

	// Caller mistakes.
	_, _, err = f.s.RefreshSession(f.ctx, store.Refresh{Ref: plain.Ref(), PresentedRefreshHash: hashOf("r"), NewTokenHash: hashOf("t"), NewRefreshHash: hashOf("r"), Now: f.now})
	wantErr(t, err, store.ErrInvalidArgument, "refresh to the presented refresh hash")
	_, _, err = f.s.RefreshSession(f.ctx, store.Refresh{Ref: plain.Ref(), PresentedRefreshHash: hashOf("r"), NewTokenHash: "", NewRefreshHash: hashOf("n"), Now: f.now})
	wantErr(t, err, store.ErrInvalidArgument, "refresh without a new token hash")
}

func testRefreshSpentListBounded(t *testing.T, f *fixture) {
	u := f.createUser("rupert@example.com")
	s, _ := f.createSession(u, func(s *store.Session) { s.RefreshHash = hashOf("r0") })
	const n = store.MaxSpentRefreshHashes + 8
	var got store.Session
	for i := range n {
		var err error
		got, _, err = f.s.RefreshSession(f.ctx, store.Refresh{
			Ref: s.Ref(), PresentedRefreshHash: hashOf(fmt.Sprint("r", i)), NewTokenHash: hashOf(fmt.Sprint("t", i+1)),
			NewRefreshHash: hashOf(fmt.Sprint("r", i+1)), Now: f.tick(time.Second),
		})
		must(t, err, "refresh %d", i)
	}
	if len(got.SpentRefreshHashes) != store.MaxSpentRefreshHashes {
		t.Fatalf("spent list holds %d hashes, want the bound %d", len(got.SpentRefreshHashes), store.MaxSpentRefreshHashes)
	}
	if got.SpentRefreshHashes[0] != hashOf(fmt.Sprint("r", n-1)) {
		t.Error("the newest spent hash is not first")
	}
	// Reuse of the oldest still-remembered token is detected.
	_, _, err := f.s.RefreshSession(f.ctx, store.Refresh{
		Ref: s.Ref(), PresentedRefreshHash: hashOf(fmt.Sprint("r", n-store.MaxSpentRefreshHashes)), NewTokenHash: hashOf("tx"),
		NewRefreshHash: hashOf("rx"), Now: f.tick(time.Second),
	})
	wantErr(t, err, store.ErrTokenReused, "reuse of the oldest remembered refresh token")
}

func testRevokeSession(t *testing.T, f *fixture) {
	u := f.createUser("sybil@example.com")
	s, secret := f.createSession(u)

	_, err := f.s.RevokeSession(f.ctx, s.Ref(), hashOf(newSecret()), store.ReasonLogout, f.now)
	wantErr(t, err, store.ErrInvalidToken, "revoke with a wrong token")
	if !f.alive(s.Ref()) {
		t.Fatal("a revoke with a wrong token ended the session")
	}
	_, err = f.s.RevokeSession(f.ctx, s.Ref(), hashOf(secret), "has space", f.now)
	wantErr(t, err, store.ErrInvalidArgument, "revoke with a malformed reason")

	ended, err := f.s.RevokeSession(f.ctx, s.Ref(), hashOf(secret), store.ReasonLogout, f.tick(time.Second))
	must(t, err, "revoke with the token")
	if ended.ID != s.ID || ended.ClientName != s.ClientName {
		t.Errorf("revoke returned %s/%s, want %s/%s", ended.ID, ended.ClientName, s.ID, s.ClientName)
	}
	if f.alive(s.Ref()) {
		t.Fatal("session alive after revoke")
	}
	_, _, err = f.s.ValidateSession(f.ctx, s.Ref(), hashOf(secret), f.now)
	wantErr(t, err, store.ErrInvalidToken, "validate after revoke")
	_, err = f.s.RevokeSession(f.ctx, s.Ref(), hashOf(secret), store.ReasonLogout, f.now)
	wantErr(t, err, store.ErrNotFound, "revoke twice")

	// By reference, without a token (admin).
	s2, _ := f.createSession(u)
	_, err = f.s.RevokeSession(f.ctx, s2.Ref(), "", store.ReasonAdmin, f.now)
	must(t, err, "revoke by reference")
	if f.alive(s2.Ref()) {
		t.Error("session alive after revoke by reference")
	}

	// The previous token inside the buffer logs out too (a request racing a rotation).
	s3, secret3 := f.createSession(u)
	_, err = f.s.RotateSession(f.ctx, store.Rotation{Ref: s3.Ref(), PresentedHash: hashOf(secret3), SuccessorHash: hashOf(successorOf(secret3)), Buffer: 5 * time.Second, Now: f.tick(time.Minute)})
	must(t, err, "rotate")
	_, err = f.s.RevokeSession(f.ctx, s3.Ref(), hashOf(secret3), store.ReasonLogout, f.tick(time.Second))
	must(t, err, "revoke with the previous token inside the buffer")

	// An expired session is not found.
	s4, secret4 := f.createSession(u, func(s *store.Session) { s.IdleTimeout = time.Minute })
	_, err = f.s.RevokeSession(f.ctx, s4.Ref(), hashOf(secret4), store.ReasonLogout, f.tick(time.Minute))
	wantErr(t, err, store.ErrNotFound, "revoke an expired session")

	_, err = f.s.RevokeSession(f.ctx, store.SessionRef{UserID: u.ID, SessionID: newID()}, "", store.ReasonAdmin, f.now)
	wantErr(t, err, store.ErrNotFound, "revoke an unknown session")
	_, err = f.s.RevokeSession(f.ctx, store.SessionRef{UserID: "{x}", SessionID: s.ID}, "", store.ReasonAdmin, f.now)
	wantErr(t, err, store.ErrNotFound, "revoke with a malformed reference")
}

func testRevokeAllSessions(t *testing.T, f *fixture) {
	u := f.createUser("trent@example.com")
	other := f.createUser("uma@example.com")
	var ids []string
	for range 3 {
		s, _ := f.createSession(u)
		ids = append(ids, s.ID)
		f.tick(time.Second)
	}
	kept, _ := f.createSession(u, func(s *store.Session) { s.Dialect = "account" })
	dead, _ := f.createSession(u, func(s *store.Session) { s.IdleTimeout = time.Second })
	otherS, _ := f.createSession(other)

	ended, err := f.s.RevokeAllSessions(f.ctx, u.ID, kept.ID, store.ReasonRevokeAll, f.tick(time.Minute))
	must(t, err, "revoke all")
	// Sessions that had already expired are not reported as ended now.
	if !sameSet(ended, ids) {
		t.Errorf("ended %v, want %v", ended, ids)
	}
	for _, id := range append(ids, dead.ID) {
		if f.alive(store.SessionRef{UserID: u.ID, SessionID: id}) {
			t.Errorf("session %s survived revoke-all", id)
		}
	}
	if !f.alive(kept.Ref()) {
		t.Error("the excepted session ended")
	}
	if !f.alive(otherS.Ref()) {
		t.Error("another user's session ended")
	}
	ended, err = f.s.RevokeAllSessions(f.ctx, u.ID, "", store.ReasonRevokeAll, f.now)
	must(t, err, "revoke all without exception")
	if !sameSet(ended, []string{kept.ID}) {
		t.Errorf("second revoke-all ended %v, want [%s]", ended, kept.ID)
	}
	ended, err = f.s.RevokeAllSessions(f.ctx, u.ID, "", store.ReasonRevokeAll, f.now)
	must(t, err, "revoke all of a user without sessions")
	if len(ended) != 0 {
		t.Errorf("revoke-all of nothing ended %v", ended)
	}
	_, err = f.s.RevokeAllSessions(f.ctx, "{bad}", "", store.ReasonRevokeAll, f.now)
	wantErr(t, err, store.ErrInvalidArgument, "revoke all with a malformed user ID")
}

// testRevokeDuringValidate: once RevokeSession has returned, no validation, rotation or touch
// of the session succeeds, however many were in flight.
func testRevokeDuringValidate(t *testing.T, f *fixture) {
	u := f.createUser("victor@example.com")
	s, secret := f.createSession(u)
	var revoked, stop atomic.Bool
	var successes, lateSuccesses atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for !stop.Load() {
				after := revoked.Load() // read before the call starts
				var err error
				switch i % 3 {
				case 0:
					_, _, err = f.s.ValidateSession(f.ctx, s.Ref(), hashOf(secret), f.now)
				case 1:
					_, err = f.s.RotateSession(f.ctx, store.Rotation{Ref: s.Ref(), PresentedHash: hashOf(secret), SuccessorHash: hashOf(successorOf(secret)), Buffer: time.Hour, Now: f.now})
				default:
					_, err = f.s.TouchSession(f.ctx, s.Ref(), f.now)
				}
				switch {
				case err == nil && after:
					lateSuccesses.Add(1)
				case err == nil:
					successes.Add(1)
				case !errors.Is(err, store.ErrInvalidToken) && !errors.Is(err, store.ErrNotFound):
					t.Errorf("worker %d: %v", i, err)
					return
				}
			}
		})
	}
	// Let the workers get going, revoke, then let them hammer the revoked session a while.
	for deadline := time.Now().Add(10 * time.Second); successes.Load() < 50; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("only %d operations succeeded on a live session", successes.Load())
		}
	}
	_, err := f.s.RevokeSession(f.ctx, s.Ref(), "", store.ReasonAdmin, f.now)
	must(t, err, "revoke")
	revoked.Store(true)
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if n := lateSuccesses.Load(); n != 0 {
		t.Fatalf("%d operations succeeded after the revoke had returned", n)
	}
}

func testDeviceLimitEvict(t *testing.T, f *fixture) {
	u := f.createUser("walter@example.com")
	limit := store.DeviceLimit{Max: 3, Policy: store.EvictOldest}
	web, _ := f.createSession(u, func(s *store.Session) { s.Dialect = "account" }) // another dialect: not counted
	var ids []string
	for i := range 5 {
		s := f.session(u, newSecret())
		evicted, err := f.s.CreateSession(f.ctx, store.NewSession{Session: s, Limit: limit, Now: f.tick(time.Second)})
		must(t, err, "create session %d", i)
		var want []string
		if i >= 3 {
			want = []string{ids[i-3]} // the oldest one
		}
		if !equalValue(want, evicted) {
			t.Errorf("session %d evicted %v, want %v", i, evicted, want)
		}
		ids = append(ids, s.ID)
	}
	for i, id := range ids {
		if alive := f.alive(store.SessionRef{UserID: u.ID, SessionID: id}); alive != (i >= 2) {
			t.Errorf("session %d alive=%v, want %v", i, alive, i >= 2)
		}
	}
	if !f.alive(web.Ref()) {
		t.Error("a session of another dialect was evicted")
	}

	// Lowering the limit evicts as many as needed, oldest first.
	s := f.session(u, newSecret())
	evicted, err := f.s.CreateSession(f.ctx, store.NewSession{Session: s, Limit: store.DeviceLimit{Max: 1}, Now: f.tick(time.Second)})
	must(t, err, "create with a lower limit")
	if !equalValue(ids[2:], evicted) {
		t.Errorf("evicted %v, want %v", evicted, ids[2:])
	}
}

func testDeviceLimitDeny(t *testing.T, f *fixture) {
	u := f.createUser("xavier@example.com")
	limit := store.DeviceLimit{Max: 2, Policy: store.DenyNew}
	create := func(edit ...func(*store.Session)) (store.Session, error) {
		s := f.session(u, newSecret())
		for _, e := range edit {
			e(&s)
		}
		_, err := f.s.CreateSession(f.ctx, store.NewSession{Session: s, Limit: limit, Now: f.now})
		return s, err
	}
	first, err := create()
	must(t, err, "first session")
	_, err = create(func(s *store.Session) { s.IdleTimeout = time.Minute })
	must(t, err, "second session")
	denied, err := create()
	wantErr(t, err, store.ErrDeviceLimit, "third session")
	if f.alive(denied.Ref()) {
		t.Error("a denied session exists")
	}
	if !f.alive(first.Ref()) {
		t.Error("DenyNew ended an existing session")
	}
	// Another dialect has its own count.
	_, err = create(func(s *store.Session) { s.Dialect = "bearerToken" })
	must(t, err, "session of another dialect")

	// A logout frees a slot.
	_, err = f.s.RevokeSession(f.ctx, first.Ref(), "", store.ReasonLogout, f.now)
	must(t, err, "logout")
	_, err = create()
	must(t, err, "session after a logout")
	// So does an expiry.
	f.tick(time.Minute)
	_, err = create()
	must(t, err, "session after the second one expired")
	_, err = create()
	wantErr(t, err, store.ErrDeviceLimit, "session past the limit again")
}

// testDeviceLimitConcurrent: racing logins never exceed the limit.
func testDeviceLimitConcurrent(t *testing.T, f *fixture) {
	const (
		n     = 20
		limit = 5
	)
	for _, policy := range []store.DevicePolicy{store.DenyNew, store.EvictOldest} {
		u := f.createUser(fmt.Sprintf("yolanda-%d@example.com", policy))
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				_, errs[i] = f.s.CreateSession(f.ctx, store.NewSession{
					Session: f.session(u, newSecret()), Limit: store.DeviceLimit{Max: limit, Policy: policy}, Now: f.now,
				})
			})
		}
		wg.Wait()
		created := 0
		for i, err := range errs {
			switch {
			case err == nil:
				created++
			case policy == store.DenyNew && errors.Is(err, store.ErrDeviceLimit):
			default:
				t.Errorf("policy %d, login %d: %v", policy, i, err)
			}
		}
		if policy == store.DenyNew && created != limit {
			t.Errorf("DenyNew: %d of %d racing logins succeeded, want exactly %d", created, n, limit)
		}
		if policy == store.EvictOldest && created != n {
			t.Errorf("EvictOldest: %d of %d racing logins succeeded, want all", created, n)
		}
		live, err := f.s.RevokeAllSessions(f.ctx, u.ID, "", store.ReasonAdmin, f.now)
		must(t, err, "count sessions")
		if len(live) != limit {
			t.Errorf("policy %d: %d live sessions after racing logins, want %d", policy, len(live), limit)
		}
	}
}
