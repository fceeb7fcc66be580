package reactauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"unicode/utf8"

	"github.com/latchauth/latch/authserver/dialect/reactauth/reactauthtest"
	"github.com/latchauth/latch/authserver/httpx"
	"github.com/latchauth/latch/authserver/servertest"
)

// FuzzParseMessage: any socket message parses or fails with ErrMalformed, never panics, and
// its reply is one JSON object in the request's form: bare {"success":…}, or enveloped with
// the same id (same string, or same number) when the request had one.
func FuzzParseMessage(f *testing.F) {
	tok := "AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for _, seed := range []string{
		`{"id":"4f1c9a52-0a4e-4bd5-9d8e-2f6f0a4f0c11","data":{"type":"fantaptik/react-auth/socket/resume","session":"` + tok + `","user":{"id":"AAAAAAAAAAAAAAAAAAAAAA"}}}`,
		`{"type":"fantaptik/react-auth/close","session":"` + tok + `","user":{"id":"AAAAAAAAAAAAAAAAAAAAAA","login":"a"}}`,
		`{"id":42,"data":{}}`, `{"id":-1.5e3,"data":{"type":1}}`, `{"id":"\u003c","data":"x"}`,
		`{"id":null,"type":"x"}`, `{"id":{},"data":{}}`, `{"ID":"x","DATA":{"TYPE":"y"}}`,
		`{"user":[]}`, `{"user":{"id":1}}`, `[]`, `"x"`, ``, `{`, "{\"type\":\"\xff\"}", `{} {}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := parseMessage(msg)
		if err != nil && !errors.Is(err, httpx.ErrMalformed) {
			t.Fatalf("%q: error %v does not wrap ErrMalformed", msg, err)
		}
		if err == nil && (!utf8.ValidString(m.Type) || !utf8.ValidString(m.Session) || !utf8.ValidString(m.UserID)) {
			t.Fatalf("%q: parsed fields are not valid UTF-8", msg)
		}
		for _, success := range []bool{true, false} {
			reply := m.reply(success)
			var out map[string]json.RawMessage
			if json.Unmarshal(reply, &out) != nil {
				t.Fatalf("%q: reply %s is not a JSON object", msg, reply)
			}
			want := `{"success":false}`
			if success {
				want = `{"success":true}`
			}
			if m.id == nil {
				if string(reply) != want {
					t.Fatalf("%q: bare reply %s, want %s", msg, reply, want)
				}
				continue
			}
			if len(out) != 2 || string(out["data"]) != want {
				t.Fatalf("%q: enveloped reply %s, want data %s", msg, reply, want)
			}
			// The id comes back with the meaning it was sent with.
			var sent struct{ ID json.RawMessage }
			if err := json.Unmarshal(msg, &sent); err != nil {
				t.Fatalf("%q: an id was recovered from a message that does not decode: %v", msg, err)
			}
			if !sameJSONValue(sent.ID, out["id"]) {
				t.Fatalf("%q: reply id %s, sent %s", msg, out["id"], sent.ID)
			}
		}
	})
}

// sameJSONValue compares two JSON strings by their decoded value, and numbers by their text.
func sameJSONValue(a, b json.RawMessage) bool {
	var sa, sb string
	if json.Unmarshal(a, &sa) == nil && json.Unmarshal(b, &sb) == nil {
		return sa == sb
	}
	return bytes.Equal(a, b)
}

// FuzzParsePost: any POST body, JSON or form, under any Content-Type, parses or fails with
// ErrMalformed, never panics, and a parsed request holds valid UTF-8 only (a password that is
// not what the client typed must not reach the hash).
func FuzzParsePost(f *testing.F) {
	for _, seed := range []struct{ ct, body string }{
		{"application/x-www-form-urlencoded", "type=fantaptik%2Freact-auth%2Fauthenticate&username=a%40example.com&password=p%20w"},
		{"application/x-www-form-urlencoded", "type=fantaptik%2Freact-auth%2Fresume"},
		{"application/json", `{"type":"fantaptik/react-auth/authenticate","username":"a","password":"b"}`},
		{"", `  {"type":"x"}`},
		{"text/plain;charset=UTF-8", `{"type":1}`},
		{"application/x-www-form-urlencoded", "a=%zz"},
		{"application/x-www-form-urlencoded", "type=a&type=b"},
		{"application/x-www-form-urlencoded", "username=%FF"},
		{"application/vnd.api+json", `{"password":"\ud800"}`},
		{"multipart/form-data; boundary=x", "--x--"},
		{"application/json; charset=\"", "{}"},
	} {
		f.Add(seed.ct, []byte(seed.body))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		req, err := parsePost(contentType, body)
		if err != nil {
			if !errors.Is(err, httpx.ErrMalformed) {
				t.Fatalf("%q %q: error %v does not wrap ErrMalformed", contentType, body, err)
			}
			if req != (postRequest{}) {
				t.Fatalf("%q %q: a failed parse returned fields %+v", contentType, body, req)
			}
			return
		}
		for _, v := range []string{req.Type, req.Username, req.Password} {
			if !utf8.ValidString(v) {
				t.Fatalf("%q %q: parsed a field that is not valid UTF-8", contentType, body)
			}
		}
	})
}

// FuzzPostBodies sends any body under any Content-Type to POST {prefix} as the server mounts
// it: the answer is always the failure body (no user exists), with 400 exactly when the body
// does not decode (parsePost fails) and 200 otherwise; never a panic or a 500.
func FuzzPostBodies(f *testing.F) {
	h := servertest.FuzzHandler(f, reactauthtest.Enable, Definition)
	route := servertest.FuzzRoute{Method: http.MethodPost, Path: "/react-auth", Allowed: []int{200, 400, 413}}
	for _, seed := range []struct{ ct, body string }{
		{"application/x-www-form-urlencoded", "type=fantaptik%2Freact-auth%2Fauthenticate&username=a%40example.com&password=p%20w"},
		{"application/x-www-form-urlencoded", "type=fantaptik%2Freact-auth%2Fresume"},
		{"application/x-www-form-urlencoded", "type=a&type=b"},
		{"application/x-www-form-urlencoded", "a=%zz"},
		{"application/json", `{"type":"fantaptik/react-auth/authenticate","username":"a","password":"b"}`},
		{"application/json", `{"type":"fantaptik/react-auth/authenticate","username":1}`},
		{"application/json", `{"type":`},
		{"", `{"type":"fantaptik/react-auth/resume"}`},
		{"text/plain", "type=x"},
		{"multipart/form-data; boundary=x", "--x--"},
		{"application/json; charset=\"", "{}"},
	} {
		f.Add(seed.ct, seed.body)
	}
	f.Fuzz(func(t *testing.T, contentType, body string) {
		header := http.Header{"Content-Type": {contentType}}
		rec, _ := servertest.ServeFuzz[map[string]any](t, h, route, "", body, header)
		if got := string(bytes.TrimSpace(rec.Body.Bytes())); got != `{"success":false,"session":"","user":{}}` {
			t.Fatalf("%q %q: body %s, want the failure body", contentType, body, got)
		}
		want := http.StatusOK
		if _, err := parsePost(contentType, []byte(body)); err != nil {
			want = http.StatusBadRequest
		}
		if len(body) > httpx.MaxBodyBytes {
			want = http.StatusRequestEntityTooLarge
		}
		if rec.Code != want {
			t.Fatalf("%q %q: status %d, want %d", contentType, body, rec.Code, want)
		}
	})
}
