package conformance

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

func testCreateAndGetUser(t *testing.T, f *fixture) {
	in := store.User{
		ID: newID(), Login: "  Alice@Example.com ", Email: "alice@example.com", FirstName: "Alice",
		LastName: "Liddell", Role: "admin", Status: store.StatusPending, PasswordHash: "hash-1",
	}
	got, err := f.s.CreateUser(f.ctx, in, f.now)
	must(t, err, "create user")
	want := in
	want.Login = "Alice@Example.com" // trimmed, case kept
	want.CreatedAt, want.UpdatedAt, want.PasswordChangedAt = f.now, f.now, f.now
	if d := diff(want, got); d != "" {
		t.Errorf("CreateUser returned %s", d)
	}

	byID, err := f.s.GetUser(f.ctx, in.ID)
	must(t, err, "get user")
	if d := diff(want, byID); d != "" {
		t.Errorf("GetUser: %s", d)
	}
	for _, login := range []string{"alice@example.com", "ALICE@EXAMPLE.COM", " Alice@Example.com\t"} {
		byLogin, err := f.s.GetUserByLogin(f.ctx, login)
		must(t, err, "get user by login %q", login)
		if d := diff(want, byLogin); d != "" {
			t.Errorf("GetUserByLogin(%q): %s", login, d)
		}
	}

	// A user without a password has never changed one.
	bob, err := f.s.CreateUser(f.ctx, store.User{ID: newID(), Login: "bob", Status: store.StatusActive}, f.now)
	must(t, err, "create passwordless user")
	if !bob.PasswordChangedAt.IsZero() {
		t.Errorf("PasswordChangedAt of a passwordless user = %s, want zero", bob.PasswordChangedAt)
	}

	// Taken ID, taken login in another case: refused, and the loser leaves nothing behind.
	_, err = f.s.CreateUser(f.ctx, store.User{ID: in.ID, Login: "someone-else", Status: store.StatusActive}, f.now)
	wantErr(t, err, store.ErrAlreadyExists, "create with a taken ID")
	if _, err := f.s.GetUserByLogin(f.ctx, "someone-else"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("login of a refused registration: got %v, want ErrNotFound", err)
	}
	// The very same registration again (a retried request) is refused and leaves the login.
	_, err = f.s.CreateUser(f.ctx, in, f.now)
	wantErr(t, err, store.ErrAlreadyExists, "create the same user twice")
	if byLogin, err := f.s.GetUserByLogin(f.ctx, in.Login); err != nil || byLogin.ID != in.ID {
		t.Errorf("login after a repeated registration: got %s, %v; want %s", byLogin.ID, err, in.ID)
	}
	loser := newID()
	_, err = f.s.CreateUser(f.ctx, store.User{ID: loser, Login: "ALICE@example.COM", Status: store.StatusActive}, f.now)
	wantErr(t, err, store.ErrAlreadyExists, "create with a taken login")
	_, err = f.s.GetUser(f.ctx, loser)
	wantErr(t, err, store.ErrNotFound, "get the refused user")
	if byLogin, err := f.s.GetUserByLogin(f.ctx, "alice@example.com"); err != nil || byLogin.ID != in.ID {
		t.Errorf("login after a refused duplicate: got %s, %v; want %s", byLogin.ID, err, in.ID)
	}

	_, err = f.s.GetUser(f.ctx, newID())
	wantErr(t, err, store.ErrNotFound, "get unknown user")
	_, err = f.s.GetUser(f.ctx, "not an id {}")
	wantErr(t, err, store.ErrNotFound, "get malformed user ID")
	_, err = f.s.GetUserByLogin(f.ctx, "nobody@example.com")
	wantErr(t, err, store.ErrNotFound, "get unknown login")
	_, err = f.s.GetUserByLogin(f.ctx, "   ")
	wantErr(t, err, store.ErrNotFound, "get blank login")
}

func testCreateUserInvalid(t *testing.T, f *fixture) {
	valid := store.User{ID: newID(), Login: "valid", Status: store.StatusActive}
	for name, edit := range map[string]func(*store.User){
		"malformed ID":   func(u *store.User) { u.ID = "a}b" },
		"empty ID":       func(u *store.User) { u.ID = "" },
		"blank login":    func(u *store.User) { u.Login = " \t " },
		"long login":     func(u *store.User) { u.Login = strings.Repeat("x", store.MaxLoginLen+1) },
		"unknown status": func(u *store.User) { u.Status = 7 },
	} {
		u := valid
		edit(&u)
		_, err := f.s.CreateUser(f.ctx, u, f.now)
		wantErr(t, err, store.ErrInvalidArgument, "create user with %s", name)
	}
	// None of the refusals claimed the login.
	_, err := f.s.CreateUser(f.ctx, valid, f.now)
	must(t, err, "create the valid user after refusals")
}

func testConcurrentRegistration(t *testing.T, f *fixture) {
	const n = 50
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		ids[i] = newID()
		wg.Go(func() {
			_, errs[i] = f.s.CreateUser(f.ctx, store.User{ID: ids[i], Login: "Race@Example.com", Status: store.StatusActive}, f.now)
		})
	}
	wg.Wait()
	winner := ""
	for i, err := range errs {
		switch {
		case err == nil && winner != "":
			t.Fatalf("two registrations of one login succeeded: %s and %s", winner, ids[i])
		case err == nil:
			winner = ids[i]
		case !errors.Is(err, store.ErrAlreadyExists):
			t.Errorf("registration %d: got %v, want success or ErrAlreadyExists", i, err)
		}
	}
	if winner == "" {
		t.Fatal("no registration succeeded")
	}
	got, err := f.s.GetUserByLogin(f.ctx, "race@example.com")
	must(t, err, "get the winner by login")
	if got.ID != winner {
		t.Errorf("login resolves to %s, want the winner %s", got.ID, winner)
	}
	for _, id := range ids {
		if id == winner {
			continue
		}
		if _, err := f.s.GetUser(f.ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("losing registration %s: got %v, want ErrNotFound", id, err)
		}
	}
}

func testUpdateUser(t *testing.T, f *fixture) {
	u := f.createUser("carol@example.com")
	created := f.now
	later := f.tick(time.Minute)
	got, err := f.s.UpdateUser(f.ctx, u.ID, later, func(old store.User) (store.User, error) {
		if d := diff(u, old); d != "" {
			t.Errorf("update func got %s", d)
		}
		old.FirstName, old.LastName, old.Email, old.Role, old.Status = "Caroline", "Herschel", "c@example.org", "admin", store.StatusDisabled
		// Fields UpdateUser must keep, whatever the function does:
		old.ID, old.PasswordHash, old.CreatedAt, old.PasswordChangedAt = newID(), "stolen", later, later
		return old, nil
	})
	must(t, err, "update user")
	want := u
	want.FirstName, want.LastName, want.Email, want.Role, want.Status = "Caroline", "Herschel", "c@example.org", "admin", store.StatusDisabled
	want.UpdatedAt = later
	if d := diff(want, got); d != "" {
		t.Errorf("UpdateUser returned %s", d)
	}
	stored, err := f.s.GetUser(f.ctx, u.ID)
	must(t, err, "get updated user")
	if d := diff(want, stored); d != "" {
		t.Errorf("stored after update: %s", d)
	}
	if !stored.CreatedAt.Equal(created) {
		t.Errorf("CreatedAt changed to %s", stored.CreatedAt)
	}

	// An error from the function is returned as is, and nothing is written.
	boom := errors.New("boom")
	_, err = f.s.UpdateUser(f.ctx, u.ID, f.tick(time.Minute), func(old store.User) (store.User, error) {
		old.FirstName = "never"
		return old, boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("update func error: got %v, want boom", err)
	}
	// An invalid result is refused, and nothing is written.
	_, err = f.s.UpdateUser(f.ctx, u.ID, f.now, func(old store.User) (store.User, error) {
		old.FirstName, old.Login = "never", "  "
		return old, nil
	})
	wantErr(t, err, store.ErrInvalidArgument, "update to a blank login")
	if stored, err := f.s.GetUser(f.ctx, u.ID); err != nil || stored.FirstName != "Caroline" {
		t.Errorf("after refused updates: FirstName %q, %v; want Caroline", stored.FirstName, err)
	}

	_, err = f.s.UpdateUser(f.ctx, newID(), f.now, func(old store.User) (store.User, error) { return old, nil })
	wantErr(t, err, store.ErrNotFound, "update unknown user")
}

func testUpdateUserLogin(t *testing.T, f *fixture) {
	dave := f.createUser("dave@example.com")
	erin := f.createUser("erin@example.com")
	rename := func(u store.User, login string) (store.User, error) {
		return f.s.UpdateUser(f.ctx, u.ID, f.tick(time.Second), func(old store.User) (store.User, error) {
			old.Login, old.Email = login, strings.TrimSpace(login)
			return old, nil
		})
	}

	got, err := rename(dave, " David@Example.com ")
	must(t, err, "rename dave")
	if got.Login != "David@Example.com" {
		t.Errorf("renamed login = %q, want it trimmed with its case", got.Login)
	}
	if byLogin, err := f.s.GetUserByLogin(f.ctx, "david@example.com"); err != nil || byLogin.ID != dave.ID {
		t.Errorf("new login resolves to %q, %v; want %s", byLogin.ID, err, dave.ID)
	}
	_, err = f.s.GetUserByLogin(f.ctx, "dave@example.com")
	wantErr(t, err, store.ErrNotFound, "old login after rename")

	// The old login is free for someone else.
	frank := f.createUser("dave@example.com")
	if byLogin, err := f.s.GetUserByLogin(f.ctx, "DAVE@example.com"); err != nil || byLogin.ID != frank.ID {
		t.Errorf("reused login resolves to %q, %v; want %s", byLogin.ID, err, frank.ID)
	}

	// A login held by another user is refused and changes nothing.
	_, err = rename(dave, "ERIN@example.com")
	wantErr(t, err, store.ErrAlreadyExists, "rename to a taken login")
	if stored, err := f.s.GetUser(f.ctx, dave.ID); err != nil || stored.Login != "David@Example.com" {
		t.Errorf("after refused rename: login %q, %v", stored.Login, err)
	}
	if byLogin, err := f.s.GetUserByLogin(f.ctx, "erin@example.com"); err != nil || byLogin.ID != erin.ID {
		t.Errorf("taken login resolves to %q, %v; want %s", byLogin.ID, err, erin.ID)
	}

	// A change of case only keeps the index entry.
	_, err = rename(dave, "DAVID@example.com")
	must(t, err, "change case of login")
	if byLogin, err := f.s.GetUserByLogin(f.ctx, "david@EXAMPLE.com"); err != nil || byLogin.Login != "DAVID@example.com" {
		t.Errorf("after case change: login %q, %v", byLogin.Login, err)
	}

	// Back and forth: the first login is reclaimed by its old owner once free again.
	_, err = rename(erin, "erin2@example.com")
	must(t, err, "rename erin")
	_, err = rename(erin, "erin@example.com")
	must(t, err, "rename erin back")
	if byLogin, err := f.s.GetUserByLogin(f.ctx, "erin@example.com"); err != nil || byLogin.ID != erin.ID {
		t.Errorf("login renamed back resolves to %q, %v; want %s", byLogin.ID, err, erin.ID)
	}
	_, err = f.s.GetUserByLogin(f.ctx, "erin2@example.com")
	wantErr(t, err, store.ErrNotFound, "intermediate login")
}

// testConcurrentUpdates: racing read-modify-write updates never lose one. A store may give up
// on a hot record with ErrConflict, but every update it reports done is in the result.
func testConcurrentUpdates(t *testing.T, f *fixture) {
	u := f.createUser("counter@example.com")
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = f.s.UpdateUser(f.ctx, u.ID, f.now, func(old store.User) (store.User, error) {
				c, _ := strconv.Atoi(old.FirstName)
				old.FirstName = strconv.Itoa(c + 1)
				return old, nil
			})
		})
	}
	wg.Wait()
	done := 0
	for i, err := range errs {
		switch {
		case err == nil:
			done++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("update %d: %v", i, err)
		}
	}
	got, err := f.s.GetUser(f.ctx, u.ID)
	must(t, err, "get user")
	if got.FirstName != strconv.Itoa(done) {
		t.Errorf("counter = %s after %d successful updates: an update was lost", got.FirstName, done)
	}
	if done == 0 {
		t.Error("no update succeeded")
	}
}

func testSetPassword(t *testing.T, f *fixture) {
	u := f.createUser("grace@example.com")
	other := f.createUser("heidi@example.com")
	s1, _ := f.createSession(u)
	f.tick(time.Second)
	s2, _ := f.createSession(u)
	f.tick(time.Second)
	kept, keptSecret := f.createSession(u)
	otherSession, _ := f.createSession(other)
	must(t, f.s.IssueOneTimeToken(f.ctx, store.OneTimeToken{UserID: u.ID, Kind: store.OneTimeReset, Hash: hashOf("reset"), ExpiresAt: f.now.Add(time.Hour)}, f.now), "issue reset")
	must(t, f.s.IssueOneTimeToken(f.ctx, store.OneTimeToken{UserID: u.ID, Kind: store.OneTimeConfirm, Hash: hashOf("confirm"), ExpiresAt: f.now.Add(time.Hour)}, f.now), "issue confirm")

	at := f.tick(time.Minute)
	ended, err := f.s.SetPassword(f.ctx, u.ID, "new-hash", kept.ID, at)
	must(t, err, "set password")
	if !sameSet(ended, []string{s1.ID, s2.ID}) {
		t.Errorf("ended %v, want %v", ended, []string{s1.ID, s2.ID})
	}
	if f.alive(s1.Ref()) || f.alive(s2.Ref()) {
		t.Error("a session other than the kept one survived the password change")
	}
	if _, _, err := f.s.ValidateSession(f.ctx, kept.Ref(), hashOf(keptSecret), f.now); err != nil {
		t.Errorf("kept session: %v", err)
	}
	if !f.alive(otherSession.Ref()) {
		t.Error("another user's session ended")
	}
	got, err := f.s.GetUser(f.ctx, u.ID)
	must(t, err, "get user")
	if got.PasswordHash != "new-hash" || !got.PasswordChangedAt.Equal(at) || !got.UpdatedAt.Equal(at) {
		t.Errorf("after SetPassword: hash %q, changed %s, updated %s; want new-hash at %s", got.PasswordHash, got.PasswordChangedAt, got.UpdatedAt, at)
	}
	// The reset link dies with the old password; the confirmation link does not.
	err = f.s.ConsumeOneTimeToken(f.ctx, u.ID, store.OneTimeReset, hashOf("reset"), f.now)
	wantErr(t, err, store.ErrInvalidToken, "reset token after the password changed")
	must(t, f.s.ConsumeOneTimeToken(f.ctx, u.ID, store.OneTimeConfirm, hashOf("confirm"), f.now), "confirm token after the password changed")

	// Without a kept session, all end.
	ended, err = f.s.SetPassword(f.ctx, u.ID, "newer-hash", "", f.tick(time.Second))
	must(t, err, "set password again")
	if !sameSet(ended, []string{kept.ID}) {
		t.Errorf("second change ended %v, want [%s]", ended, kept.ID)
	}

	_, err = f.s.SetPassword(f.ctx, newID(), "x", "", f.now)
	wantErr(t, err, store.ErrNotFound, "set password of unknown user")
}

func testRehashPassword(t *testing.T, f *fixture) {
	u := f.createUser("ivy@example.com")
	s, secret := f.createSession(u)
	tok := store.OneTimeToken{UserID: u.ID, Kind: store.OneTimeReset, Hash: hashOf("reset"), ExpiresAt: f.now.Add(time.Hour)}
	must(t, f.s.IssueOneTimeToken(f.ctx, tok, f.now), "issue a reset token")
	const newHash = "$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$bmV3aGFzaA"

	at := f.tick(time.Minute)
	must(t, f.s.RehashPassword(f.ctx, u.ID, u.PasswordHash, newHash), "rehash")
	got, err := f.s.GetUser(f.ctx, u.ID)
	must(t, err, "get user")
	want := u
	want.PasswordHash = newHash // and nothing else: not even UpdatedAt or PasswordChangedAt
	if d := diff(want, got); d != "" {
		t.Errorf("user after rehash: %s", d)
	}
	// The password has not changed: the session and the reset token are still good.
	_, _, err = f.s.ValidateSession(f.ctx, s.Ref(), hashOf(secret), at)
	must(t, err, "validate the session after a rehash")
	must(t, f.s.ConsumeOneTimeToken(f.ctx, u.ID, store.OneTimeReset, hashOf("reset"), at), "consume the reset token after a rehash")
	// A login that raced this one and verified against the old hash does not create a
	// session that a password change would have refused.
	_, err = f.s.CreateSession(f.ctx, store.NewSession{Session: f.session(u, newSecret()), PasswordChangedAt: u.PasswordChangedAt, Now: at})
	must(t, err, "create a session guarded by the unchanged PasswordChangedAt")

	// The stored hash is no longer the old one: a second rehash from it (a racing login, or a
	// password changed meanwhile) changes nothing.
	wantErr(t, f.s.RehashPassword(f.ctx, u.ID, u.PasswordHash, "$argon2id$other"), store.ErrConflict, "rehash from a stale hash")
	got, err = f.s.GetUser(f.ctx, u.ID)
	must(t, err, "get user")
	if got.PasswordHash != newHash {
		t.Errorf("a refused rehash changed the hash to %q", got.PasswordHash)
	}
	wantErr(t, f.s.RehashPassword(f.ctx, newID(), "a", "b"), store.ErrNotFound, "rehash an unknown user")
	wantErr(t, f.s.RehashPassword(f.ctx, "{bad}", "a", "b"), store.ErrNotFound, "rehash a malformed ID")
	wantErr(t, f.s.RehashPassword(f.ctx, u.ID, newHash, ""), store.ErrInvalidArgument, "rehash to an empty hash")
}
