package logsink

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// DefaultFlushInterval bounds how long a line waits in memory: short enough that `kubectl
// logs -f` looks live, long enough that a busy server writes a few times per interval rather
// than per request.
const DefaultFlushInterval = 100 * time.Millisecond

// bufferSize is the most a Sink holds before writing: a few hundred access lines.
const bufferSize = 64 << 10

// Sink is a buffered io.Writer that flushes itself on a timer. It is safe for concurrent use;
// each Write is kept whole.
type Sink struct {
	mu     sync.Mutex
	w      *bufio.Writer
	dirty  bool
	closed bool
	err    error // the first write error, reported by Flush and Close

	stop chan struct{}
	done chan struct{}
}

// New returns a Sink writing to w and flushing at least every interval (DefaultFlushInterval
// when interval is not positive). Close it to stop the timer and write what is left.
func New(w io.Writer, interval time.Duration) *Sink {
	if interval <= 0 {
		interval = DefaultFlushInterval
	}
	s := &Sink{w: bufio.NewWriterSize(w, bufferSize), stop: make(chan struct{}), done: make(chan struct{})}
	go s.flushEvery(interval)
	return s
}

// Write buffers p. A line longer than the buffer is written through at once.
func (s *Sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		// After Close (a late line from a goroutine still shutting down): write it through,
		// rather than lose it.
		n, err := s.w.Write(p)
		if err == nil {
			err = s.w.Flush()
		}
		return n, err
	}
	n, err := s.w.Write(p)
	s.dirty = true
	if err != nil && s.err == nil {
		s.err = err
	}
	return n, err
}

// Flush writes out everything buffered.
func (s *Sink) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushLocked()
}

func (s *Sink) flushLocked() error {
	if s.dirty {
		s.dirty = false
		if err := s.w.Flush(); err != nil && s.err == nil {
			s.err = err
		}
	}
	return s.err
}

// Close stops the timer and flushes. Later writes go straight through.
func (s *Sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return s.err
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	return s.Flush()
}

func (s *Sink) flushEvery(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			_ = s.Flush() // a failing stdout is reported by Close; nothing else can be done here
		}
	}
}

// Handler wraps h, which writes to sink, so that a record at level flushAt or above is
// written out before Handle returns: a warning or an error is never left waiting in memory
// when the process is about to fail.
func Handler(h slog.Handler, sink *Sink, flushAt slog.Level) slog.Handler {
	return &handler{Handler: h, sink: sink, flushAt: flushAt}
}

type handler struct {
	slog.Handler
	sink    *Sink
	flushAt slog.Level
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= h.flushAt {
		if ferr := h.sink.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handler{Handler: h.Handler.WithAttrs(attrs), sink: h.sink, flushAt: h.flushAt}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{Handler: h.Handler.WithGroup(name), sink: h.sink, flushAt: h.flushAt}
}
