package reactauth_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/dialect/reactauth/reactauthtest"
)

// Both message forms, and a reply to every request, in order, in the request's own form:
// malformed ones too, bare when no id can be recovered.
func TestSocketMessages(t *testing.T) {
	s := start(t, nil)
	a := register(t, s, "hopper@example.com")
	tok := login(t, s, a)
	loggedOut := login(t, s, a)
	logoutAccount(t, s, loggedOut)
	forged := tok[:len(tok)-4] + "AAAA"
	if forged == tok {
		forged = tok[:len(tok)-4] + "BBBB"
	}
	other := register(t, s, "other@example.com")

	req := func(typ, session, userID string) string {
		b, err := json.Marshal(map[string]any{"type": typ, "session": session, "user": map[string]string{"id": userID}})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	env := func(id, data string) string { return `{"id":` + id + `,"data":` + data + `}` }
	const (
		resume  = "fantaptik/react-auth/socket/resume"
		closeT  = "fantaptik/react-auth/close"
		okEnv   = `{"id":"4f1c9a52-0a4e-4bd5-9d8e-2f6f0a4f0c11","data":{"success":true}}`
		uuid    = `"4f1c9a52-0a4e-4bd5-9d8e-2f6f0a4f0c11"`
		failEnv = `{"id":"4f1c9a52-0a4e-4bd5-9d8e-2f6f0a4f0c11","data":{"success":false}}`
		okBare  = `{"success":true}`
		fail    = `{"success":false}`
	)
	cases := []struct{ name, send, want string }{
		{"enveloped resume", env(uuid, req(resume, tok, a.id)), okEnv},
		{"bare resume", req(resume, tok, a.id), okBare},
		{"numeric id", env("42", req(resume, tok, a.id)), `{"id":42,"data":{"success":true}}`},
		{"escaped id comes back in one meaning", env(`"\u003cx\u003e"`, req(resume, tok, a.id)), `{"id":"\u003cx\u003e","data":{"success":true}}`},
		{"extra fields ignored", `{"id":` + uuid + `,"elevated":1,"data":{"type":"` + resume + `","session":"` + tok + `","user":{"id":"` + a.id + `","login":"x","role":""},"x":[]}}`, okEnv},

		{"wrong user id", env(uuid, req(resume, tok, other.id)), failEnv},
		{"no user", env(uuid, `{"type":"`+resume+`","session":"`+tok+`"}`), failEnv},
		{"user not an object", env(uuid, `{"type":"`+resume+`","session":"`+tok+`","user":"`+a.id+`"}`), failEnv},
		{"user id not a string", env(uuid, `{"type":"`+resume+`","session":"`+tok+`","user":{"id":7}}`), failEnv},
		{"malformed session", env(uuid, req(resume, "not-a-token", a.id)), failEnv},
		{"empty session", env(uuid, req(resume, "", a.id)), failEnv},
		{"forged secret", env(uuid, req(resume, forged, a.id)), failEnv},
		{"logged-out session", env(uuid, req(resume, loggedOut, a.id)), failEnv},
		{"unknown type", env(uuid, req("fantaptik/react-auth/what", tok, a.id)), failEnv},
		{"HTTP type on the socket", env(uuid, req("fantaptik/react-auth/resume", tok, a.id)), failEnv},
		{"no type", env(uuid, `{"session":"`+tok+`"}`), failEnv},
		{"type not a string", env(uuid, `{"type":1}`), failEnv},
		{"data not an object", env(uuid, `"x"`), failEnv},
		{"no data", `{"id":` + uuid + `}`, failEnv},
		{"close with a malformed session", env(uuid, req(closeT, "x", a.id)), failEnv},
		{"close with another user's id", env(uuid, req(closeT, tok, other.id)), failEnv},
		{"bare unknown type", req("nope", tok, a.id), fail},
		{"bare wrong user", req(resume, tok, other.id), fail},
		{"bare type not a string", `{"type":["x"]}`, fail},

		{"not JSON", `hello`, fail},
		{"truncated JSON", `{"id":` + uuid + `,"data":{`, fail},
		{"JSON array", `[` + env(uuid, req(resume, tok, a.id)) + `]`, fail},
		{"JSON string", `"x"`, fail},
		{"id of another type", env(`{"x":1}`, req(resume, tok, a.id)), fail},
		{"id true", env(`true`, req(resume, tok, a.id)), fail},
		{"id too long", env(`"`+strings.Repeat("i", 200)+`"`, req(resume, tok, a.id)), fail},
		{"null id is the bare form", env(`null`, req(resume, tok, a.id)), fail},
		{"two objects", okBare + okBare, fail},
		{"not UTF-8", "{\"type\":\"\xff\"}", fail},
		{"empty message", ``, fail},
	}
	sock := reactauthtest.Dial(t, s, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sock.WriteRaw([]byte(tc.send))
			m, ok := sock.Next(5 * time.Second)
			if !ok {
				t.Fatalf("no reply to %s", tc.send)
			}
			if string(m.Data) != tc.want {
				t.Errorf("sent %s\n got %s\nwant %s", tc.send, m.Data, tc.want)
			}
		})
	}

	t.Run("pipelined requests get their replies in order", func(t *testing.T) {
		p := reactauthtest.Dial(t, s, nil)
		for _, tc := range cases {
			p.WriteRaw([]byte(tc.send))
		}
		for _, tc := range cases {
			m, ok := p.Next(5 * time.Second)
			if !ok {
				t.Fatalf("no reply to %s", tc.name)
			}
			if string(m.Data) != tc.want {
				t.Errorf("%s: got %s, want %s", tc.name, m.Data, tc.want)
			}
		}
	})

	t.Run("a failed resume unbinds", func(t *testing.T) {
		// Both sockets above ended on failed resumes: neither is bound.
		waitMetric(t, s, "latch_socket_bound_connections", 0, 5*time.Second)
		u := reactauthtest.Dial(t, s, nil)
		if !u.Resume(tok) {
			t.Fatal("resume failed")
		}
		waitMetric(t, s, "latch_socket_bound_connections", 1, 5*time.Second)
		// The client goes to guest on a failed resume; the socket must stop watching tok.
		if u.Resume(forged) {
			t.Fatal("resume with a forged token succeeded")
		}
		waitMetric(t, s, "latch_socket_bound_connections", 0, 5*time.Second)
		logoutAccount(t, s, tok)
		u.ExpectSilence(silence)
	})

	t.Run("binary and oversize messages close the socket", func(t *testing.T) {
		b := reactauthtest.Dial(t, s, nil)
		b.WriteRawType(websocket.BinaryMessage, []byte(req(resume, tok, a.id)))
		if code := b.WaitDisconnect(5 * time.Second); code != websocket.CloseUnsupportedData {
			t.Errorf("binary message: close code %d, want %d", code, websocket.CloseUnsupportedData)
		}
		big := reactauthtest.Dial(t, s, nil)
		big.WriteRaw([]byte(env(uuid, `{"type":"`+resume+`","pad":"`+strings.Repeat("x", 5<<10)+`"}`)))
		if code := big.WaitDisconnect(5 * time.Second); code != websocket.CloseMessageTooBig {
			t.Errorf("oversize message: close code %d, want %d", code, websocket.CloseMessageTooBig)
		}
	})
}

// The handshake's Origin: one of the realm's allowed origins, the server's own origin, or none
// (not a browser) are accepted; any other Origin is refused with 403 before the upgrade.
func TestSocketOrigin(t *testing.T) {
	s := start(t, nil)
	for _, o := range []string{"https://evil.example", "null", "https://app.test.example.evil.example", "http://app.test.example"} {
		_, resp, err := reactauthtest.DialURL(t, socketURL(t, s), origin(o))
		if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusForbidden {
			status := 0
			if resp != nil {
				status = resp.StatusCode
			}
			t.Errorf("Origin %s: err %v, HTTP %d, want refused with 403", o, err, status)
		}
	}
	for name, h := range map[string]http.Header{
		"allowed origin": origin(appOrigin),
		"own origin":     origin(s.PublicURL),
		"no origin":      nil,
	} {
		if _, _, err := reactauthtest.DialURL(t, socketURL(t, s), h); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A plain GET is not a handshake: 400 in the dialect's shape.
	wantFailure(t, do(t, http.MethodGet, s.PublicURL+"/react-auth/socket", ""), http.StatusBadRequest)
}

// close ends the session as a logout: one revocation published, success replied, and every
// socket bound to the session (the sender included, before its reply) gets the close push. A
// second close of the same session succeeds and publishes nothing.
func TestSocketCloseEndsSession(t *testing.T) {
	s := start(t, nil)
	a := register(t, s, "close@example.com")
	tok, bystander := login(t, s, a), login(t, s, a)

	rdb := redis.NewClient(&redis.Options{Addr: s.Redis.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	sub := rdb.Subscribe(t.Context(), "latch:test:revocations")
	t.Cleanup(func() { _ = sub.Close() })
	if _, err := sub.Receive(t.Context()); err != nil {
		t.Fatal(err)
	}
	events := sub.Channel()

	tab1, tab2 := reactauthtest.Bind(t, s, tok), reactauthtest.Bind(t, s, tok)
	other := reactauthtest.Bind(t, s, bystander)
	// The requesting socket has the push before the reply: the real client stops its socket
	// on the reply.
	tab1.WriteRaw(closeRequest(tok))
	for _, want := range []string{reactauthtest.ClosePush, closeSuccess} {
		if m, ok := tab1.Next(crossReplicaBudget); !ok || string(m.Data) != want {
			t.Fatalf("the requesting socket got %s (%v), want %s: the close push, then the reply", m.Data, ok, want)
		}
	}
	tab2.WaitClose(crossReplicaBudget)
	other.ExpectSilence(silence)

	select {
	case m := <-events:
		var ev struct{ U, S, R string }
		if err := json.Unmarshal([]byte(m.Payload), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.U != a.id || !strings.Contains(tok, "."+ev.S+".") || ev.R != "logout" {
			t.Errorf("revocation %s, want user %s, the session, reason logout", m.Payload, a.id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no revocation published")
	}
	wantFailure(t, resumeHTTP(t, s, tok), http.StatusOK)
	if accountSessionLive(t, s, tok) {
		t.Error("the account dialect still accepts the ended session")
	}
	if tab2.Resume(tok) {
		t.Error("socket resume of the ended session succeeded")
	}

	// Ending it again is a success that ends nothing and publishes nothing.
	if !tab2.End(tok) {
		t.Error("close of an ended session replied failure")
	}
	select {
	case m := <-events:
		t.Errorf("a second revocation was published: %s", m.Payload)
	case <-time.After(silence):
	}
	wantSuccess(t, resumeHTTP(t, s, bystander))
}

// The server's read and write timeouts (here 1 s) do not reach the socket: an idle socket
// outlives them, answers, and still gets its close push.
func TestSocketOutlivesHTTPTimeouts(t *testing.T) {
	s := start(t, func(c *config.Config) {
		c.Listen.ReadTimeout = config.D(time.Second)
		c.Listen.WriteTimeout = config.D(time.Second)
		c.Listen.ReadHeaderTimeout = config.D(time.Second)
	})
	a := register(t, s, "idle@example.com")
	tok := login(t, s, a)
	sock := reactauthtest.Dial(t, s, nil)
	time.Sleep(2500 * time.Millisecond)
	if !sock.Resume(tok) {
		t.Fatal("resume after an idle spell failed")
	}
	time.Sleep(2500 * time.Millisecond)
	logoutAccount(t, s, tok)
	sock.WaitClose(crossReplicaBudget)
}

// A resume costs one store round trip, so the burst of resumes after a restart stays cheap.
func TestResumeIsOneRoundTrip(t *testing.T) {
	s := start(t, nil)
	a := register(t, s, "rt@example.com")
	tok := login(t, s, a)
	const n = 10
	socks := make([]*reactauthtest.Socket, n)
	for i := range socks {
		socks[i] = reactauthtest.Dial(t, s, nil)
	}
	waitMetric(t, s, "latch_socket_revocations_subscribed", 1, 10*time.Second)
	before := s.Metric(t, "latch_store_round_trips_total", nil)
	for _, sock := range socks {
		if !sock.Resume(tok) {
			t.Fatal("resume failed")
		}
	}
	if got := s.Metric(t, "latch_store_round_trips_total", nil) - before; got != n {
		t.Errorf("%d resumes took %v round trips, want %d", n, got, n)
	}
	before = s.Metric(t, "latch_store_round_trips_total", nil)
	if socks[0].Resume(tok[:len(tok)-1]) {
		t.Fatal("resume with a malformed token succeeded")
	}
	if got := s.Metric(t, "latch_store_round_trips_total", nil) - before; got != 0 {
		t.Errorf("a malformed token cost %v round trips, want 0", got)
	}
}

// A session that expires (here: idle for 2 s) closes its sockets, without any request: the
// hub's timer for the session asks the store once at the deadline.
func TestExpiryPushesClose(t *testing.T) {
	s := start(t, func(c *config.Config) { c.Sessions.IdleTimeout = config.D(2 * time.Second) })
	a := register(t, s, "expiry@example.com")
	tok := login(t, s, a)
	sock := reactauthtest.Bind(t, s, tok)
	bound := time.Now()
	at := sock.WaitClose(5 * time.Second)
	if d := at.Sub(bound); d < 1500*time.Millisecond {
		t.Errorf("close pushed %s after the resume, before the idle timeout", d)
	}
	wantFailure(t, resumeHTTP(t, s, tok), http.StatusOK)
	if n := s.Metric(t, "latch_socket_expiry_checks_total", nil); n < 1 {
		t.Errorf("latch_socket_expiry_checks_total = %v, want at least 1", n)
	}
}
