package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/server"
	"github.com/latchauth/latch/authserver/store/redistest"
)

// logBuffer collects the server's JSON log.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	key := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(key, []byte(strings.Repeat("k", 40)), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &config.Config{
		Realm:        "unit",
		Listen:       config.Listen{Public: "127.0.0.1:0", Admin: "127.0.0.1:0", ShutdownTimeout: config.D(5 * time.Second)},
		TokenHashKey: config.Secret{File: key},
		Protocols:    config.Protocols{Account: &config.Account{}},
		Passwords:    config.Passwords{Argon2: config.Argon2{MemoryKiB: 64, Iterations: 1, Parallelism: 1}},
	}
	c.Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// running is a server started in-process by Run.
type running struct {
	public, admin string
	cancel        context.CancelFunc
	done          chan error
	logs          *logBuffer
}

func start(t *testing.T, cfg *config.Config) *running {
	t.Helper()
	addrFile := filepath.Join(t.TempDir(), "addr.json")
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1), logs: &logBuffer{}}
	logger := slog.New(slog.NewJSONHandler(r.logs, nil))
	go func() { r.done <- server.Run(ctx, cfg, logger, server.WithAddrFile(addrFile)) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(addrFile)
		if err == nil {
			var a struct{ Public, Admin string }
			if err := json.Unmarshal(b, &a); err != nil {
				t.Fatal(err)
			}
			r.public, r.admin = "http://"+a.Public, "http://"+a.Admin
			break
		}
		select {
		case err := <-r.done:
			t.Fatalf("Run returned during startup: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no address file")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return r
}

func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
		return nil
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestRunServesAndStops(t *testing.T) {
	r := start(t, testConfig(t))
	if got := status(t, r.admin+"/readyz"); got != http.StatusOK {
		t.Errorf("/readyz = %d", got)
	}
	if got := status(t, r.public+"/account/session"); got != http.StatusUnauthorized {
		t.Errorf("/account/session = %d, want 401", got)
	}
	if got := status(t, r.public+"/metrics"); got != http.StatusNotFound {
		t.Errorf("/metrics on the public port = %d, want 404", got)
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run = %v after cancel, want nil", err)
	}
	if _, err := http.Get(r.admin + "/healthz"); err == nil {
		t.Error("the admin port still answers after Run returned")
	}
	logs := r.logs.String()
	for _, want := range []string{`"msg":"listening"`, `"msg":"dialect enabled"`, `"msg":"shut down"`, "in-memory store"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

func TestReadyzFollowsRedis(t *testing.T) {
	rs := redistest.Start(t)
	cfg := testConfig(t)
	cfg.Redis = &config.Redis{Addresses: []string{rs.Addr}}
	cfg.Default()
	r := start(t, cfg)
	if got := status(t, r.admin+"/readyz"); got != http.StatusOK {
		t.Fatalf("/readyz = %d", got)
	}
	rs.Stop()
	if got := status(t, r.admin+"/readyz"); got != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Redis down = %d, want 503", got)
	}
	if got := status(t, r.admin+"/healthz"); got != http.StatusOK {
		t.Errorf("/healthz with Redis down = %d, want 200 (the process is alive)", got)
	}
	rs.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for status(t, r.admin+"/readyz") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not recover")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestRunFailsOnBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig(t)
	cfg.Listen.Admin = ln.Addr().String()
	err = server.Run(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "listen.admin") {
		t.Fatalf("Run = %v, want an error naming listen.admin", err)
	}
}

func TestRunRefusesBadSecrets(t *testing.T) {
	cfg := testConfig(t)
	cfg.TokenHashKey = config.Secret{Env: "LATCH_UNIT_TEST_UNSET"}
	if err := server.Run(t.Context(), cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "tokenHashKey") {
		t.Errorf("Run = %v, want an error naming tokenHashKey", err)
	}
	short := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(short, []byte("too short"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.TokenHashKey = config.Secret{File: short}
	if err := server.Run(t.Context(), cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "tokenHashKey") {
		t.Errorf("Run = %v, want an error naming tokenHashKey", err)
	}
}

// Both servers carry every timeout from the config.
func TestHTTPServersHaveTimeouts(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen.ReadHeaderTimeout = config.D(time.Second)
	r := start(t, cfg)
	for _, base := range []string{r.public, r.admin} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		// Half a request line, then nothing: ReadHeaderTimeout must end the connection.
		_, _ = conn.Write([]byte("GET /healthz HTT"))
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		began := time.Now()
		_, err = io.ReadAll(conn)
		conn.Close()
		if err != nil || time.Since(began) > 3*time.Second {
			t.Errorf("%s: a stalled header was not cut off after ~1s (%v after %s)", base, err, time.Since(began))
		}

		// Headers beyond listen.maxHeaderBytes are refused.
		req, _ := http.NewRequest(http.MethodGet, base+"/healthz", nil)
		req.Header.Set("X-Big", strings.Repeat("x", cfg.Listen.MaxHeaderBytes+4096))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("%s: oversized headers = %d, want 431", base, resp.StatusCode)
		}
	}
}
