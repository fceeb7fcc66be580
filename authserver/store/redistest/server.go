package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/internal/childproc"
)

// TB is the part of testing.TB the helpers use. It is an interface of its own so that a
// program (hack/chaos) can run the same topologies outside `go test`; *testing.T and
// *testing.B satisfy it (checked in tb_test.go, so this package does not import testing).
//
// Fatalf must not return normally to the helper that called it in the middle of a start: a
// program's Fatalf should exit or panic, as testing's stops the test's goroutine.
type TB interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	TempDir() string
}

// installHint is the fix for a machine without Redis. Tests fail rather than skip: a skipped
// store test is a store that was never tested.
const installHint = "run hack/tools.sh redis to install it"

// startTimeout bounds the wait for a server to answer PING; loading a large AOF on restart
// counts against it.
const startTimeout = 15 * time.Second

// exitTimeout bounds the wait for a signalled process to exit. Redis 7 lets a master wait up
// to shutdown-timeout (10 s) for lagging replicas on SIGTERM, so this is longer.
const exitTimeout = 20 * time.Second

// Options configure a standalone server.
type Options struct {
	// AOF turns the append-only file on with an fsync every second (the RDB stays off), so that
	// Kill loses at most about the last second of writes and Restart loads the rest. Without
	// it a server persists only what Stop saves.
	AOF bool
	// Args are appended to the command line ("--maxmemory", "10mb", ...) and override the
	// helper's own settings.
	Args []string
}

// Server is one redis-server process (a data node or a sentinel). Its fault controls (Kill,
// Terminate, Pause, Resume, Running, PID, ConfigSet) may be called from any goroutine; the
// rest from the goroutine that started it, since they may call Fatalf.
type Server struct {
	// Addr is the server's host:port on 127.0.0.1.
	Addr string

	t    TB
	bin  string
	dir  string
	port int
	aof  bool
	// sentinelConf is the sentinel's config file, "" for a data node.
	sentinelConf string
	args         []string
	// password is the --requirepass among args, used by the helper's own clients.
	password string

	mu     sync.Mutex
	proc   *childproc.Process
	paused bool
}

// Start starts a redis-server on a free loopback port with its own temporary directory and no
// persistence (no RDB save points, no AOF), and kills it when the test ends. extraArgs are
// appended to its command line ("--maxmemory", "10mb", ...).
func Start(t TB, extraArgs ...string) *Server {
	t.Helper()
	return StartWith(t, Options{Args: extraArgs})
}

// StartWith starts a redis-server as Start does, with the append-only file if o.AOF.
func StartWith(t TB, o Options) *Server {
	t.Helper()
	return startServer(t, t.TempDir(), o.AOF, "", o.Args)
}

// startServer starts a data node (sentinelConf == "") or a sentinel whose config file, in dir,
// is sentinelConf.
func startServer(t TB, dir string, aof bool, sentinelConf string, args []string) *Server {
	t.Helper()
	bin := lookPath(t, "redis-server")
	var lastErr error
	// A free port can be taken between choosing it and binding it; try a few.
	for range 5 {
		port, err := childproc.FreePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
			return nil
		}
		s := &Server{t: t, bin: bin, dir: dir, port: port, aof: aof, sentinelConf: sentinelConf, args: args}
		if i := slices.Index(args, "--requirepass"); i >= 0 && i+1 < len(args) {
			s.password = args[i+1]
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.kill)
			return s
		}
	}
	t.Fatalf("redistest: cannot start redis-server: %v", lastErr)
	return nil
}

func lookPath(t TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("redistest: %s is not in PATH (%v); %s", name, err, installHint)
	}
	return p
}

func (s *Server) logPath() string { return filepath.Join(s.dir, "redis.log") }

func (s *Server) commandLine() []string {
	var args []string
	if s.sentinelConf != "" {
		// The config file comes first; Sentinel rewrites it, so it lives in the sentinel's
		// own directory and a restarted sentinel resumes with what it had learnt.
		args = append(args, s.sentinelConf, "--sentinel")
	}
	args = append(args,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", s.logPath(),
	)
	if s.sentinelConf == "" {
		// Saving only on SHUTDOWN SAVE (Stop) keeps the RDB out of the way: with AOF on, the
		// AOF alone is what a restart loads, so a Kill loses what the AOF lost.
		args = append(args, "--dbfilename", "dump.rdb", "--save", "")
		// A master otherwise holds a replica's full sync back 5 s in case another wants one.
		args = append(args, "--repl-diskless-sync-delay", "0")
		if s.aof {
			args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
		} else {
			args = append(args, "--appendonly", "no")
		}
	}
	return append(args, s.args...)
}

func (s *Server) start() error {
	p, err := childproc.Start(childproc.Spec{Path: s.bin, Args: s.commandLine()})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.proc, s.paused = p, false
	s.mu.Unlock()

	c := redis.NewClient(s.options(200 * time.Millisecond))
	defer c.Close()
	// A server loading its AOF or RDB answers PING with -LOADING, an error: it is not up until
	// it serves data.
	if err := p.WaitReady(startTimeout, func(ctx context.Context) error { return c.Ping(ctx).Err() }); err != nil {
		s.kill()
		return fmt.Errorf("redis-server on port %d: %w; log:\n%s", s.port, err, s.logTail())
	}
	return nil
}

// options are the helper's own client options: no retries, the server's password.
func (s *Server) options(dialTimeout time.Duration) *redis.Options {
	return &redis.Options{Addr: s.Addr, Password: s.password, MaxRetries: -1, DialTimeout: dialTimeout}
}

// probe is a short-lived client for the helper's own polling: short timeouts, so that a
// paused or dead node costs one poll interval rather than the default 3 s.
func (s *Server) probe() *redis.Client {
	o := s.options(500 * time.Millisecond)
	o.ReadTimeout, o.WriteTimeout = time.Second, time.Second
	return redis.NewClient(o)
}

func (s *Server) logTail() string { return childproc.TailFile(s.logPath(), 20) }

// Client returns a client of the server, closed at cleanup.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(s.options(0))
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// ConfigSet runs CONFIG SET through a client of the helper's own, so that a fault (a
// maxmemory with noeviction, say) can be set and lifted whatever the test's clients are doing.
func (s *Server) ConfigSet(ctx context.Context, key, value string) error {
	c := s.probe()
	defer c.Close()
	return c.ConfigSet(ctx, key, value).Err()
}

// state returns the current process and whether it is paused.
func (s *Server) state() (*childproc.Process, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc, s.paused
}

// Running reports whether the process is alive; a paused server is running.
func (s *Server) Running() bool {
	p, _ := s.state()
	return p != nil && !p.Exited()
}

// paused reports whether the server was paused and not resumed since.
func (s *Server) isPaused() bool {
	_, paused := s.state()
	return paused
}

// answering reports whether the server should answer commands: running and not paused.
func (s *Server) answering() bool { return s.Running() && !s.isPaused() }

// PID is the process id of the current (or last) process, 0 before the first start.
func (s *Server) PID() int {
	p, _ := s.state()
	if p == nil {
		return 0
	}
	return p.PID()
}

// Stop shuts the server down, saving its data set to its directory first (SHUTDOWN SAVE), so
// that Restart brings the same data back: an outage, not a data loss.
func (s *Server) Stop() {
	s.t.Helper()
	// A stopped process would never read the SHUTDOWN.
	s.Resume()
	c := redis.NewClient(s.options(0))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The server closes the connection instead of replying, so an error here is the norm.
	_ = c.ShutdownSave(ctx).Err()
	p, _ := s.state()
	select {
	case <-p.Done():
	case <-ctx.Done():
		s.t.Fatalf("redistest: redis-server on %s did not shut down; log:\n%s", s.Addr, s.logTail())
	}
}

// Kill ends the process with SIGKILL, a crash: nothing is saved, what the AOF (if on) had
// written stays on disk for Restart. It returns once the process has exited.
func (s *Server) Kill() { s.kill() }

// Terminate sends SIGTERM, the orchestrator's polite stop: Redis fsyncs its AOF (and saves an
// RDB only if save points were configured) and exits. It returns once the process has exited,
// killing it if it has not within exitTimeout.
func (s *Server) Terminate() {
	p, paused := s.state()
	if !s.Running() {
		return
	}
	s.signal(p, syscall.SIGTERM)
	if paused {
		// A stopped process keeps SIGTERM pending until it is continued.
		s.signal(p, syscall.SIGCONT)
	}
	select {
	case <-p.Done():
	case <-time.After(exitTimeout):
		s.t.Logf("redistest: redis-server on %s ignored SIGTERM for %s; killing it; log:\n%s", s.Addr, exitTimeout, s.logTail())
		s.kill()
	}
}

// Pause stops the process (SIGSTOP): its sockets stay open and accept connections, but nothing
// answers, as with a VM freeze or a long GC pause elsewhere. It returns once the kernel reports
// the process stopped.
func (s *Server) Pause() {
	p, _ := s.state()
	if !s.Running() {
		return
	}
	s.mu.Lock()
	s.paused = true
	s.mu.Unlock()
	s.signal(p, syscall.SIGSTOP)
	s.waitProcState(p, func(st byte) bool { return st == 'T' })
}

// Resume continues a paused process (SIGCONT) and returns once it runs again.
func (s *Server) Resume() {
	p, paused := s.state()
	if !paused || !s.Running() {
		return
	}
	s.signal(p, syscall.SIGCONT)
	s.waitProcState(p, func(st byte) bool { return st != 'T' })
	s.mu.Lock()
	s.paused = false
	s.mu.Unlock()
}

func (s *Server) signal(p *childproc.Process, sig os.Signal) {
	if err := p.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.t.Logf("redistest: signal %v to redis-server on %s: %v", sig, s.Addr, err)
	}
}

// waitProcState waits until /proc reports the process in a state ok accepts: a signal is
// delivered asynchronously, and a test asserting on a pause must not race it. Where there is
// no /proc (not Linux), or the process has gone, it returns at once.
func (s *Server) waitProcState(p *childproc.Process, ok func(state byte) bool) {
	path := fmt.Sprintf("/proc/%d/stat", p.PID())
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(path)
		if err != nil {
			return
		}
		// The state follows the command name, which is in parentheses and may hold spaces.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || i+2 >= len(b) || ok(b[i+2]) || b[i+2] == 'Z' {
			return
		}
		time.Sleep(time.Millisecond)
	}
	s.t.Logf("redistest: redis-server on %s did not change state within 5s", s.Addr)
}

// Restart starts the server again on the same port, directory and arguments after Stop, Kill
// or Terminate. A data node loads its AOF (if on) or the RDB Stop saved; a sentinel resumes
// from its rewritten config file.
func (s *Server) Restart() {
	s.t.Helper()
	if s.Running() {
		s.t.Fatalf("redistest: Restart of redis-server on %s, which is still running", s.Addr)
		return
	}
	var err error
	// The port was free while the server was down, and another process may have taken it for
	// a moment (a client's ephemeral port); the address cannot change, so try again.
	for range 5 {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart: %v", err)
}

// kill ends the process without saving (Kill, and cleanup).
func (s *Server) kill() {
	p, _ := s.state()
	if p == nil || p.Exited() {
		return
	}
	p.Kill()
	s.mu.Lock()
	s.paused = false
	s.mu.Unlock()
}
