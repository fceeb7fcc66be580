package redisstore_test

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redistest"
)

// TestKeyLayoutAndTTLs pins the key layout of DESIGN.md and checks that every key that can
// expire carries a TTL no longer than its record's life, and that only records that live until
// deleted (users, logins, app clients) have none.
func TestKeyLayoutAndTTLs(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cfg := redisConfig(config.RedisStandalone, srv.Addr)
	p := cfg.KeyPrefix
	s := openStore(t, cfg)
	ctx := t.Context()
	now := msNow()

	u, err := s.CreateUser(ctx, store.User{ID: newID(), Login: " Alice@Example.com", Status: store.StatusActive, PasswordHash: "h"}, now)
	must(t, err)
	devise := store.Session{ID: newID(), UserID: u.ID, Dialect: "deviseToken", TokenHash: hashOf("t"), IdleTimeout: time.Hour, ExpiresAt: now.Add(24 * time.Hour)}
	keyTok := store.Session{ID: newID(), UserID: u.ID, Dialect: "keyToken", ClientName: "app-1", TokenHash: hashOf("k"), RefreshHash: hashOf("r0"), ExpiresAt: now.Add(2 * time.Hour)}
	for _, sess := range []store.Session{devise, keyTok} {
		_, err := s.CreateSession(ctx, store.NewSession{Session: sess, TrackClient: sess.ClientName != "", Now: now})
		must(t, err)
	}
	_, _, err = s.RefreshSession(ctx, store.Refresh{Ref: keyTok.Ref(), PresentedRefreshHash: hashOf("r0"), NewTokenHash: hashOf("k1"), NewRefreshHash: hashOf("r1"), Now: now})
	must(t, err)
	for _, kind := range []store.OneTimeKind{store.OneTimeReset, store.OneTimeConfirm} {
		must(t, s.IssueOneTimeToken(ctx, store.OneTimeToken{UserID: u.ID, Kind: kind, Hash: hashOf(string(kind)), ExpiresAt: now.Add(time.Hour)}, now))
	}
	limit := store.BruteForceLimit{MaxFailures: 2, Window: 15 * time.Minute, Lockout: 30 * time.Minute}
	login := store.LoginSubject("alice@example.com")
	ip := store.IPSubject("192.0.2.1")
	pair := store.LoginIPSubject("alice@example.com", "2001:db8:1:2::5")
	device := store.DeviceSubject("d-1")
	rate := store.RateSubject("forgot", "192.0.2.1")
	slow := store.BruteForceLimit{MaxFailures: 5, Window: 15 * time.Minute, Lockout: 30 * time.Minute, Delay: time.Hour, FreeFailures: 0}
	for _, subj := range []store.Subject{login, ip, ip, device, rate} { // the IP gets locked
		_, err := s.RecordFailure(ctx, subj, limit, now)
		must(t, err)
	}
	_, err = s.RecordFailure(ctx, pair, slow, now) // held back past its window, until the lockout's end
	must(t, err)
	must(t, s.PutAppClient(ctx, store.AppClient{ID: "app-1"}))
	dev := store.DeviceToken{Hash: hashOf("dev"), ClientID: "sensor", ExpiresAt: now.Add(48 * time.Hour)}
	must(t, s.PutDeviceToken(ctx, dev, now))
	must(t, s.PutLegacyTokens(ctx, u.ID, []store.LegacyToken{
		{Client: "web", Hash: "$2a$04$legacy", ExpiresAt: now.Add(3 * time.Hour)},
		{Client: "phone", Hash: "$2a$04$legacy", ExpiresAt: now.Add(time.Hour)},
	}, now))

	// want maps every key to the longest TTL it may have; zero means it must have none.
	user := p + "{u:" + u.ID + "}:"
	want := map[string]time.Duration{
		user + "user":                            0,
		user + "sessions":                        24 * time.Hour, // its longest session's absolute expiry
		user + "s:" + devise.ID:                  time.Hour,      // the idle timeout, not the 24 h
		user + "s:" + keyTok.ID:                  2 * time.Hour,
		user + "ott:reset":                       time.Hour,
		user + "ott:confirm":                     time.Hour,
		user + "legacy":                          3 * time.Hour, // its latest token's
		p + "{l:alice@example.com}:login":        0,
		p + "{bf:" + login.Value + "}:login":     15 * time.Minute,
		p + "{bf:ip:192.0.2.1}:ip":               30 * time.Minute,
		p + "{bf:li:" + pair.Value + "}:loginip": 30 * time.Minute,
		p + "{bf:dev:d-1}:device":                15 * time.Minute,
		p + "{rl:" + rate.Value + "}:rate":       15 * time.Minute,
		p + "{c:app-1}:client":                   0,
		p + "{c:app-1}:sessions":                 2 * time.Hour, // its longest session's
		p + "{c:sensor}:dt:" + dev.Hash:          48 * time.Hour,
		p + "{c:sensor}:devtoks":                 48 * time.Hour, // its latest token's
	}
	raw := srv.Client()
	got := dumpAll(t, raw, p)
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("keys:\n got %q\nwant %q", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	// Time has passed since now; allow a little.
	const slack = 5 * time.Second
	for key, maxTTL := range want {
		ttl, err := raw.PTTL(ctx, key).Result()
		must(t, err)
		switch {
		case maxTTL == 0 && ttl != -1:
			t.Errorf("%s has TTL %s, want none", key, ttl)
		case maxTTL > 0 && (ttl <= 0 || ttl > maxTTL || ttl < maxTTL-slack):
			t.Errorf("%s has TTL %s, want %s", key, ttl, maxTTL)
		}
	}

	// The records are readable with redis-cli: short fields, times in Unix milliseconds.
	sess, err := raw.HGetAll(ctx, user+"s:"+keyTok.ID).Result()
	must(t, err)
	if sess["tok"] != hashOf("k1") || sess["ref"] != hashOf("r1") || sess["spent"] != hashOf("r0") || sess["dialect"] != "keyToken" {
		t.Errorf("session record %v", sess)
	}
	members, err := raw.ZRange(ctx, p+"{c:app-1}:sessions", 0, -1).Result()
	must(t, err)
	if !slices.Equal(members, []string{u.ID + "." + keyTok.ID}) {
		t.Errorf("client session index %q, want the keyToken session as <userID>.<sessionID>", members)
	}
	claim, err := raw.HGet(ctx, p+"{l:alice@example.com}:login", "id").Result()
	must(t, err)
	if claim != u.ID {
		t.Errorf("login claim names %q, want %s", claim, u.ID)
	}
}
