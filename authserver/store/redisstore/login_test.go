package redisstore_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redistest"
)

// TestLoginClaimRecovery covers the two-step login index (a claim in the login's slot, then
// the user in its own): claims left behind by a writer that died, or by a rename whose release
// was lost, do not block the login forever, while a claim in progress is respected.
func TestLoginClaimRecovery(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cfg := redisConfig(config.RedisStandalone, srv.Addr)
	s := openStore(t, cfg)
	raw := srv.Client()
	ctx := t.Context()
	claim := func(login, holder string, leaseFromNow time.Duration) {
		t.Helper()
		lease := strconv.FormatInt(time.Now().Add(leaseFromNow).UnixMilli(), 10)
		must(t, raw.HSet(ctx, cfg.KeyPrefix+"{l:"+login+"}:login", "id", holder, "lease", lease, "nonce", "n").Err())
	}
	create := func(login string) (store.User, error) {
		return s.CreateUser(ctx, store.User{ID: newID(), Login: login, Status: store.StatusActive}, msNow())
	}

	// A registration died after claiming: no user behind a lapsed claim.
	claim("ghost@example.com", newID(), -time.Minute)
	if _, err := s.GetUserByLogin(ctx, "ghost@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a dead claim resolves: %v", err)
	}
	u, err := create("ghost@example.com")
	must(t, err)
	if got, err := s.GetUserByLogin(ctx, "ghost@example.com"); err != nil || got.ID != u.ID {
		t.Errorf("the login resolves to %q, %v; want the new user %s", got.ID, err, u.ID)
	}

	// A registration in progress (lease running) wins, even with no user written yet.
	claim("busy@example.com", newID(), time.Minute)
	_, err = create("busy@example.com")
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("registering over a claim in progress: got %v, want ErrAlreadyExists", err)
	}
	// Lapsed, but within the skew margin: still respected.
	claim("recent@example.com", newID(), -time.Second)
	_, err = create("recent@example.com")
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("registering over a just-lapsed claim: got %v, want ErrAlreadyExists", err)
	}

	// The same user registered again once its claim's lease has lapsed: refused, and the
	// user keeps its login.
	again := u
	claim("ghost@example.com", u.ID, -time.Hour)
	_, err = s.CreateUser(ctx, again, msNow())
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("registering the same user again: got %v, want ErrAlreadyExists", err)
	}
	if got, err := s.GetUserByLogin(ctx, "ghost@example.com"); err != nil || got.ID != u.ID {
		t.Errorf("after a repeated registration the login resolves to %q, %v; want %s", got.ID, err, u.ID)
	}

	// A rename whose release was lost leaves a claim naming a user who moved on.
	mover, err := create("before@example.com")
	must(t, err)
	_, err = s.UpdateUser(ctx, mover.ID, msNow(), func(v store.User) (store.User, error) { v.Login = "after@example.com"; return v, nil })
	must(t, err)
	claim("before@example.com", mover.ID, -time.Hour)
	if _, err := s.GetUserByLogin(ctx, "before@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a stale rename claim resolves: %v", err)
	}
	other, err := create("before@example.com")
	must(t, err)
	if got, err := s.GetUserByLogin(ctx, "before@example.com"); err != nil || got.ID != other.ID {
		t.Errorf("the login resolves to %q, %v; want %s", got.ID, err, other.ID)
	}
	// The mover can still come back to a login of its own once it is free again.
	_, err = s.UpdateUser(ctx, mover.ID, msNow(), func(v store.User) (store.User, error) { v.Login = "before@example.com"; return v, nil })
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Errorf("moving back onto a taken login: got %v, want ErrAlreadyExists", err)
	}
}
