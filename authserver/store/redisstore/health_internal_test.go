package redisstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// clock is a settable time for the monitor.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func monitorLines(t *testing.T, buf *bytes.Buffer) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m struct{ Msg string }
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		out = append(out, m.Msg)
	}
	buf.Reset()
	return out
}

var errRefused = errors.New("dial tcp 127.0.0.1:1: connect: connection refused")

// A long outage logs one "still unavailable" line per interval, whatever the traffic.
func TestHealthStillLinesAreRateLimited(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(1000, 0)}
	h := NewHealth(slog.New(slog.NewJSONHandler(&buf, nil)))
	h.now = c.now
	h.observe("get", outcomeOK, nil)
	for range 35 * 100 { // 35 s at 100 failures a second
		h.observe("get", outcomeUnavailable, errRefused)
		c.advance(10 * time.Millisecond)
	}
	h.observe("get", outcomeOK, nil)
	got := monitorLines(t, &buf)
	want := []string{"redis unavailable", "redis still unavailable", "redis still unavailable", "redis still unavailable", "redis available again"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("lines %q, want %q", got, want)
	}
	if h.Outages() != 1 || h.UnavailableErrors() != 3500 || !h.Up() {
		t.Errorf("outages %d, unavailable %d, up %v", h.Outages(), h.UnavailableErrors(), h.Up())
	}
}

// A link that flaps (successes and failures interleaved, as with one shard down or commands
// in flight across a restart) is one outage, not two lines per command.
func TestHealthFlappingIsOneOutage(t *testing.T) {
	var buf bytes.Buffer
	c := &clock{t: time.Unix(1000, 0)}
	h := NewHealth(slog.New(slog.NewJSONHandler(&buf, nil)))
	h.now = c.now
	for i := range 30 * 100 { // 30 s, every third command fails
		if i%3 == 0 {
			h.observe("get", outcomeUnavailable, errRefused)
		} else {
			h.observe("get", outcomeOK, nil)
		}
		c.advance(10 * time.Millisecond)
	}
	got := monitorLines(t, &buf)
	if len(got) < 2 || len(got) > 6 || got[0] != "redis unavailable" {
		t.Errorf("lines %q: want one outage reported, then at most one line per 10s", got)
	}
	if h.Outages() != 1 {
		t.Errorf("outages %d, want 1", h.Outages())
	}
	// Quiet for longer than the interval, then a new failure: a new outage.
	c.advance(time.Minute)
	h.observe("get", outcomeUnavailable, errRefused)
	if got := monitorLines(t, &buf); len(got) != 1 || got[0] != "redis unavailable" || h.Outages() != 2 {
		t.Errorf("after a quiet minute: lines %q, outages %d", got, h.Outages())
	}
}

// A failed dial marks Redis down without counting a failed command.
func TestHealthDialFailure(t *testing.T) {
	var buf bytes.Buffer
	h := NewHealth(slog.New(slog.NewJSONHandler(&buf, nil)))
	h.observe("ping", outcomeOK, nil)
	h.failure("dial 127.0.0.1:1", errRefused, false)
	if h.Up() || h.Outages() != 1 || h.UnavailableErrors() != 0 {
		t.Errorf("up %v, outages %d, unavailable %d", h.Up(), h.Outages(), h.UnavailableErrors())
	}
	if got := monitorLines(t, &buf); len(got) != 1 || got[0] != "redis unavailable" {
		t.Errorf("lines %q", got)
	}
}
