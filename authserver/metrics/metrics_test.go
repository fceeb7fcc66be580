package metrics_test

import (
	"io"
	"net/http/httptest"
	"strconv"
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

type health struct {
	up                          bool
	unavailable, other, outages int64
}

func (h health) Up() bool                 { return h.up }
func (h health) UnavailableErrors() int64 { return h.unavailable }
func (h health) OtherErrors() int64       { return h.other }
func (h health) Outages() int64           { return h.outages }

// The store's series are read from their sources at each scrape.
func TestStoreMetrics(t *testing.T) {
	m := metrics.New()
	h := &health{up: false, unavailable: 250, other: 1, outages: 1}
	pool := metrics.StorePool{Hits: 10, Misses: 3, Timeouts: 2, Stale: 4, Total: 7, Idle: 5}
	counters := metrics.StoreCounters{ReadFallbacks: 6, FenceFailures: 8, Resubscribes: 9, Failovers: 3, FailoverUnderWay: true}
	m.WatchStore(metrics.StoreSources{
		Health:        h,
		Pool:          func() metrics.StorePool { return pool },
		Counters:      func() metrics.StoreCounters { return counters },
		MasterChanges: func() int64 { return 2 },
	})
	got := scrape(t, m)
	for _, want := range []string{
		`latch_store_up 0`,
		`latch_store_errors_total{kind="unavailable"} 250`,
		`latch_store_errors_total{kind="other"} 1`,
		`latch_store_outages_total 1`,
		`latch_store_master_changes_total 2`,
		`latch_store_pool_hits_total 10`,
		`latch_store_pool_misses_total 3`,
		`latch_store_pool_timeouts_total 2`,
		`latch_store_pool_stale_connections_total 4`,
		`latch_store_pool_connections{state="total"} 7`,
		`latch_store_pool_connections{state="idle"} 5`,
		`latch_store_read_fallbacks_total 6`,
		`latch_store_fence_failures_total 8`,
		`latch_store_failovers_total 3`,
		`latch_store_failover_in_progress 1`,
		`latch_revocation_resubscribes_total 9`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	// No revocation message yet: no age, rather than a made-up one.
	if strings.Contains(got, "latch_revocation_last_message_age_seconds ") {
		t.Errorf("an age before the first message:\n%s", got)
	}

	h.up = true
	counters.LastRevocationMessage = time.Now().Add(-3 * time.Second)
	got = scrape(t, m)
	if !strings.Contains(got, "latch_store_up 1") {
		t.Errorf("scrape lacks latch_store_up 1")
	}
	i := strings.Index(got, "\nlatch_revocation_last_message_age_seconds ")
	if i < 0 {
		t.Fatalf("scrape lacks the revocation age:\n%s", got)
	}
	line := strings.Fields(got[i+1:])[1]
	if age, err := strconv.ParseFloat(line, 64); err != nil || age < 3 || age > 60 {
		t.Errorf("revocation age %q, want about 3", line)
	}
}

// A nil *Metrics and empty sources record nothing and do not panic.
func TestWatchStoreNil(t *testing.T) {
	var m *metrics.Metrics
	m.WatchStore(metrics.StoreSources{Health: health{}})
	n := metrics.New()
	n.WatchStore(metrics.StoreSources{})
	if got := scrape(t, n); strings.Contains(got, "latch_store_") {
		t.Errorf("empty sources exported store series:\n%s", got)
	}
}
