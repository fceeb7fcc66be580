package devisetoken_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/servertest"
)

// bearer is devise's Authorization header: Bearer base64(JSON{access-token,token-type,client,expiry,uid}).
func bearer(cr creds, enc *base64.Encoding) string {
	j, _ := json.Marshal(map[string]any{
		"access-token": cr.Token, "token-type": "Bearer", "client": cr.Client,
		"expiry": cr.Expiry.Unix(), "uid": cr.UID,
	})
	return "Bearer " + enc.EncodeToString(j)
}

// Credentials are taken from headers, query params, body params and the Bearer-JSON
// Authorization header, per field in that order, on every authenticated route.
func TestCredentialSources(t *testing.T) {
	s := start(t, servertest.Options{})
	c := newClient(t, s)
	_, cr := register(t, c, "src@example.com")

	t.Run("validate_token", func(t *testing.T) {
		for name, r := range map[string]func() response{
			"headers": func() response { return c.validate(cr) },
			"query":   func() response { return c.get("/auth/validate_token?" + cr.query()) },
			"bearer, strict base64 (devise)": func() response {
				return c.get("/auth/validate_token", "Authorization", bearer(cr, base64.StdEncoding))
			},
			"bearer, raw URL base64": func() response {
				return c.get("/auth/validate_token", "Authorization", bearer(cr, base64.RawURLEncoding))
			},
			"bearer, lower-case scheme": func() response {
				return c.get("/auth/validate_token", "Authorization", "bearer "+bearer(cr, base64.StdEncoding)[7:])
			},
			"fields from different sources": func() response {
				return c.get("/auth/validate_token?client="+url.QueryEscape(cr.Client), "access-token", cr.Token,
					"Authorization", bearer(creds{UID: cr.UID}, base64.StdEncoding))
			},
			"headers win over query": func() response {
				return c.get("/auth/validate_token?access-token=garbage&client=garbage&uid=garbage", cr.headers()...)
			},
			"j-toker's If-Modified-Since": func() response {
				return c.get("/auth/validate_token", append(cr.headers(), "If-Modified-Since", "Mon, 26 Jul 1997 05:00:00 GMT")...)
			},
		} {
			t.Run(name, func(t *testing.T) {
				_, got := wantValid(t, r())
				if got.Client != cr.Client || got.UID != cr.UID {
					t.Errorf("credentials = %+v, want the session's client and uid", got)
				}
			})
		}
	})

	t.Run("sign_out", func(t *testing.T) {
		for name, do := range map[string]func(creds) response{
			"headers": func(x creds) response { return c.do(http.MethodDelete, "/auth/sign_out", nil, x.headers()...) },
			"query":   func(x creds) response { return c.do(http.MethodDelete, "/auth/sign_out?"+x.query(), nil) },
			"JSON body (redux-token-auth)": func(x creds) response {
				return c.do(http.MethodDelete, "/auth/sign_out", map[string]string{"access-token": x.Token, "client": x.Client, "uid": x.UID})
			},
			"form body": func(x creds) response {
				return c.do(http.MethodDelete, "/auth/sign_out", url.Values{"access-token": {x.Token}, "client": {x.Client}, "uid": {x.UID}})
			},
			"bearer": func(x creds) response {
				return c.do(http.MethodDelete, "/auth/sign_out", nil, "Authorization", bearer(x, base64.StdEncoding))
			},
		} {
			t.Run(name, func(t *testing.T) {
				x := signIn(t, c, "src@example.com")
				wantStatus(t, do(x), http.StatusOK)
				wantError(t, c.validate(x), http.StatusUnauthorized, msgInvalidToken)
			})
		}
	})

	t.Run("password update", func(t *testing.T) {
		x := signIn(t, c, "src@example.com")
		r := c.do(http.MethodPut, "/auth/password", map[string]string{
			"password": password, "password_confirmation": password, "current_password": password,
			"access-token": x.Token, "client": x.Client, "uid": x.UID,
		})
		wantStatus(t, r, http.StatusOK)
		wantCreds(t, r)
	})

	// Undecodable Bearer payloads are no credentials at all.
	for name, h := range map[string]string{
		"not base64":      "Bearer !!!",
		"not JSON":        "Bearer " + base64.StdEncoding.EncodeToString([]byte("access-token")),
		"JSON array":      "Bearer " + base64.StdEncoding.EncodeToString([]byte(`["x"]`)),
		"numbers":         "Bearer " + base64.StdEncoding.EncodeToString([]byte(`{"access-token":1,"client":2,"uid":3}`)),
		"the raw token":   "Bearer " + cr.Token,
		"another scheme":  "Basic " + bearer(cr, base64.StdEncoding)[7:],
		"oversize":        "Bearer " + strings.Repeat("A", 5000),
		"scheme only":     "Bearer",
		"empty":           "",
		"session in JSON": "Bearer " + base64.StdEncoding.EncodeToString([]byte(`{"access-token":"`+cr.Token+`"}`)),
	} {
		t.Run("bearer refused/"+name, func(t *testing.T) {
			wantError(t, c.get("/auth/validate_token", "Authorization", h), http.StatusUnauthorized, msgInvalidToken)
		})
	}
}
