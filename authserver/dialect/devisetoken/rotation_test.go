package devisetoken_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
)

// buffer is the batch request buffer of the rotation tests: short, so they can wait it out,
// and long enough that a busy machine serves a burst of requests inside it.
const buffer = 2 * time.Second

func withBuffer(c *config.Config) { c.Protocols.DeviseToken.BatchRequestBuffer = config.D(buffer) }

// Inside the batch buffer the current token is echoed, never a blank header; after it the
// token rotates; the previous token works only inside the buffer after its replacement, and
// is answered with the current token.
func TestRotationAndBatchBuffer(t *testing.T) {
	t.Parallel() // mostly waiting out the buffer and the lifespan
	s := start(t, servertest.Options{}, withBuffer)
	c := newClient(t, s)
	_, t0 := register(t, c, "rot@example.com")

	// Inside the buffer after the sign-in: echoed, every time.
	for range 3 {
		_, got := wantValid(t, c.validate(t0))
		if got.Token != t0.Token || got.Client != t0.Client {
			t.Fatalf("inside the buffer: token %q, want the current one echoed", got.Token)
		}
	}

	time.Sleep(buffer + 100*time.Millisecond)
	_, t1 := wantValid(t, c.validate(t0))
	if t1.Token == t0.Token || t1.Client != t0.Client || t1.UID != t0.UID {
		t.Fatalf("after the buffer: %+v, want a new token for the same client", t1)
	}
	if t1.Expiry.Before(t0.Expiry) {
		t.Errorf("expiry went backwards on rotation: %s then %s", t0.Expiry, t1.Expiry)
	}
	// A racing request that still holds t0, inside the buffer: answered with t1, not t0, and
	// not a blank header.
	_, again := wantValid(t, c.validate(t0))
	if again.Token != t1.Token {
		t.Errorf("previous token inside the buffer answered %q, want the current token %q", again.Token, t1.Token)
	}
	// t1 is current and inside its buffer: echoed.
	_, echo := wantValid(t, c.validate(t1))
	if echo.Token != t1.Token {
		t.Errorf("current token inside the buffer answered %q, want it echoed", echo.Token)
	}

	time.Sleep(buffer + 100*time.Millisecond)
	// Outside the buffer the previous token is dead (devise keeps it forever: not here).
	wantError(t, c.validate(t0), http.StatusUnauthorized, msgInvalidToken)
	_, t2 := wantValid(t, c.validate(t1))
	if t2.Token == t1.Token {
		t.Error("the current token did not rotate after the buffer")
	}
	wantValid(t, c.validate(t2))
}

// The token lifespan is the session's idle window: unused for longer, the token dies; used,
// it slides.
func TestLifespanSlides(t *testing.T) {
	t.Parallel() // mostly waiting out the buffer and the lifespan
	const lifespan = 4 * time.Second
	s := start(t, servertest.Options{}, func(c *config.Config) {
		c.Protocols.DeviseToken.TokenLifespan = config.D(lifespan)
		c.Protocols.DeviseToken.BatchRequestBuffer = config.D(500 * time.Millisecond)
	})
	c := newClient(t, s)
	_, cr := register(t, c, "slide@example.com")
	if d := time.Until(cr.Expiry); d > lifespan+time.Second || d < 0 {
		t.Errorf("expiry is %s away, want about the %s lifespan", d, lifespan)
	}
	// Used every 1.5s for 4.5s: alive past its first expiry.
	for range 3 {
		time.Sleep(1500 * time.Millisecond)
		_, cr = wantValid(t, c.validate(cr))
	}
	time.Sleep(lifespan + 500*time.Millisecond)
	wantError(t, c.validate(cr), http.StatusUnauthorized, msgInvalidToken)
}

// 50 concurrent validate_token requests with one token all succeed, all answer a non-blank
// token, and every token answered validates afterwards: the rotation is one atomic step.
func TestConcurrentValidate(t *testing.T) {
	s := start(t, servertest.Options{}, withBuffer)
	c := newClient(t, s)
	_, cr := register(t, c, "race@example.com")
	// Past the buffer, so the burst races a real rotation rather than a string of echoes.
	time.Sleep(buffer + 100*time.Millisecond)

	const n = 50
	type result struct {
		status int
		body   string
		cr     creds
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	startLine := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-startLine
			req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.PublicURL+"/auth/validate_token", nil)
			if err != nil {
				t.Error(err)
				return
			}
			for _, h := range [][2]string{{"access-token", cr.Token}, {"client", cr.Client}, {"uid", cr.UID}} {
				req.Header.Set(h[0], h[1])
			}
			resp, err := c.hc.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			results[i] = result{status: resp.StatusCode, cr: creds{
				Token: resp.Header.Get("access-token"), Client: resp.Header.Get("client"), UID: resp.Header.Get("uid"),
			}}
		})
	}
	close(startLine)
	wg.Wait()

	tokens := map[string]int{}
	for i, r := range results {
		if r.status != http.StatusOK || r.cr.Token == "" || r.cr.Client != cr.Client || r.cr.UID != cr.UID {
			t.Errorf("request %d: %d with %+v, want 200 and the session's credentials", i, r.status, r.cr)
			continue
		}
		tokens[r.cr.Token]++
	}
	// One rotation happened; everyone holds its result.
	if len(tokens) != 1 {
		t.Errorf("the burst answered %d different tokens, want 1: %v", len(tokens), tokens)
	}
	if tokens[cr.Token] != 0 {
		t.Errorf("%d requests were answered with the token past its buffer", tokens[cr.Token])
	}
	for tok := range tokens {
		wantValid(t, c.validate(creds{Token: tok, Client: cr.Client, UID: cr.UID}))
	}
}

// A session of another dialect presented to validate_token is refused before anything about
// it changes. The attacker holds a victim's account cookie (a shared machine, a leaked log)
// and sends it to deviseToken with the session's id as client, hoping the rotation replaces
// the token under the victim: were it rotated and then refused, the victim's cookie would
// stop working one buffer later, a logout by a third party. The victim's session must go on.
func TestForeignSessionIsNotRotated(t *testing.T) {
	t.Parallel() // mostly waiting out the buffer
	s := start(t, servertest.Options{}, withBuffer)
	c := newClient(t, s)
	_, cr := register(t, c, "victim@example.com")
	r := c.post("/account/login", map[string]string{"login": "victim@example.com", "password": password})
	var cookie string
	for _, ck := range r.Cookies() {
		if ck.Name == "latch_session" {
			cookie = ck.Value
		}
	}
	if cookie == "" {
		t.Fatalf("account login set no cookie: %d %s", r.StatusCode, r.Body)
	}
	sid := strings.Split(cookie, ".")[1]

	// The attacker waits out the buffer since the login, so a rotation would not be an echo.
	time.Sleep(buffer + 100*time.Millisecond)
	wantError(t, c.validate(creds{Token: cookie, Client: sid, UID: cr.UID}), http.StatusUnauthorized, msgInvalidToken)

	// The victim, one buffer later, is still signed in with the cookie they hold.
	time.Sleep(buffer + 100*time.Millisecond)
	if r := c.get("/account/session", "Cookie", "latch_session="+cookie); r.StatusCode != http.StatusOK {
		t.Fatalf("the victim's account session after the attack: %d %s, want 200", r.StatusCode, r.Body)
	}
}
