package core_test

import (
	"errors"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

func TestAuthenticateDevice(t *testing.T) {
	f := newFixture(t)
	secret, err := token.New()
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	if err := f.Store.PutDeviceToken(t.Context(), store.DeviceToken{
		Hash: f.Hasher.Hash(secret), ClientID: "sensor-1", DeviceID: "dev-1", Roles: []string{"r"},
		CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}, now); err != nil {
		t.Fatal(err)
	}
	raw := token.DeviceToken{ClientID: "sensor-1", Secret: secret}.String()
	dt, err := f.AuthenticateDevice(t.Context(), f.meta, raw)
	if err != nil || dt.ClientID != "sensor-1" || dt.DeviceID != "dev-1" {
		t.Fatalf("AuthenticateDevice = %+v, %v", dt, err)
	}
	other, err := token.New()
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]string{
		"malformed":     "sensor-1",
		"wrong secret":  "sensor-1." + other,
		"other client":  "sensor-2." + secret,
		"session token": "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA." + secret,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := f.AuthenticateDevice(t.Context(), f.meta, bad)
			wantErr(t, err, core.ErrInvalidToken)
		})
	}
	f.clock.Advance(time.Hour)
	_, err = f.AuthenticateDevice(t.Context(), f.meta, raw)
	wantErr(t, err, core.ErrInvalidToken)

	// An unreachable store is an internal error, never an invalid token.
	f.clock.Advance(-time.Hour)
	_ = f.mem.Close()
	_, err = f.AuthenticateDevice(t.Context(), f.meta, raw)
	if err == nil || errors.Is(err, core.ErrInvalidToken) {
		t.Errorf("with the store closed: %v, want an internal error", err)
	}
}
