package conformance

import (
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
	got, err := f.s.GetDeviceToken(f.ctx, dev.Hash, f.now)
	must(t, err, "get device token")
	if d := diff(dev, got); d != "" {
		t.Errorf("GetDeviceToken: %s", d)
	}
	// Rotation overlap: a second token of the same client works alongside.
	next := dev
	next.Hash, next.CreatedAt, next.ExpiresAt = hashOf("device-secret-2"), f.now.Add(time.Hour), f.now.Add(48*time.Hour)
	must(t, f.s.PutDeviceToken(f.ctx, next, f.now), "put the next device token")
	for _, h := range []string{dev.Hash, next.Hash} {
		_, err := f.s.GetDeviceToken(f.ctx, h, f.tick(time.Minute))
		must(t, err, "get during overlap")
	}
	// Usable to its last millisecond.
	_, err = f.s.GetDeviceToken(f.ctx, dev.Hash, dev.ExpiresAt.Add(-time.Millisecond))
	must(t, err, "get just before expiry")
	_, err = f.s.GetDeviceToken(f.ctx, dev.Hash, dev.ExpiresAt)
	wantErr(t, err, store.ErrNotFound, "get at expiry")

	must(t, f.s.DeleteDeviceToken(f.ctx, next.Hash), "delete device token")
	_, err = f.s.GetDeviceToken(f.ctx, next.Hash, f.now)
	wantErr(t, err, store.ErrNotFound, "get deleted device token")
	wantErr(t, f.s.DeleteDeviceToken(f.ctx, next.Hash), store.ErrNotFound, "delete twice")
	_, err = f.s.GetDeviceToken(f.ctx, "no such hash", f.now)
	wantErr(t, err, store.ErrNotFound, "get with a malformed hash")

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
