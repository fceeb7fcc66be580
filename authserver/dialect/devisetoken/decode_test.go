package devisetoken

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/latchauth/latch/authserver/httpx"
)

func TestQueryCredentials(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		want      credentials
	}{
		{"redux-token-auth", "access-token=a.b.c&client=cl&uid=u%40example.com", credentials{"a.b.c", "cl", "u@example.com"}},
		{"other params around", "x=1&uid=u&y=%zz&client=c&access-token=t&z", credentials{"t", "c", "u"}},
		{"first occurrence wins", "client=one&client=two", credentials{Client: "one"}},
		{"escaped key", "access%2Dtoken=t", credentials{AccessToken: "t"}},
		{"bad escape in value is skipped", "client=%zz&client=ok", credentials{Client: "ok"}},
		{"plus is a space", "uid=a+b", credentials{UID: "a b"}},
		{"control character dropped", "uid=a%0Ab", credentials{}},
		{"invalid UTF-8 dropped", "uid=%ff", credentials{}},
		{"oversize value dropped", "client=" + strings.Repeat("x", maxCredentialLen+1), credentials{}},
		{"semicolon is data", "client=a;uid=b", credentials{Client: "a;uid=b"}},
		{"beyond the parameter bound", strings.Repeat("x=1&", maxQueryParams) + "client=c", credentials{}},
		{"query too long", "client=c&pad=" + strings.Repeat("x", maxQueryLen), credentials{}},
		{"empty", "", credentials{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := queryCredentials(tc.raw); got != tc.want {
				t.Errorf("queryCredentials(%q) = %+v, want %+v", tc.raw, got, tc.want)
			}
		})
	}
}

func TestBearerCredentials(t *testing.T) {
	payload := `{"access-token":"t","token-type":"Bearer","client":"c","expiry":"1700000000","uid":"u@example.com"}`
	want := credentials{"t", "c", "u@example.com"}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		h := "Bearer " + enc.EncodeToString([]byte(payload))
		if got := bearerCredentials(h); got != want {
			t.Errorf("bearerCredentials(%q) = %+v, want %+v", h, got, want)
		}
	}
	for name, tc := range map[string]struct {
		header string
		want   credentials
	}{
		"numeric expiry, extra fields": {"Bearer " + base64.StdEncoding.EncodeToString([]byte(`{"access-token":"t","expiry":1700000000,"x":[1]}`)), credentials{AccessToken: "t"}},
		"non-string fields ignored":    {"Bearer " + base64.StdEncoding.EncodeToString([]byte(`{"access-token":1,"client":null,"uid":{"a":"b"}}`)), credentials{}},
		"spaces around":                {"  bearer   " + base64.StdEncoding.EncodeToString([]byte(`{"uid":"u"}`)) + "  ", credentials{UID: "u"}},
		"not base64":                   {"Bearer %%%", credentials{}},
		"not an object":                {"Bearer " + base64.StdEncoding.EncodeToString([]byte(`"t"`)), credentials{}},
		"invalid UTF-8":                {"Bearer " + base64.StdEncoding.EncodeToString([]byte("{\"uid\":\"\xff\"}")), credentials{}},
		"trailing garbage":             {"Bearer " + base64.StdEncoding.EncodeToString([]byte(`{"uid":"u"}x`)), credentials{}},
		"other scheme":                 {"Basic " + base64.StdEncoding.EncodeToString([]byte(`{"uid":"u"}`)), credentials{}},
		"no payload":                   {"Bearer", credentials{}},
		"oversize":                     {"Bearer " + strings.Repeat("A", maxBearerLen+4), credentials{}},
	} {
		if got := bearerCredentials(tc.header); got != tc.want {
			t.Errorf("%s: bearerCredentials = %+v, want %+v", name, got, tc.want)
		}
	}
}

// Each field comes from the first source that has it: headers, query, body, Bearer.
func TestRequestCredentialsOrder(t *testing.T) {
	bearer := "Bearer " + base64.StdEncoding.EncodeToString([]byte(`{"access-token":"bt","client":"bc","uid":"bu"}`))
	r, err := http.NewRequest(http.MethodGet, "/?client=qc&uid=qu", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("access-token", "ht")
	r.Header.Set("Authorization", bearer)
	bodyUID := "xu"
	if got, want := requestCredentials(r, &body{UID: &bodyUID}), (credentials{"ht", "qc", "qu"}); got != want {
		t.Errorf("requestCredentials = %+v, want %+v", got, want)
	}
	r.URL.RawQuery = "client=qc"
	if got, want := requestCredentials(r, &body{UID: &bodyUID}), (credentials{"ht", "qc", "xu"}); got != want {
		t.Errorf("requestCredentials = %+v, want %+v", got, want)
	}
	r.URL.RawQuery = ""
	if got, want := requestCredentials(r, nil), (credentials{"ht", "bc", "bu"}); got != want {
		t.Errorf("requestCredentials = %+v, want %+v", got, want)
	}
	if got := (credentials{}).client(); got != "default" {
		t.Errorf("a missing client = %q, want devise's default", got)
	}
}

func TestParseBody(t *testing.T) {
	b, err := parseBody("application/x-www-form-urlencoded; charset=UTF-8",
		[]byte("email=a%40b.c&password=p+w&password_confirmation=&access-token=t&email=second"), true)
	if err != nil {
		t.Fatal(err)
	}
	if str(b.Email) != "a@b.c" || str(b.Password) != "p w" || b.PasswordConfirmation == nil || *b.PasswordConfirmation != "" ||
		b.CurrentPassword != nil || str(b.AccessToken) != "t" {
		t.Errorf("form body = %+v", b)
	}
	b, err = parseBody("", []byte(`{"email":"a","password_confirmation":null,"favorite_color":"x"}`), true)
	if err != nil || str(b.Email) != "a" || b.PasswordConfirmation != nil {
		t.Errorf("JSON body = %+v, %v", b, err)
	}
	if _, err := parseBody("application/json", []byte("  "), true); !errors.Is(err, httpx.ErrMalformed) {
		t.Errorf("required empty body: %v, want ErrMalformed", err)
	}
	if b, err := parseBody("application/json", nil, false); err != nil || b.Email != nil {
		t.Errorf("optional empty body = %+v, %v", b, err)
	}
	if _, err := parseBody("application/x-www-form-urlencoded", []byte("a=%zz"), true); !errors.Is(err, httpx.ErrMalformed) {
		t.Errorf("bad form: %v, want ErrMalformed", err)
	}
}

func TestRedirectPolicy(t *testing.T) {
	p, err := newRedirectPolicy([]string{"https://app.example", "http://localhost:3000"}, "https://mail.example/reset")
	if err != nil {
		t.Fatal(err)
	}
	for raw, ok := range map[string]bool{
		"https://app.example":                       true,
		"https://app.example/p?x=1#/frag":           true,
		"https://APP.example:443/p":                 true,
		"HTTPS://app.example/":                      true,
		"http://localhost:3000/cb":                  true,
		"https://mail.example/other":                true,
		"http://app.example/":                       false,
		"https://app.example:444/":                  false,
		"https://app.example.evil/":                 false,
		"https://evil.example/?https://app.example": false,
		"https://user@app.example/":                 false,
		"https://evil.example#@app.example/":        false,
		`https://evil.example\@app.example/`:        false,
		"//app.example/":                            false,
		"/relative":                                 false,
		"javascript:alert(1)//app.example":          false,
		"https:app.example":                         false,
		"https://app.example/\n":                    false,
		"https://app.example/ x":                    false,
		"https://app.exämple/":                      false,
		"":                                          false,
		"https://app.example/" + strings.Repeat("x", maxRedirectURLLen): false,
	} {
		if _, got := p.check(raw); got != ok {
			t.Errorf("check(%q) = %v, want %v", raw, got, ok)
		}
	}
	if _, err := newRedirectPolicy([]string{"not a url at all"}, ""); err == nil {
		t.Error("a malformed allowed origin was accepted")
	}
}

func TestRedirectLocation(t *testing.T) {
	params := url.Values{"access-token": {"a.b.c"}, "uid": {"u@example.com"}}
	for raw, want := range map[string]string{
		"https://app.example":           "https://app.example?access-token=a.b.c&uid=u%40example.com",
		"https://app.example/p?x=1":     "https://app.example/p?x=1&access-token=a.b.c&uid=u%40example.com",
		"https://app.example/#/reset":   "https://app.example/?access-token=a.b.c&uid=u%40example.com#/reset?access-token=a.b.c&uid=u%40example.com",
		"https://app.example/p?x=1#top": "https://app.example/p?x=1&access-token=a.b.c&uid=u%40example.com#top?x=1&access-token=a.b.c&uid=u%40example.com",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := redirectLocation(u, params); got != want {
			t.Errorf("redirectLocation(%q) =\n%s, want\n%s", raw, got, want)
		}
	}
}

// validCredential is what every decoder promises of a value it returns.
func validCredential(t *testing.T, what, v string) {
	t.Helper()
	if len(v) > maxCredentialLen || !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		t.Fatalf("%s %q is not a clean, bounded credential", what, v)
	}
}

func validCredentials(t *testing.T, c credentials) {
	t.Helper()
	validCredential(t, "access-token", c.AccessToken)
	validCredential(t, "client", c.Client)
	validCredential(t, "uid", c.UID)
}

func FuzzHeaderCredentials(f *testing.F) {
	f.Add("a.b.c", "client", "u@example.com")
	f.Add("", "default", "\x00")
	f.Add(strings.Repeat("x", 600), "\xff", "é")
	f.Fuzz(func(t *testing.T, tok, client, uid string) {
		h := http.Header{}
		h.Set("access-token", tok)
		h.Set("client", client)
		h.Set("uid", uid)
		got := headerCredentials(h)
		validCredentials(t, got)
		// A header value is taken whole or not at all, never altered.
		for _, p := range [][2]string{{got.AccessToken, tok}, {got.Client, client}, {got.UID, uid}} {
			if p[0] != "" && p[0] != p[1] {
				t.Fatalf("header %q decoded as %q", p[1], p[0])
			}
		}
	})
}

func FuzzQueryCredentials(f *testing.F) {
	for _, s := range []string{
		"access-token=a.b.c&client=c&uid=u%40example.com", "client=%zz&client=ok", "uid=a+b&uid=c", "access%2Dtoken=t",
		"a=1;client=2", "&&&=&", "client", "=client", "client=%", "uid=%ff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := queryCredentials(raw)
		validCredentials(t, got)
		// Differential check against net/url on the queries both can read in full.
		if len(raw) > maxQueryLen || strings.Count(raw, "&") >= maxQueryParams || strings.Contains(raw, ";") {
			return
		}
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		for _, p := range [][2]string{{got.AccessToken, "access-token"}, {got.Client, "client"}, {got.UID, "uid"}} {
			want := ""
			if vs := q[p[1]]; len(vs) > 0 {
				want = clean(vs[0])
			}
			if p[0] != want {
				t.Fatalf("queryCredentials(%q).%s = %q, net/url's first value cleaned = %q", raw, p[1], p[0], want)
			}
		}
	})
}

func FuzzBearerCredentials(f *testing.F) {
	f.Add([]byte(`{"access-token":"t","token-type":"Bearer","client":"c","expiry":"1","uid":"u"}`), uint8(0))
	f.Add([]byte(`{"access-token":1}`), uint8(1))
	f.Add([]byte(`[]`), uint8(2))
	f.Add([]byte("{\"uid\":\"\xff\"}"), uint8(3))
	f.Add([]byte(`{"uid":"a\u0000b"}`), uint8(4))
	encs := []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}
	f.Fuzz(func(t *testing.T, payload []byte, mode uint8) {
		var header string
		if int(mode) < len(encs) {
			header = "Bearer " + encs[mode].EncodeToString(payload)
		} else {
			// The header as sent, undecoded: anything at all.
			header = string(payload)
		}
		got := bearerCredentials(header)
		validCredentials(t, got)
		if got != (credentials{}) && int(mode) < len(encs) && httpx.ParseJSON(payload, &struct{}{}) != nil {
			t.Fatalf("credentials %+v from a payload that is not one JSON object: %q", got, payload)
		}
	})
}

func FuzzParseBody(f *testing.F) {
	for _, s := range []string{
		`{"email":"a@example.com","password":"pw","password_confirmation":"pw"}`, `{"access-token":"t","client":"c","uid":"u"}`,
		"email=a%40b&password=x", `[]`, ``, "{\"email\":\"\xff\"}", `{} {}`, `{"email":1}`, "a=%zz",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, data string, form bool) {
		ct := "application/json"
		if form {
			ct = "application/x-www-form-urlencoded"
		}
		b, err := parseBody(ct, []byte(data), true)
		if err != nil {
			if !errors.Is(err, httpx.ErrMalformed) || (len(data) > 8 && strings.Contains(err.Error(), data)) {
				t.Fatalf("parseBody(%q) = %v: want ErrMalformed without the body", data, err)
			}
			return
		}
		for name, p := range b.formFields() {
			if *p != nil && !utf8.ValidString(**p) {
				t.Fatalf("field %s accepted invalid UTF-8 %q", name, **p)
			}
		}
		validCredentials(t, b.credentials())
	})
}

func FuzzRedirectPolicy(f *testing.F) {
	for _, s := range []string{
		"https://app.example/p?x=1#/r", "https://app.example@evil/", `https://evil\@app.example`, "//app.example",
		"https://APP.example:443", "https://[::1]:8443/", "javascript:alert(1)", "https://app.example:0x1bb/",
	} {
		f.Add(s)
	}
	p, err := newRedirectPolicy([]string{"https://app.example", "https://[::1]:8443"}, "")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, ok := p.check(raw)
		if !ok {
			return
		}
		// Whatever was accepted, the Location built from it goes to an allowed origin, as Go
		// and as a browser (which also treats '\' as '/') would read it.
		loc := redirectLocation(u, url.Values{"access-token": {"t"}})
		if strings.ContainsAny(loc, "\\ \t\r\n") {
			t.Fatalf("check(%q) accepted; Location %q holds characters a browser may reinterpret", raw, loc)
		}
		back, err := url.Parse(loc)
		if err != nil || back.User != nil || !p.origins[originOf(back)] {
			t.Fatalf("check(%q) accepted; Location %q leads to %q", raw, loc, originOf(back))
		}
	})
}
