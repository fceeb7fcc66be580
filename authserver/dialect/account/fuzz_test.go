package account

import (
	"net/http"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
)

// FuzzRequestBodies sends arbitrary bodies to every route: the answer is always one of the
// route's statuses with a User or an Error body, never a panic or an unexpected 500.
func FuzzRequestBodies(f *testing.F) {
	// The dialect as the server mounts it, in process over the in-memory store.
	h := servertest.FuzzHandler(f, func(c *config.Config) {
		c.Protocols.Account = &config.Account{}
		c.Email.ResetURL = "https://app.example/reset"
	}, Definition)
	routes := []servertest.FuzzRoute{
		{Method: http.MethodPost, Path: "/account/login", Allowed: []int{200, 400, 401, 413}},
		{Method: http.MethodPost, Path: "/account/register", Allowed: []int{200, 400, 401, 413}},
		{Method: http.MethodPost, Path: "/account/forgot", Allowed: []int{204, 400, 413}},
		// 500 is the seed's answer to a wrong token.
		{Method: http.MethodPost, Path: "/account/reset", Allowed: []int{204, 400, 413, 500}},
		{Method: http.MethodPost, Path: "/account/confirm", Allowed: []int{204, 400, 413, 500}},
		{Method: http.MethodPost, Path: "/account/logout", Allowed: []int{204}},
		{Method: http.MethodGet, Path: "/account/session", Allowed: []int{401}},
		{Method: http.MethodGet, Path: "/account/sessions", Allowed: []int{401}},
		{Method: http.MethodPost, Path: "/account/sessions/end", Allowed: []int{400, 401, 413}},
		{Method: http.MethodPost, Path: "/account/sessions/end-others", Allowed: []int{401}},
	}
	for i, seed := range []string{
		`{"login":"a@example.com","password":"long enough pw"}`,
		`{"login":"a@example.com","password":"long enough pw","firstName":"A","lastName":"B"}`,
		`{"id":"AAAAAAAAAAAAAAAAAAAAAA","token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","password":"x"}`,
		`{"login":1}`, `[]`, ``, "{\"login\":\"\xff\"}", `{} {}`,
	} {
		f.Add(uint8(i), seed)
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		rt := routes[int(route)%len(routes)]
		rec, out := servertest.ServeFuzz[map[string]any](t, h, rt, "", body, nil)
		if rec.Code == http.StatusNoContent {
			return
		}
		if rec.Code >= 400 && out["code"] != float64(rec.Code) {
			t.Fatalf("%s: error body %s has the wrong code for %d", rt, rec.Body, rec.Code)
		}
		if rec.Code == 500 && out["error"] == "internal error" {
			t.Fatalf("%s %q: an internal error", rt, body)
		}
	})
}
