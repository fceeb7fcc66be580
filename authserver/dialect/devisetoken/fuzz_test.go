package devisetoken

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
)

// FuzzRequests sends arbitrary bodies, credentials and queries to every route: the answer is
// always one of the route's statuses in devise's shapes, never a panic or a 500.
func FuzzRequests(f *testing.F) {
	// The dialect as the server mounts it, in process over the in-memory store.
	h := servertest.FuzzHandler(f, func(c *config.Config) {
		c.Protocols.DeviseToken = &config.DeviseToken{}
		c.Email.ResetURL = "https://app.example/reset"
		c.AllowedOrigins = []string{"https://app.example"}
	}, Definition)
	routes := []servertest.FuzzRoute{
		{Method: http.MethodPost, Path: "/auth", Allowed: []int{200, 400, 413, 422}},
		{Method: http.MethodPost, Path: "/auth/sign_in", Allowed: []int{200, 400, 401, 413}},
		{Method: http.MethodGet, Path: "/auth/validate_token", Allowed: []int{200, 401}},
		{Method: http.MethodDelete, Path: "/auth/sign_out", Allowed: []int{200, 400, 404, 413}},
		{Method: http.MethodPost, Path: "/auth/password", Allowed: []int{200, 400, 413, 422}},
		{Method: http.MethodPut, Path: "/auth/password", Allowed: []int{200, 400, 401, 413, 422}},
		// A fuzzer cannot guess a 256-bit reset token: never a redirect.
		{Method: http.MethodGet, Path: "/auth/password/edit", Allowed: []int{401}},
		// Nor a confirmation token: a failure's redirect (302 with
		// account_confirmation_success=false), 404, or 422 for a refused redirect_url.
		{Method: http.MethodGet, Path: "/auth/confirmation", Allowed: []int{302, 404, 422}},
		{Method: http.MethodPost, Path: "/auth/confirmation", Allowed: []int{200, 400, 401, 413, 422}},
	}
	for i, seed := range []struct{ body, query, auth string }{
		{`{"email":"a@example.com","password":"long enough pw","password_confirmation":"long enough pw"}`, "", ""},
		{`{"email":"a@example.com","password":"long enough pw"}`, "access-token=x&client=y&uid=z", ""},
		{`{"access-token":"AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","client":"AAAAAAAAAAAAAAAAAAAAAA","uid":"a@example.com"}`, "", ""},
		{`{"email":"a@example.com","redirect_url":"https://app.example/x"}`, "reset_password_token=x.y&redirect_url=https%3A%2F%2Fapp.example", ""},
		{`{"email":"a@example.com","redirect_url":"https://app.example/ok"}`, "confirmation_token=x.y&redirect_url=https%3A%2F%2Fapp.example%2Fok", ""},
		{`{"password":"x","password_confirmation":"y"}`, "", "Bearer eyJhY2Nlc3MtdG9rZW4iOiJ4IiwiY2xpZW50IjoieSIsInVpZCI6InoifQ=="},
		{`[]`, "uid=%zz", "Bearer !"}, {``, "", ""}, {"{\"email\":\"\xff\"}", "", ""}, {`{} {}`, "", ""},
	} {
		f.Add(uint8(i), seed.body, seed.query, seed.auth)
	}
	f.Fuzz(func(t *testing.T, route uint8, body, query, auth string) {
		rt := routes[int(route)%len(routes)]
		var header http.Header
		if auth != "" {
			header = http.Header{"Authorization": {auth}}
		}
		rec, out := servertest.ServeFuzz[map[string]any](t, h, rt, query, body, header)
		if rec.Code >= 400 && rec.Code != http.StatusUnprocessableEntity && out["success"] != false {
			t.Fatalf("%s: error body %s is not devise's shape", rt, rec.Body)
		}
		// Every 200 but the reset request's, the sign-out's and the confirmation's (resend, or
		// a confirmation without a redirect) carries credentials.
		if key := rt.String(); rec.Code == http.StatusOK && key != "POST /auth/password" && key != "DELETE /auth/sign_out" &&
			key != "POST /auth/confirmation" && key != "GET /auth/confirmation" {
			for _, k := range []string{"access-token", "client", "uid", "expiry"} {
				if strings.TrimSpace(rec.Header().Get(k)) == "" {
					t.Fatalf("%s: 200 without a %s header", rt, k)
				}
			}
		}
	})
}
