package servertest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/logsink"
	"github.com/latchauth/latch/authserver/store/redistest"
	"github.com/latchauth/latch/internal/childproc"
)

// startTimeout bounds the wait for a started server to report ready.
const startTimeout = 60 * time.Second

// Options tune Start.
type Options struct {
	// Config edits the base config before it is written. The base enables the account dialect
	// at /account, uses cheap argon2id parameters, sends mail to the Mailbox, and listens on
	// 127.0.0.1:0 twice.
	Config func(*config.Config)
	// Redis is a running server to use, so several processes (or a restarted one) share data,
	// or a test can stop it; nil starts a fresh one for this server.
	Redis *redistest.Server
	// Mailbox receives the server's mail; nil starts a fresh one.
	Mailbox *Mailbox
	// InMemory runs with the in-memory store instead of Redis.
	InMemory bool
}

// Server is a running latch server process.
type Server struct {
	// PublicURL and AdminURL are "http://127.0.0.1:PORT" of the two ports.
	PublicURL, AdminURL string
	// Config is the effective config (defaults applied) the process runs with.
	Config *config.Config
	// Redis is the store's redis-server (nil when InMemory).
	Redis *redistest.Server
	// Mailbox receives the server's mail.
	Mailbox *Mailbox

	t          testing.TB
	configFile string
	proc       *childproc.Process
	out        *childproc.Buffer

	stopOnce sync.Once
}

// Start builds the binary (once), writes a config, starts `latch server` on free loopback
// ports and waits until /readyz answers 200. At cleanup it stops the server with SIGTERM and
// fails the test unless it exits 0 in time.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{t: t, Redis: opts.Redis, Mailbox: opts.Mailbox}
	if s.Mailbox == nil {
		s.Mailbox = StartMailbox(t)
	}
	if s.Redis == nil && !opts.InMemory {
		s.Redis = redistest.Start(t)
	}
	dir := t.TempDir()
	cfg := s.baseConfig(t, dir)
	if opts.InMemory {
		cfg.Redis = nil
	}
	if opts.Config != nil {
		opts.Config(cfg)
	}
	s.configFile = filepath.Join(dir, "config.json")
	s.Config = writeConfig(t, s.configFile, cfg)
	s.launch(t)
	return s
}

// Sibling starts another process with the same config: the same Redis, token hash key and
// mailbox, its own ports. It is a second replica, or the next process after a restart.
func (s *Server) Sibling(t testing.TB) *Server {
	t.Helper()
	n := &Server{t: t, Config: s.Config, Redis: s.Redis, Mailbox: s.Mailbox, configFile: s.configFile}
	n.launch(t)
	return n
}

// SiblingWith is Sibling with the config changed by edit: the realm's next settings (its
// spec changed) over the same data. edit must not change what the config's pointers share
// with the original (replace a dialect's settings rather than edit them in place).
func (s *Server) SiblingWith(t testing.TB, edit func(*config.Config)) *Server {
	t.Helper()
	cfg := *s.Config
	edit(&cfg)
	n := &Server{t: t, Redis: s.Redis, Mailbox: s.Mailbox, configFile: filepath.Join(t.TempDir(), "config.json")}
	n.Config = writeConfig(t, n.configFile, &cfg)
	n.launch(t)
	return n
}

// launch starts the process and waits for it to be ready; the stop is arranged at cleanup.
func (s *Server) launch(t testing.TB) {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr.json")
	s.out = &childproc.Buffer{}
	p, err := childproc.Start(childproc.Spec{
		Path: Binary(t), Args: []string{"server", "--config", s.configFile, "--addr-file", addrFile},
		Stdout: s.out, Stderr: s.out,
	})
	if err != nil {
		t.Fatalf("servertest: start latch: %v", err)
	}
	s.proc = p
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("servertest: output of the server at %s:\n%s", s.PublicURL, s.Logs())
		}
	})
	if err := p.WaitReady(startTimeout, func(ctx context.Context) error { return s.ready(ctx, addrFile) }); err != nil {
		t.Fatalf("servertest: latch: %v", err)
	}
}

func (s *Server) baseConfig(t testing.TB, dir string) *config.Config {
	key := make([]byte, 48)
	_, _ = rand.Read(key)
	keyFile := filepath.Join(dir, "token-hash-key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(key)), 0o600); err != nil {
		t.Fatalf("servertest: %v", err)
	}
	cfg := &config.Config{
		Realm: "test",
		Listen: config.Listen{
			Public: "127.0.0.1:0", Admin: "127.0.0.1:0",
			ShutdownTimeout: config.D(15 * time.Second),
		},
		TokenHashKey: config.Secret{File: keyFile},
		Protocols:    config.Protocols{Account: &config.Account{}},
		Passwords: config.Passwords{
			// Cheap parameters keep tests fast; tests of timing raise them.
			Argon2:      config.Argon2{MemoryKiB: 1024, Iterations: 1, Parallelism: 1},
			HashWorkers: 4,
		},
		Email: config.Email{
			SMTP:       &config.SMTP{Host: "127.0.0.1", Port: s.Mailbox.Port(), Security: config.SMTPNone},
			From:       "latch@test.example",
			ResetURL:   "https://app.test.example/reset-password",
			ConfirmURL: "https://app.test.example/confirm",
		},
		Log: config.Log{Level: "debug"},
	}
	if s.Redis != nil {
		cfg.Redis = &config.Redis{Addresses: []string{s.Redis.Addr}, KeyPrefix: "latch:test:"}
	}
	return cfg
}

// writeConfig writes cfg as the operator would and returns the effective config.
func writeConfig(t testing.TB, path string, cfg *config.Config) *config.Config {
	b, err := cfg.Marshal()
	if err != nil {
		t.Fatalf("servertest: marshal config: %v", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatalf("servertest: %v", err)
	}
	eff, err := config.Parse(b)
	if err != nil {
		t.Fatalf("servertest: the test's config is invalid: %v", err)
	}
	return eff
}

// ready reads the bound addresses once the server has written them, then asks /readyz.
func (s *Server) ready(ctx context.Context, addrFile string) error {
	if s.AdminURL == "" {
		b, err := os.ReadFile(addrFile)
		if err != nil {
			return fmt.Errorf("no address file yet: %w", err)
		}
		var addrs struct{ Public, Admin string }
		if err := json.Unmarshal(b, &addrs); err != nil {
			return fmt.Errorf("address file: %w", err)
		}
		s.PublicURL, s.AdminURL = "http://"+addrs.Public, "http://"+addrs.Admin
	}
	return childproc.GetOK(ctx, s.AdminURL+"/readyz")
}

// PID returns the server process's ID (to read its memory from /proc, say).
func (s *Server) PID() int { return s.proc.PID() }

// Signal sends sig to the server process.
func (s *Server) Signal(sig os.Signal) {
	s.t.Helper()
	if err := s.proc.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		s.t.Fatalf("servertest: signal %v: %v", sig, err)
	}
}

// Wait waits for the process to exit and returns its exit error (nil for status 0).
func (s *Server) Wait(timeout time.Duration) error {
	select {
	case <-s.proc.Done():
		return s.proc.Err()
	default:
	}
	select {
	case <-s.proc.Done():
		return s.proc.Err()
	case <-time.After(timeout):
		return fmt.Errorf("servertest: latch still running after %s", timeout)
	}
}

// Stop sends SIGTERM, waits for the graceful shutdown and fails the test unless the process
// exits 0. It is idempotent; Start arranges it at cleanup.
func (s *Server) Stop() {
	s.t.Helper()
	s.stopOnce.Do(func() {
		grace := s.Config.Listen.ShutdownTimeout.Duration + 10*time.Second
		if s.proc.Stop(grace) {
			s.t.Errorf("servertest: latch still running %s after SIGTERM; killed", grace)
		} else if err := s.proc.Err(); err != nil {
			s.t.Errorf("servertest: latch did not exit cleanly after SIGTERM: %v", err)
		}
	})
}

// Logs returns everything the process wrote before now, once its output has settled (see
// LogLines): a test that checks what is absent from the logs must not look too early.
func (s *Server) Logs() string {
	s.settleLogs()
	return s.out.String()
}

// settleLogs waits until the process's output has been quiet for logQuiet (at most
// logSettleMax), so every line it wrote before now has been read from the pipe. The server
// buffers its log lines for up to logsink.DefaultFlushInterval, so the quiet window is longer.
func (s *Server) settleLogs() {
	const (
		logQuiet     = logsink.DefaultFlushInterval + 150*time.Millisecond
		logSettleMax = 3 * time.Second
	)
	deadline := time.Now().Add(logSettleMax)
	last, quietSince := s.out.Len(), time.Now()
	for time.Now().Before(deadline) {
		time.Sleep(25 * time.Millisecond)
		if n := s.out.Len(); n != last {
			last, quietSince = n, time.Now()
			continue
		}
		if time.Since(quietSince) >= logQuiet {
			return
		}
	}
}

// LogLines returns the JSON log lines whose fields include every key-value of match. It first
// lets the process's output settle: the output pipe is read asynchronously, so a line written
// just before the caller's last response may not have arrived yet on a loaded machine.
func (s *Server) LogLines(match map[string]any) []map[string]any {
	s.settleLogs()
	var out []map[string]any
	for _, line := range strings.Split(s.out.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		ok := true
		for k, v := range match {
			if m[k] != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

// Client returns an HTTP client with its own cookie jar and a timeout.
func Client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

// Metric returns the sum of the samples of the metric name on /metrics whose labels include
// every pair of labels.
func (s *Server) Metric(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	m, err := childproc.Scrape(context.Background(), s.AdminURL+"/metrics")
	if err != nil {
		t.Fatalf("servertest: %v", err)
	}
	return m.Sum(name, labels)
}
