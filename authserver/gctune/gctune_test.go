package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercentFor(t *testing.T) {
	for _, tc := range []struct {
		live, headroom uint64
		want           int64
	}{
		{0, 32 << 20, 100},         // nothing measured yet: the default
		{4 << 20, 32 << 20, 800},   // a small heap gets the headroom
		{32 << 20, 32 << 20, 100},  // from here on, as Go would
		{300 << 20, 32 << 20, 100}, // large heaps are never given less than GOGC=100
		{1, 32 << 20, maxPercent},  // bounded
		{16 << 20, 32 << 20, 200},
	} {
		if got := percentFor(tc.live, tc.headroom); got != tc.want {
			t.Errorf("percentFor(%d, %d) = %d, want %d", tc.live, tc.headroom, got, tc.want)
		}
	}
}

// currentPercent reads GOGC without changing it.
func currentPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

var keep []byte

// TestFollowsTheLiveHeap runs the tuner in this process: with a small live heap GOGC goes up,
// with a live heap beyond the headroom it comes back to 100, and Stop restores 100.
func TestFollowsTheLiveHeap(t *testing.T) {
	t.Setenv("GOGC", "") // restored after the test; unset it for Start
	if err := os.Unsetenv("GOGC"); err != nil {
		t.Fatal(err)
	}
	const headroom = 64 << 20
	tu := Start(headroom)
	if tu == nil {
		t.Fatal("Start returned nil without GOGC in the environment")
	}
	defer tu.Stop()
	waitPercent(t, tu, func(p int) bool { return p > 100 }, "above 100 with a small live heap")

	keep = make([]byte, 2*headroom) // live and larger than the headroom
	for i := range keep {
		keep[i] = 1
	}
	waitPercent(t, tu, func(p int) bool { return p == 100 }, "100 with a live heap beyond the headroom")
	keep = nil
	waitPercent(t, tu, func(p int) bool { return p > 100 }, "above 100 again once the heap is small")

	tu.Stop()
	if p := currentPercent(); p != 100 {
		t.Errorf("GOGC after Stop = %d, want 100", p)
	}
}

func TestEnvironmentWins(t *testing.T) {
	t.Setenv("GOGC", "50")
	if tu := Start(0); tu != nil {
		tu.Stop()
		t.Fatal("Start tuned although GOGC is set in the environment")
	}
}

// waitPercent forces collections until the tuner's GOGC (also the runtime's) satisfies ok.
func waitPercent(t *testing.T, tu *Tuner, ok func(int) bool, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // finalizers run on their own goroutine
		if p := tu.Percent(); ok(p) && currentPercent() == p {
			return
		}
	}
	t.Fatalf("GOGC = %d (runtime %d), want %s", tu.Percent(), currentPercent(), want)
}
