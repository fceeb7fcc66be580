package bearertoken

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/servertest"
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

// FuzzRequests sends arbitrary bodies and Authorization headers to every route: the answer is
// always one of the route's statuses in the envelope, never a panic or a 500.
func FuzzRequests(f *testing.F) {
	// The dialect as the server mounts it, in process over the in-memory store.
	h := servertest.FuzzHandler(f, func(c *config.Config) {
		c.Protocols.BearerToken = &config.BearerToken{}
	}, Definition)
	routes := []servertest.FuzzRoute{
		{Method: http.MethodPost, Path: "/api/auth", Allowed: []int{200, 400, 401, 413}},
		{Method: http.MethodGet, Path: "/api/auth", Allowed: []int{401}}, // nothing is registered in the fuzz store
		{Method: http.MethodDelete, Path: "/api/auth", Allowed: []int{401}},
		{Method: http.MethodPost, Path: "/api/users/activate", Allowed: []int{400, 413}},
	}
	for i, seed := range []string{
		`{"login":"a@example.com","password":"long enough pw"}`,
		`{"activation_token":"` + fuzzID + "." + fuzzSecret + `"}`,
		`{"content":{"activation_token":"x.y"}}`, `{"login":1}`, `[]`, ``, "{\"login\":\"\xff\"}", `{} {}`,
	} {
		f.Add(uint8(i), seed, "Bearer "+fuzzID+"."+fuzzID+"."+fuzzSecret)
		f.Add(uint8(i), seed, "Bearer dev."+fuzzSecret)
	}
	// envelope is the shape of every answer: a status with a code.
	type envelope struct {
		Status *struct{ Code, Message string } `json:"status"`
	}
	f.Fuzz(func(t *testing.T, route uint8, body, authorization string) {
		rt := routes[int(route)%len(routes)]
		if strings.ContainsAny(authorization, "\r\n\x00") {
			authorization = ""
		}
		rec, e := servertest.ServeFuzz[envelope](t, h, rt, "", body, http.Header{"Authorization": {authorization}})
		if e.Status == nil || e.Status.Code == "" {
			t.Fatalf("%s: body %q is not the envelope", rt, rec.Body)
		}
	})
}
