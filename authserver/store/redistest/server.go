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
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/childproc"
)

// installHint is the fix for a machine without Redis. Tests fail rather than skip: a skipped
// store test is a store that was never tested.
const installHint = "run hack/tools.sh redis to install it"

// startTimeout bounds the wait for a server to answer PING.
const startTimeout = 15 * time.Second

// Server is one redis-server process.
type Server struct {
	// Addr is the server's host:port on 127.0.0.1.
	Addr string

	t    testing.TB
	bin  string
	dir  string
	port int
	args []string
	// password is the --requirepass among args, used by the helper's own clients.
	password string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// Start starts a redis-server on a free loopback port with its own temporary directory and no
// persistence (no RDB save points, no AOF), and stops it when the test ends. extraArgs are
// appended to its command line ("--maxmemory", "10mb", ...).
func Start(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	bin := lookPath(t, "redis-server")
	var lastErr error
	// A free port can be taken between choosing it and binding it; try a few.
	for range 5 {
		port, err := FreePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		s := &Server{t: t, bin: bin, dir: t.TempDir(), port: port, args: extraArgs}
		if i := slices.Index(extraArgs, "--requirepass"); i >= 0 && i+1 < len(extraArgs) {
			s.password = extraArgs[i+1]
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

func lookPath(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("redistest: %s is not in PATH (%v); %s", name, err, installHint)
	}
	return p
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) logPath() string { return filepath.Join(s.dir, "redis.log") }

func (s *Server) start() error {
	args := append([]string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--dbfilename", "dump.rdb",
		"--save", "",
		"--appendonly", "no",
		"--daemonize", "no",
		"--logfile", s.logPath(),
	}, s.args...)
	cmd := exec.Command(s.bin, args...)
	childproc.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	c := redis.NewClient(s.options(200 * time.Millisecond))
	defer c.Close()
	for {
		if err := c.Ping(ctx).Err(); err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server on port %d exited during startup; log:\n%s", s.port, s.logTail())
		case <-ctx.Done():
			s.kill()
			return fmt.Errorf("redis-server on port %d did not answer PING within %s; log:\n%s", s.port, startTimeout, s.logTail())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// options are the helper's own client options: no retries, the server's password.
func (s *Server) options(dialTimeout time.Duration) *redis.Options {
	return &redis.Options{Addr: s.Addr, Password: s.password, MaxRetries: -1, DialTimeout: dialTimeout}
}

func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logPath())
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-20):], "\n")
}

// Client returns a client of the server, closed at cleanup.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(s.options(0))
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop shuts the server down, saving its data set to its directory first (SHUTDOWN SAVE), so
// that Restart brings the same data back: an outage, not a data loss.
func (s *Server) Stop() {
	s.t.Helper()
	c := redis.NewClient(s.options(0))
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The server closes the connection instead of replying, so an error here is the norm.
	_ = c.ShutdownSave(ctx).Err()
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		s.t.Fatalf("redistest: redis-server on %s did not shut down; log:\n%s", s.Addr, s.logTail())
	}
}

// Restart starts the server again on the same port and directory after Stop.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

// kill ends the process without saving (cleanup).
func (s *Server) kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.t.Logf("redistest: kill redis-server: %v", err)
	}
	<-done
}
