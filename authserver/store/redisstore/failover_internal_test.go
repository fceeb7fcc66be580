package redisstore

import (
	"log/slog"
	"testing"
	"time"
)

// TestFailoverEvents: which sentinel events start and end the refusal, for this master only.
func TestFailoverEvents(t *testing.T) {
	w := &failoverWatch{master: "latch", logger: slog.Default, now: time.Now, wake: make(chan struct{}, 1)}
	steps := []struct {
		channel, payload string
		active, ended    bool
	}{
		{"+sdown", "master latch 10.0.0.1 6379", false, false},
		{"+try-failover", "master other 10.0.0.9 6379", false, false},
		{"+try-failover", "master latch 10.0.0.1 6379", true, false},
		{"+selected-slave", "slave 10.0.0.2:6379 10.0.0.2 6379 @ latch 10.0.0.1 6379", true, false},
		{"+switch-master", "other 10.0.0.9 6379 10.0.0.8 6379", true, false},
		{"+switch-master", "latch 10.0.0.1 6379 10.0.0.2 6379", true, true},
		{"+slave-reconf-done", "slave 10.0.0.3:6379 10.0.0.3 6379 @ latch 10.0.0.2 6379", true, true},
		{"+try-failover", "master latch 10.0.0.2 6379", true, false},
		{"-failover-abort-no-good-slave", "master latch 10.0.0.2 6379", true, true},
	}
	epoch := w.epoch.Load()
	for _, s := range steps {
		w.event(s.channel, s.payload)
		if w.active.Load() != s.active || w.ended != s.ended {
			t.Fatalf("after %s %q: active %v ended %v, want %v %v", s.channel, s.payload, w.active.Load(), w.ended, s.active, s.ended)
		}
	}
	if w.count.Load() != 1 {
		t.Fatalf("failovers counted: %d, want 1 (the second start came before the first ended)", w.count.Load())
	}
	if w.epoch.Load() == epoch {
		t.Fatal("a failover that began did not change the epoch: a write under way would not notice")
	}
	if _, err := w.guard("logout"); err == nil {
		t.Fatal("a fenced write was allowed while a failover was under way")
	}
}

func TestSameAddr(t *testing.T) {
	for _, c := range []struct {
		reached, reported string
		want              bool
	}{
		{"10.0.0.2:6379", "10.0.0.2:6379", true},
		{"10.0.0.1:6379", "10.0.0.2:6379", false},
		{"10.0.0.2:6379", "redis-1.redis:6379", true},
	} {
		if got := sameAddr(c.reached, c.reported); got != c.want {
			t.Errorf("sameAddr(%q, %q) = %v", c.reached, c.reported, got)
		}
	}
}
