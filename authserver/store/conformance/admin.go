package conformance

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// testListSessions: the user's live sessions, oldest first, with where they were created
// from; expired and other users' sessions are not listed, and nothing is touched.
func testListSessions(t *testing.T, f *fixture) {
	u := f.createUser("lena@example.com")
	other := f.createUser("otto@example.com")
	got, err := f.s.ListSessions(f.ctx, u.ID, f.now)
	must(t, err, "list sessions of a user without any")
	if got == nil || len(got) != 0 {
		t.Fatalf("no sessions listed as %#v, want an empty list", got)
	}
	var want []string
	for i := range 3 {
		s, _ := f.createSession(u, func(s *store.Session) {
			s.ClientIP, s.UserAgent = "203.0.113.7", "Mozilla/5.0 (X11) Firefox/"+string(rune('1'+i))
		})
		want = append(want, s.ID)
		f.tick(time.Second)
	}
	f.createSession(other)
	short, _ := f.createSession(u, func(s *store.Session) { s.ExpiresAt = f.now.Add(time.Minute) })
	got, err = f.s.ListSessions(f.ctx, u.ID, f.now)
	must(t, err, "list sessions")
	if ids := sessionIDs(got); !slices.Equal(ids, append(slices.Clone(want), short.ID)) {
		t.Fatalf("listed %v, want %v then %s, oldest first", ids, want, short.ID)
	}
	first := got[0]
	if first.ClientIP != "203.0.113.7" || first.UserAgent != "Mozilla/5.0 (X11) Firefox/1" || first.Dialect != "deviseToken" || first.ClientName != "web" {
		t.Errorf("listed session %+v: want its address, user agent, dialect and client as created", first)
	}
	// Past the short one's expiry, it is not listed; nothing listed was touched.
	later := f.tick(2 * time.Minute)
	got, err = f.s.ListSessions(f.ctx, u.ID, later)
	must(t, err, "list sessions later")
	if ids := sessionIDs(got); !slices.Equal(ids, want) {
		t.Fatalf("listed %v after one expired, want %v", ids, want)
	}
	if !got[0].LastSeenAt.Equal(first.LastSeenAt) {
		t.Errorf("listing touched a session: last seen %s, was %s", got[0].LastSeenAt, first.LastSeenAt)
	}
	_, err = f.s.ListSessions(f.ctx, "{bad}", f.now)
	wantErr(t, err, store.ErrInvalidArgument, "list sessions of a malformed ID")
}

func sessionIDs(v []store.Session) []string {
	ids := make([]string, len(v))
	for i, s := range v {
		ids[i] = s.ID
	}
	return ids
}

// testScanUsers: every user exactly once, in batches no larger than asked, without password
// hashes; an error from the callback stops the scan.
func testScanUsers(t *testing.T, f *fixture) {
	want := map[string]string{}
	for i := range 25 {
		u := f.createUser("user" + string(rune('a'+i)) + "@example.com")
		want[u.ID] = u.Login
	}
	seen := map[string]string{}
	err := f.s.ScanUsers(f.ctx, 7, func(batch []store.User) error {
		if len(batch) == 0 || len(batch) > 7 {
			t.Errorf("a batch of %d users, want 1 to 7", len(batch))
		}
		for _, u := range batch {
			if _, dup := seen[u.ID]; dup {
				t.Errorf("user %s seen twice", u.ID)
			}
			if u.PasswordHash != "" {
				t.Errorf("user %s scanned with its password hash", u.ID)
			}
			seen[u.ID] = u.Login
		}
		return nil
	})
	must(t, err, "scan users")
	if len(seen) != len(want) {
		t.Fatalf("scanned %d users, want %d", len(seen), len(want))
	}
	for id, login := range want {
		if seen[id] != login {
			t.Errorf("user %s scanned as %q, want %q", id, seen[id], login)
		}
	}
	stop := errors.New("stop")
	calls := 0
	err = f.s.ScanUsers(f.ctx, 5, func([]store.User) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("scan with a failing callback: %v after %d calls, want its error after 1", err, calls)
	}
}

// testDeleteUser: the user, its sessions (ended and announced), tokens, login and login
// counter go; another user is untouched, and the login can be registered again.
func testDeleteUser(t *testing.T, f *fixture) {
	u := f.createUser("gone@example.com")
	keep := f.createUser("stays@example.com")
	s1, _ := f.createSession(u)
	s2, _ := f.createSession(u)
	ks, _ := f.createSession(keep)
	must(t, f.s.IssueOneTimeToken(f.ctx, store.OneTimeToken{UserID: u.ID, Kind: store.OneTimeReset, Hash: hashOf("reset"), ExpiresAt: f.now.Add(time.Hour)}, f.now), "issue reset token")
	limit := store.BruteForceLimit{MaxFailures: 3, Window: time.Hour, Lockout: time.Hour}
	for range 3 {
		_, err := f.s.RecordFailure(f.ctx, store.LoginSubject(u.Login), limit, f.now)
		must(t, err, "record failure")
	}
	ch := subscribe(t, f, f.ctx)

	ended, err := f.s.DeleteUser(f.ctx, u.ID, f.now)
	must(t, err, "delete user")
	slices.Sort(ended)
	want := []string{s1.ID, s2.ID}
	slices.Sort(want)
	if !slices.Equal(ended, want) {
		t.Errorf("ended %v, want %v", ended, want)
	}
	for range 2 {
		if ev := nextEvent(t, ch); ev.Resync || ev.Revocation.UserID != u.ID || ev.Revocation.Reason != store.ReasonUserDeleted {
			t.Errorf("event %+v, want a user-deleted revocation of %s", ev, u.ID)
		}
	}
	_, err = f.s.GetUser(f.ctx, u.ID)
	wantErr(t, err, store.ErrNotFound, "get a deleted user")
	_, err = f.s.GetUserByLogin(f.ctx, u.Login)
	wantErr(t, err, store.ErrNotFound, "get a deleted user by login")
	if f.alive(s1.Ref()) || f.alive(s2.Ref()) {
		t.Error("a deleted user's session is still there")
	}
	if got, err := f.s.ListSessions(f.ctx, u.ID, f.now); err != nil || len(got) != 0 {
		t.Errorf("a deleted user's sessions: %v %v, want none", got, err)
	}
	err = f.s.ConsumeOneTimeToken(f.ctx, u.ID, store.OneTimeReset, hashOf("reset"), f.now)
	wantErr(t, err, store.ErrInvalidToken, "consume a deleted user's reset token")
	lock, err := f.s.CheckLockouts(f.ctx, []store.Subject{store.LoginSubject(u.Login)}, f.now)
	must(t, err, "check lockouts")
	if lock[0].Locked || lock[0].Failures != 0 {
		t.Error("the deleted user's login is still locked")
	}
	if !f.alive(ks.Ref()) {
		t.Error("another user's session went with the deleted user")
	}
	if _, err := f.s.GetUser(f.ctx, keep.ID); err != nil {
		t.Errorf("another user went with the deleted one: %v", err)
	}
	again := f.createUser("gone@example.com")
	if again.ID == u.ID {
		t.Error("the login was registered again under the old ID")
	}
	_, err = f.s.DeleteUser(f.ctx, u.ID, f.now)
	wantErr(t, err, store.ErrNotFound, "delete a deleted user")
}
