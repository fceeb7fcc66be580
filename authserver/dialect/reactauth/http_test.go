package reactauth_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/dialect/reactauth/reactauthtest"
)

// Every success row of docs/protocol.md#reactauth-http over HTTP, on one server: authenticate with the
// client's exact form encoding and with JSON, the cookie, and resume with the cookie.
func TestAuthenticateAndResume(t *testing.T) {
	s := start(t, nil)
	a := register(t, s, "ada@example.com")

	t.Run("authenticate form as qs sends it", func(t *testing.T) {
		// The login is trimmed and matched case-insensitively; qs encodes the spaces as %20.
		form := qsStringify("type", "fantaptik/react-auth/authenticate", "username", "  ADA@Example.com ", "password", password)
		if !strings.Contains(form, "%2F") || !strings.Contains(form, "%20") {
			t.Fatalf("form %q is not qs's encoding", form)
		}
		r := postForm(t, s, form)
		tok, u := wantSuccess(t, r)
		want := publicUser{ID: a.id, Login: "ada@example.com", Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace", Status: 1}
		if u != want {
			t.Errorf("user = %+v, want %+v", u, want)
		}
		c := r.cookie("latch_session")
		switch {
		case c == nil:
			t.Fatal("no session cookie")
		case c.Value != tok:
			t.Error("the cookie does not hold the session token")
		case !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure:
			t.Errorf("cookie %q: want HttpOnly, SameSite=Lax, Path=/, not Secure (no TLS)", r.header.Values("Set-Cookie"))
		case c.MaxAge <= 0:
			t.Errorf("cookie MaxAge %d, want the session's lifetime", c.MaxAge)
		}
		if strings.Contains(string(r.body), password) || strings.Contains(string(r.body), "argon2") {
			t.Errorf("the response echoes a secret: %s", r.body)
		}

		// Resume with the cookie: the same session and user.
		tok2, u2 := wantSuccess(t, resumeHTTP(t, s, tok))
		if tok2 != tok || u2 != u {
			t.Errorf("resume = %s %+v, want %s %+v", tok2, u2, tok, u)
		}
	})

	t.Run("authenticate JSON", func(t *testing.T) {
		r := postJSON(t, s, `{"type":"fantaptik/react-auth/authenticate","username":"ada@example.com","password":"`+password+`"}`)
		tok, u := wantSuccess(t, r)
		if u.ID != a.id || r.cookie("latch_session") == nil {
			t.Fatalf("user %+v, cookie %v", u, r.cookie("latch_session"))
		}
		// JSON without a Content-Type, as fetch with a string body sends it (text/plain).
		r = do(t, http.MethodPost, s.PublicURL+"/react-auth", `{"type":"fantaptik/react-auth/resume"}`, "Cookie", "latch_session="+tok)
		if got, _ := wantSuccess(t, r); got != tok {
			t.Errorf("resume without Content-Type = %s, want %s", got, tok)
		}
		// JSON resume.
		if got, _ := wantSuccess(t, postJSON(t, s, `{"type":"fantaptik/react-auth/resume"}`, "Cookie", "latch_session="+tok)); got != tok {
			t.Errorf("JSON resume = %s, want %s", got, tok)
		}
	})

	t.Run("resume a session of another dialect", func(t *testing.T) {
		// Registration through the account dialect set the shared cookie.
		got, u := wantSuccess(t, resumeHTTP(t, s, a.session))
		if got != a.session || u.ID != a.id {
			t.Errorf("resume of the account session = %s %+v", got, u)
		}
	})

	t.Run("two logins are two sessions", func(t *testing.T) {
		first, second := login(t, s, a), login(t, s, a)
		if first == second {
			t.Fatal("two logins returned one session")
		}
		logoutAccount(t, s, first)
		wantFailure(t, resumeHTTP(t, s, first), http.StatusOK)
		wantSuccess(t, resumeHTTP(t, s, second))
	})
}

// Every failed credential, and every well-formed request that names no session or no known
// type, is 200 with the failure body and no session cookie: the real client does not catch HTTP
// errors on login. A malformed body is not among them (TestMalformedBodiesAre400).
func TestFailuresAre200(t *testing.T) {
	s := start(t, func(c *config.Config) { c.BruteForce.MaxFailuresPerLogin = 3 })
	a := register(t, s, "grace@example.com")
	register(t, s, "locked@example.com")
	loggedOut := login(t, s, a)
	logoutAccount(t, s, loggedOut)
	live := login(t, s, a)
	// A well-formed token of the user's with a wrong secret.
	forged := live[:len(live)-4] + "AAAA"
	if forged == live {
		forged = live[:len(live)-4] + "BBBB"
	}

	const auth = "fantaptik/react-auth/authenticate"
	const resume = "fantaptik/react-auth/resume"
	form := "application/x-www-form-urlencoded"
	cases := []struct {
		name, contentType, body string
		header                  []string
	}{
		{"wrong password", form, qsStringify("type", auth, "username", a.login, "password", "not the password"), nil},
		{"unknown user", form, qsStringify("type", auth, "username", "nobody@example.com", "password", password), nil},
		{"empty username and password", form, qsStringify("type", auth), nil},
		{"resume without a cookie", form, qsStringify("type", resume), nil},
		{"resume with a malformed cookie", form, qsStringify("type", resume), []string{"Cookie", "latch_session=garbage"}},
		{"resume with a logged-out session", form, qsStringify("type", resume), []string{"Cookie", "latch_session=" + loggedOut}},
		{"resume with a forged secret", form, qsStringify("type", resume), []string{"Cookie", "latch_session=" + forged}},
		{"unknown type", form, qsStringify("type", "fantaptik/react-auth/whatever", "username", a.login, "password", password), nil},
		{"socket type over HTTP", form, qsStringify("type", "fantaptik/react-auth/socket/resume", "session", live), nil},
		{"no type", form, qsStringify("username", a.login, "password", password), nil},
		{"empty form", form, "", nil},
		{"JSON with no type", "application/json", `{"username":"` + a.login + `"}`, nil},
		{"JSON wrong password", "application/json", `{"type":"` + auth + `","username":"` + a.login + `","password":"x"}`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, http.MethodPost, s.PublicURL+"/react-auth", tc.body, append([]string{"Content-Type", tc.contentType}, tc.header...)...)
			wantFailure(t, r, http.StatusOK)
			if c := r.cookie("latch_session"); c != nil && c.MaxAge >= 0 {
				t.Errorf("a failure set a session cookie: %q", r.header.Values("Set-Cookie"))
			}
		})
	}

	t.Run("a dead cookie is cleared", func(t *testing.T) {
		c := resumeHTTP(t, s, loggedOut).cookie("latch_session")
		if c == nil || c.MaxAge >= 0 {
			t.Errorf("resume with a dead session cookie: cookie %v, want it cleared", c)
		}
	})

	t.Run("locked", func(t *testing.T) {
		for range 3 {
			wantFailure(t, postForm(t, s, qsStringify("type", auth, "username", "locked@example.com", "password", "wrong")), http.StatusOK)
		}
		// The right password now fails like a wrong one.
		wantFailure(t, postForm(t, s, qsStringify("type", auth, "username", "locked@example.com", "password", password)), http.StatusOK)
	})

	// The live session was untouched by all of it.
	wantSuccess(t, resumeHTTP(t, s, live))
}

// A malformed body is 400 with the failure body (the dialect's one shape; it has no field for
// a reason) and no cookie: bad JSON, bad form encoding, a media type the dialect does not read,
// fields of the wrong type. A credential failure beside them stays 200.
func TestMalformedBodiesAre400(t *testing.T) {
	s := start(t, nil)
	a := register(t, s, "malformed@example.com")
	live := login(t, s, a)

	const auth = "fantaptik/react-auth/authenticate"
	const resume = "fantaptik/react-auth/resume"
	form := "application/x-www-form-urlencoded"
	good := qsStringify("type", auth, "username", a.login, "password", password)
	cases := []struct{ name, contentType, body string }{
		// Malformed JSON.
		{"truncated JSON", "application/json", `{"type":"` + auth + `",`},
		{"JSON array", "application/json", `[]`},
		{"JSON string", "application/json", `"` + auth + `"`},
		{"JSON trailing data", "application/json", `{"type":"` + auth + `"} {}`},
		{"JSON not UTF-8", "application/json", "{\"type\":\"" + auth + "\",\"username\":\"\xff\"}"},
		{"empty JSON body", "application/json", ""},
		{"+json media type, bad JSON", "application/vnd.api+json", `{"type":`},
		{"no Content-Type, broken JSON", "", `{"type":"` + auth + `"`},
		{"text/plain, broken JSON", "text/plain;charset=UTF-8", `{"type":"` + resume + `",}`},
		// Wrong content type, bad form encoding.
		{"form body labelled JSON", "application/json", good},
		{"multipart body", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\n" + resume + "\r\n--x--\r\n"},
		{"XML body", "application/xml", "<type>" + resume + "</type>"},
		{"malformed form escape", form, "type=fantaptik%2Freact-auth%2Fauthenticate&username=%zz&password=x"},
		{"semicolon separator", form, "type=" + auth + ";username=" + a.login},
		{"duplicated field", form, qsStringify("type", auth, "username", a.login, "password", "x", "password", password)},
		{"form value not UTF-8", form, "type=" + auth + "&username=%FF&password=x"},
		{"too many fields", form, strings.Repeat("a=b&", 80) + "type=" + auth},
		// Fields of the wrong type.
		{"username a number", "application/json", `{"type":"` + auth + `","username":1,"password":"x"}`},
		{"password an object", "application/json", `{"type":"` + auth + `","username":"` + a.login + `","password":{"p":"` + password + `"}}`},
		{"type an array", "application/json", `{"type":["` + resume + `"]}`},
		{"type a boolean", "application/json", `{"type":true}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, http.MethodPost, s.PublicURL+"/react-auth", tc.body, "Content-Type", tc.contentType, "Cookie", "latch_session="+live)
			wantFailure(t, r, http.StatusBadRequest)
			if len(r.header.Values("Set-Cookie")) != 0 {
				t.Errorf("a malformed body touched cookies: %q", r.header.Values("Set-Cookie"))
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
		})
	}

	// The credential failure beside them stays 200, in both encodings.
	wantFailure(t, postForm(t, s, qsStringify("type", auth, "username", a.login, "password", "wrong")), http.StatusOK)
	wantFailure(t, postJSON(t, s, `{"type":"`+auth+`","username":"`+a.login+`","password":"wrong"}`), http.StatusOK)
	// None of it touched the live session or the login.
	wantSuccess(t, postForm(t, s, good))
	wantSuccess(t, resumeHTTP(t, s, live))
}

// What the client cannot cause answers in the failure shape with its own status: 413 for a
// body over 64 KiB (declared or not), 404 off the routes, 405 for a wrong method, 403 for a
// cross-origin write from an origin the realm does not allow.
func TestHTTPStatusesOutsideTheClient(t *testing.T) {
	s := start(t, nil)
	a := register(t, s, "lin@example.com")
	big := qsStringify("type", "fantaptik/react-auth/authenticate", "username", a.login, "password", strings.Repeat("p", 70<<10))

	wantFailure(t, postForm(t, s, big), http.StatusRequestEntityTooLarge)

	// The same body chunked, with no Content-Length to refuse it by.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.PublicURL+"/react-auth", io.MultiReader(strings.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if req.ContentLength != 0 {
		t.Fatalf("the request was not chunked (Content-Length %d)", req.ContentLength)
	}
	wantFailure(t, result{status: resp.StatusCode, header: resp.Header, body: data}, http.StatusRequestEntityTooLarge)

	wantFailure(t, do(t, http.MethodPost, s.PublicURL+"/react-auth/nothing", ""), http.StatusNotFound)
	r := do(t, http.MethodGet, s.PublicURL+"/react-auth", "")
	wantFailure(t, r, http.StatusMethodNotAllowed)
	if allow := r.header.Get("Allow"); allow != "POST" {
		t.Errorf("Allow = %q, want POST", allow)
	}

	login := qsStringify("type", "fantaptik/react-auth/authenticate", "username", a.login, "password", password)
	wantFailure(t, postForm(t, s, login, "Origin", "https://evil.example"), http.StatusForbidden)
	r = postForm(t, s, login, "Origin", appOrigin)
	wantSuccess(t, r)
	if got := r.header.Get("Access-Control-Allow-Origin"); got != appOrigin {
		t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, appOrigin)
	}
	if got := r.header.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Errorf("Access-Control-Allow-Credentials = %q, want true", got)
	}
	pre := do(t, http.MethodOptions, s.PublicURL+"/react-auth", "", "Origin", appOrigin,
		"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "content-type")
	if pre.status != http.StatusNoContent || pre.header.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Errorf("preflight = %d %v", pre.status, pre.header)
	}
}

// Secure cookies when the realm is served over TLS (listen.secureCookies), named
// __Host-latch_session: Secure, Path=/, no Domain, so only this host over HTTPS can set it. The
// attack: a sibling subdomain or a forged plain-HTTP answer plants latch_session holding the
// attacker's session; resume must not take it, and must take the name it sets.
func TestSecureCookie(t *testing.T) {
	s := start(t, func(c *config.Config) { c.Listen.SecureCookies = true })
	a := register(t, s, "secure@example.com")
	r := postForm(t, s, qsStringify("type", "fantaptik/react-auth/authenticate", "username", a.login, "password", password))
	tok, _ := wantSuccess(t, r)
	c := r.cookie("__Host-latch_session")
	if c == nil || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || c.Value != tok {
		t.Errorf("Set-Cookie %q, want __Host-latch_session: Secure, HttpOnly, SameSite=Lax, Path=/, no Domain", r.header.Values("Set-Cookie"))
	}
	if r.cookie("latch_session") != nil {
		t.Errorf("Set-Cookie %q: an unprefixed session cookie too", r.header.Values("Set-Cookie"))
	}
	resume := qsStringify("type", "fantaptik/react-auth/resume")
	wantSuccess(t, postForm(t, s, resume, "Cookie", "__Host-latch_session="+tok))
	r = postForm(t, s, resume, "Cookie", "latch_session="+tok)
	wantFailure(t, r, http.StatusOK)
	if r.cookie("latch_session") != nil || r.cookie("__Host-latch_session") != nil {
		t.Errorf("a refused resume touched cookies: %q", r.header.Values("Set-Cookie"))
	}
}

// A store that cannot be reached fails closed: no success, over HTTP (500 with the failure
// body, which the client takes for a failure) or on the socket (success false, and the
// session is not ended by the outage: it works again once Redis is back).
func TestStoreUnreachableFailsClosed(t *testing.T) {
	s := start(t, nil)
	a := register(t, s, "outage@example.com")
	tok := login(t, s, a)
	sock := reactauthtest.Dial(t, s, nil)
	if !sock.Resume(tok) {
		t.Fatal("resume before the outage failed")
	}

	s.Redis.Stop()
	wantFailure(t, postForm(t, s, qsStringify("type", "fantaptik/react-auth/authenticate", "username", a.login, "password", password)), http.StatusInternalServerError)
	wantFailure(t, resumeHTTP(t, s, tok), http.StatusInternalServerError)
	other := reactauthtest.Dial(t, s, nil)
	if other.Resume(tok) {
		t.Error("socket resume succeeded without a store")
	}
	if other.End(tok) {
		t.Error("socket close succeeded without a store: the session may still be live")
	}
	// Nothing was pushed: an outage ends no session.
	sock.ExpectSilence(silence)

	s.Redis.Restart()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := resumeHTTP(t, s, tok)
		if r.status == http.StatusOK {
			wantSuccess(t, r)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("resume after Redis came back: %d %s", r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !other.Resume(tok) {
		t.Error("socket resume after the outage failed")
	}
}

// Secrets never reach the logs: not the password, not the session token, not its secret.
func TestNoSecretsInLogs(t *testing.T) {
	s := start(t, nil)
	a := register(t, s, "logs@example.com")
	tok := login(t, s, a)
	postForm(t, s, qsStringify("type", "fantaptik/react-auth/authenticate", "username", a.login, "password", "wrong password 123"))
	sock := reactauthtest.Bind(t, s, tok)
	bad := reactauthtest.Dial(t, s, nil)
	bad.WriteRaw([]byte(`{"id":"x","data":{"type":"fantaptik/react-auth/socket/resume","session":"` + tok + `x","user":{"id":"` + a.id + `"}}}`))
	if m, ok := bad.Next(5 * time.Second); !ok || string(m.Data) != `{"id":"x","data":{"success":false}}` {
		t.Fatalf("reply %s %v", m.Data, ok)
	}
	if !sock.End(tok) {
		t.Fatal("close failed")
	}
	sock.WaitClose(crossReplicaBudget)
	logs := s.Logs()
	secret := tok[strings.LastIndexByte(tok, '.')+1:]
	for name, v := range map[string]string{"password": password, "wrong password": "wrong password 123", "session secret": secret} {
		if strings.Contains(logs, v) {
			t.Errorf("the logs hold the %s", name)
		}
	}
	// The audit trail names the dialect.
	if len(s.LogLines(map[string]any{"audit": true, "event": "login", "dialect": "reactAuth", "outcome": "success"})) == 0 {
		t.Error("no audit event for the reactAuth login")
	}
	if len(s.LogLines(map[string]any{"msg": "http request", "dialect": "reactAuth", "route": "socket"})) == 0 {
		t.Error("no access log line for the socket handshake")
	}
}
