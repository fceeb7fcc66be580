package conformance

import (
	"sync"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// testUnconfirmedEmail: a pending address is kept on the user by every write and read path,
// and is not a login: nobody is found by it, and it claims nothing until an update moves the
// login there.
func testUnconfirmedEmail(t *testing.T, f *fixture) {
	in := store.User{
		ID: newID(), Login: "grace@example.com", Email: "grace@example.com", Status: store.StatusActive,
		PasswordHash: "hash", UnconfirmedEmail: "Grace@New.example",
	}
	got, err := f.s.CreateUser(f.ctx, in, f.now)
	must(t, err, "create user with an unconfirmed email")
	if got.UnconfirmedEmail != in.UnconfirmedEmail {
		t.Errorf("CreateUser returned unconfirmed email %q, want %q", got.UnconfirmedEmail, in.UnconfirmedEmail)
	}
	if stored, err := f.s.GetUser(f.ctx, in.ID); err != nil || stored.UnconfirmedEmail != in.UnconfirmedEmail {
		t.Errorf("GetUser: unconfirmed email %q, %v; want %q", stored.UnconfirmedEmail, err, in.UnconfirmedEmail)
	}
	_, err = f.s.GetUserByLogin(f.ctx, "grace@new.example")
	wantErr(t, err, store.ErrNotFound, "get user by the unconfirmed email")

	// Another user may register the pending address: it is nobody's login yet.
	other := f.createUser("grace@other.example")

	// Set, kept across other updates, and read back by a session check.
	_, err = f.s.UpdateUser(f.ctx, other.ID, f.tick(time.Second), func(u store.User) (store.User, error) {
		u.UnconfirmedEmail = "other@new.example"
		return u, nil
	})
	must(t, err, "set an unconfirmed email")
	_, err = f.s.UpdateUser(f.ctx, other.ID, f.tick(time.Second), func(u store.User) (store.User, error) {
		if u.UnconfirmedEmail != "other@new.example" {
			t.Errorf("update func got unconfirmed email %q", u.UnconfirmedEmail)
		}
		u.FirstName = "Hopper"
		return u, nil
	})
	must(t, err, "update another field")
	s, secret := f.createSession(other)
	_, u, err := f.s.ValidateSession(f.ctx, s.Ref(), hashOf(secret), f.now)
	must(t, err, "validate")
	if u.UnconfirmedEmail != "other@new.example" || u.FirstName != "Hopper" {
		t.Errorf("the session check's user has unconfirmed email %q, first name %q", u.UnconfirmedEmail, u.FirstName)
	}

	// Confirmation: the login moves to the pending address and the pending address clears.
	got, err = f.s.UpdateUser(f.ctx, other.ID, f.tick(time.Second), func(u store.User) (store.User, error) {
		u.Login, u.Email, u.UnconfirmedEmail = u.UnconfirmedEmail, u.UnconfirmedEmail, ""
		return u, nil
	})
	must(t, err, "claim the unconfirmed email")
	if got.Login != "other@new.example" || got.UnconfirmedEmail != "" {
		t.Errorf("after the claim: login %q, unconfirmed %q", got.Login, got.UnconfirmedEmail)
	}
	if stored, err := f.s.GetUserByLogin(f.ctx, "other@new.example"); err != nil || stored.ID != other.ID || stored.UnconfirmedEmail != "" {
		t.Errorf("the claimed login resolves to %+v, %v", stored, err)
	}

	// A claim of a login taken meanwhile is refused and leaves the pending address in place.
	_, err = f.s.UpdateUser(f.ctx, in.ID, f.tick(time.Second), func(u store.User) (store.User, error) {
		u.UnconfirmedEmail = "other@new.example"
		return u, nil
	})
	must(t, err, "set an unconfirmed email that another user holds as login")
	_, err = f.s.UpdateUser(f.ctx, in.ID, f.tick(time.Second), func(u store.User) (store.User, error) {
		u.Login, u.Email, u.UnconfirmedEmail = u.UnconfirmedEmail, u.UnconfirmedEmail, ""
		return u, nil
	})
	wantErr(t, err, store.ErrAlreadyExists, "claim a taken login")
	if stored, err := f.s.GetUser(f.ctx, in.ID); err != nil || stored.Login != "grace@example.com" || stored.UnconfirmedEmail != "other@new.example" {
		t.Errorf("after the refused claim: login %q, unconfirmed %q, %v", stored.Login, stored.UnconfirmedEmail, err)
	}

	long := make([]byte, store.MaxLoginLen+1)
	for i := range long {
		long[i] = 'a'
	}
	_, err = f.s.UpdateUser(f.ctx, in.ID, f.now, func(u store.User) (store.User, error) {
		u.UnconfirmedEmail = string(long)
		return u, nil
	})
	wantErr(t, err, store.ErrInvalidArgument, "an overlong unconfirmed email")
}

// testPasswordChangeLeave: a session created with PasswordChangeUntil keeps it through every
// read, and SpendPasswordChange spends it once, before its end only.
func testPasswordChangeLeave(t *testing.T, f *fixture) {
	u := f.createUser("heidi@example.com")
	until := f.now.Add(15 * time.Minute)
	s, secret := f.createSession(u, func(s *store.Session) { s.PasswordChangeUntil = until })
	if !s.PasswordChangeUntil.Equal(until) {
		t.Fatalf("GetSession: PasswordChangeUntil %s, want %s", s.PasswordChangeUntil, until)
	}
	got, _, err := f.s.ValidateSession(f.ctx, s.Ref(), hashOf(secret), f.tick(time.Second))
	must(t, err, "validate")
	if !got.PasswordChangeUntil.Equal(until) {
		t.Errorf("ValidateSession: PasswordChangeUntil %s, want %s", got.PasswordChangeUntil, until)
	}
	res, err := f.s.RotateSession(f.ctx, store.Rotation{
		Ref: s.Ref(), PresentedHash: hashOf(secret), SuccessorHash: hashOf(successorOf(secret)), Buffer: time.Second, Now: f.tick(time.Minute),
	})
	must(t, err, "rotate")
	if !res.Session.PasswordChangeUntil.Equal(until) {
		t.Errorf("RotateSession: PasswordChangeUntil %s, want %s", res.Session.PasswordChangeUntil, until)
	}

	// Racing spends: exactly one wins, and the leave is gone for good.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for range 10 {
		wg.Go(func() {
			err := f.s.SpendPasswordChange(f.ctx, s.Ref(), f.now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			default:
				wantErr(t, err, store.ErrConflict, "a losing spend")
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d racing spends succeeded, want 1", wins)
	}
	if after, err := f.s.GetSession(f.ctx, s.Ref(), f.now); err != nil || !after.PasswordChangeUntil.IsZero() {
		t.Errorf("after the spend: PasswordChangeUntil %s, %v; want zero", after.PasswordChangeUntil, err)
	}
	if !f.alive(s.Ref()) {
		t.Error("spending the leave ended the session")
	}

	// A session without leave, one whose leave has run out, and one that has ended.
	plain, _ := f.createSession(u)
	wantErr(t, f.s.SpendPasswordChange(f.ctx, plain.Ref(), f.now), store.ErrConflict, "spend without leave")
	late, _ := f.createSession(u, func(s *store.Session) { s.PasswordChangeUntil = f.now.Add(time.Minute) })
	wantErr(t, f.s.SpendPasswordChange(f.ctx, late.Ref(), f.now.Add(time.Minute)), store.ErrConflict, "spend at the leave's end")
	_, err = f.s.RevokeSession(f.ctx, late.Ref(), "", store.ReasonLogout, f.now)
	must(t, err, "revoke")
	wantErr(t, f.s.SpendPasswordChange(f.ctx, late.Ref(), f.now), store.ErrNotFound, "spend on an ended session")
	wantErr(t, f.s.SpendPasswordChange(f.ctx, store.SessionRef{UserID: u.ID, SessionID: newID()}, f.now), store.ErrNotFound, "spend on an unknown session")
	wantErr(t, f.s.SpendPasswordChange(f.ctx, store.SessionRef{UserID: "{x}", SessionID: "y z"}, f.now), store.ErrNotFound, "spend with a malformed reference")

	// A leave that has ended before the session begins is refused.
	_, err = f.s.CreateSession(f.ctx, store.NewSession{Session: f.session(u, newSecret()), Now: f.now})
	must(t, err, "create a plain session")
	bad := f.session(u, newSecret())
	bad.PasswordChangeUntil = f.now
	_, err = f.s.CreateSession(f.ctx, store.NewSession{Session: bad, Now: f.now})
	wantErr(t, err, store.ErrInvalidArgument, "create a session whose leave ends at once")
}
