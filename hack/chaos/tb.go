package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// scope is the testing.TB the harness hands to servertest and redistest when it runs as a
// program (make chaos) rather than under `go test`: a cleanup stack, temporary directories
// removed at the end, and a Fatalf that abandons the scenario instead of the whole run.
//
// The embedded testing.TB is nil. It is there only because testing.TB has an unexported
// method; every method servertest and redistest call is defined below, so the nil is never
// reached.
type scope struct {
	testing.TB

	name string
	logf func(format string, args ...any)

	mu       sync.Mutex
	cleanups []func()
	dirs     int
	root     string
	failed   atomic.Bool
	errs     []string
}

// fatal is the panic value of scope.Fatalf; runScope recovers it.
type fatal struct{ msg string }

func newScope(name string, logf func(string, ...any)) *scope {
	return &scope{name: name, logf: logf}
}

// runScope runs f on s and then s's cleanups, last first, whatever happens: a Fatalf in f
// (or in what it calls on this goroutine) ends f early and is returned as an error.
func runScope(s *scope, f func(*scope)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			ft, ok := r.(fatal)
			if !ok {
				s.close()
				panic(r)
			}
			err = fmt.Errorf("%s", ft.msg)
		}
		s.close()
	}()
	f(s)
	return nil
}

func (s *scope) Helper()      {}
func (s *scope) Name() string { return s.name }

func (s *scope) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

// close runs the cleanups, last registered first, each once, and removes the directories.
func (s *scope) close() {
	for {
		s.mu.Lock()
		n := len(s.cleanups)
		if n == 0 {
			s.mu.Unlock()
			break
		}
		f := s.cleanups[n-1]
		s.cleanups = s.cleanups[:n-1]
		s.mu.Unlock()
		func() {
			// A cleanup's Fatalf must not skip the others.
			defer func() {
				if r := recover(); r != nil {
					if _, ok := r.(fatal); !ok {
						panic(r)
					}
				}
			}()
			f()
		}()
	}
	s.mu.Lock()
	root := s.root
	s.root = ""
	s.mu.Unlock()
	if root != "" {
		_ = os.RemoveAll(root)
	}
}

func (s *scope) Log(args ...any)                 { s.logf("%s", fmt.Sprint(args...)) }
func (s *scope) Logf(format string, args ...any) { s.logf(format, args...) }

func (s *scope) Error(args ...any) { s.Errorf("%s", fmt.Sprint(args...)) }

func (s *scope) Errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.failed.Store(true)
	s.mu.Lock()
	s.errs = append(s.errs, msg)
	s.mu.Unlock()
	s.logf("ERROR: %s", msg)
}

func (s *scope) Fatal(args ...any) { s.Fatalf("%s", fmt.Sprint(args...)) }

func (s *scope) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.Errorf("%s", msg)
	panic(fatal{msg: msg})
}

func (s *scope) FailNow()     { s.Fatalf("FailNow") }
func (s *scope) Fail()        { s.failed.Store(true) }
func (s *scope) Failed() bool { return s.failed.Load() }

// errors returns what Errorf recorded.
func (s *scope) errors() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.errs...)
}

func (s *scope) Context() context.Context { return context.Background() }

func (s *scope) TempDir() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.root == "" {
		root, err := os.MkdirTemp("", "latch-chaos-")
		if err != nil {
			s.mu.Unlock()
			s.Fatalf("chaos: %v", err)
		}
		s.root = root
	}
	s.dirs++
	dir := filepath.Join(s.root, fmt.Sprintf("%03d", s.dirs))
	if err := os.Mkdir(dir, 0o700); err != nil {
		s.mu.Unlock()
		s.Fatalf("chaos: %v", err)
	}
	return dir
}

// replicaTB is the TB of one latch process. servertest fails the test when a process it
// stops does not exit 0; after the harness's own SIGKILL that is the expected end, so it
// is logged instead.
type replicaTB struct {
	testing.TB
	killed *atomic.Bool
}

func (r replicaTB) Errorf(format string, args ...any) {
	if r.killed.Load() {
		r.TB.Logf("chaos: (killed by the harness) "+format, args...)
		return
	}
	r.TB.Errorf(format, args...)
}

// Failed is false for servertest's sake: it dumps a failed test's whole server output, and a
// load test's is megabytes that bury the invariant that failed. CHAOS_SERVER_LOGS=1 keeps it.
func (r replicaTB) Failed() bool {
	if os.Getenv("CHAOS_SERVER_LOGS") != "" {
		return r.TB.Failed()
	}
	return false
}
