package store_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

func TestSessionDeadline(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		s    store.Session
		want time.Time
	}{
		{"idle ends first", store.Session{LastSeenAt: t0, IdleTimeout: time.Hour, ExpiresAt: t0.Add(2 * time.Hour)}, t0.Add(time.Hour)},
		{"absolute ends first", store.Session{LastSeenAt: t0, IdleTimeout: 3 * time.Hour, ExpiresAt: t0.Add(2 * time.Hour)}, t0.Add(2 * time.Hour)},
		{"no idle timeout", store.Session{LastSeenAt: t0, ExpiresAt: t0.Add(2 * time.Hour)}, t0.Add(2 * time.Hour)},
	} {
		if got := tc.s.Deadline(); !got.Equal(tc.want) {
			t.Errorf("%s: Deadline = %s, want %s", tc.name, got, tc.want)
		}
		if !tc.s.Live(tc.want.Add(-time.Nanosecond)) || tc.s.Live(tc.want) {
			t.Errorf("%s: Live does not end exactly at the deadline", tc.name)
		}
	}
}

func TestNormalizeLoginAndSubjects(t *testing.T) {
	if got := store.NormalizeLogin("  Alice@Example.COM\t"); got != "alice@example.com" {
		t.Errorf("NormalizeLogin = %q", got)
	}
	a, b := store.LoginSubject("Alice@Example.com "), store.LoginSubject("alice@example.com")
	if a != b || !a.Valid() || len(a.Value) != 64 || strings.Contains(a.Value, "alice") {
		t.Errorf("LoginSubject: %+v vs %+v; want equal hex digests that hide the login", a, b)
	}
	if !store.IPSubject("2001:db8::1").Valid() || store.IPSubject("").Valid() || store.IPSubject("a b").Valid() {
		t.Error("IPSubject validity")
	}
	for in, want := range map[string]string{
		"192.0.2.1": "192.0.2.1", "::ffff:192.0.2.1": "192.0.2.1", "2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2::9": "2001:db8:1:2::/64", "fe80::1%eth0": "fe80::/64", "unknown": "unknown",
	} {
		if got := store.AddressBlock(in); got != want {
			t.Errorf("AddressBlock(%q) = %q, want %q", in, got, want)
		}
	}
	if store.LoginIPSubject("Ada@example.com", "2001:db8::1") != store.LoginIPSubject("ada@example.com", "2001:db8::2") ||
		store.LoginIPSubject("ada@example.com", "192.0.2.1") == store.LoginIPSubject("ada@example.com", "192.0.2.2") ||
		store.LoginIPSubject("ada@example.com", "192.0.2.1") == store.LoginIPSubject("bob@example.com", "192.0.2.1") {
		t.Error("LoginIPSubject: one counter per normalized login and address block")
	}
	if r := store.RateSubject("forgot", "ada@example.com"); !r.Valid() || strings.Contains(r.Value, "ada") {
		t.Errorf("RateSubject %+v: want a valid subject that hides its key", r)
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{
		"AbC-_09":                true,
		strings.Repeat("a", 128): true,
		strings.Repeat("a", 129): false,
		"":                       false,
		"a.b":                    false,
		"a}b":                    false,
		"a b":                    false,
		"é":                      false,
	} {
		if got := store.ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
	if !store.ValidClientID("sensor.v2-a_b") || store.ValidClientID("a{b") || store.ValidClientID("") {
		t.Error("ValidClientID")
	}
}

func TestRotationOutcome(t *testing.T) {
	for o, successor := range map[store.RotationOutcome]bool{store.Rotated: true, store.PreviousInBuffer: true, store.Echoed: false} {
		if o.ReturnsSuccessor() != successor || o.String() == "unknown" {
			t.Errorf("%s: ReturnsSuccessor = %v, want %v", o, o.ReturnsSuccessor(), successor)
		}
	}
}

func TestErrTokenReusedIsInvalidToken(t *testing.T) {
	if !errors.Is(store.ErrTokenReused, store.ErrInvalidToken) {
		t.Error("ErrTokenReused must read as ErrInvalidToken to callers that only know that")
	}
}
