package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// testClosed: a closed store fails every call with ErrUnavailable and ends its subscriptions.
func testClosed(t *testing.T, f *fixture) {
	must(t, f.s.Ping(f.ctx), "ping an open store")
	u := f.createUser("carl@example.com")
	sess, secret := f.createSession(u)
	ch := subscribe(t, f, f.ctx)
	must(t, f.s.Close(), "close")
	select {
	case _, ok := <-ch:
		for ok { // drain anything already queued
			_, ok = <-ch
		}
	case <-time.After(eventTimeout):
		t.Fatal("a subscription outlived Close")
	}

	ctx, ref, now := f.ctx, sess.Ref(), f.now
	calls := map[string]func() error{
		"Ping": func() error { return f.s.Ping(ctx) },
		"CreateUser": func() error {
			_, err := f.s.CreateUser(ctx, store.User{ID: newID(), Login: "x", Status: 1}, now)
			return err
		},
		"GetUser":        func() error { _, err := f.s.GetUser(ctx, u.ID); return err },
		"GetUserByLogin": func() error { _, err := f.s.GetUserByLogin(ctx, u.Login); return err },
		"UpdateUser": func() error {
			_, err := f.s.UpdateUser(ctx, u.ID, now, func(v store.User) (store.User, error) { return v, nil })
			return err
		},
		"SetPassword":    func() error { _, err := f.s.SetPassword(ctx, u.ID, "h", "", now); return err },
		"RehashPassword": func() error { return f.s.RehashPassword(ctx, u.ID, u.PasswordHash, "h") },
		"CreateSession": func() error {
			_, err := f.s.CreateSession(ctx, store.NewSession{Session: f.session(u, newSecret()), Now: now})
			return err
		},
		"GetSession":      func() error { _, err := f.s.GetSession(ctx, ref, now); return err },
		"TouchSession":    func() error { _, err := f.s.TouchSession(ctx, ref, now); return err },
		"ValidateSession": func() error { _, _, err := f.s.ValidateSession(ctx, ref, hashOf(secret), now); return err },
		"RotateSession": func() error {
			_, err := f.s.RotateSession(ctx, store.Rotation{Ref: ref, PresentedHash: hashOf(secret), SuccessorHash: hashOf(successorOf(secret)), Buffer: time.Second, Now: now})
			return err
		},
		"RefreshSession": func() error {
			_, _, err := f.s.RefreshSession(ctx, store.Refresh{Ref: ref, PresentedRefreshHash: hashOf("r"), NewTokenHash: hashOf("t"), NewRefreshHash: hashOf("n"), Now: now})
			return err
		},
		"RevokeSession":       func() error { _, err := f.s.RevokeSession(ctx, ref, "", store.ReasonAdmin, now); return err },
		"RevokeAllSessions":   func() error { _, err := f.s.RevokeAllSessions(ctx, u.ID, "", store.ReasonAdmin, now); return err },
		"SpendPasswordChange": func() error { return f.s.SpendPasswordChange(ctx, ref, now) },
		"IssueOneTimeToken": func() error {
			return f.s.IssueOneTimeToken(ctx, store.OneTimeToken{UserID: u.ID, Kind: store.OneTimeReset, Hash: hashOf("x"), ExpiresAt: now.Add(time.Hour)}, now)
		},
		"ConsumeOneTimeToken": func() error { return f.s.ConsumeOneTimeToken(ctx, u.ID, store.OneTimeReset, hashOf("x"), now) },
		"RecordFailure": func() error {
			_, err := f.s.RecordFailure(ctx, store.IPSubject("192.0.2.1"), store.BruteForceLimit{MaxFailures: 1, Window: time.Minute, Lockout: time.Minute}, now)
			return err
		},
		"CheckLockouts": func() error {
			_, err := f.s.CheckLockouts(ctx, []store.Subject{store.IPSubject("192.0.2.1")}, now)
			return err
		},
		"ResetFailures":   func() error { return f.s.ResetFailures(ctx, store.IPSubject("192.0.2.1")) },
		"PutAppClient":    func() error { return f.s.PutAppClient(ctx, store.AppClient{ID: "app"}) },
		"GetAppClient":    func() error { _, err := f.s.GetAppClient(ctx, "app"); return err },
		"DeleteAppClient": func() error { return f.s.DeleteAppClient(ctx, "app") },
		"PutDeviceToken": func() error {
			return f.s.PutDeviceToken(ctx, store.DeviceToken{Hash: hashOf("d"), ClientID: "c", ExpiresAt: now.Add(time.Hour)}, now)
		},
		"GetDeviceToken":        func() error { _, err := f.s.GetDeviceToken(ctx, "c", hashOf("d"), now); return err },
		"ListDeviceTokens":      func() error { _, err := f.s.ListDeviceTokens(ctx, "c", now); return err },
		"DeleteDeviceToken":     func() error { return f.s.DeleteDeviceToken(ctx, "c", hashOf("d")) },
		"DeleteAllDeviceTokens": func() error { _, err := f.s.DeleteAllDeviceTokens(ctx, "c", now); return err },
		"RevokeClientSessions": func() error {
			_, err := f.s.RevokeClientSessions(ctx, "c", store.ReasonClientDeleted, now)
			return err
		},
		"PublishRevocation": func() error {
			return f.s.PublishRevocation(ctx, store.Revocation{UserID: u.ID, SessionID: sess.ID, Reason: store.ReasonAdmin, At: now})
		},
		"SubscribeRevocations": func() error { _, err := f.s.SubscribeRevocations(context.Background()); return err },
		"Close":                func() error { return f.s.Close() },
	}
	for name, call := range calls {
		wantErr(t, call(), store.ErrUnavailable, "%s on a closed store", name)
	}
}
