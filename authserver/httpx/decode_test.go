package httpx

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"unicode/utf8"
)

type loginBody struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

func TestParseJSON(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		ok         bool
		want       loginBody
	}{
		{"object", `{"login":"a","password":"b"}`, true, loginBody{"a", "b"}},
		{"whitespace around", " \n\t{\"login\":\"a\"}\r\n ", true, loginBody{Login: "a"}},
		{"unknown fields", `{"login":"a","x":[1,{"y":null}],"z":true}`, true, loginBody{Login: "a"}},
		{"empty object", `{}`, true, loginBody{}},
		{"null field", `{"login":null}`, true, loginBody{}},
		{"unicode", `{"login":"\u00e9t\u00e9"}`, true, loginBody{Login: "été"}},
		{"empty", ``, false, loginBody{}},
		{"blank", `   `, false, loginBody{}},
		{"null", `null`, false, loginBody{}},
		{"array", `[{"login":"a"}]`, false, loginBody{}},
		{"string", `"a"`, false, loginBody{}},
		{"truncated", `{"login":"a"`, false, loginBody{}},
		{"wrong type", `{"login":1}`, false, loginBody{}},
		{"nested wrong type", `{"login":{"a":"b"}}`, false, loginBody{}},
		{"two values", `{} {}`, false, loginBody{}},
		{"trailing garbage", `{}x`, false, loginBody{}},
		{"trailing comma", `{"login":"a",}`, false, loginBody{}},
		{"invalid UTF-8", "{\"login\":\"\xff\"}", false, loginBody{}},
		{"invalid UTF-8 in unknown field", "{\"x\":\"\xc3\"}", false, loginBody{}},
		{"NUL outside string", "{}\x00", false, loginBody{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got loginBody
			err := ParseJSON([]byte(tc.body), &got)
			if tc.ok {
				if err != nil {
					t.Fatalf("ParseJSON(%q) = %v, want success", tc.body, err)
				}
				if got != tc.want {
					t.Errorf("ParseJSON(%q) = %+v, want %+v", tc.body, got, tc.want)
				}
				return
			}
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseJSON(%q) = %v, want ErrMalformed", tc.body, err)
			}
			if StatusOf(err) != http.StatusBadRequest {
				t.Errorf("StatusOf = %d, want 400", StatusOf(err))
			}
		})
	}
}

func TestParseJSONNeverEchoes(t *testing.T) {
	secret := "hunter2-secret"
	for _, body := range []string{`{"password":` + secret + `}`, `{"password":"` + secret + `"` + "\xff", `{"password":"` + secret + `"}garbage`} {
		err := ParseJSON([]byte(body), &loginBody{})
		if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "hunter") {
			t.Errorf("ParseJSON(%q) = %v: want an error that does not repeat the body", body, err)
		}
	}
}

func TestParseForm(t *testing.T) {
	v, err := ParseForm([]byte("type=fantaptik%2Freact-auth%2Fauthenticate&username=a%40b.c&password=p+w&empty="))
	if err != nil {
		t.Fatal(err)
	}
	if v.Get("type") != "fantaptik/react-auth/authenticate" || v.Get("username") != "a@b.c" || v.Get("password") != "p w" || !v.Has("empty") {
		t.Errorf("ParseForm = %v", v)
	}
	for name, body := range map[string]string{
		"bad escape":      "a=%zz",
		"semicolon":       "a=1;b=2",
		"invalid UTF-8":   "a=%ff",
		"bad name UTF-8":  "%ff=1",
		"too many fields": strings.Repeat("a=1&", MaxFormFields) + "a=1",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseForm([]byte(body)); !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseForm(%q) = %v, want ErrMalformed", body, err)
			}
		})
	}
	if v, err := ParseForm(nil); err != nil || len(v) != 0 {
		t.Errorf("ParseForm(empty) = %v, %v; want no fields", v, err)
	}
}

// errReader fails with err after returning prefix.
type errReader struct {
	prefix string
	err    error
}

func (r *errReader) Read(p []byte) (int, error) {
	if r.prefix != "" {
		n := copy(p, r.prefix)
		r.prefix = r.prefix[n:]
		return n, nil
	}
	return 0, r.err
}

func TestReadBody(t *testing.T) {
	newReq := func(body io.Reader, length int64) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/", body)
		r.ContentLength = length
		return r
	}
	for _, tc := range []struct {
		name   string
		req    *http.Request
		limit  int64
		want   error
		status int
	}{
		{"declared too large", newReq(strings.NewReader("{}"), 11), 10, ErrBodyTooLarge, 413},
		{"streamed too large", newReq(strings.NewReader(strings.Repeat("x", 11)), -1), 10, ErrBodyTooLarge, 413},
		{"max bytes reader", func() *http.Request {
			r := newReq(strings.NewReader(strings.Repeat("x", 20)), -1)
			r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, 5)
			return r
		}(), 10, ErrBodyTooLarge, 413},
		{"deadline", newReq(&errReader{prefix: `{"a"`, err: fmt.Errorf("read tcp: %w", os.ErrDeadlineExceeded)}, 100), 1000, ErrBodyTimeout, 408},
		{"cut short", newReq(&errReader{prefix: `{"a"`, err: io.ErrUnexpectedEOF}, 100), 1000, ErrMalformed, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadBody(tc.req, tc.limit)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ReadBody = %v, want %v", err, tc.want)
			}
			if got := StatusOf(err); got != tc.status {
				t.Errorf("StatusOf = %d, want %d", got, tc.status)
			}
		})
	}
	b, err := ReadBody(newReq(strings.NewReader("0123456789"), -1), 10)
	if err != nil || string(b) != "0123456789" {
		t.Errorf("ReadBody at the limit = %q, %v", b, err)
	}
	if StatusOf(errors.New("other")) != http.StatusInternalServerError {
		t.Error("StatusOf(other) is not 500")
	}
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{"login":"a","password":"b"}`, `{}`, `[]`, `{"login":1}`, "{\"login\":\"\xff\"}", `{} {}`, `{"a":[[[[]]]]}`, ` {"login":"\ud800"} `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v loginBody
		err := ParseJSON(data, &v)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// Accepted bodies are valid UTF-8 and yield valid UTF-8 strings.
		if !utf8.Valid(data) || !utf8.ValidString(v.Login) || !utf8.ValidString(v.Password) {
			t.Fatalf("accepted %q as %+v", data, v)
		}
	})
}

func FuzzParseForm(f *testing.F) {
	for _, s := range []string{"a=1&b=2", "a=%zz", "a=1;b=2", "%ff=1", "=", "&&&", "a"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseForm(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(v) > MaxFormFields {
			t.Fatalf("accepted %d fields", len(v))
		}
		for k, vs := range v {
			for _, s := range append(vs, k) {
				if !utf8.ValidString(s) {
					t.Fatalf("accepted invalid UTF-8 %q", s)
				}
			}
		}
	})
}
