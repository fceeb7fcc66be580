// Command bench is `make bench`: it measures Latch on this machine beside the machine's own
// ceiling for the same work, measured in the same run, and writes BENCHMARKS.md.
//
// It starts everything it needs on loopback — redis-server, `bin/latch server` processes,
// the ceiling programs (this binary's ceiling-session and ceiling-argon2 subcommands) and,
// for the operator, envtest's etcd and kube-apiserver — and drives load with its own
// closed-loop generator. Each figure is the median of -reps runs, interleaved with its
// ceiling's runs so that drift from other work on the machine hits both alike.
//
//	bench [flags]                 run the suites, write -out
//	bench ceiling-session ...     (internal) the session-check ceiling server
//	bench ceiling-argon2 ...      (internal) the password-hashing ceiling
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// options are the bench's flags. The defaults fit the whole run in about 12 minutes on a
// 2-core machine; shorten them while working on the bench.
type options struct {
	out      string
	only     string
	reps     int
	keep     bool
	latchBin string
	repo     string

	warmup, window time.Duration
	conns          int

	loginWindow               time.Duration
	strongMemoryKiB, strongIt uint
	flood                     int

	sockets, sourceAddrs, revocations, revokeRate int

	realms, clients int
	operatorReps    int

	profileDir string
	serverEnv  []string
	rows       string
}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "BENCHMARKS.md", "where to write the report")
	fs.StringVar(&o.only, "only", strings.Join(suiteNames, ","), "comma-separated suites to run")
	fs.IntVar(&o.reps, "reps", 3, "runs of each measurement; figures are medians")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (process logs, configs)")
	fs.StringVar(&o.latchBin, "latch", "bin/latch", "the latch binary (make build)")
	fs.StringVar(&o.repo, "repo", ".", "the repository root (for config/crd/bases)")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "unrecorded load before each measured window")
	fs.DurationVar(&o.window, "window", 4*time.Second, "measured window of each session-check run")
	fs.IntVar(&o.conns, "conns", 64, "keep-alive connections of the session-check load")
	fs.DurationVar(&o.loginWindow, "login-window", 5*time.Second, "measured window of each login run")
	fs.UintVar(&o.strongMemoryKiB, "strong-memory", 64*1024, "argon2id memory (KiB) of the stronger login setting")
	fs.UintVar(&o.strongIt, "strong-iterations", 3, "argon2id iterations of the stronger login setting")
	fs.IntVar(&o.flood, "flood", 500, "concurrent logins of the memory flood")
	fs.IntVar(&o.sockets, "sockets", 10000, "idle sockets held by one replica")
	fs.IntVar(&o.sourceAddrs, "source-addrs", 4, "127.0.0.x source addresses the sockets come from (x = 2, 3, ...)")
	fs.IntVar(&o.revocations, "revocations", 1000, "sessions ended on replica B whose sockets are on replica A")
	fs.IntVar(&o.revokeRate, "revoke-rate", 500, "revocations started per second")
	fs.IntVar(&o.realms, "realms", 200, "AuthRealms of the operator run")
	fs.IntVar(&o.clients, "clients", 2000, "DeviceClients of the operator run (spread evenly over the realms)")
	fs.IntVar(&o.operatorReps, "operator-reps", 3, "runs of the operator measurement (each on a fresh control plane)")
	fs.StringVar(&o.rows, "rows", "", "session suite: comma-separated rows to run besides the ceiling (devise,devise-rotating,bearer,account; default all)")
	fs.StringVar(&o.profileDir, "profile", "", "if set, save CPU profiles of the servers under load and heap profiles of the socket server here")
	fs.Func("server-env", "NAME=VALUE added to the environment of every latch server (repeatable; e.g. GODEBUG=memprofilerate=64 for exact heap profiles)", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("want NAME=VALUE, got %q", v)
		}
		o.serverEnv = append(o.serverEnv, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.reps < 1 || o.operatorReps < 1:
		return o, errors.New("-reps and -operator-reps must be at least 1")
	case o.conns < 2 || o.conns%2 != 0:
		return o, errors.New("-conns must be even (two replicas share them) and at least 2")
	case o.window <= 0 || o.loginWindow <= 0 || o.warmup < 0:
		return o, errors.New("-window and -login-window must be positive, -warmup not negative")
	case o.sourceAddrs < 1 || o.sourceAddrs > 250:
		return o, errors.New("-source-addrs must be between 1 and 250")
	case o.revocations > o.sockets:
		return o, errors.New("-revocations cannot exceed -sockets")
	case o.realms < 1 || o.clients < 0:
		return o, errors.New("-realms must be at least 1 and -clients not negative")
	}
	for _, s := range strings.Split(o.only, ",") {
		if !slices.Contains(suiteNames, strings.TrimSpace(s)) {
			return o, fmt.Errorf("-only: unknown suite %q (known: %s)", s, strings.Join(suiteNames, ","))
		}
	}
	return o, nil
}

var suiteNames = []string{"session", "login", "sockets", "operator", "admin"}

func (o options) runs(suite string) bool {
	for _, s := range strings.Split(o.only, ",") {
		if strings.TrimSpace(s) == suite {
			return true
		}
	}
	return false
}

// bench is one run: its options, its work directory, and what has to be stopped at the end.
type bench struct {
	opts     options
	ctx      context.Context
	dir      string
	self     string // this executable, for the ceiling subcommands
	latchBin string
	report   *report

	mu       sync.Mutex
	cleanups []func()
}

// cleanup registers f to run when the bench ends, in reverse order of registration.
func (b *bench) cleanup(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cleanups = append(b.cleanups, f)
}

func (b *bench) close() {
	b.mu.Lock()
	fs := b.cleanups
	b.cleanups = nil
	b.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// logf prints progress to stderr: a run takes minutes and should say what it is doing.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[bench %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func main() {
	if len(os.Args) > 1 {
		var err error
		switch os.Args[1] {
		case "ceiling-session":
			err = runSessionCeiling(os.Args[2:])
		case "ceiling-argon2":
			err = runHashCeiling(os.Args[2:])
		default:
			err = run(os.Args[1:])
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(nil); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	opts, err := parseOptions(args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	self, err := os.Executable()
	if err != nil {
		return err
	}
	latchBin, err := filepath.Abs(opts.latchBin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(latchBin); err != nil {
		return fmt.Errorf("%s: %w (run make build first)", opts.latchBin, err)
	}
	dir, err := os.MkdirTemp("", "latch-bench-")
	if err != nil {
		return err
	}
	b := &bench{opts: opts, ctx: ctx, dir: dir, self: self, latchBin: latchBin}
	started := time.Now()
	b.report = newReport(ctx, opts, args)
	logf("work directory %s", dir)

	suites := []struct {
		name string
		run  func(*bench) error
	}{
		{"session", (*bench).sessionSuite},
		{"login", (*bench).loginSuite},
		{"sockets", (*bench).socketSuite},
		{"operator", (*bench).operatorSuite},
		{"admin", (*bench).adminSuite},
	}
	var failed []string
	for _, s := range suites {
		if !opts.runs(s.name) {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		logf("suite %s", s.name)
		t0 := time.Now()
		err := s.run(b)
		b.close() // every suite starts from a clean machine
		if err != nil {
			logf("suite %s FAILED: %v", s.name, err)
			b.report.failed(s.name, err)
			failed = append(failed, s.name)
		}
		b.report.suiteTime(s.name, time.Since(t0))
	}
	b.close()
	if err := b.report.write(opts.out, time.Since(started)); err != nil {
		return err
	}
	logf("wrote %s in %s", opts.out, time.Since(started).Round(time.Second))
	if len(failed) > 0 || ctx.Err() != nil {
		logf("kept the work directory %s for the logs", dir)
		if ctx.Err() != nil {
			return errStopped
		}
		return fmt.Errorf("suites failed: %s", strings.Join(failed, ", "))
	}
	if !opts.keep {
		_ = os.RemoveAll(dir)
	}
	return nil
}
