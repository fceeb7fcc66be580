package servertest

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/dialect"
	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/mail"
	"github.com/latchauth/latch/authserver/password"
	"github.com/latchauth/latch/authserver/socket"
	"github.com/latchauth/latch/authserver/store/memory"
	"github.com/latchauth/latch/authserver/token"
)

// FuzzHandler returns one dialect's routes as the server serves them, behind the httpx
// middleware over a core.Service, but in process and over the in-memory store: a fuzz target
// sends thousands of requests a second, which the child process and Redis Start gives cannot
// take. Nothing it builds is shared, so each target starts from an empty store.
//
// edit enables the dialect (and sets whatever else it needs) on a minimal config, with cheap
// argon2id parameters, before the defaults are applied; def is mounted as the server mounts it
// (dialect.Definition.Mount), with a socket hub of its own when it has sockets.
func FuzzHandler(tb testing.TB, edit func(*config.Config), def dialect.Definition) http.Handler {
	tb.Helper()
	h, _ := InProcess(tb, edit, def)
	return h
}

// InProcess is FuzzHandler's dialect with the core.Service it runs on, for tests that also
// act on the realm directly (register a user, issue a session). Its socket hub, when the
// dialect has one, never listens to the store's revocation feed: every push its sockets get
// comes from the process itself.
func InProcess(tb testing.TB, edit func(*config.Config), def dialect.Definition) (http.Handler, *core.Service) {
	tb.Helper()
	cfg := &config.Config{
		Realm: "fuzz", TokenHashKey: config.Secret{Env: "UNUSED"},
		Passwords: config.Passwords{Argon2: config.Argon2{MemoryKiB: 64, Iterations: 1, Parallelism: 1}},
	}
	// A fuzz target sends thousands of requests from one address: the rate limits would
	// answer most of them 429 before the decoders under test saw them.
	unlimited := config.RateLimit{PerIP: 1 << 30, PerLogin: 1 << 30}
	cfg.RateLimits = config.RateLimits{Register: unlimited, Forgot: unlimited, Confirmation: unlimited}
	edit(cfg)
	cfg.Default()
	hasher, err := token.NewHasher([]byte(strings.Repeat("k", 32)))
	if err != nil {
		tb.Fatal(err)
	}
	pool, err := password.NewPool(cfg.Passwords)
	if err != nil {
		tb.Fatal(err)
	}
	composer, err := mail.NewComposer(cfg.Realm, cfg.Email)
	if err != nil {
		tb.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	mailer, err := mail.NewLog(logger, cfg.Email.From)
	if err != nil {
		tb.Fatal(err)
	}
	svc := &core.Service{Store: memory.New(), Hasher: hasher, Passwords: pool, Mailer: mailer, Composer: composer,
		Config: cfg, Logger: logger, Now: time.Now}
	deps := dialect.Deps{Config: cfg, Core: svc, Logger: logger, Now: time.Now}
	if def.ClosePush != nil {
		hub, err := socket.New(socket.Config{Sessions: svc.Store, ClosePush: def.ClosePush, Logger: logger})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = hub.Shutdown(ctx)
		})
		deps.Hub = hub
	}
	mux := http.NewServeMux()
	if err := def.Mount(mux, deps); err != nil {
		tb.Fatal(err)
	}
	return (&httpx.Middleware{Logger: logger}).Wrap(mux), svc
}

// FuzzRoute is a route a request fuzz target sends to.
type FuzzRoute struct {
	Method, Path string
	// Allowed are the statuses the route may answer a fuzzed request with.
	Allowed []int
}

// String returns "METHOD /path", the route's name in failure messages.
func (r FuzzRoute) String() string { return r.Method + " " + r.Path }

// ServeFuzz serves one fuzzed request on route with h (from FuzzHandler) and checks the
// invariants every dialect's request fuzz target shares: a status among route.Allowed (the
// middleware answers a panic with 500, so a route that does not allow 500 also catches
// panics), and a body that decodes as JSON into T unless the status is 204. It returns the
// answer and the decoded body for the target's checks of the dialect's own shapes.
//
// query is set as the raw query and header copied onto the request as they are (no
// canonicalization, no validation), so the fuzzer reaches the dialect's parsers with
// whatever it made up.
func ServeFuzz[T any](tb testing.TB, h http.Handler, route FuzzRoute, query, body string, header http.Header) (*httptest.ResponseRecorder, T) {
	tb.Helper()
	req := httptest.NewRequest(route.Method, route.Path, strings.NewReader(body))
	req.URL.RawQuery = query
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)

	var out T
	if !slices.Contains(route.Allowed, rec.Code) {
		tb.Fatalf("%s %q (query %q, header %q) = %d %s, want one of %v", route, body, query, header, rec.Code, rec.Body, route.Allowed)
	}
	switch rec.Code {
	case http.StatusNoContent:
		return rec, out
	case http.StatusFound:
		// A redirect (devise's confirmation failure) has no body, and must say where to.
		if rec.Header().Get("Location") == "" {
			tb.Fatalf("%s %q (query %q): 302 without a Location", route, body, query)
		}
		return rec, out
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		tb.Fatalf("%s %q: body %q does not decode into %T: %v", route, body, rec.Body, out, err)
	}
	return rec, out
}
