package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

// stallMargin is how long past a server timeout a test waits for the server to act on it:
// generous, so a loaded machine does not fail the test, and it bounds the test all the same.
const stallMargin = 5 * time.Second

// rawConn is a client speaking HTTP/1.1 by hand over TCP, to stall where a real client never
// would.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t *testing.T, base string) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawConn{t: t, conn: conn, br: bufio.NewReader(conn)}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write %q: %v", s, err)
	}
}

// response reads one response, within d; nil when the server closed the connection before
// sending a byte of one. Anything else (garbage, a timeout) fails the test.
func (c *rawConn) response(d time.Duration) *http.Response {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	if _, err := c.br.Peek(1); errors.Is(err, io.EOF) {
		return nil
	} else if err != nil {
		c.t.Fatalf("no response and no close within %s: %v", d, err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("reading a response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		c.t.Fatalf("reading a %d response's body: %v", resp.StatusCode, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp
}

// closed checks that the server closes the connection within d and sends nothing more.
func (c *rawConn) closed(d time.Duration) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	rest, err := io.ReadAll(c.br)
	switch {
	case err != nil:
		c.t.Fatalf("the connection was not closed within %s: %v (after %q)", d, err, rest)
	case len(rest) > 0:
		c.t.Fatalf("the server sent %q before closing, want nothing", rest)
	}
}

// A client that stalls in its request line or its headers gets 408 Request Timeout with
// Connection: close, and the connection closed, once listen.readHeaderTimeout has passed; never
// net/http's 400, which it sends when the timeout cuts a line in half. A client that sent
// nothing of a request, on a new connection or a kept-alive one, is closed without a word,
// after readHeaderTimeout or idleTimeout. Both servers.
func TestStalledHeadersGet408(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listen.ReadHeaderTimeout = config.D(time.Second)
	cfg.Listen.IdleTimeout = config.D(time.Second)
	cfg.Listen.ReadTimeout = config.D(2 * time.Second)
	r := start(t, cfg)
	wait := cfg.Listen.ReadTimeout.Duration + stallMargin
	want408 := func(t *testing.T, resp *http.Response) {
		t.Helper()
		switch {
		case resp == nil:
			t.Fatal("the connection was closed without a response, want 408")
		case resp.StatusCode != http.StatusRequestTimeout:
			t.Fatalf("status %d, want 408", resp.StatusCode)
		case !resp.Close: // ReadResponse takes Connection: close out of the header into Close
			t.Errorf("408 without Connection: close (header %v)", resp.Header)
		}
	}
	const request = "GET /healthz HTTP/1.1\r\nHost: latch.test\r\n\r\n"
	stalls := []struct{ name, send string }{
		{"request line cut", "GET /heal"},
		{"request line without its end", "GET /healthz HTTP/1.1"},
		{"header name cut", "GET /healthz HTTP/1.1\r\nHo"},
		{"header value cut", "GET /healthz HTTP/1.1\r\nHost: latch.test\r\nX-Stall: a"},
		{"no blank line after the headers", "GET /healthz HTTP/1.1\r\nHost: latch.test\r\n"},
		{"a pipelined request cut", request + "GET /heal"},
	}
	for _, srv := range []struct{ name, base string }{{"public", r.public}, {"admin", r.admin}} {
		t.Run(srv.name, func(t *testing.T) {
			for _, tc := range stalls {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					c := dialRaw(t, srv.base)
					c.send(tc.send)
					if strings.HasPrefix(tc.send, request) {
						if resp := c.response(wait); resp == nil || resp.StatusCode == http.StatusRequestTimeout {
							t.Fatalf("the complete request before the cut one was not answered: %v", resp)
						}
					}
					want408(t, c.response(wait))
					c.closed(wait)
				})
			}

			t.Run("a kept-alive connection stalls in its next request", func(t *testing.T) {
				t.Parallel()
				c := dialRaw(t, srv.base)
				c.send(request)
				if resp := c.response(wait); resp == nil || resp.StatusCode == http.StatusRequestTimeout || resp.Close {
					t.Fatalf("first request: %v", resp)
				}
				c.send("GET /healthz HTTP/1.1\r\nHost: lat")
				want408(t, c.response(wait))
				c.closed(wait)
			})

			t.Run("nothing sent", func(t *testing.T) {
				t.Parallel()
				c := dialRaw(t, srv.base)
				c.closed(wait)
			})

			t.Run("an idle kept-alive connection is closed silently", func(t *testing.T) {
				t.Parallel()
				c := dialRaw(t, srv.base)
				for range 2 {
					c.send(request)
					if resp := c.response(wait); resp == nil || resp.StatusCode == http.StatusRequestTimeout || resp.Close {
						t.Fatalf("request on a kept-alive connection: %v", resp)
					}
				}
				c.closed(cfg.Listen.IdleTimeout.Duration + stallMargin)
			})

			t.Run("a slow client within the timeout is served", func(t *testing.T) {
				t.Parallel()
				c := dialRaw(t, srv.base)
				// Five pieces a tenth of the header timeout apart: slow, but done in time.
				for _, piece := range []string{"GET /hea", "lthz HTTP/1.1\r", "\nHost: lat", "ch.test\r\n", "\r\n"} {
					c.send(piece)
					time.Sleep(cfg.Listen.ReadHeaderTimeout.Duration / 10)
				}
				resp := c.response(wait)
				if resp == nil || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusBadRequest {
					t.Fatalf("slow request: %v", resp)
				}
				// And the connection is still usable.
				c.send(request)
				if resp := c.response(wait); resp == nil || resp.StatusCode == http.StatusRequestTimeout {
					t.Fatalf("request after the slow one: %v", resp)
				}
			})
		})
	}
	// A body is not headers: a client that stalls in it gets the dialect's 408, in the
	// dialect's shape, once listen.readTimeout has passed.
	t.Run("a stalled body is the dialect's", func(t *testing.T) {
		c := dialRaw(t, r.public)
		c.send("POST /account/login HTTP/1.1\r\nHost: latch.test\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n{\"login\":")
		resp := c.response(wait)
		if resp == nil || resp.StatusCode != http.StatusRequestTimeout || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("stalled body: %v", resp)
		}
		var body struct{ Code int }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Code != http.StatusRequestTimeout {
			t.Errorf("stalled body: not the account dialect's error (%v, code %d)", err, body.Code)
		}
	})

	// Normal requests still work on both servers.
	if got := status(t, r.admin+"/healthz"); got != http.StatusOK {
		t.Errorf("/healthz = %d", got)
	}
	if got := status(t, r.public+"/account/session"); got != http.StatusUnauthorized {
		t.Errorf("/account/session = %d, want 401", got)
	}
}
