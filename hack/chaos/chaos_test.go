package main

import (
	"os"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/servertest"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// TestFaultsShort is the short version of make chaos: every fault once, a few seconds each,
// with the invariants that do not depend on timings asserted. CHAOS_ONLY=name,name runs a
// subset while working on one.
func TestFaultsShort(t *testing.T) {
	only := os.Getenv("CHAOS_ONLY")
	for _, f := range faults {
		if only != "" && !contains(strings.Split(only, ","), f.name) {
			continue
		}
		t.Run(f.name, func(t *testing.T) {
			r := runScenario(t, f, shortOptions, t.Logf)
			t.Logf("%s", summaryLine(r))
			for _, h := range r.harness {
				t.Errorf("harness: %s", h)
			}
			for _, c := range r.failed(false) {
				t.Errorf("invariant failed: %s: %s", c.name, c.detail)
			}
			if t.Failed() {
				t.Logf("timeline (t relative to the fault):\n%s", r.timelineTable())
			}
		})
	}
}
