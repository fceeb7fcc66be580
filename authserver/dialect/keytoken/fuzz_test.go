package keytoken

import (
	"encoding/base64"
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

const (
	fuzzKey    = "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA"
	fuzzSecret = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
)

func basicOf(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }

// FuzzBasicCredentials feeds arbitrary Authorization values to the Basic parser: no panic,
// and whatever it accepts is a strict session token whose key and secret were in the header.
func FuzzBasicCredentials(f *testing.F) {
	for _, seed := range []string{
		basicOf(fuzzKey + ":" + fuzzSecret),
		"basic " + base64.RawStdEncoding.EncodeToString([]byte(fuzzKey+":"+fuzzSecret)),
		basicOf(fuzzKey + "." + fuzzSecret), basicOf(":"), basicOf("a:b:c"), "Basic", "Basic ", "Bearer x",
		"Basic ====", "Basic " + strings.Repeat("QUFB", 40), basicOf(fuzzKey + ":" + fuzzSecret + "\x00"),
	} {
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, header string, twice bool) {
		values := []string{header}
		if twice {
			values = append(values, header)
		}
		tok, ok := basicCredentials(values)
		if !ok {
			if tok != (token.SessionToken{}) {
				t.Fatalf("refused %q but returned %+v", header, tok)
			}
			return
		}
		if twice || len(header) > maxAuthorizationLen {
			t.Fatalf("accepted %q (twice %v)", header, twice)
		}
		parsed, err := token.ParseSessionToken(tok.String())
		if err != nil || parsed != tok {
			t.Fatalf("accepted %+v, which does not round-trip: %v", tok, err)
		}
		_, enc, _ := strings.Cut(header, " ")
		enc = strings.TrimLeft(enc, " ")
		raw, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			raw, err = base64.RawStdEncoding.DecodeString(enc)
		}
		if err != nil || string(raw) != tok.UserID+"."+tok.SessionID+":"+tok.Secret {
			t.Fatalf("accepted %+v from %q, which decodes to %q (%v)", tok, header, raw, err)
		}
	})
}

// FuzzParseKey feeds arbitrary keys to the key parser: what it accepts formats back to itself.
func FuzzParseKey(f *testing.F) {
	for _, seed := range []string{fuzzKey, "a.b", fuzzKey + ".x", "." + fuzzKey, strings.Replace(fuzzKey, ".", "", 1) + "A"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, key string) {
		ref, ok := parseKey(key)
		if !ok {
			return
		}
		if keyOf(ref) != key || !token.ValidID(ref.UserID) || !token.ValidID(ref.SessionID) {
			t.Fatalf("parseKey(%q) = %+v", key, ref)
		}
	})
}

// inProcess is the dialect behind the middleware over the in-memory store, for fuzzing.
func inProcess(f *testing.F) http.Handler {
	f.Helper()
	cfg := &config.Config{
		Realm: "fuzz", TokenHashKey: config.Secret{Env: "UNUSED"},
		Protocols: config.Protocols{KeyToken: &config.KeyToken{}},
		Passwords: config.Passwords{Argon2: config.Argon2{MemoryKiB: 64, Iterations: 1, Parallelism: 1}},
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

// FuzzRequests sends arbitrary JSON bodies and Authorization headers to every route: the
// answer is always one of the route's statuses, with the route's body shape, never a panic
// or a 500.
func FuzzRequests(f *testing.F) {
	h := inProcess(f)
	routes := []struct{ method, path string }{
		{http.MethodPost, "/users"}, {http.MethodPost, "/users/token"}, {http.MethodPost, "/users/token/refresh"},
		{http.MethodDelete, "/users/token"}, {http.MethodGet, "/users"}, {http.MethodPatch, "/users"},
	}
	for i, seed := range []string{
		`{"client":"web","email":"a@example.com","password":"long enough pw","firstName":"A"}`,
		`{"client":"web","email":"a@example.com","password":"long enough pw"}`,
		`{"client":"web","key":"` + fuzzKey + `","refresh":"` + fuzzSecret + `"}`,
		`{"client":"web"}`, `{"email":"b@example.com"}`, `{"client":1}`, `[]`, ``, "{\"client\":\"\xff\"}",
	} {
		f.Add(uint8(i), seed, basicOf(fuzzKey+":"+fuzzSecret))
	}
	f.Fuzz(func(t *testing.T, route uint8, body, authorization string) {
		rt := routes[int(route)%len(routes)]
		req := httptest.NewRequest(rt.method, rt.path, strings.NewReader(body))
		if !strings.ContainsAny(authorization, "\r\n\x00") {
			req.Header.Set("Authorization", authorization)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		allowed := map[string][]int{
			"POST /users":               {201, 400, 401, 409, 413, 422},
			"POST /users/token":         {200, 400, 401, 413},
			"POST /users/token/refresh": {400, 401, 413}, // no session's refresh token is known
			"DELETE /users/token":       {401},           // nor any session's token
			"GET /users":                {401},
			"PATCH /users":              {401},
		}[rt.method+" "+rt.path]
		if !slices.Contains(allowed, rec.Code) {
			t.Fatalf("%s %s %q (Authorization %q) = %d %s", rt.method, rt.path, body, authorization, rec.Code, rec.Body)
		}
		var out map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: body %q is not JSON", rt.method, rt.path, rec.Body)
		}
		if _, ok := out["error"]; rec.Code >= 400 && (!ok || len(out) != 1) {
			t.Fatalf("%s %s: error body %s is not {\"error\"}", rt.method, rt.path, rec.Body)
		}
		if rec.Code < 400 {
			for _, k := range []string{"role", "key", "token", "refresh", "expires"} {
				if _, ok := out[k]; !ok {
					t.Fatalf("%s %s: credentials %s have no %q", rt.method, rt.path, rec.Body, k)
				}
			}
		}
	})
}
