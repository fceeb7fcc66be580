package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/mail"
	"github.com/latchauth/latch/authserver/metrics"
	"github.com/latchauth/latch/authserver/password"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/store/memory"
	"github.com/latchauth/latch/authserver/token"
)

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// mailbox is a mail.Mailer that keeps what it is given.
type mailbox struct {
	mu   sync.Mutex
	msgs []mail.Message
	err  error
}

func (m *mailbox) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return m.err
	}
	m.msgs = append(m.msgs, msg)
	return nil
}

func (m *mailbox) all() []mail.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]mail.Message(nil), m.msgs...)
}

var linkRE = regexp.MustCompile(`\?uid=([A-Za-z0-9_-]+)&t=([A-Za-z0-9_-]+)`)

// link returns the uid and token of the last message to to.
func (m *mailbox) link(t *testing.T, to string) (string, string) {
	t.Helper()
	msgs := m.all()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].To == to {
			sub := linkRE.FindStringSubmatch(msgs[i].Text)
			if sub == nil {
				t.Fatalf("no link in %q", msgs[i].Text)
			}
			return sub[1], sub[2]
		}
	}
	t.Fatalf("no mail to %s", to)
	return "", ""
}

// syncBuffer collects log output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// fixture is a Service over the in-memory store with a settable clock.
type fixture struct {
	*core.Service
	t     *testing.T
	clock *clock
	mail  *mailbox
	logs  *syncBuffer
	mem   *memory.Store
	meta  core.Meta
}

var testArgon2 = config.Argon2{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

func newFixture(t *testing.T, edit ...func(*config.Config)) *fixture {
	t.Helper()
	cfg := &config.Config{
		Realm:        "test",
		TokenHashKey: config.Secret{Env: "UNUSED"},
		Protocols:    config.Protocols{Account: &config.Account{}},
		Passwords:    config.Passwords{Argon2: testArgon2, HashWorkers: 2},
		Email:        config.Email{ResetURL: "https://app.example/reset", ConfirmURL: "https://app.example/confirm"},
		BruteForce:   config.BruteForce{MaxFailuresPerLogin: 3, MaxFailuresPerIP: 50},
	}
	for _, e := range edit {
		e(cfg)
	}
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	hasher, err := token.NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := password.NewPool(cfg.Passwords)
	if err != nil {
		t.Fatal(err)
	}
	composer, err := mail.NewComposer(cfg.Realm, cfg.Email)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		t: t, clock: &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}, mail: &mailbox{}, logs: &syncBuffer{},
		mem: memory.New(), meta: core.Meta{Dialect: "test", ClientIP: "192.0.2.1", RequestID: "req"},
	}
	t.Cleanup(func() { _ = f.mem.Close() })
	f.Service = &core.Service{
		Store: f.mem, Hasher: hasher, Passwords: pool, Mailer: f.mail, Composer: composer, Config: cfg,
		Logger:  slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: metrics.New(), Now: f.clock.Now,
	}
	if err := f.Check(); err != nil {
		t.Fatal(err)
	}
	return f
}

const pw = "correct horse battery"

// register creates an active (or pending) user with pw.
func (f *fixture) register(login string) store.User {
	f.t.Helper()
	u, err := f.Register(f.t.Context(), f.meta, core.Registration{Login: login, Password: pw, FirstName: "Ada", LastName: "L"})
	if err != nil {
		f.t.Fatalf("Register(%q): %v", login, err)
	}
	return u
}

func (f *fixture) login(login, password string) (store.User, core.Issued, error) {
	return f.Login(f.t.Context(), f.meta, core.LoginRequest{Login: login, Password: password})
}

// audits returns the audit events matching every key-value of match.
func (f *fixture) audits(match map[string]any) []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(f.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["audit"] != true {
			continue
		}
		ok := true
		for k, v := range match {
			if m[k] != v {
				ok = false
			}
		}
		if ok {
			out = append(out, m)
		}
	}
	return out
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}
