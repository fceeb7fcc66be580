package redisstore_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redistest"
)

// dumpAll returns the serialized value (DUMP) of every key under prefix: equal dumps are equal
// values, whatever the type.
func dumpAll(t *testing.T, c *redis.Client, prefix string) map[string]string {
	t.Helper()
	out := map[string]string{}
	iter := c.Scan(t.Context(), 0, prefix+"*", 100).Iterator()
	for iter.Next(t.Context()) {
		v, err := c.Dump(t.Context(), iter.Val()).Result()
		must(t, err)
		out[iter.Val()] = v
	}
	must(t, iter.Err())
	return out
}

// TestOutageFailsClosedAndDeletesNothing stops Redis in the middle of a realm's life: every
// call fails with ErrUnavailable (never "not found", never "invalid token"), and once Redis is
// back every record is exactly as it was: no call made during the outage deleted, rotated,
// spent or shortened anything, late or otherwise.
func TestOutageFailsClosedAndDeletesNothing(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cfg := redisConfig(config.RedisStandalone, srv.Addr)
	cfg.DialTimeout, cfg.ReadTimeout, cfg.WriteTimeout = config.D(500*time.Millisecond), config.D(500*time.Millisecond), config.D(500*time.Millisecond)
	s := openStore(t, cfg)
	ctx := t.Context()
	now := msNow()

	u, err := s.CreateUser(ctx, store.User{ID: newID(), Login: "outage@example.com", Status: store.StatusActive, PasswordHash: "h"}, now)
	must(t, err)
	devise := store.Session{ID: newID(), UserID: u.ID, Dialect: "deviseToken", TokenHash: hashOf("t0"), IdleTimeout: time.Hour, ExpiresAt: now.Add(24 * time.Hour)}
	keyTok := store.Session{ID: newID(), UserID: u.ID, Dialect: "keyToken", TokenHash: hashOf("k0"), RefreshHash: hashOf("r0"), ExpiresAt: now.Add(24 * time.Hour)}
	for _, sess := range []store.Session{devise, keyTok} {
		_, err := s.CreateSession(ctx, store.NewSession{Session: sess, Now: now})
		must(t, err)
	}
	must(t, s.IssueOneTimeToken(ctx, store.OneTimeToken{UserID: u.ID, Kind: store.OneTimeConfirm, Hash: hashOf("c"), ExpiresAt: now.Add(time.Hour)}, now))
	limit := store.BruteForceLimit{MaxFailures: 5, Window: time.Hour, Lockout: time.Hour}
	subj := store.LoginSubject(u.Login)
	for range 2 {
		_, err := s.RecordFailure(ctx, subj, limit, now)
		must(t, err)
	}
	must(t, s.PutAppClient(ctx, store.AppClient{ID: "app", Roles: []string{"r"}}))
	dev := store.DeviceToken{Hash: hashOf("dev"), ClientID: "dev", ExpiresAt: now.Add(time.Hour)}
	must(t, s.PutDeviceToken(ctx, dev, now))
	events, err := s.SubscribeRevocations(ctx)
	must(t, err)

	raw := srv.Client()
	before := dumpAll(t, raw, cfg.KeyPrefix)
	if len(before) < 8 {
		t.Fatalf("expected a populated realm before the outage, found %d keys", len(before))
	}

	srv.Stop()

	later := now.Add(time.Minute)
	calls := map[string]func() error{
		"Ping": func() error { return s.Ping(ctx) },
		"CreateUser": func() error {
			_, err := s.CreateUser(ctx, store.User{ID: newID(), Login: "new", Status: 1}, later)
			return err
		},
		"GetUser":        func() error { _, err := s.GetUser(ctx, u.ID); return err },
		"GetUserByLogin": func() error { _, err := s.GetUserByLogin(ctx, u.Login); return err },
		"UpdateUser": func() error {
			_, err := s.UpdateUser(ctx, u.ID, later, func(v store.User) (store.User, error) { v.Login = "moved"; return v, nil })
			return err
		},
		"SetPassword": func() error { _, err := s.SetPassword(ctx, u.ID, "h2", "", later); return err },
		"CreateSession": func() error {
			_, err := s.CreateSession(ctx, store.NewSession{Session: store.Session{ID: newID(), UserID: u.ID, Dialect: "deviseToken", TokenHash: hashOf("n"), ExpiresAt: later.Add(time.Hour)}, Limit: store.DeviceLimit{Max: 1}, Now: later})
			return err
		},
		"GetSession":      func() error { _, err := s.GetSession(ctx, devise.Ref(), later); return err },
		"TouchSession":    func() error { _, err := s.TouchSession(ctx, devise.Ref(), later); return err },
		"ValidateSession": func() error { _, _, err := s.ValidateSession(ctx, devise.Ref(), hashOf("t0"), later); return err },
		"RotateSession": func() error {
			_, err := s.RotateSession(ctx, store.Rotation{Ref: devise.Ref(), PresentedHash: hashOf("t0"), SuccessorHash: hashOf(successorOf("t0")), Buffer: time.Second, Now: later})
			return err
		},
		"RefreshSession": func() error {
			_, _, err := s.RefreshSession(ctx, store.Refresh{Ref: keyTok.Ref(), PresentedRefreshHash: hashOf("r0"), NewTokenHash: hashOf("k1"), NewRefreshHash: hashOf("r1"), Now: later})
			return err
		},
		"RevokeSession": func() error {
			_, err := s.RevokeSession(ctx, devise.Ref(), hashOf("t0"), store.ReasonLogout, later)
			return err
		},
		"RevokeAllSessions":   func() error { _, err := s.RevokeAllSessions(ctx, u.ID, "", store.ReasonRevokeAll, later); return err },
		"SpendPasswordChange": func() error { return s.SpendPasswordChange(ctx, devise.Ref(), later) },
		"IssueOneTimeToken": func() error {
			return s.IssueOneTimeToken(ctx, store.OneTimeToken{UserID: u.ID, Kind: store.OneTimeConfirm, Hash: hashOf("c2"), ExpiresAt: later.Add(time.Hour)}, later)
		},
		"ConsumeOneTimeToken": func() error { return s.ConsumeOneTimeToken(ctx, u.ID, store.OneTimeConfirm, hashOf("c"), later) },
		"RecordFailure":       func() error { _, err := s.RecordFailure(ctx, subj, limit, later); return err },
		"CheckLockouts":       func() error { _, err := s.CheckLockouts(ctx, []store.Subject{subj}, later); return err },
		"ResetFailures":       func() error { return s.ResetFailures(ctx, subj) },
		"PutAppClient":        func() error { return s.PutAppClient(ctx, store.AppClient{ID: "app"}) },
		"GetAppClient":        func() error { _, err := s.GetAppClient(ctx, "app"); return err },
		"DeleteAppClient":     func() error { return s.DeleteAppClient(ctx, "app") },
		"PutDeviceToken": func() error {
			return s.PutDeviceToken(ctx, store.DeviceToken{Hash: hashOf("d2"), ClientID: "dev", ExpiresAt: later.Add(time.Hour)}, later)
		},
		"GetDeviceToken":        func() error { _, err := s.GetDeviceToken(ctx, dev.ClientID, dev.Hash, later); return err },
		"ListDeviceTokens":      func() error { _, err := s.ListDeviceTokens(ctx, dev.ClientID, later); return err },
		"DeleteDeviceToken":     func() error { return s.DeleteDeviceToken(ctx, dev.ClientID, dev.Hash) },
		"DeleteAllDeviceTokens": func() error { _, err := s.DeleteAllDeviceTokens(ctx, dev.ClientID, later); return err },
		"PublishRevocation": func() error {
			return s.PublishRevocation(ctx, store.Revocation{UserID: u.ID, SessionID: devise.ID, Reason: store.ReasonAdmin, At: later})
		},
		"SubscribeRevocations": func() error { _, err := s.SubscribeRevocations(ctx); return err },
	}
	for _, name := range slices.Sorted(maps.Keys(calls)) {
		err := calls[name]()
		switch {
		case !errors.Is(err, store.ErrUnavailable):
			t.Errorf("%s during the outage: got %v, want ErrUnavailable", name, err)
		case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrInvalidToken), errors.Is(err, store.ErrAlreadyExists):
			t.Errorf("%s during the outage: %v also reads as a verdict on the data", name, err)
		}
	}

	srv.Restart()
	waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for s.Ping(waitCtx) != nil {
		select {
		case <-waitCtx.Done():
			t.Fatal("store did not reconnect after the restart")
		case <-time.After(50 * time.Millisecond):
		}
	}

	after := dumpAll(t, raw, cfg.KeyPrefix)
	for key, v := range before {
		switch w, ok := after[key]; {
		case !ok:
			t.Errorf("key %s was deleted across the outage", key)
		case w != v:
			t.Errorf("key %s changed across the outage", key)
		}
	}
	for key := range after {
		// The readiness probe writes its own short-lived key once Redis is back: that is
		// the probe working, not a call made during the outage landing late.
		if _, ok := before[key]; !ok && !strings.HasSuffix(key, "readiness-probe") {
			t.Errorf("key %s appeared across the outage", key)
		}
	}

	// The data works as before: the same token, the unspent refresh token, the counter.
	_, _, err = s.ValidateSession(ctx, devise.Ref(), hashOf("t0"), later)
	must(t, err)
	_, _, err = s.RefreshSession(ctx, store.Refresh{Ref: keyTok.Ref(), PresentedRefreshHash: hashOf("r0"), NewTokenHash: hashOf("k1"), NewRefreshHash: hashOf("r1"), Now: later})
	must(t, err)
	if l, err := s.CheckLockouts(ctx, []store.Subject{subj}, later); err != nil || len(l) != 1 || l[0].Failures != 2 {
		t.Errorf("lockout after the outage = %+v, %v; want 2 failures", l, err)
	}

	// The subscription reports that it may have missed revocations, then carries new ones.
	waitResync(t, events)
	_, err = s.RevokeSession(ctx, devise.Ref(), "", store.ReasonAdmin, later)
	must(t, err)
	waitRevocation(t, events, devise.ID)
}

// waitResync waits for a Resync event, skipping revocations queued before it.
func waitResync(t *testing.T, events <-chan store.RevocationEvent) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("subscription closed instead of resyncing")
			}
			if ev.Resync {
				return
			}
		case <-timeout:
			t.Fatal("no Resync event after the subscription's connection was lost")
		}
	}
}

func waitRevocation(t *testing.T, events <-chan store.RevocationEvent, sessionID string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("subscription closed")
			}
			if !ev.Resync && ev.Revocation.SessionID == sessionID {
				return
			}
		case <-timeout:
			t.Fatalf("no revocation of %s", sessionID)
		}
	}
}
