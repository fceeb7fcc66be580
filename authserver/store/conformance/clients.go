package conformance

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

func testAppClients(t *testing.T, f *fixture) {
	app := store.AppClient{ID: "mobile.app-1", Roles: []string{"reader", "writer"}}
	must(t, f.s.PutAppClient(f.ctx, app), "put app client")
	got, err := f.s.GetAppClient(f.ctx, app.ID)
	must(t, err, "get app client")
	if d := diff(app, got); d != "" {
		t.Errorf("GetAppClient: %s", d)
	}
	// Replacing is allowed (the operator re-registers on every resync).
	app.Roles = nil
	must(t, f.s.PutAppClient(f.ctx, app), "replace app client")
	got, err = f.s.GetAppClient(f.ctx, app.ID)
	must(t, err, "get replaced app client")
	if len(got.Roles) != 0 {
		t.Errorf("roles after replace = %v, want none", got.Roles)
	}
	must(t, f.s.DeleteAppClient(f.ctx, app.ID), "delete app client")
	_, err = f.s.GetAppClient(f.ctx, app.ID)
	wantErr(t, err, store.ErrNotFound, "get deleted app client")
	wantErr(t, f.s.DeleteAppClient(f.ctx, app.ID), store.ErrNotFound, "delete twice")
	_, err = f.s.GetAppClient(f.ctx, "{nope}")
	wantErr(t, err, store.ErrNotFound, "get with a malformed ID")
	wantErr(t, f.s.PutAppClient(f.ctx, store.AppClient{ID: "a b"}), store.ErrInvalidArgument, "put with a malformed ID")
	wantErr(t, f.s.PutAppClient(f.ctx, store.AppClient{ID: "ok", Roles: []string{""}}), store.ErrInvalidArgument, "put with an empty role")
}

func testDeviceTokens(t *testing.T, f *fixture) {
	dev := store.DeviceToken{
		Hash: hashOf("device-secret"), ClientID: "sensor-7", DeviceID: "dev-42", Roles: []string{"telemetry"},
		CreatedAt: f.now, ExpiresAt: f.now.Add(24 * time.Hour),
	}
	must(t, f.s.PutDeviceToken(f.ctx, dev, f.now), "put device token")
	got, err := f.s.GetDeviceToken(f.ctx, dev.ClientID, dev.Hash, f.now)
	must(t, err, "get device token")
	if d := diff(dev, got); d != "" {
		t.Errorf("GetDeviceToken: %s", d)
	}
	// A token is found only under the client it was registered to: the client ID in a
	// presented token cannot borrow another client's registration.
	_, err = f.s.GetDeviceToken(f.ctx, "sensor-8", dev.Hash, f.now)
	wantErr(t, err, store.ErrNotFound, "get under another client")

	// Rotation overlap: a second token of the same client works alongside.
	next := dev
	next.Hash, next.CreatedAt, next.ExpiresAt = hashOf("device-secret-2"), f.now.Add(time.Hour), f.now.Add(48*time.Hour)
	must(t, f.s.PutDeviceToken(f.ctx, next, f.now), "put the next device token")
	for _, h := range []string{dev.Hash, next.Hash} {
		_, err := f.s.GetDeviceToken(f.ctx, dev.ClientID, h, f.tick(time.Minute))
		must(t, err, "get during overlap")
	}
	// Usable to its last millisecond.
	_, err = f.s.GetDeviceToken(f.ctx, dev.ClientID, dev.Hash, dev.ExpiresAt.Add(-time.Millisecond))
	must(t, err, "get just before expiry")
	_, err = f.s.GetDeviceToken(f.ctx, dev.ClientID, dev.Hash, dev.ExpiresAt)
	wantErr(t, err, store.ErrNotFound, "get at expiry")

	must(t, f.s.DeleteDeviceToken(f.ctx, next.ClientID, next.Hash), "delete device token")
	_, err = f.s.GetDeviceToken(f.ctx, next.ClientID, next.Hash, f.now)
	wantErr(t, err, store.ErrNotFound, "get deleted device token")
	wantErr(t, f.s.DeleteDeviceToken(f.ctx, next.ClientID, next.Hash), store.ErrNotFound, "delete twice")
	wantErr(t, f.s.DeleteDeviceToken(f.ctx, "sensor-8", dev.Hash), store.ErrNotFound, "delete under another client")
	_, err = f.s.GetDeviceToken(f.ctx, dev.ClientID, "no such hash", f.now)
	wantErr(t, err, store.ErrNotFound, "get with a malformed hash")
	_, err = f.s.GetDeviceToken(f.ctx, "{nope}", dev.Hash, f.now)
	wantErr(t, err, store.ErrNotFound, "get with a malformed client ID")

	for name, edit := range map[string]func(*store.DeviceToken){
		"expired":          func(d *store.DeviceToken) { d.ExpiresAt = f.now },
		"malformed hash":   func(d *store.DeviceToken) { d.Hash = "a}b" },
		"malformed client": func(d *store.DeviceToken) { d.ClientID = "" },
	} {
		d := dev
		edit(&d)
		wantErr(t, f.s.PutDeviceToken(f.ctx, d, f.now), store.ErrInvalidArgument, "put %s", name)
	}
}

// testDeviceTokenIndex: the operator lists a client's tokens to verify and repair its
// registration and revokes them all on deletion, without knowing their hashes.
func testDeviceTokenIndex(t *testing.T, f *fixture) {
	const client = "kiosk-1"
	tok := func(secret string, life time.Duration) store.DeviceToken {
		return store.DeviceToken{Hash: hashOf(secret), ClientID: client, DeviceID: "d", CreatedAt: f.now, ExpiresAt: f.now.Add(life)}
	}
	list := func(now time.Time) []string {
		t.Helper()
		got, err := f.s.ListDeviceTokens(f.ctx, client, now)
		must(t, err, "list device tokens")
		hashes := make([]string, len(got))
		for i, d := range got {
			if d.ClientID != client {
				t.Errorf("listed a token of client %q", d.ClientID)
			}
			hashes[i] = d.Hash
		}
		return hashes
	}
	if got := list(f.now); len(got) != 0 {
		t.Fatalf("a client without tokens lists %d", len(got))
	}

	long, short := tok("long", 48*time.Hour), tok("short", time.Hour)
	other := store.DeviceToken{Hash: hashOf("other"), ClientID: "kiosk-2", ExpiresAt: f.now.Add(time.Hour)}
	for _, d := range []store.DeviceToken{long, short, other} {
		must(t, f.s.PutDeviceToken(f.ctx, d, f.now), "put %s", d.Hash)
	}
	// Soonest expiry first; only this client's.
	if got, want := list(f.now), []string{short.Hash, long.Hash}; !slices.Equal(got, want) {
		t.Errorf("list = %q, want %q", got, want)
	}
	// Replacing a token (the operator shortens the old one at a rotation) keeps one entry.
	short.ExpiresAt = f.now.Add(30 * time.Minute)
	must(t, f.s.PutDeviceToken(f.ctx, short, f.now), "shorten a token")
	got, err := f.s.ListDeviceTokens(f.ctx, client, f.now)
	must(t, err, "list after replace")
	if len(got) != 2 || !got[0].ExpiresAt.Equal(short.ExpiresAt) {
		t.Errorf("after replacing, list = %+v, want the shortened token first and two in all", got)
	}
	// An expired token is not listed.
	if got, want := list(f.now.Add(time.Hour)), []string{long.Hash}; !slices.Equal(got, want) {
		t.Errorf("list an hour later = %q, want %q", got, want)
	}

	// DeleteAll removes every token of the client, counting those still live at now.
	n, err := f.s.DeleteAllDeviceTokens(f.ctx, client, f.now.Add(time.Hour))
	must(t, err, "delete all device tokens")
	if n != 1 {
		t.Errorf("DeleteAllDeviceTokens removed %d live tokens, want 1", n)
	}
	for _, d := range []store.DeviceToken{long, short} {
		_, err := f.s.GetDeviceToken(f.ctx, client, d.Hash, f.now)
		wantErr(t, err, store.ErrNotFound, "get after delete all")
	}
	if got := list(f.now); len(got) != 0 {
		t.Errorf("after delete all, list = %q", got)
	}
	_, err = f.s.GetDeviceToken(f.ctx, other.ClientID, other.Hash, f.now)
	must(t, err, "another client's token survives delete all")
	n, err = f.s.DeleteAllDeviceTokens(f.ctx, client, f.now)
	must(t, err, "delete all twice")
	if n != 0 {
		t.Errorf("second DeleteAllDeviceTokens removed %d", n)
	}
	// A token can be registered again after its client was cleared.
	must(t, f.s.PutDeviceToken(f.ctx, long, f.now), "put after delete all")
	if got := list(f.now); !slices.Equal(got, []string{long.Hash}) {
		t.Errorf("after re-registering, list = %q", got)
	}
}

func testRevokeClientSessions(t *testing.T, f *fixture) {
	const app, other = "mobile.app-1", "other-app"
	create := func(u store.User, client string, track bool, life time.Duration) store.Session {
		t.Helper()
		s := f.session(u, newSecret())
		s.Dialect, s.ClientName, s.ExpiresAt = "keyToken", client, f.now.Add(life)
		_, err := f.s.CreateSession(f.ctx, store.NewSession{Session: s, TrackClient: track, Now: f.now})
		must(t, err, "create session of %s (tracked %v)", client, track)
		return s
	}
	ada, bob := f.createUser("ada@example.com"), f.createUser("bob@example.com")
	// Filed under the app but over before the revocation: not reported, not announced.
	expired := create(ada, app, true, time.Minute)
	f.tick(2 * time.Minute)
	loggedOut := create(bob, app, true, time.Hour)
	_, err := f.s.RevokeSession(f.ctx, loggedOut.Ref(), "", store.ReasonLogout, f.now)
	must(t, err, "log out")

	var want []store.SessionRef
	for _, u := range []store.User{ada, ada, bob} {
		want = append(want, create(u, app, true, 30*24*time.Hour).Ref())
	}
	untracked := create(ada, app, false, time.Hour)
	otherClient := create(bob, other, true, time.Hour)

	events := subscribe(t, f, f.ctx)
	at := f.tick(time.Second)
	got, err := f.s.RevokeClientSessions(f.ctx, app, store.ReasonClientDeleted, at)
	must(t, err, "revoke client sessions")
	sortRefs(got)
	sortRefs(want)
	if !slices.Equal(want, got) {
		t.Errorf("RevokeClientSessions = %v, want %v", got, want)
	}
	var announced []store.SessionRef
	for range want {
		ev := nextEvent(t, events)
		if ev.Resync || ev.Revocation.Reason != store.ReasonClientDeleted || !ev.Revocation.At.Equal(at) {
			t.Errorf("event %+v, want a revocation for client-deleted at %s", ev, at)
		}
		announced = append(announced, store.SessionRef{UserID: ev.Revocation.UserID, SessionID: ev.Revocation.SessionID})
	}
	sortRefs(announced)
	if !slices.Equal(want, announced) {
		t.Errorf("announced %v, want %v", announced, want)
	}
	for _, ref := range append(want, expired.Ref()) {
		_, err := f.s.GetSession(f.ctx, ref, at)
		wantErr(t, err, store.ErrNotFound, "get a revoked session")
	}
	// Untracked sessions and other clients' sessions stay.
	for _, s := range []store.Session{untracked, otherClient} {
		_, err := f.s.GetSession(f.ctx, s.Ref(), at)
		must(t, err, "get the session of %s that must stay", s.ClientName)
	}

	// A second call finds nothing (and says so with an empty list), as does an unknown client.
	for _, id := range []string{app, "never-registered", "{malformed}"} {
		again, err := f.s.RevokeClientSessions(f.ctx, id, store.ReasonClientDeleted, at)
		must(t, err, "revoke client sessions of %s", id)
		if again == nil || len(again) != 0 {
			t.Errorf("revoke client sessions of %s: %v, want an empty list", id, again)
		}
	}
	// A new session of the client is filed again and found by the next call.
	next := create(ada, app, true, time.Hour)
	got, err = f.s.RevokeClientSessions(f.ctx, app, store.ReasonClientDeleted, at)
	must(t, err, "revoke the new session")
	if !slices.Equal([]store.SessionRef{next.Ref()}, got) {
		t.Errorf("second RevokeClientSessions = %v, want %v", got, next.Ref())
	}

	// A session that requires a registered client is refused (and nothing is filed) while the
	// client is not registered, and accepted once it is.
	const late = "late-app"
	strict := f.session(bob, newSecret())
	strict.Dialect, strict.ClientName, strict.ExpiresAt = "keyToken", late, f.now.Add(time.Hour)
	strictReq := store.NewSession{Session: strict, TrackClient: true, RequireRegisteredClient: true, Now: f.now}
	_, err = f.s.CreateSession(f.ctx, strictReq)
	wantErr(t, err, store.ErrUnknownClient, "create a session of an unregistered client")
	_, err = f.s.GetSession(f.ctx, strict.Ref(), f.now)
	wantErr(t, err, store.ErrNotFound, "get the refused session")
	must(t, f.s.PutAppClient(f.ctx, store.AppClient{ID: late}), "register the client")
	_, err = f.s.CreateSession(f.ctx, strictReq)
	must(t, err, "create a session of the registered client")
	got, err = f.s.RevokeClientSessions(f.ctx, late, store.ReasonClientDeleted, at)
	must(t, err, "revoke the registered client's sessions")
	if !slices.Equal([]store.SessionRef{strict.Ref()}, got) {
		t.Errorf("RevokeClientSessions after a refused and an accepted session = %v, want only %v", got, strict.Ref())
	}
	untrackedStrict := strictReq
	untrackedStrict.TrackClient = false
	untrackedStrict.Session.ID = newID()
	_, err = f.s.CreateSession(f.ctx, untrackedStrict)
	wantErr(t, err, store.ErrInvalidArgument, "require a registered client of an untracked session")

	_, err = f.s.RevokeClientSessions(f.ctx, app, "", at)
	wantErr(t, err, store.ErrInvalidArgument, "revoke with an empty reason")
	bad := f.session(ada, newSecret())
	bad.ClientName = "not a client id"
	_, err = f.s.CreateSession(f.ctx, store.NewSession{Session: bad, TrackClient: true, Now: f.now})
	wantErr(t, err, store.ErrInvalidArgument, "track a session without a client ID")
}

func sortRefs(v []store.SessionRef) {
	slices.SortFunc(v, func(a, b store.SessionRef) int {
		return strings.Compare(a.UserID+"."+a.SessionID, b.UserID+"."+b.SessionID)
	})
}
