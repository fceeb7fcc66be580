package devisetoken

import (
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
	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/mail"
	"github.com/latchauth/latch/authserver/password"
	"github.com/latchauth/latch/authserver/store/memory"
	"github.com/latchauth/latch/authserver/token"
)

// inProcess is the dialect behind the middleware over the in-memory store, for fuzzing.
func inProcess(f *testing.F) http.Handler {
	f.Helper()
	cfg := &config.Config{
		Realm: "fuzz", TokenHashKey: config.Secret{Env: "UNUSED"},
		Protocols:      config.Protocols{DeviseToken: &config.DeviseToken{}},
		Passwords:      config.Passwords{Argon2: config.Argon2{MemoryKiB: 64, Iterations: 1, Parallelism: 1}},
		Email:          config.Email{ResetURL: "https://app.example/reset"},
		AllowedOrigins: []string{"https://app.example"},
	}
	cfg.Default()
	hasher, err := token.NewHasher([]byte(strings.Repeat("k", 32)))
	if err != nil {
		f.Fatal(err)
	}
	pool, err := password.NewPool(cfg.Passwords)
	if err != nil {
		f.Fatal(err)
	}
	composer, err := mail.NewComposer(cfg.Realm, cfg.Email)
	if err != nil {
		f.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	mailer, err := mail.NewLog(logger, cfg.Email.From)
	if err != nil {
		f.Fatal(err)
	}
	svc := &core.Service{Store: memory.New(), Hasher: hasher, Passwords: pool, Mailer: mailer, Composer: composer,
		Config: cfg, Logger: logger, Now: time.Now}
	h := &Handler{Core: svc, Config: cfg, Logger: logger}
	mux := http.NewServeMux()
	if err := h.Mount(mux); err != nil {
		f.Fatal(err)
	}
	return (&httpx.Middleware{Logger: logger}).Wrap(mux)
}

// FuzzRequests sends arbitrary bodies, credentials and queries to every route: the answer is
// always one of the route's statuses in devise's shapes, never a panic or a 500.
func FuzzRequests(f *testing.F) {
	h := inProcess(f)
	routes := []struct{ method, path string }{
		{http.MethodPost, "/auth"}, {http.MethodPost, "/auth/sign_in"}, {http.MethodGet, "/auth/validate_token"},
		{http.MethodDelete, "/auth/sign_out"}, {http.MethodPost, "/auth/password"}, {http.MethodPut, "/auth/password"},
		{http.MethodGet, "/auth/password/edit"},
	}
	allowed := map[string][]int{
		"POST /auth":               {200, 400, 413, 422},
		"POST /auth/sign_in":       {200, 400, 401, 413},
		"GET /auth/validate_token": {200, 401},
		"DELETE /auth/sign_out":    {200, 400, 404, 413},
		"POST /auth/password":      {200, 400, 413, 422},
		"PUT /auth/password":       {200, 400, 401, 413, 422},
		// A fuzzer cannot guess a 256-bit reset token: never a redirect.
		"GET /auth/password/edit": {401},
	}
	for i, seed := range []struct{ body, query, auth string }{
		{`{"email":"a@example.com","password":"long enough pw","password_confirmation":"long enough pw"}`, "", ""},
		{`{"email":"a@example.com","password":"long enough pw"}`, "access-token=x&client=y&uid=z", ""},
		{`{"access-token":"AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","client":"AAAAAAAAAAAAAAAAAAAAAA","uid":"a@example.com"}`, "", ""},
		{`{"email":"a@example.com","redirect_url":"https://app.example/x"}`, "reset_password_token=x.y&redirect_url=https%3A%2F%2Fapp.example", ""},
		{`{"password":"x","password_confirmation":"y"}`, "", "Bearer eyJhY2Nlc3MtdG9rZW4iOiJ4IiwiY2xpZW50IjoieSIsInVpZCI6InoifQ=="},
		{`[]`, "uid=%zz", "Bearer !"}, {``, "", ""}, {"{\"email\":\"\xff\"}", "", ""}, {`{} {}`, "", ""},
	} {
		f.Add(uint8(i), seed.body, seed.query, seed.auth)
	}
	f.Fuzz(func(t *testing.T, route uint8, body, query, auth string) {
		rt := routes[int(route)%len(routes)]
		req := httptest.NewRequest(rt.method, rt.path, strings.NewReader(body))
		req.URL.RawQuery = query
		if auth != "" {
			req.Header["Authorization"] = []string{auth}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		key := rt.method + " " + rt.path
		if !slices.Contains(allowed[key], rec.Code) {
			t.Fatalf("%s %q %q = %d %s", key, body, query, rec.Code, rec.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s: body %q is not JSON", key, rec.Body)
		}
		if rec.Code >= 400 && rec.Code != http.StatusUnprocessableEntity && out["success"] != false {
			t.Fatalf("%s: error body %s is not devise's shape", key, rec.Body)
		}
		if rec.Code == http.StatusOK {
			for _, k := range []string{"access-token", "client", "uid", "expiry"} {
				if v := rec.Header().Get(k); key != "POST /auth/password" && key != "DELETE /auth/sign_out" && strings.TrimSpace(v) == "" {
					t.Fatalf("%s: 200 without a %s header", key, k)
				}
			}
		}
	})
}
