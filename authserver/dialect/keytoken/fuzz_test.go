package keytoken

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
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

// FuzzRequests sends arbitrary JSON bodies and Authorization headers to every route: the
// answer is always one of the route's statuses, with the route's body shape, never a panic
// or a 500.
func FuzzRequests(f *testing.F) {
	// The dialect as the server mounts it, in process over the in-memory store.
	h := servertest.FuzzHandler(f, func(c *config.Config) {
		c.Protocols.KeyToken = &config.KeyToken{}
	}, Definition)
	routes := []servertest.FuzzRoute{
		{Method: http.MethodPost, Path: "/users", Allowed: []int{201, 400, 401, 409, 413, 422}},
		{Method: http.MethodPost, Path: "/users/token", Allowed: []int{200, 400, 401, 413}},
		{Method: http.MethodPost, Path: "/users/token/refresh", Allowed: []int{400, 401, 413}}, // no session's refresh token is known
		{Method: http.MethodDelete, Path: "/users/token", Allowed: []int{401}},                 // nor any session's token
		{Method: http.MethodGet, Path: "/users", Allowed: []int{401}},
		{Method: http.MethodPatch, Path: "/users", Allowed: []int{401}},
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
		var header http.Header
		if !strings.ContainsAny(authorization, "\r\n\x00") {
			header = http.Header{"Authorization": {authorization}}
		}
		rec, out := servertest.ServeFuzz[map[string]json.RawMessage](t, h, rt, "", body, header)
		if _, ok := out["error"]; rec.Code >= 400 && (!ok || len(out) != 1) {
			t.Fatalf("%s: error body %s is not {\"error\"}", rt, rec.Body)
		}
		if rec.Code < 400 {
			for _, k := range []string{"role", "key", "token", "refresh", "expires"} {
				if _, ok := out[k]; !ok {
					t.Fatalf("%s: credentials %s have no %q", rt, rec.Body, k)
				}
			}
		}
	})
}
