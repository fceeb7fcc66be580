package childproc_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/latchauth/latch/internal/childproc"
)

// exposition is what a server's /metrics looks like: HELP and TYPE lines, a counter with
// labels, a gauge, a histogram, a summary, a label value with a comma, a quote and a brace,
// and a sample with a timestamp.
const exposition = `# HELP latch_auth_operations_total Operations by dialect and result.
# TYPE latch_auth_operations_total counter
latch_auth_operations_total{dialect="account",op="login",result="ok"} 3
latch_auth_operations_total{dialect="account",op="login",result="failed"} 2
latch_auth_operations_total{dialect="accounts",op="login",result="ok"} 100
latch_auth_operations_total{dialect="bearerToken",op="auth",result="ok"} 5 1700000000000
# HELP latch_store_up Whether the store answers.
# TYPE latch_store_up gauge
latch_store_up 1
# HELP latch_request_seconds Request latency.
# TYPE latch_request_seconds histogram
latch_request_seconds_bucket{route="session",le="0.005"} 4
latch_request_seconds_bucket{route="session",le="0.1"} 9
latch_request_seconds_bucket{route="session",le="+Inf"} 10
latch_request_seconds_sum{route="session"} 0.75
latch_request_seconds_count{route="session"} 10
latch_request_seconds_bucket{route="login",le="0.005"} 0
latch_request_seconds_bucket{route="login",le="0.1"} 1
latch_request_seconds_bucket{route="login",le="+Inf"} 2
latch_request_seconds_sum{route="login"} 0.5
latch_request_seconds_count{route="login"} 2
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0.5"} 0.001
go_gc_duration_seconds_sum 0.25
go_gc_duration_seconds_count 7
# TYPE odd_total counter
odd_total{path="/a,b\"}c"} 6
`

func TestParseMetricsSumsCountersGaugesAndHistograms(t *testing.T) {
	m, err := childproc.ParseMetrics(strings.NewReader(exposition))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"latch_auth_operations_total", nil, 110},
		{"latch_auth_operations_total", map[string]string{"dialect": "account"}, 5},
		{"latch_auth_operations_total", map[string]string{"dialect": "account", "result": "ok"}, 3},
		{"latch_auth_operations_total", map[string]string{"dialect": "bearerToken"}, 5},
		{"latch_auth_operations_total", map[string]string{"dialect": "none"}, 0},
		{"latch_auth_operations_total", map[string]string{"missing": ""}, 0},
		{"latch_store_up", nil, 1},
		{"latch_request_seconds_count", nil, 12},
		{"latch_request_seconds_sum", map[string]string{"route": "login"}, 0.5},
		{"latch_request_seconds_bucket", map[string]string{"route": "session", "le": "0.1"}, 9},
		{"latch_request_seconds_bucket", map[string]string{"le": "+Inf"}, 12},
		{"latch_request_seconds", nil, 0},
		{"go_gc_duration_seconds", map[string]string{"quantile": "0.5"}, 0.001},
		{"go_gc_duration_seconds_count", nil, 7},
		{"odd_total", map[string]string{"path": `/a,b"}c`}, 6},
		{"absent_total", nil, 0},
	} {
		if got := m.Sum(c.name, c.labels); got != c.want {
			t.Errorf("Sum(%s, %v) = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func TestParseMetricsRefusesMalformedText(t *testing.T) {
	for _, text := range []string{
		"x_total{a=\"1\" 3\n",
		"x_total not-a-number\n",
		"# TYPE x counter\nx 1\n# TYPE x gauge\nx 2\n",
	} {
		if _, err := childproc.ParseMetrics(strings.NewReader(text)); err == nil {
			t.Errorf("ParseMetrics(%q) = nil error", text)
		}
	}
}

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, exposition)
	}))
	defer srv.Close()
	m, err := childproc.Scrape(t.Context(), srv.URL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Sum("latch_store_up", nil); got != 1 {
		t.Errorf("latch_store_up = %v, want 1", got)
	}
	if _, err := childproc.Scrape(t.Context(), srv.URL+"/nothing"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("Scrape of a 404 = %v, want an error naming the status", err)
	}
}
