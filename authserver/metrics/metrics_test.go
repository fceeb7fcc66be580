package metrics_test

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/metrics"
)

type pool struct{ running, queued int }

func (p pool) Running() int { return p.running }
func (p pool) Queued() int  { return p.queued }

// Each server has its own registry: two in one process do not collide or mix.
func TestRegistriesAreIndependent(t *testing.T) {
	a, b := metrics.New(), metrics.New()
	a.ObserveRequest("account", "login", 200, time.Millisecond)
	a.ObserveOperation("account", "login", "success", time.Millisecond)
	a.WatchPasswordPool(pool{running: 2, queued: 5}, 4, 1024)
	a.WatchStoreRoundTrips(func() int64 { return 42 })
	b.WatchPasswordPool(pool{}, 1, 1)

	got := scrape(t, a)
	for _, want := range []string{
		`latch_http_requests_total{code="200",dialect="account",route="login"} 1`,
		`latch_auth_operations_total{dialect="account",operation="login",outcome="success"} 1`,
		`latch_password_hash_running 2`,
		`latch_password_hash_queued 5`,
		`latch_password_hash_workers 4`,
		`latch_store_round_trips_total 42`,
		`go_goroutines`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if other := scrape(t, b); strings.Contains(other, "latch_http_requests_total{") || !strings.Contains(other, "latch_password_hash_workers 1") {
		t.Errorf("the second registry shows the first's samples or lacks its own:\n%s", other)
	}
}

func TestEmptyLabelsGetDefaults(t *testing.T) {
	m := metrics.New()
	m.ObserveRequest("", "", 404, time.Millisecond)
	if got := scrape(t, m); !strings.Contains(got, `latch_http_requests_total{code="404",dialect="none",route="unmatched"} 1`) {
		t.Errorf("scrape:\n%s", got)
	}
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

// Repeated observations go to the same series (the children are cached per label set) and
// other label sets get their own.
func TestRepeatedObservationsAccumulate(t *testing.T) {
	m := metrics.New()
	for range 3 {
		m.ObserveRequest("deviseToken", "validate_token", 200, time.Millisecond)
		m.ObserveOperation("deviseToken", "authenticate", "success", time.Millisecond)
	}
	m.ObserveRequest("deviseToken", "validate_token", 401, time.Millisecond)
	got := scrape(t, m)
	for _, want := range []string{
		`latch_http_requests_total{code="200",dialect="deviseToken",route="validate_token"} 3`,
		`latch_http_requests_total{code="401",dialect="deviseToken",route="validate_token"} 1`,
		`latch_http_request_duration_seconds_count{code="200",dialect="deviseToken",route="validate_token"} 3`,
		`latch_auth_operations_total{dialect="deviseToken",operation="authenticate",outcome="success"} 3`,
		`latch_auth_operation_duration_seconds_count{dialect="deviseToken",operation="authenticate",outcome="success"} 3`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}
