package servertest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
)

// TestStoreOutageLog is a Redis outage as the operator reads it: a server at the default log
// level whose Redis stops for about a second under a few clients writes only JSON lines (go-redis's
// own included), reports the outage in at most three store lines rather than one per failed
// request, and its metrics show the outage and the recovery.
func TestStoreOutageLog(t *testing.T) {
	s := servertest.Start(t, servertest.Options{Config: func(c *config.Config) { c.Log.Level = "info" }})
	client := &http.Client{Timeout: 10 * time.Second}
	login := func() int {
		resp, err := client.Post(s.PublicURL+"/account/login", "application/json",
			strings.NewReader(`{"login":"nobody@example.com","password":"not the password"}`))
		if err != nil {
			t.Errorf("login: %v", err)
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := login(); code != http.StatusUnauthorized {
		t.Fatalf("login before the outage = %d, want 401", code)
	}

	s.Redis.Stop()
	var failed atomic.Int64
	var wg sync.WaitGroup
	stop := time.Now().Add(time.Second)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if login() == http.StatusInternalServerError {
					failed.Add(1)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if failed.Load() < 20 {
		t.Fatalf("%d requests failed during the outage, want many", failed.Load())
	}
	if up := s.Metric(t, "latch_store_up", nil); up != 0 {
		t.Errorf("latch_store_up during the outage = %v, want 0", up)
	}
	s.Redis.Restart()
	deadline := time.Now().Add(15 * time.Second)
	for login() != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("logins did not recover after Redis restarted")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if up := s.Metric(t, "latch_store_up", nil); up != 1 {
		t.Errorf("latch_store_up after the outage = %v, want 1", up)
	}
	if n := s.Metric(t, "latch_store_outages_total", nil); n != 1 {
		t.Errorf("latch_store_outages_total = %v, want 1", n)
	}
	if n := s.Metric(t, "latch_store_errors_total", map[string]string{"kind": "unavailable"}); n < float64(failed.Load()) {
		t.Errorf("latch_store_errors_total{kind=unavailable} = %v, want at least the %d failed requests", n, failed.Load())
	}

	var storeLines []string
	for _, line := range strings.Split(strings.TrimSpace(s.Logs()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Errorf("not a JSON line: %q", line)
			continue
		}
		msg, _ := m["msg"].(string)
		if strings.HasPrefix(msg, "redis") || strings.HasSuffix(msg, "request failed") {
			storeLines = append(storeLines, line)
		}
	}
	t.Logf("store lines:\n%s", strings.Join(storeLines, "\n"))
	if len(storeLines) > 3 {
		t.Errorf("%d store lines for one outage, want at most 3:\n%s", len(storeLines), strings.Join(storeLines, "\n"))
	}
	if n := len(s.LogLines(map[string]any{"msg": "redis unavailable"})); n != 1 {
		t.Errorf("%d \"redis unavailable\" lines, want 1", n)
	}
	if n := len(s.LogLines(map[string]any{"msg": "redis available again"})); n != 1 {
		t.Errorf("%d \"redis available again\" lines, want 1", n)
	}
}
