package redisstore_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redisstore"
	"github.com/latchauth/latch/authserver/store/redistest"
)

var testHashKey = []byte("redisstore-test-token-hash-key-0123456789")

// hashOf and successorOf are the callers' HMACs (DESIGN.md); the store never sees a secret.
func hashOf(secret string) string {
	m := hmac.New(sha256.New, testHashKey)
	m.Write([]byte(secret))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func successorOf(secret string) string { return hashOf("rotate:" + secret) }

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func msNow() time.Time { return time.UnixMilli(time.Now().UnixMilli()).UTC() }

func TestRoundTripsStandalone(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	testRoundTrips(t, openStore(t, redisConfig(config.RedisStandalone, srv.Addr)))

	// After the script cache is lost (restart, failover), the first call of a script costs
	// one more round trip (EVALSHA refused with NOSCRIPT, then EVAL), the next ones one again.
	s := openStore(t, redisConfig(config.RedisStandalone, srv.Addr))
	rt := &redisstore.RoundTrips{}
	s.AddHook(rt)
	now := msNow()
	u, err := s.CreateUser(t.Context(), store.User{ID: newID(), Login: "cold@example.com", Status: store.StatusActive}, now)
	must(t, err)
	sess := store.Session{ID: newID(), UserID: u.ID, Dialect: "account", TokenHash: hashOf("x"), ExpiresAt: now.Add(time.Hour)}
	_, err = s.CreateSession(t.Context(), store.NewSession{Session: sess, Now: now})
	must(t, err)
	must(t, srv.Client().ScriptFlush(t.Context()).Err())
	for i, want := range []int64{2, 1} {
		before := rt.Count()
		_, _, err := s.ValidateSession(t.Context(), sess.Ref(), hashOf("x"), now)
		must(t, err)
		if got := rt.Count() - before; got != want {
			t.Errorf("validation %d after SCRIPT FLUSH took %d round trips, want %d", i+1, got, want)
		}
	}
}

func TestRoundTripsCluster(t *testing.T) {
	t.Parallel()
	cluster := redistest.StartCluster(t)
	testRoundTrips(t, openStore(t, redisConfig(config.RedisCluster, cluster.Addrs...)))
}

// testRoundTrips measures every operation. Validation, rotation (each outcome) and revocation
// must be exactly one round trip; the rest are pinned too, so a change in cost is seen.
func testRoundTrips(t *testing.T, s *redisstore.Store) {
	rt := &redisstore.RoundTrips{}
	s.AddHook(rt)
	ctx := t.Context()
	now := msNow()
	measure := func(name string, want int64, op func() error) {
		t.Helper()
		before := rt.Count()
		if err := op(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := rt.Count() - before
		t.Logf("%-36s %d round trip(s)", name, got)
		if got != want {
			t.Errorf("%s: %d round trips, want %d", name, got, want)
		}
	}
	const buffer = 5 * time.Second
	var u store.User
	measure("CreateUser", 2, func() (err error) {
		u, err = s.CreateUser(ctx, store.User{ID: newID(), Login: "rt@example.com", Status: store.StatusActive, PasswordHash: "h"}, now)
		return err
	})
	measure("GetUser", 1, func() error { _, err := s.GetUser(ctx, u.ID); return err })
	measure("GetUserByLogin", 2, func() error { _, err := s.GetUserByLogin(ctx, "RT@example.com"); return err })
	measure("UpdateUser (profile)", 2, func() error {
		_, err := s.UpdateUser(ctx, u.ID, now, func(v store.User) (store.User, error) { v.FirstName = "R"; return v, nil })
		return err
	})
	measure("UpdateUser (login change)", 5, func() error {
		_, err := s.UpdateUser(ctx, u.ID, now, func(v store.User) (store.User, error) { v.Login = "rt2@example.com"; return v, nil })
		return err
	})
	sess := store.Session{
		ID: newID(), UserID: u.ID, Dialect: "deviseToken", TokenHash: hashOf("t0"),
		IdleTimeout: time.Hour, ExpiresAt: now.Add(24 * time.Hour),
	}
	measure("CreateSession", 1, func() error {
		_, err := s.CreateSession(ctx, store.NewSession{Session: sess, Limit: store.DeviceLimit{Max: 10}, Now: now})
		return err
	})
	ref := sess.Ref()
	measure("GetSession", 1, func() error { _, err := s.GetSession(ctx, ref, now); return err })
	measure("TouchSession", 1, func() error { _, err := s.TouchSession(ctx, ref, now); return err })
	measure("ValidateSession", 1, func() error { _, _, err := s.ValidateSession(ctx, ref, hashOf("t0"), now); return err })
	measure("ValidateSession (refused)", 1, func() error {
		if _, _, err := s.ValidateSession(ctx, ref, hashOf("wrong"), now); err == nil {
			t.Error("a wrong token validated")
		}
		return nil
	})
	rotate := func(secret string, at time.Time, want store.RotationOutcome) func() error {
		return func() error {
			res, err := s.RotateSession(ctx, store.Rotation{Ref: ref, PresentedHash: hashOf(secret), SuccessorHash: hashOf(successorOf(secret)), Buffer: buffer, Now: at})
			if err == nil && res.Outcome != want {
				t.Errorf("outcome %s, want %s", res.Outcome, want)
			}
			return err
		}
	}
	measure("RotateSession (echoed)", 1, rotate("t0", now.Add(time.Second), store.Echoed))
	measure("RotateSession (rotated)", 1, rotate("t0", now.Add(10*time.Second), store.Rotated))
	measure("RotateSession (previous in buffer)", 1, rotate("t0", now.Add(11*time.Second), store.PreviousInBuffer))
	measure("RevokeSession (with token)", 1, func() error {
		_, err := s.RevokeSession(ctx, ref, hashOf(successorOf("t0")), store.ReasonLogout, now.Add(12*time.Second))
		return err
	})

	keySess := store.Session{ID: newID(), UserID: u.ID, Dialect: "keyToken", TokenHash: hashOf("k0"), RefreshHash: hashOf("r0"), ExpiresAt: now.Add(time.Hour)}
	_, err := s.CreateSession(ctx, store.NewSession{Session: keySess, Now: now})
	must(t, err)
	measure("RefreshSession", 1, func() error {
		_, _, err := s.RefreshSession(ctx, store.Refresh{Ref: keySess.Ref(), PresentedRefreshHash: hashOf("r0"), NewTokenHash: hashOf("k1"), NewRefreshHash: hashOf("r1"), Now: now})
		return err
	})
	measure("RevokeSession (by reference)", 1, func() error {
		_, err := s.RevokeSession(ctx, keySess.Ref(), "", store.ReasonAdmin, now)
		return err
	})
	for range 3 {
		_, err := s.CreateSession(ctx, store.NewSession{Session: store.Session{ID: newID(), UserID: u.ID, Dialect: "account", TokenHash: hashOf("a"), ExpiresAt: now.Add(time.Hour)}, Now: now})
		must(t, err)
	}
	measure("RevokeAllSessions (3 sessions)", 1, func() error {
		_, err := s.RevokeAllSessions(ctx, u.ID, "", store.ReasonRevokeAll, now)
		return err
	})
	leave := store.Session{ID: newID(), UserID: u.ID, Dialect: "deviseToken", TokenHash: hashOf("l"), ExpiresAt: now.Add(time.Hour), PasswordChangeUntil: now.Add(time.Minute)}
	_, err = s.CreateSession(ctx, store.NewSession{Session: leave, Now: now})
	must(t, err)
	measure("SpendPasswordChange", 1, func() error { return s.SpendPasswordChange(ctx, leave.Ref(), now) })
	measure("SetPassword", 1, func() error { _, err := s.SetPassword(ctx, u.ID, "h2", "", now); return err })
	measure("IssueOneTimeToken", 1, func() error {
		return s.IssueOneTimeToken(ctx, store.OneTimeToken{UserID: u.ID, Kind: store.OneTimeConfirm, Hash: hashOf("c"), ExpiresAt: now.Add(time.Hour)}, now)
	})
	measure("ConsumeOneTimeToken", 1, func() error { return s.ConsumeOneTimeToken(ctx, u.ID, store.OneTimeConfirm, hashOf("c"), now) })
	subj := store.LoginSubject("rt@example.com")
	measure("RecordFailure", 1, func() error {
		_, err := s.RecordFailure(ctx, subj, store.BruteForceLimit{MaxFailures: 5, Window: time.Minute, Lockout: time.Minute}, now)
		return err
	})
	four := []store.Subject{subj, store.IPSubject("192.0.2.3"), store.LoginIPSubject("rt@example.com", "192.0.2.3"), store.DeviceSubject("d1")}
	// go-redis sends pipelines on connections of their own; the first one's handshake
	// (HELLO, CLIENT SETNAME, ...) is not the operation's cost.
	_, err = s.CheckLockouts(ctx, four, now)
	must(t, err)
	measure("CheckLockouts of four subjects", 1, func() error { _, err := s.CheckLockouts(ctx, four, now); return err })
	measure("ResetFailures", 1, func() error { return s.ResetFailures(ctx, subj) })
	measure("PutAppClient", 1, func() error { return s.PutAppClient(ctx, store.AppClient{ID: "app", Roles: []string{"r"}}) })
	measure("GetAppClient", 1, func() error { _, err := s.GetAppClient(ctx, "app"); return err })
	measure("DeleteAppClient", 1, func() error { return s.DeleteAppClient(ctx, "app") })
	dev := store.DeviceToken{Hash: hashOf("dev"), ClientID: "dev", ExpiresAt: now.Add(time.Hour)}
	measure("PutDeviceToken", 1, func() error { return s.PutDeviceToken(ctx, dev, now) })
	measure("GetDeviceToken", 1, func() error { _, err := s.GetDeviceToken(ctx, dev.ClientID, dev.Hash, now); return err })
	measure("ListDeviceTokens", 1, func() error { _, err := s.ListDeviceTokens(ctx, dev.ClientID, now); return err })
	measure("DeleteDeviceToken", 1, func() error { return s.DeleteDeviceToken(ctx, dev.ClientID, dev.Hash) })
	must(t, s.PutDeviceToken(ctx, dev, now))
	measure("DeleteAllDeviceTokens", 1, func() error { _, err := s.DeleteAllDeviceTokens(ctx, dev.ClientID, now); return err })
	measure("PublishRevocation", 1, func() error {
		return s.PublishRevocation(ctx, store.Revocation{UserID: u.ID, SessionID: sess.ID, Reason: store.ReasonExpired, At: now})
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
