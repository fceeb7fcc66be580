package main

import (
	"os"
	"strings"
	"testing"
	"time"

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

// TestRecheckSeesAcceptedSession is the harness's control: a credential marked ended while
// still live must come out as revoked-but-accepted, in every dialect. Without it a zero in
// the report could be a checker that never looks.
func TestRecheckSeesAcceptedSession(t *testing.T) {
	e := &env{t: t, o: shortOptions, rec: &recorder{}}
	e.store = standalone.start(t)
	e.reps = startReplicas(t, e.store.cfg)
	e.api = newAPI(5*time.Second, 4)
	ctx := t.Context()
	base := e.reps.get(0).public()
	login := "control@chaos.test"
	if err := e.api.register(ctx, base, login); err != nil {
		t.Fatal(err)
	}
	for d := range numDialects {
		c, o, err := e.api.login(ctx, base, d, login)
		if o != oOK {
			t.Fatalf("%s login: %s %v", d, o, err)
		}
		e.ended.add(c, time.Now())
	}
	e.recheck(ctx, true)
	seen := map[dialect]bool{}
	for _, v := range e.rec.violations {
		seen[v.d] = true
	}
	for d := range numDialects {
		if !seen[d] {
			t.Errorf("a live %s session marked ended was not reported as accepted", d)
		}
	}
}
