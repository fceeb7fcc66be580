package password

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// A twin costs what the hash it stands for costs and lets no password in: same scheme and
// cost, nothing of the original.
func TestCostTwin(t *testing.T) {
	for _, v := range foreignVectors {
		t.Run(string(v.scheme), func(t *testing.T) {
			scheme, cost, twin, err := CostTwin(v.encoded)
			if err != nil || scheme != v.scheme || cost < 1 {
				t.Fatalf("CostTwin = %q, %d, %v; want %q and a cost", scheme, cost, err, v.scheme)
			}
			if twin == v.encoded {
				t.Fatal("the twin is the hash itself")
			}
			s2, c2, _, err := CostTwin(twin)
			if err != nil || s2 != scheme || c2 != cost {
				t.Errorf("the twin %q reads as %q cost %d (%v), want %q cost %d", twin, s2, c2, err, scheme, cost)
			}
			if _, err := Verify(v.password, twin, fast); !errors.Is(err, ErrMismatch) {
				t.Errorf("the original password against the twin: %v, want ErrMismatch", err)
			}
		})
	}
	h, err := Hash("correct horse", fast)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := CostTwin(h); !errors.Is(err, ErrMalformedHash) {
		t.Errorf("CostTwin(argon2id) = %v, want ErrMalformedHash: argon2id is not foreign", err)
	}
}

// A failed check with a floor answers no sooner than the floor, whether it checked a user's
// hash or the dummy; a success and a check without a floor are not held back, and a caller
// that gives up is released at once.
func TestFloorHoldsBackFailures(t *testing.T) {
	p, _ := newTestPool(t, fast, 2, 4)
	floor := func(context.Context) (Floor, error) { return 150, nil }
	enc, err := p.Hash(t.Context(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	// Each call starts from a 1 ms argon2id average, so the floor is 150 ms less what the
	// call's own check moved the average: want is the floor as the call applied it.
	var want time.Duration
	timed := func(f func() error) (time.Duration, error) {
		p.floors.argonNanos.Store(int64(time.Millisecond))
		began := time.Now()
		err := f()
		d := time.Since(began)
		want = p.floors.duration(150)
		return d, err
	}
	if d, err := timed(func() error { return p.VerifyUnknownFloored(t.Context(), "guess", floor) }); !errors.Is(err, ErrMismatch) || d < want {
		t.Errorf("unknown login: %v after %s, want ErrMismatch after at least %s", err, d, want)
	}
	if d, err := timed(func() error { _, err := p.VerifyFloored(t.Context(), "guess", enc, floor); return err }); !errors.Is(err, ErrMismatch) || d < want {
		t.Errorf("wrong password: %v after %s, want ErrMismatch after at least %s", err, d, want)
	}
	bc, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := timed(func() error { _, err := p.VerifyFloored(t.Context(), "guess", string(bc), floor); return err }); !errors.Is(err, ErrMismatch) || d < want {
		t.Errorf("wrong password for a bcrypt hash: %v after %s, want ErrMismatch after at least %s", err, d, want)
	}
	if d, err := timed(func() error { _, err := p.VerifyFloored(t.Context(), "correct horse", enc, floor); return err }); err != nil || d >= want {
		t.Errorf("right password: %v after %s, want no wait", err, d)
	}
	if d, err := timed(func() error { _, err := p.Verify(t.Context(), "guess", enc); return err }); !errors.Is(err, ErrMismatch) || d >= want {
		t.Errorf("no floor: %v after %s, want ErrMismatch with no wait", err, d)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if d, err := timed(func() error { return p.VerifyUnknownFloored(ctx, "guess", floor) }); !errors.Is(err, ErrMismatch) || d >= want {
		t.Errorf("a caller that gave up: %v after %s, want released before the floor", err, d)
	}
	// The floor is asked only after a mismatch, and its failure is the check's.
	asked := 0
	broken := func(context.Context) (Floor, error) { asked++; return 0, ErrBusy }
	if _, err := p.VerifyFloored(t.Context(), "correct horse", enc, broken); err != nil || asked != 0 {
		t.Errorf("right password with a broken floor: %v, floor asked %d times; want nil, never", err, asked)
	}
	if _, err := p.VerifyFloored(t.Context(), "guess", enc, broken); !errors.Is(err, ErrBusy) || asked != 1 {
		t.Errorf("wrong password with a broken floor: %v, floor asked %d times; want its error, once", err, asked)
	}
}

// FloorOf measures a scheme and cost once, keeps the costliest twin's ratio, ignores what is
// not a foreign hash, and real checks of the same scheme and cost refine the ratio.
func TestFloorOf(t *testing.T) {
	p, _ := newTestPool(t, fast, 2, 4)
	bc := func(cost int) string {
		h, err := bcrypt.GenerateFromPassword([]byte("secret"), cost)
		if err != nil {
			t.Fatal(err)
		}
		_, _, twin, err := CostTwin(string(h))
		if err != nil {
			t.Fatal(err)
		}
		return twin
	}
	cheap, costly := bc(4), bc(8)
	if f, err := p.FloorOf(t.Context(), nil); err != nil || f != 0 {
		t.Fatalf("FloorOf(none) = %v, %v; want 0", f, err)
	}
	low, err := p.FloorOf(t.Context(), []string{cheap})
	if err != nil || low <= 0 {
		t.Fatalf("FloorOf(bcrypt 4) = %v, %v; want a positive floor", low, err)
	}
	high, err := p.FloorOf(t.Context(), []string{cheap, costly, "not a hash"})
	if err != nil || high <= low {
		t.Fatalf("FloorOf(bcrypt 4, bcrypt 8, junk) = %v, %v; want above bcrypt 4's %v (bcrypt 8 is 16 times the work)", high, err, low)
	}
	p.floors.mu.Lock()
	measured := len(p.floors.ratios)
	p.floors.mu.Unlock()
	if again, err := p.FloorOf(t.Context(), []string{costly}); err != nil || again != high {
		t.Errorf("FloorOf(bcrypt 8) again = %v, %v; want the remembered %v", again, err, high)
	}
	if measured != 2 {
		t.Errorf("%d schemes and costs measured, want 2", measured)
	}
	// Real checks of bcrypt 8 that take far longer than measured move its ratio up.
	k := costKey{SchemeBcrypt, 8}
	for range 20 {
		p.floors.observeForeign(k, time.Duration(float64(high)*4*float64(p.floors.argonNanos.Load())))
	}
	if moved, _ := p.FloorOf(t.Context(), []string{costly}); moved < 3*high {
		t.Errorf("after slower real checks the floor is %v, want it near four times %v", moved, high)
	}
}
