package logsink_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/logsink"
)

// recorder counts the writes that reach the underlying writer.
type recorder struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes++
	return r.b.Write(p)
}

func (r *recorder) snapshot() (string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.b.String(), r.writes
}

func TestLinesAreBatchedAndKeptWhole(t *testing.T) {
	var out recorder
	s := logsink.New(&out, time.Hour) // no timer flush during the test
	const writers, lines = 8, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(s, "writer %d line %d %s\n", w, i, strings.Repeat("x", 40))
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, writes := out.snapshot()
	all := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(all) != writers*lines {
		t.Fatalf("%d lines written, want %d", len(all), writers*lines)
	}
	for _, l := range all {
		if !strings.HasPrefix(l, "writer ") || !strings.HasSuffix(l, strings.Repeat("x", 40)) {
			t.Fatalf("a line was split or interleaved: %q", l)
		}
	}
	if writes >= writers*lines/10 {
		t.Errorf("%d writes reached the output for %d lines, want them batched", writes, writers*lines)
	}
}

func TestTimerFlushes(t *testing.T) {
	var out recorder
	s := logsink.New(&out, 20*time.Millisecond)
	t.Cleanup(func() { _ = s.Close() })
	fmt.Fprintln(s, "waiting line")
	if got, _ := out.snapshot(); got != "" {
		t.Fatalf("written at once: %q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got, _ := out.snapshot(); got == "waiting line\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the timer never flushed the line")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWarningsAreWrittenAtOnce(t *testing.T) {
	var out recorder
	s := logsink.New(&out, time.Hour)
	t.Cleanup(func() { _ = s.Close() })
	log := slog.New(logsink.Handler(slog.NewJSONHandler(s, nil), s, slog.LevelWarn)).With("component", "test")
	log.Info("routine")
	if got, _ := out.snapshot(); got != "" {
		t.Fatalf("an info line was written at once: %q", got)
	}
	log.Warn("trouble")
	got, _ := out.snapshot()
	if !strings.Contains(got, `"msg":"routine"`) || !strings.Contains(got, `"msg":"trouble"`) || !strings.Contains(got, `"component":"test"`) {
		t.Fatalf("after a warning the output holds %q, want both lines with their attributes", got)
	}
}

func TestWritesAfterCloseGoThrough(t *testing.T) {
	var out recorder
	s := logsink.New(&out, time.Hour)
	fmt.Fprintln(s, "before")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(s, "after")
	if got, _ := out.snapshot(); got != "before\nafter\n" {
		t.Fatalf("output %q, want both lines in order", got)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
