package redisstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/redisstore"
	"github.com/latchauth/latch/authserver/store/redistest"
)

// logBuffer collects JSON log lines from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines decodes every line, failing the test on one that is not a JSON object.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(b.buf.String(), "\n"), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Errorf("log line is not JSON: %q", l)
			continue
		}
		out = append(out, m)
	}
	return out
}

func withMsg(lines []map[string]any, msg string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// TestOutageLogsOnceAndCounts is the fault as an operator sees it: Redis stops under load from
// several goroutines and comes back. The log shows one line when it goes, one when it returns
// (with what failed meanwhile), not one per failed call; the monitor reads down during the
// outage and up after, with one outage counted.
func TestOutageLogsOnceAndCounts(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	cfg := redisConfig(config.RedisStandalone, srv.Addr)
	cfg.DialTimeout, cfg.ReadTimeout, cfg.WriteTimeout = config.D(500*time.Millisecond), config.D(500*time.Millisecond), config.D(500*time.Millisecond)
	s := openStore(t, cfg)
	var logs logBuffer
	h := redisstore.NewHealth(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	s.AddHook(h)
	ctx := t.Context()
	must(t, s.Ping(ctx))
	if _, err := s.GetUser(ctx, newID()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetUser of nobody = %v, want not found", err)
	}
	if !h.Up() || h.Outages() != 0 || h.UnavailableErrors() != 0 || h.OtherErrors() != 0 {
		t.Fatalf("before the outage: up %v, outages %d, errors %d/%d", h.Up(), h.Outages(), h.UnavailableErrors(), h.OtherErrors())
	}

	srv.Stop()

	const workers, perWorker = 8, 25
	subj := store.LoginSubject("someone@example.com")
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				var err error
				switch (w + i) % 3 {
				case 0:
					_, err = s.GetUser(ctx, newID())
				case 1:
					_, err = s.CheckLockouts(ctx, []store.Subject{subj}, msNow()) // a pipeline
				default:
					err = s.Ping(ctx)
				}
				if !errors.Is(err, store.ErrUnavailable) {
					t.Errorf("call during the outage = %v, want ErrUnavailable", err)
				}
			}
		}()
	}
	wg.Wait()
	if h.Up() {
		t.Error("the monitor reads up during the outage")
	}
	if got := h.UnavailableErrors(); got < workers*perWorker {
		t.Errorf("unavailable errors = %d, want at least %d", got, workers*perWorker)
	}

	srv.Restart()
	deadline := time.Now().Add(15 * time.Second)
	for s.Ping(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("Redis did not come back within 15s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !h.Up() {
		t.Error("the monitor reads down after a successful call")
	}
	if got := h.Outages(); got != 1 {
		t.Errorf("outages = %d, want 1", got)
	}
	if got := h.OtherErrors(); got != 0 {
		t.Errorf("other errors = %d, want 0", got)
	}

	lines := logs.lines(t)
	down, back, still := withMsg(lines, "redis unavailable"), withMsg(lines, "redis available again"), withMsg(lines, "redis still unavailable")
	if len(down) != 1 || len(back) != 1 || len(still) > 2 {
		t.Fatalf("%d unavailable, %d available again, %d still unavailable lines; want 1, 1, at most 2; log:\n%s",
			len(down), len(back), len(still), logs.buf.String())
	}
	if down[0]["level"] != "ERROR" || down[0]["op"] == "" || down[0]["error"] == "" {
		t.Errorf("unavailable line: %v", down[0])
	}
	if back[0]["level"] != "INFO" {
		t.Errorf("available again line: %v", back[0])
	}
	if failed, _ := back[0]["failed"].(float64); failed < workers*perWorker {
		t.Errorf("available again line counts %v failed commands, want at least %d: %v", back[0]["failed"], workers*perWorker, back[0])
	}
	if d, _ := back[0]["duration_ms"].(float64); d <= 0 {
		t.Errorf("available again line has no duration: %v", back[0])
	}
	if len(lines) != len(down)+len(back)+len(still) {
		t.Errorf("the monitor logged other lines:\n%s", logs.buf.String())
	}
}

// A store that starts while Redis is down reports it once, then its recovery.
func TestNeverUpLogsOnce(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	addr := srv.Addr
	srv.Stop()
	cfg := redisConfig(config.RedisStandalone, addr)
	cfg.DialTimeout = config.D(200 * time.Millisecond)
	s, err := redisstore.Open(&cfg)
	must(t, err)
	t.Cleanup(func() { _ = s.Close() })
	var logs logBuffer
	h := redisstore.NewHealth(slog.New(slog.NewJSONHandler(&logs, nil)))
	s.AddHook(h)
	for range 20 {
		if err := s.Ping(t.Context()); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Ping with Redis down = %v", err)
		}
	}
	if h.Up() || h.Outages() != 1 {
		t.Errorf("up %v, outages %d; want down, 1", h.Up(), h.Outages())
	}
	lines := logs.lines(t)
	if len(lines) != 1 || lines[0]["msg"] != "redis unavailable" {
		t.Errorf("log:\n%s", logs.buf.String())
	}
}

// A reply that is a bug (WRONGTYPE) is counted as such, is no outage, and a missing key
// (redis.Nil) is no error at all.
func TestOtherErrorsAreNotOutages(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var logs logBuffer
	h := redisstore.NewHealth(slog.New(slog.NewJSONHandler(&logs, nil)))
	c := srv.Client()
	c.AddHook(h)
	ctx := t.Context()
	must(t, c.Set(ctx, "health:str", "v", 0).Err())
	if err := c.LPush(ctx, "health:str", "x").Err(); err == nil || !strings.HasPrefix(err.Error(), "WRONGTYPE") {
		t.Fatalf("LPUSH on a string = %v", err)
	}
	if err := c.Get(ctx, "health:missing").Err(); err == nil {
		t.Fatal("GET of a missing key succeeded")
	}
	if !h.Up() || h.OtherErrors() != 1 || h.UnavailableErrors() != 0 || h.Outages() != 0 {
		t.Errorf("up %v, other %d, unavailable %d, outages %d; want up, 1, 0, 0", h.Up(), h.OtherErrors(), h.UnavailableErrors(), h.Outages())
	}
	if lines := logs.lines(t); len(lines) != 0 {
		t.Errorf("log:\n%s", logs.buf.String())
	}
}

// A caller that gives up (a cancelled context) says nothing about Redis.
func TestCancelledCallsAreNotOutages(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	var logs logBuffer
	h := redisstore.NewHealth(slog.New(slog.NewJSONHandler(&logs, nil)))
	c := srv.Client()
	c.AddHook(h)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_ = c.Ping(ctx).Err()
	if h.UnavailableErrors() != 0 || h.Outages() != 0 || logs.buf.Len() != 0 {
		t.Errorf("unavailable %d, outages %d; log:\n%s", h.UnavailableErrors(), h.Outages(), logs.buf.String())
	}
}

// go-redis's own lines come out as JSON; the Sentinel client's failover line becomes "redis
// master changed", counted; the pool's per-dial failures go to DEBUG.
func TestClientLogger(t *testing.T) {
	var logs logBuffer
	l := redisstore.NewClientLogger(slog.New(slog.NewJSONHandler(&logs, nil)))
	ctx := context.Background()
	// The format strings are go-redis's (sentinel.go, internal/pool/pool.go).
	l.Printf(ctx, "sentinel: new master=%q addr=%q", "mymaster", "10.0.0.7:6379")
	l.Printf(ctx, "redis: connection pool: failed to dial after %d attempts: %v", 2, errors.New("connection refused"))
	l.Printf(ctx, "redis: failed to close connection: %v\n", errors.New("use of closed network connection"))
	if got := l.MasterChanges(); got != 1 {
		t.Errorf("master changes = %d, want 1", got)
	}
	lines := logs.lines(t)
	if len(lines) != 2 {
		t.Fatalf("want 2 lines (the dial failure is DEBUG), log:\n%s", logs.buf.String())
	}
	if m := lines[0]; m["msg"] != "redis master changed" || m["level"] != "INFO" || m["master"] != "mymaster" || m["addr"] != "10.0.0.7:6379" {
		t.Errorf("failover line: %v", m)
	}
	if m := lines[1]; m["msg"] != "redis client" || m["level"] != "WARN" || m["detail"] != "redis: failed to close connection: use of closed network connection" {
		t.Errorf("client line: %v", m)
	}
}
