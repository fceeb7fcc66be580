package account

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
		Protocols: config.Protocols{Account: &config.Account{}},
		Passwords: config.Passwords{Argon2: config.Argon2{MemoryKiB: 64, Iterations: 1, Parallelism: 1}},
		Email:     config.Email{ResetURL: "https://app.example/reset"},
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
	h := &Handler{Core: svc, Config: cfg, Logger: logger, Now: time.Now}
	mux := http.NewServeMux()
	if err := h.Mount(mux); err != nil {
		f.Fatal(err)
	}
	return (&httpx.Middleware{Logger: logger}).Wrap(mux)
}

// FuzzRequestBodies sends arbitrary bodies to every route: the answer is always one of the
// route's statuses with a User or an Error body, never a panic or an unexpected 500.
func FuzzRequestBodies(f *testing.F) {
	h := inProcess(f)
	routes := []string{"login", "register", "forgot", "reset", "confirm", "logout", "session"}
	for i, seed := range []string{
		`{"login":"a@example.com","password":"long enough pw"}`,
		`{"login":"a@example.com","password":"long enough pw","firstName":"A","lastName":"B"}`,
		`{"id":"AAAAAAAAAAAAAAAAAAAAAA","token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","password":"x"}`,
		`{"login":1}`, `[]`, ``, "{\"login\":\"\xff\"}", `{} {}`,
	} {
		f.Add(uint8(i), seed)
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		name := routes[int(route)%len(routes)]
		method := http.MethodPost
		if name == "session" {
			method = http.MethodGet
		}
		req := httptest.NewRequest(method, "/account/"+name, strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		allowed := map[string][]int{
			"login":    {200, 400, 401, 413},
			"register": {200, 400, 401, 413},
			"forgot":   {204, 400, 413},
			"reset":    {204, 400, 413, 500}, // 500 is the seed's answer to a wrong token
			"confirm":  {204, 400, 413, 500},
			"logout":   {204},
			"session":  {401},
		}[name]
		ok := false
		for _, s := range allowed {
			ok = ok || rec.Code == s
		}
		if !ok {
			t.Fatalf("%s %q = %d %s", name, body, rec.Code, rec.Body)
		}
		if rec.Code == 204 {
			return
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s: body %q is not JSON", name, rec.Body)
		}
		if rec.Code >= 400 && out["code"] != float64(rec.Code) {
			t.Fatalf("%s: error body %s has the wrong code for %d", name, rec.Body, rec.Code)
		}
		if rec.Code == 500 && out["error"] == "internal error" {
			t.Fatalf("%s %q: an internal error", name, body)
		}
	})
}
