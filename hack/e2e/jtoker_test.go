package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
)

// jtStepTimeout bounds one command of jtoker.mjs: a page load with j-toker's validation, a
// followed mail link with its redirects, or one of j-toker's calls.
const jtStepTimeout = 30 * time.Second

// jtStep is one report of jtoker.mjs: the command, how j-toker's promise ended (calls), and
// what the browser saw since the last report.
type jtStep struct {
	Cmd struct {
		Cmd    string `json:"cmd"`
		URL    string `json:"url"`
		Method string `json:"method"`
	} `json:"cmd"`
	Ms     int `json:"ms"`
	Result *struct {
		OK    bool            `json:"ok"`
		Value json.RawMessage `json:"value"`
		Error *struct {
			Reason string          `json:"reason"`
			Data   json.RawMessage `json:"data"`
		} `json:"error"`
		Thrown string `json:"thrown"`
	} `json:"result"`
	URL   string `json:"url"`
	State *struct {
		URL               string         `json:"url"`
		User              map[string]any `json:"user"`
		MustResetPassword bool           `json:"mustResetPassword"`
		FirstTimeLogin    bool           `json:"firstTimeLogin"`
		// Stored is j-toker's authHeaders cookie, decoded by j-toker (null when absent).
		Stored    json.RawMessage `json:"stored"`
		Configure struct {
			State  string          `json:"state"`
			Reason json.RawMessage `json:"reason"`
		} `json:"configure"`
		Events []struct {
			Topic string          `json:"topic"`
			Data  json.RawMessage `json:"data"`
		} `json:"events"`
	} `json:"state"`
	Navigations []string     `json:"navigations"`
	Responses   []jtResponse `json:"responses"`
	Console     []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"console"`
	PageErrors     []string          `json:"pageErrors"`
	FailedRequests []json.RawMessage `json:"failedRequests"`

	raw json.RawMessage
}

// jtResponse is one response the page received; the API's carry the request body, the auth
// headers and the answer's body.
type jtResponse struct {
	Method      string            `json:"method"`
	URL         string            `json:"url"`
	Status      int               `json:"status"`
	Location    string            `json:"location"`
	RequestBody *string           `json:"requestBody"`
	Headers     map[string]string `json:"headers"`
	Body        string            `json:"body"`
}

// failf fails the test with what went wrong and the whole report of the step.
func (s jtStep) failf(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Fatalf("%s %s%s: %s\nthe browser's report of the step:\n%s", s.Cmd.Cmd, s.Cmd.Method, s.Cmd.URL, fmt.Sprintf(format, args...), indentJSON(s.raw))
}

// topics are the events j-toker broadcast on the current document.
func (s jtStep) topics() []string {
	var ts []string
	if s.State != nil {
		for _, e := range s.State.Events {
			ts = append(ts, e.Topic)
		}
	}
	return ts
}

// apiResponses returns the responses from the API at api.
func (s jtStep) apiResponses(api string) []jtResponse {
	var rs []jtResponse
	for _, r := range s.Responses {
		if strings.HasPrefix(r.URL, api) {
			rs = append(rs, r)
		}
	}
	return rs
}

// response returns the last response to method url, or nil.
func (s jtStep) response(method, url string) *jtResponse {
	for i := len(s.Responses) - 1; i >= 0; i-- {
		if r := &s.Responses[i]; r.Method == method && r.URL == url {
			return r
		}
	}
	return nil
}

// stored returns j-toker's stored credentials (its authHeaders), empty when it holds none.
func (s jtStep) stored(t *testing.T) map[string]string {
	t.Helper()
	if s.State == nil || len(s.State.Stored) == 0 || string(s.State.Stored) == "null" {
		return nil
	}
	var m map[string]string
	if err := json.Unmarshal(s.State.Stored, &m); err != nil {
		s.failf(t, "j-toker's stored credentials are not an object of strings: %v", err)
	}
	return m
}

// wantCall checks that a j-toker call ended as ok says, after exactly one request to method
// url answered status (preflights aside), and that j-toker broadcast topic.
func (s jtStep) wantCall(t *testing.T, ok bool, method, url string, status int, topic string) *jtResponse {
	t.Helper()
	if s.Result == nil || s.Result.OK != ok || s.Result.Thrown != "" {
		s.failf(t, "j-toker's promise: %s, want ok=%t", compactJSON(s.raw, "result"), ok)
	}
	var reqs []jtResponse
	for _, r := range s.Responses {
		if r.Method != "OPTIONS" {
			reqs = append(reqs, r)
		}
	}
	if len(reqs) != 1 || reqs[0].Method != method || reqs[0].URL != url || reqs[0].Status != status {
		s.failf(t, "requests %+v, want one %s %s answered %d", reqs, method, url, status)
	}
	if !slices.Contains(s.topics(), topic) {
		s.failf(t, "j-toker broadcast %v, not %s", s.topics(), topic)
	}
	if len(s.PageErrors) > 0 || len(s.FailedRequests) > 0 {
		s.failf(t, "the page had errors %v, failed requests %s", s.PageErrors, s.FailedRequests)
	}
	return &reqs[0]
}

// jtoker drives jtoker.mjs and keeps its reports, printed if the test fails.
type jtoker struct {
	p     *scriptProcess
	steps []json.RawMessage
}

func (j *jtoker) do(t *testing.T, cmd map[string]any) jtStep {
	t.Helper()
	j.p.send(t, cmd)
	var raw json.RawMessage
	j.p.next(t, jtStepTimeout, "step", &raw)
	j.steps = append(j.steps, raw)
	s := jtStep{raw: raw}
	must(t, "decode the browser's report", json.Unmarshal(raw, &s))
	return s
}

func (j *jtoker) call(t *testing.T, method string, opts map[string]string) jtStep {
	t.Helper()
	return j.do(t, map[string]any{"cmd": "call", "method": method, "opts": opts})
}

// jtMailLinkRE finds devise's links to the API in a mail.
var jtMailLinkRE = regexp.MustCompile(`http://127\.0\.0\.1:\d+/[^\s?]+\?\S+`)

// mailLink waits for the n-th mail to to and returns its link to wantPrefix (the public URL of
// the replica that must follow it, and the path), failing with the mail otherwise.
func mailLink(t *testing.T, mb *servertest.Mailbox, to string, n int, wantPrefix string) (string, url.Values) {
	t.Helper()
	m := mb.Wait(t, to, n)
	link := jtMailLinkRE.FindString(m.Text)
	if !strings.HasPrefix(link, wantPrefix+"?") {
		t.Fatalf("mail #%d to %s (%q) links to %q, want %s?…:\n%s", n, to, m.Subject, link, wantPrefix, m.Text)
	}
	u, err := url.Parse(link)
	must(t, "parse the mail's link", err)
	return link, u.Query()
}

// TestJTokerMailLinks drives j-toker 0.0.10-beta3, the jQuery client of devise_token_auth,
// unchanged in headless Chromium against deviseToken on two `latch server` replicas sharing one
// Redis, through the two flows that leave the page for a mail and come back through a redirect:
//
//   - confirmation (the realm requires it): emailSignUp with confirmationSuccessUrl, sign-in
//     refused, the mailed link followed on the other replica, then emailSignIn;
//   - password reset: requestPasswordReset with passwordResetSuccessUrl, the mailed link followed
//     on the other replica, j-toker taking the credentials from the redirect on load
//     (auth.passwordResetConfirm.success), updatePassword, and emailSignIn with the new password
//     only.
//
// The page's API is replica 0; the realm's publicURL is replica 1, so every mailed link leaves
// replica 0, which sent it, for replica 1.
func TestJTokerMailLinks(t *testing.T) {
	begin := time.Now()
	ctx := t.Context()

	// The page's origin must be among the realm's allowed origins (CORS, redirect URLs), and
	// replica 1's port must be known for the realm's publicURL: both are taken first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, "listen for the page", err)
	t.Cleanup(func() { _ = ln.Close() })
	origin := "http://" + ln.Addr().String()
	linkAddr := freeLoopbackAddr(t)
	publicURL := "http://" + linkAddr

	installCtx, cancelInstall := context.WithCancel(ctx)
	var installs sync.WaitGroup
	var installErr error
	installs.Go(func() { installErr = installClients(installCtx) })
	t.Cleanup(func() { cancelInstall(); installs.Wait() })

	const prefix = "/auth"
	r0 := servertest.Start(t, servertest.Options{Config: func(c *config.Config) {
		c.PublicURL = publicURL
		c.AllowedOrigins = []string{origin}
		c.Protocols.DeviseToken = &config.DeviseToken{Prefix: prefix}
		c.Registration.EmailConfirmation = config.ConfirmationRequired
	}})
	r1 := r0.SiblingWith(t, func(c *config.Config) { c.Listen.Public = linkAddr })
	if r1.PublicURL != publicURL {
		t.Fatalf("replica 1 listens at %s, want the realm's publicURL %s", r1.PublicURL, publicURL)
	}
	// The first test of the process also builds the latch binary here.
	serversReady := time.Since(begin)
	installs.Wait()
	if installErr != nil {
		t.Fatal(installErr)
	}
	clientsReady := time.Since(begin)
	pageDir := t.TempDir()
	must(t, "build the page", buildPage(ctx, jsDir, pageDir))
	servePage(t, ln, pageDir)
	pageURL := origin + "/jtoker.html"
	api := r0.PublicURL + prefix

	tmp := t.TempDir()
	j := &jtoker{p: startScript(t, jsDir, "jtoker.mjs", map[string]any{
		"pageURL": pageURL,
		// j-toker's paths start with /auth (emailRegistrationPath and the rest, the dialect's
		// prefix here): its apiUrl is the server's root.
		"apiUrl":      r0.PublicURL,
		"userDataDir": filepath.Join(tmp, "profile"),
		"screenshot":  filepath.Join(tmp, "jtoker-failure.png"),
		"timeoutMs":   20000,
	})}
	var launched struct {
		Ms int `json:"ms"`
	}
	j.p.next(t, jtStepTimeout, "launched", &launched)
	t.Cleanup(func() {
		if t.Failed() {
			var b strings.Builder
			for i, s := range j.steps {
				fmt.Fprintf(&b, "step %d:\n  %s\n", i+1, indentJSON(s))
			}
			t.Logf("every report of the browser (jtoker.mjs), in order:\n%s", b.String())
		}
	})
	t.Logf("replicas %s (the page's API) and %s (the realm's publicURL) up at %s, clients installed at %s, page %s built at %s",
		r0.PublicURL, r1.PublicURL, serversReady.Round(100*time.Millisecond), clientsReady.Round(100*time.Millisecond),
		pageURL, time.Since(begin).Round(100*time.Millisecond))
	flows := time.Now()

	const (
		email       = "grace.jtoker@example.com"
		oldPassword = "first-password-for-jtoker"
		newPassword = "second-password-for-jtoker"
	)
	mb := r0.Mailbox

	// On a fresh page j-toker has no credentials: configure rejects without a request.
	s := j.do(t, map[string]any{"cmd": "open"})
	if s.State == nil || s.State.Configure.State != "rejected" || len(s.apiResponses(api)) != 0 {
		s.failf(t, "a fresh page: j-toker's configure %+v, want rejected without a request to the API", s.State)
	}

	ok := t.Run("confirmation", func(t *testing.T) {
		// Sign up: j-toker posts the form with confirm_success_url, its confirmationSuccessUrl.
		s := j.call(t, "emailSignUp", map[string]string{"email": email, "password": oldPassword, "password_confirmation": oldPassword})
		r := s.wantCall(t, true, "POST", api, 200, "auth.emailRegistration.success")
		if q := formOf(t, s, r); q.Get("confirm_success_url") != pageURL || q.Get("email") != email {
			s.failf(t, "j-toker sent %v, want email %s and confirm_success_url %s", q, email, pageURL)
		}
		if st := s.stored(t); len(st) != 0 || r.Headers["access-token"] != "" {
			s.failf(t, "a registration pending confirmation left credentials (stored %v, headers %v)", st, r.Headers)
		}

		// Pending: sign-in is refused, with devise's answer.
		s = j.call(t, "emailSignIn", map[string]string{"email": email, "password": oldPassword})
		s.wantCall(t, false, "POST", api+"/sign_in", 401, "auth.emailSignIn.error")
		if e := s.Result.Error; e == nil || !strings.Contains(string(e.Data), "Invalid login credentials") {
			s.failf(t, "j-toker's rejection does not carry devise's answer")
		}

		// The mail links to replica 1's API; the browser follows it as a person would.
		link, q := mailLink(t, mb, email, 1, publicURL+prefix+"/confirmation")
		if q.Get("redirect_url") != pageURL || q.Get("confirmation_token") == "" {
			t.Fatalf("confirmation link %s: redirect_url %q, want %s, and a confirmation_token", link, q.Get("redirect_url"), pageURL)
		}
		s = j.do(t, map[string]any{"cmd": "goto", "url": link})
		redirect := s.response("GET", link)
		if redirect == nil || redirect.Status != 302 {
			s.failf(t, "the link was not answered 302")
		}
		landed := pageURL + "?account_confirmation_success=true"
		if redirect.Location != landed || s.URL != landed {
			s.failf(t, "redirected to %q, the page at %q; want both %s", redirect.Location, s.URL, landed)
		}
		// devise_token_auth ≥ 1.1 redirects a browser that holds no devise session with
		// account_confirmation_success alone, and so does Latch: j-toker takes the query only
		// when it carries access-token and uid (processSearchParams), so it neither stores
		// credentials nor broadcasts auth.emailConfirmation.success, and the page stays a guest.
		if tp := s.topics(); slices.Contains(tp, "auth.emailConfirmation.success") || s.State.FirstTimeLogin || len(s.stored(t)) != 0 {
			s.failf(t, "j-toker took the confirmation redirect as a sign-in (events %v): the server now sends credentials with it; update this test", tp)
		}
		if s.State.Configure.State != "rejected" {
			s.failf(t, "after the confirmation, j-toker's configure %q, want rejected (no credentials)", s.State.Configure.State)
		}

		// Confirmed: the same sign-in now works, and j-toker keeps the credentials the API's
		// exposed headers carry.
		s = j.call(t, "emailSignIn", map[string]string{"email": email, "password": oldPassword})
		r = s.wantCall(t, true, "POST", api+"/sign_in", 200, "auth.emailSignIn.success")
		wantSignedIn(t, s, r, email)
		t.Logf("confirmation: signed up on %s, refused while pending, link followed on %s → %s, then signed in (client %s)",
			r0.PublicURL, r1.PublicURL, landed, s.stored(t)["client"])
	})
	if !ok {
		return
	}

	t.Run("password reset", func(t *testing.T) {
		s := j.call(t, "signOut", nil)
		s.wantCall(t, true, "DELETE", api+"/sign_out", 200, "auth.signOut.success")
		if st := s.stored(t); len(st) != 0 {
			s.failf(t, "j-toker still holds %v after signing out", st)
		}

		// Ask for the mail: j-toker posts redirect_url, its passwordResetSuccessUrl.
		s = j.call(t, "requestPasswordReset", map[string]string{"email": email})
		r := s.wantCall(t, true, "POST", api+"/password", 200, "auth.passwordResetRequest.success")
		if q := formOf(t, s, r); q.Get("redirect_url") != pageURL || q.Get("email") != email {
			s.failf(t, "j-toker sent %v, want email %s and redirect_url %s", q, email, pageURL)
		}
		link, q := mailLink(t, mb, email, 2, publicURL+prefix+"/password/edit")
		if q.Get("redirect_url") != pageURL || q.Get("reset_password_token") == "" {
			t.Fatalf("reset link %s: redirect_url %q, want %s, and a reset_password_token", link, q.Get("redirect_url"), pageURL)
		}

		// Follow it: replica 1 redirects to the page with credentials; j-toker stores them,
		// reloads the page without them, validates the token on replica 0 and broadcasts that
		// the reset was confirmed.
		s = j.do(t, map[string]any{"cmd": "goto", "url": link})
		redirect := s.response("GET", link)
		if redirect == nil || redirect.Status != 302 || !strings.HasPrefix(redirect.Location, pageURL+"?") {
			s.failf(t, "the link was not answered 302 to %s?…", pageURL)
		}
		loc, err := url.Parse(redirect.Location)
		must(t, "parse the redirect", err)
		params := loc.Query()
		for _, k := range []string{"access-token", "client", "uid", "expiry", "reset_password", "token", "client_id"} {
			if params.Get(k) == "" {
				s.failf(t, "the redirect %s has no %s", redirect.Location, k)
			}
		}
		if params.Get("uid") != email || params.Get("reset_password") != "true" || params.Get("token") != params.Get("access-token") || params.Get("client_id") != params.Get("client") {
			s.failf(t, "the redirect's parameters %v", params)
		}
		// The page saw the redirect's URL, then j-toker's location.replace without the
		// credentials.
		if n := len(s.Navigations); n < 2 || s.Navigations[n-2] != redirect.Location || s.Navigations[n-1] != pageURL || s.URL != pageURL {
			s.failf(t, "navigations %v (now at %s), want …, the redirect, then %s", s.Navigations, s.URL, pageURL)
		}
		st := s.State
		if !slices.Contains(s.topics(), "auth.passwordResetConfirm.success") || !slices.Contains(s.topics(), "auth.validation.success") || !st.MustResetPassword {
			s.failf(t, "j-toker broadcast %v (mustResetPassword %t), want auth.passwordResetConfirm.success and auth.validation.success", s.topics(), st.MustResetPassword)
		}
		if st.Configure.State != "resolved" || st.User["uid"] != email || st.User["signedIn"] != true {
			s.failf(t, "after the reset link, configure %q with user %v, want resolved with %s signed in", st.Configure.State, st.User, email)
		}
		v := s.response("GET", api+"/validate_token")
		if v == nil || v.Status != 200 || v.Headers["client"] != params.Get("client") {
			s.failf(t, "j-toker's validation of the redirect's credentials: %+v, want 200 on %s for client %s", v, api, params.Get("client"))
		}
		if stored := s.stored(t); stored["client"] != params.Get("client") || stored["uid"] != email {
			s.failf(t, "j-toker stored %v, want the redirect's client %s", stored, params.Get("client"))
		}

		// Set the new password on the session the link opened, without the old one.
		s = j.call(t, "updatePassword", map[string]string{"password": newPassword, "password_confirmation": newPassword})
		r = s.wantCall(t, true, "PUT", api+"/password", 200, "auth.passwordUpdate.success")
		if q := formOf(t, s, r); q.Has("current_password") {
			s.failf(t, "j-toker sent current_password: %v", q)
		}
		if r.Headers["client"] != params.Get("client") {
			s.failf(t, "the password was set on client %q, want the link's %s", r.Headers["client"], params.Get("client"))
		}

		s = j.call(t, "signOut", nil)
		s.wantCall(t, true, "DELETE", api+"/sign_out", 200, "auth.signOut.success")
		s = j.call(t, "emailSignIn", map[string]string{"email": email, "password": oldPassword})
		s.wantCall(t, false, "POST", api+"/sign_in", 401, "auth.emailSignIn.error")
		s = j.call(t, "emailSignIn", map[string]string{"email": email, "password": newPassword})
		r = s.wantCall(t, true, "POST", api+"/sign_in", 200, "auth.emailSignIn.success")
		wantSignedIn(t, s, r, email)
		t.Logf("reset: asked on %s, link followed on %s → %s?access-token=…&reset_password=true, j-toker validated it on %s and set the new password; the old one is refused",
			r0.PublicURL, r1.PublicURL, pageURL, r0.PublicURL)
	})
	j.p.send(t, map[string]any{"cmd": "quit"})
	j.p.wait(t, 15*time.Second)
	var steps []string
	for _, raw := range j.steps {
		var s jtStep
		_ = json.Unmarshal(raw, &s)
		what := s.Cmd.Cmd
		if s.Cmd.Method != "" {
			what = s.Cmd.Method
		}
		steps = append(steps, fmt.Sprintf("%s %dms", what, s.Ms))
	}
	t.Logf("the browser's part: %s (Chromium's start %dms; %s); %s in all",
		time.Since(flows).Round(100*time.Millisecond), launched.Ms, strings.Join(steps, ", "), time.Since(begin).Round(100*time.Millisecond))
}

// wantSignedIn checks that j-toker took a sign-in's credentials from the answer's headers
// (which CORS must expose) and holds the user.
func wantSignedIn(t *testing.T, s jtStep, r *jtResponse, email string) {
	t.Helper()
	stored := s.stored(t)
	for _, k := range []string{"access-token", "client", "uid", "expiry"} {
		if stored[k] == "" || stored[k] != r.Headers[k] {
			s.failf(t, "j-toker stored %s=%q, the answer's header %q (exposed: %q)", k, stored[k], r.Headers[k], r.Headers["access-control-expose-headers"])
		}
	}
	if _, err := strconv.ParseInt(stored["expiry"], 10, 64); err != nil || stored["uid"] != email || stored["token-type"] != "Bearer" {
		s.failf(t, "j-toker stored %v, want uid %s, token-type Bearer and an expiry in Unix seconds", stored, email)
	}
	if u := s.State.User; u["uid"] != email || u["signedIn"] != true {
		s.failf(t, "j-toker's user %v, want %s signed in", u, email)
	}
}

// formOf decodes the form j-toker sent in r (jQuery's default encoding).
func formOf(t *testing.T, s jtStep, r *jtResponse) url.Values {
	t.Helper()
	if r.RequestBody == nil {
		s.failf(t, "no request body recorded for %s %s", r.Method, r.URL)
	}
	q, err := url.ParseQuery(*r.RequestBody)
	if err != nil {
		s.failf(t, "the request body %q is not a form: %v", *r.RequestBody, err)
	}
	return q
}

// compactJSON returns raw's field key, for messages.
func compactJSON(raw json.RawMessage, key string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return string(raw)
	}
	return string(m[key])
}

// freeLoopbackAddr returns a loopback address no one listens on now, for a server that must
// know its own URL before it starts (the realm's publicURL).
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, "find a free port", err)
	addr := l.Addr().String()
	must(t, "free the port", l.Close())
	return addr
}
