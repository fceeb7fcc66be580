package password

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/latchauth/latch/authserver/config"
)

// spy wraps the real argon2id and records how many computations run at once. When hold is
// set, each computation announces itself on started and waits for release.
type spy struct {
	running, peak, calls atomic.Int64
	hold                 atomic.Bool
	started              chan struct{}
	release              chan struct{}
	mu                   sync.Mutex
	seen                 []config.Argon2
}

func newSpy() *spy {
	return &spy{started: make(chan struct{}, 100), release: make(chan struct{})}
}

func (s *spy) kdf(password, salt []byte, t, m uint32, p uint8, keyLen uint32) []byte {
	n := s.running.Add(1)
	defer s.running.Add(-1)
	for {
		old := s.peak.Load()
		if n <= old || s.peak.CompareAndSwap(old, n) {
			break
		}
	}
	s.calls.Add(1)
	s.mu.Lock()
	s.seen = append(s.seen, config.Argon2{MemoryKiB: m, Iterations: t, Parallelism: p})
	s.mu.Unlock()
	if s.hold.Load() {
		s.started <- struct{}{}
		<-s.release
	}
	return argon2.IDKey(password, salt, t, m, p, keyLen)
}

func newTestPool(t *testing.T, params config.Argon2, workers, queue int) (*Pool, *spy) {
	t.Helper()
	s := newSpy()
	p, err := newPool(config.Passwords{Argon2: params, HashWorkers: workers, HashQueue: queue}, s.kdf)
	if err != nil {
		t.Fatal(err)
	}
	s.calls.Store(0) // forget the dummy hash computed by newPool
	s.seen = nil
	return p, s
}

// waitFor polls cond; the pool's queue has no event to wait on, and polling a gauge is what a
// metrics scrape does too.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPoolNeverRunsMoreThanWorkers(t *testing.T) {
	const workers, callers = 2, 40
	// Real hashes, heavy enough (a few ms) that callers pile up behind the two workers.
	p, s := newTestPool(t, config.Argon2{MemoryKiB: 4096, Iterations: 1, Parallelism: 1}, workers, callers)
	enc, err := p.Hash(t.Context(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				_, err = p.Hash(t.Context(), "correct horse")
			} else {
				_, err = p.Verify(t.Context(), "correct horse", enc)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("caller failed: %v", err)
		}
	}
	if got := s.calls.Load(); got != callers+1 {
		t.Errorf("%d computations, want %d", got, callers+1)
	}
	// At most the worker count, and exactly it: forty callers did keep both workers busy.
	if peak := s.peak.Load(); peak != workers {
		t.Errorf("at most %d computations ran at once, want %d", peak, workers)
	}
	if p.Running() != 0 || p.Queued() != 0 {
		t.Errorf("after the flood: running %d, queued %d; want 0, 0", p.Running(), p.Queued())
	}
}

func TestPoolBusyAndCancel(t *testing.T) {
	p, s := newTestPool(t, fast, 1, 2)
	s.hold.Store(true)
	ctx := t.Context()

	type result struct {
		name string
		err  error
	}
	results := make(chan result, 4)
	hash := func(ctx context.Context, name string) {
		_, err := p.Hash(ctx, "password1")
		results <- result{name, err}
	}

	go hash(ctx, "running")
	<-s.started
	go hash(ctx, "queued")
	cancelCtx, cancel := context.WithCancel(ctx)
	go hash(cancelCtx, "abandoned")
	waitFor(t, "two queued callers", func() bool { return p.Queued() == 2 })

	// One worker busy and two callers waiting: the next caller is refused at once.
	start := time.Now()
	if _, err := p.Hash(ctx, "password1"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash on a full pool = %v, want ErrBusy", err)
	}
	if _, err := p.Verify(ctx, "password1", refHash); !errors.Is(err, ErrBusy) {
		t.Fatalf("Verify on a full pool = %v, want ErrBusy", err)
	}
	if err := p.VerifyUnknown(ctx, "password1"); !errors.Is(err, ErrBusy) {
		t.Fatalf("VerifyUnknown on a full pool = %v, want ErrBusy", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("ErrBusy took %s; a full pool must refuse without waiting", d)
	}

	// A caller that gives up leaves the queue at once and frees its place.
	cancel()
	if r := <-results; r.name != "abandoned" || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("%s: %v, want the abandoned caller to get context.Canceled", r.name, r.err)
	}
	waitFor(t, "the abandoned caller to leave the queue", func() bool { return p.Queued() == 1 })
	go hash(ctx, "late")
	waitFor(t, "the late caller to queue", func() bool { return p.Queued() == 2 })

	// Release the worker: the running, queued and late callers all complete, one at a time.
	for range 3 {
		s.release <- struct{}{}
	}
	got := map[string]error{}
	for range 3 {
		r := <-results
		got[r.name] = r.err
	}
	for _, name := range []string{"running", "queued", "late"} {
		if err, ok := got[name]; !ok || err != nil {
			t.Errorf("%s: finished %v with %v; want success", name, ok, err)
		}
	}
	if n := s.calls.Load(); n != 3 {
		t.Errorf("%d computations, want 3: refused and abandoned callers must not hash", n)
	}
	if peak := s.peak.Load(); peak != 1 {
		t.Errorf("%d computations ran at once with one worker", peak)
	}
}

func TestPoolCancelledContextDoesNoWork(t *testing.T) {
	p, s := newTestPool(t, fast, 1, 1)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Hash(ctx, "password1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash = %v, want context.Canceled", err)
	}
	if _, err := p.Verify(ctx, "password1", refHash); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify = %v, want context.Canceled", err)
	}
	if n := s.calls.Load(); n != 0 {
		t.Errorf("%d computations for cancelled callers", n)
	}
}

func TestPoolHashAndVerify(t *testing.T) {
	p, s := newTestPool(t, fast, 2, 2)
	ctx := t.Context()
	enc, err := p.Hash(ctx, "password1")
	if err != nil {
		t.Fatal(err)
	}
	if rehash, err := p.Verify(ctx, "password1", enc); err != nil || rehash {
		t.Errorf("Verify = %v, %v; want false, nil", rehash, err)
	}
	if _, err := p.Verify(ctx, "password2", enc); !errors.Is(err, ErrMismatch) {
		t.Errorf("wrong password: %v, want ErrMismatch", err)
	}
	// An old hash with other parameters verifies and asks to be replaced.
	if rehash, err := p.Verify(ctx, "password", refHash); err != nil || !rehash {
		t.Errorf("Verify(old params) = %v, %v; want true, nil", rehash, err)
	}
	calls := s.calls.Load()

	// Cheap refusals never take a worker.
	if _, err := p.Hash(ctx, "short"); !errors.Is(err, ErrTooShort) {
		t.Errorf("Hash(short) = %v, want ErrTooShort", err)
	}
	if _, err := p.Hash(ctx, strings.Repeat("x", 257)); !errors.Is(err, ErrTooLong) {
		t.Errorf("Hash(long) = %v, want ErrTooLong", err)
	}
	if _, err := p.Verify(ctx, "password1", "not a hash"); !errors.Is(err, ErrMalformedHash) {
		t.Errorf("Verify(malformed) = %v, want ErrMalformedHash", err)
	}
	if _, err := p.Verify(ctx, strings.Repeat("x", MaxVerifyLen+1), enc); !errors.Is(err, ErrMismatch) {
		t.Errorf("Verify(huge) = %v, want ErrMismatch", err)
	}
	if n := s.calls.Load(); n != calls {
		t.Errorf("refused inputs ran %d computations", n-calls)
	}
}

// An unknown login must do the same work as a known one: one computation with the current
// parameters and key length, ending in the same error as a wrong password.
func TestVerifyUnknownDoesTheSameWork(t *testing.T) {
	p, s := newTestPool(t, fast, 1, 1)
	ctx := t.Context()
	enc, err := p.Hash(ctx, "password1")
	if err != nil {
		t.Fatal(err)
	}
	s.seen = nil
	_, knownErr := p.Verify(ctx, "password2", enc)
	unknownErr := p.VerifyUnknown(ctx, "password2")
	if !errors.Is(knownErr, ErrMismatch) || !errors.Is(unknownErr, ErrMismatch) {
		t.Fatalf("known: %v, unknown: %v; want ErrMismatch for both", knownErr, unknownErr)
	}
	if len(s.seen) != 2 || s.seen[0] != s.seen[1] || s.seen[1] != fast {
		t.Errorf("computations with %+v; want two with %+v", s.seen, fast)
	}
	if len(p.dummy.Key) != KeyLen || len(p.dummy.Salt) != SaltLen {
		t.Errorf("dummy has a %d-byte key and %d-byte salt", len(p.dummy.Key), len(p.dummy.Salt))
	}
}

func TestNewPoolRefusesBadConfig(t *testing.T) {
	for name, c := range map[string]config.Passwords{
		"no workers":       {Argon2: fast, HashWorkers: 0, HashQueue: 1},
		"no queue":         {Argon2: fast, HashWorkers: 1, HashQueue: 0},
		"zero iterations":  {Argon2: config.Argon2{MemoryKiB: 64, Parallelism: 1}, HashWorkers: 1, HashQueue: 1},
		"memory too small": {Argon2: config.Argon2{MemoryKiB: 8, Iterations: 1, Parallelism: 2}, HashWorkers: 1, HashQueue: 1},
	} {
		if _, err := NewPool(c); err == nil {
			t.Errorf("%s: NewPool accepted %+v", name, c)
		}
	}
	p, err := NewPool(defaults())
	if err != nil {
		t.Fatalf("NewPool(defaults) = %v", err)
	}
	if p.Params() != defaults().Argon2 || p.Policy() != PolicyFrom(defaults()) {
		t.Errorf("pool params %+v, policy %+v", p.Params(), p.Policy())
	}
}

// BenchmarkPoolVerifyParallel measures login throughput through the pool with the defaults and
// one worker per CPU: the argon2id ceiling of logins per second on this machine.
func BenchmarkPoolVerifyParallel(b *testing.B) {
	c := defaults()
	c.HashQueue = 1 << 16
	p, err := NewPool(c)
	if err != nil {
		b.Fatal(err)
	}
	enc, err := p.Hash(b.Context(), "correct horse")
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Verify(context.Background(), "correct horse", enc); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
