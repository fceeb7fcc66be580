package server_test

import (
	"net/http"
	"testing"
)

// TestPprofIsOptIn: the admin port serves the profiler only when listen.pprof asks for it,
// and never on the public port.
func TestPprofIsOptIn(t *testing.T) {
	off := start(t, testConfig(t))
	if got := status(t, off.admin+"/debug/pprof/"); got != http.StatusNotFound {
		t.Errorf("admin /debug/pprof/ without listen.pprof = %d, want 404", got)
	}

	cfg := testConfig(t)
	cfg.Listen.Pprof = true
	on := start(t, cfg)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap?gc=1", "/debug/pprof/goroutine"} {
		if got := status(t, on.admin+path); got != http.StatusOK {
			t.Errorf("admin %s with listen.pprof = %d, want 200", path, got)
		}
	}
	if got := status(t, on.public+"/debug/pprof/"); got == http.StatusOK {
		t.Errorf("public /debug/pprof/ = %d, want it not served", got)
	}
}
