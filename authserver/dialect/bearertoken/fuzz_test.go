package bearertoken

import (
	"encoding/json"
	"errors"
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
	fuzzID     = "AAAAAAAAAAAAAAAAAAAAAA"
	fuzzSecret = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
)

// FuzzBearerCredentials feeds arbitrary Authorization values to the header parser and the
// token classifier: no panic, and whatever they accept is a strictly parsed token.
func FuzzBearerCredentials(f *testing.F) {
	for _, seed := range []string{
		"Bearer " + fuzzID + "." + fuzzID + "." + fuzzSecret,
		"bearer   client-1." + fuzzSecret,
		"Bearer", "Bearer ", "Basic abc", "Bearer a b", "Bearer a.b.c.d", "Bearer \x00",
		"BEARER " + strings.Repeat(".", 200), "Bearer\t" + fuzzSecret,
	} {
		f.Add(seed, false)
	}
	f.Fuzz(func(t *testing.T, header string, twice bool) {
		values := []string{header}
		if twice {
			values = append(values, header)
		}
		raw, ok := bearerCredentials(values)
		if !ok {
			if raw != "" {
				t.Fatalf("refused header %q returned %q", header, raw)
			}
			return
		}
		if twice || raw == "" || strings.ContainsAny(raw, " \t") || len(header) > maxAuthorizationLen {
			t.Fatalf("accepted %q from %q (twice %v)", raw, header, twice)
		}
		switch kindOf(raw) {
		case kindUser:
			tok, err := token.ParseSessionToken(raw)
			if err != nil || tok.String() != raw {
				t.Fatalf("user token %q does not round-trip: %v", raw, err)
			}
		case kindDevice:
			tok, err := token.ParseDeviceToken(raw)
			if err != nil || tok.String() != raw {
				t.Fatalf("device token %q does not round-trip: %v", raw, err)
			}
		}
	})
}

// FuzzParseActivation feeds arbitrary bodies to the activation decoder: a token, "no token"
// or a malformed body, never a panic; a token found is one the body holds.
func FuzzParseActivation(f *testing.F) {
	for _, seed := range []string{
		`{"activation_token":"` + fuzzID + "." + fuzzSecret + `"}`,
		`{"status":{"code":"OK","message":"OK"},"content":{"activation_token":"XdfgRTf645D.gfwI/*dde024"}}`,
		`{"activation_token":"a","content":{"activation_token":"b"}}`,
		`{"activation_token":null,"content":null}`, `{"content":"x"}`, `[]`, ``, `{"activation_token":"\u00e9"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := parseActivation(body)
		switch {
		case err == nil:
			if tok == "" {
				t.Fatalf("%q: an empty token without an error", body)
			}
			// The token is the top-level one or the one in content, as encoding/json reads them.
			var req activationRequest
			if err := json.Unmarshal(body, &req); err != nil {
				t.Fatalf("%q: accepted a body encoding/json refuses: %v", body, err)
			}
			top := req.ActivationToken != nil && *req.ActivationToken == tok
			inner := req.Content != nil && req.Content.ActivationToken != nil && *req.Content.ActivationToken == tok
			if !top && !inner {
				t.Fatalf("%q: token %q is in neither place", body, tok)
			}
		case errors.Is(err, errNoActivationToken), errors.Is(err, httpx.ErrMalformed):
			if tok != "" {
				t.Fatalf("%q: token %q with error %v", body, tok, err)
			}
		default:
			t.Fatalf("%q: unexpected error %v", body, err)
		}
	})
}

// inProcess is the dialect behind the middleware over the in-memory store, for fuzzing.
func inProcess(f *testing.F) http.Handler {
	f.Helper()
	cfg := &config.Config{
		Realm: "fuzz", TokenHashKey: config.Secret{Env: "UNUSED"},
		Protocols: config.Protocols{BearerToken: &config.BearerToken{}},
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

// FuzzRequests sends arbitrary bodies and Authorization headers to every route: the answer is
// always one of the route's statuses in the envelope, never a panic or a 500.
func FuzzRequests(f *testing.F) {
	h := inProcess(f)
	routes := []struct{ method, path string }{
		{http.MethodPost, "/api/auth"}, {http.MethodGet, "/api/auth"}, {http.MethodDelete, "/api/auth"},
		{http.MethodPost, "/api/users/activate"},
	}
	for i, seed := range []string{
		`{"login":"a@example.com","password":"long enough pw"}`,
		`{"activation_token":"` + fuzzID + "." + fuzzSecret + `"}`,
		`{"content":{"activation_token":"x.y"}}`, `{"login":1}`, `[]`, ``, "{\"login\":\"\xff\"}", `{} {}`,
	} {
		f.Add(uint8(i), seed, "Bearer "+fuzzID+"."+fuzzID+"."+fuzzSecret)
		f.Add(uint8(i), seed, "Bearer dev."+fuzzSecret)
	}
	f.Fuzz(func(t *testing.T, route uint8, body, authorization string) {
		rt := routes[int(route)%len(routes)]
		req := httptest.NewRequest(rt.method, rt.path, strings.NewReader(body))
		if strings.ContainsAny(authorization, "\r\n\x00") {
			authorization = ""
		}
		req.Header.Set("Authorization", authorization)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		allowed := map[string][]int{
			"POST /api/auth":           {200, 400, 401, 413},
			"GET /api/auth":            {401}, // nothing is registered in the fuzz store
			"DELETE /api/auth":         {401},
			"POST /api/users/activate": {400, 413},
		}[rt.method+" "+rt.path]
		if !slices.Contains(allowed, rec.Code) {
			t.Fatalf("%s %s %q (Authorization %q) = %d %s", rt.method, rt.path, body, authorization, rec.Code, rec.Body)
		}
		var e struct {
			Status *struct{ Code, Message string } `json:"status"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Status == nil || e.Status.Code == "" {
			t.Fatalf("%s %s: body %q is not the envelope", rt.method, rt.path, rec.Body)
		}
	})
}
