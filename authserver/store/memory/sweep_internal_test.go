package memory

import (
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// TestSweepBoundsMemory: expired records are not only refused (the conformance suite checks
// that) but also dropped, so a long-running development server does not grow without bound.
func TestSweepBoundsMemory(t *testing.T) {
	s := New()
	ctx := t.Context()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	u, err := s.CreateUser(ctx, store.User{ID: "u1", Login: "u1", Status: store.StatusActive}, now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		sess := store.Session{ID: "s" + string(rune('A'+i%26)) + string(rune('a'+i/26)), UserID: u.ID, Dialect: "account", TokenHash: "h", ExpiresAt: now.Add(time.Minute)}
		if _, err := s.CreateSession(ctx, store.NewSession{Session: sess, Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.IssueOneTimeToken(ctx, store.OneTimeToken{UserID: u.ID, Kind: store.OneTimeReset, Hash: "h", ExpiresAt: now.Add(time.Minute)}, now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordFailure(ctx, store.IPSubject("192.0.2.1"), store.BruteForceLimit{MaxFailures: 5, Window: time.Minute, Lockout: time.Minute}, now); err != nil {
		t.Fatal(err)
	}
	if err := s.PutDeviceToken(ctx, store.DeviceToken{Hash: "d", ClientID: "c", ExpiresAt: now.Add(time.Minute)}, now); err != nil {
		t.Fatal(err)
	}

	// Any write an interval later sweeps.
	later := now.Add(2 * sweepInterval)
	if err := s.PutDeviceToken(ctx, store.DeviceToken{Hash: "d2", ClientID: "c", ExpiresAt: later.Add(time.Minute)}, later); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.sessions); n != 0 {
		t.Errorf("%d users still hold expired sessions", n)
	}
	if len(s.oneTime) != 0 || len(s.counters) != 0 || len(s.devices["c"]) != 1 {
		t.Errorf("after the sweep: %d one-time tokens, %d counters, %d device tokens; want 0, 0, 1", len(s.oneTime), len(s.counters), len(s.devices["c"]))
	}
}
