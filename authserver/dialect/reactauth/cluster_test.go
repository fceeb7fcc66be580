package reactauth_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/dialect/reactauth/reactauthtest"
	"github.com/latchauth/latch/authserver/servertest"
)

// replicas starts two latch processes on one Redis, with one config: replicas A and B.
func replicas(t *testing.T) (a, b *servertest.Server) {
	t.Helper()
	a = start(t, nil)
	return a, a.Sibling(t)
}

var users atomic.Int64

// newUser registers a fresh user on s.
func newUser(t testing.TB, s *servertest.Server) account {
	t.Helper()
	return register(t, s, fmt.Sprintf("user%d@example.com", users.Add(1)))
}

// sessionEnd is one way of ending a session on a replica, through one dialect. Add a row for
// every way a dialect can end a session: the socket on the other replica must hear of it.
type sessionEnd struct {
	name string
	// open creates a session of a on s, through the dialect, and returns its composite session
	// token and a function that ends it on s, through the dialect.
	open func(t *testing.T, s *servertest.Server, a account) (tok string, end func())
}

var sessionEnds = []sessionEnd{
	{"reactAuth close", func(t *testing.T, s *servertest.Server, a account) (string, func()) {
		tok := login(t, s, a)
		return tok, func() {
			if !reactauthtest.Dial(t, s, nil).End(tok) {
				t.Fatal("close replied failure")
			}
		}
	}},
	{"account logout", func(t *testing.T, s *servertest.Server, a account) (string, func()) {
		r := do(t, http.MethodPost, s.PublicURL+"/account/login", jsonBody(t, map[string]string{"login": a.login, "password": password}),
			"Content-Type", "application/json")
		c := r.cookie("latch_session")
		if r.status != http.StatusOK || c == nil {
			t.Fatalf("account login: %d %s", r.status, r.body)
		}
		return c.Value, func() { logoutAccount(t, s, c.Value) }
	}},
	{"account password reset (revoke-all)", func(t *testing.T, s *servertest.Server, a account) (string, func()) {
		return login(t, s, a), func() { resetPassword(t, s, a, "a brand new password") }
	}},
	{"deviseToken sign_out", func(t *testing.T, s *servertest.Server, a account) (string, func()) {
		creds := deviseSignIn(t, s, a)
		return creds[1], func() {
			if r := do(t, http.MethodDelete, s.PublicURL+"/auth/sign_out", "", creds...); r.status != http.StatusOK {
				t.Fatalf("sign_out: %d %s", r.status, r.body)
			}
		}
	}},
	{"deviseToken password change (other sessions end)", func(t *testing.T, s *servertest.Server, a account) (string, func()) {
		creds := deviseSignIn(t, s, a)
		return login(t, s, a), func() {
			body := jsonBody(t, map[string]string{"password": "a changed password", "password_confirmation": "a changed password", "current_password": password})
			if r := do(t, http.MethodPut, s.PublicURL+"/auth/password", body, append(creds, "Content-Type", "application/json")...); r.status != http.StatusOK {
				t.Fatalf("password change: %d %s", r.status, r.body)
			}
		}
	}},
	{"bearerToken revoke", func(t *testing.T, s *servertest.Server, a account) (string, func()) {
		r := do(t, http.MethodPost, s.PublicURL+"/api/auth", jsonBody(t, map[string]string{"login": a.login, "password": password}),
			"Content-Type", "application/json")
		var out struct{ Content struct{ Token string } }
		if err := json.Unmarshal(r.body, &out); r.status != http.StatusOK || err != nil {
			t.Fatalf("bearerToken auth: %d %s", r.status, r.body)
		}
		tok := out.Content.Token
		return tok, func() {
			if r := do(t, http.MethodDelete, s.PublicURL+"/api/auth", "", "Authorization", "Bearer "+tok); r.status != http.StatusOK {
				t.Fatalf("bearerToken revoke: %d %s", r.status, r.body)
			}
		}
	}},
	{"keyToken logout", func(t *testing.T, s *servertest.Server, a account) (string, func()) {
		r := do(t, http.MethodPost, s.PublicURL+"/users/token", jsonBody(t, map[string]string{"client": "web", "email": a.login, "password": password}),
			"Content-Type", "application/json")
		var out struct{ Key, Token string }
		if err := json.Unmarshal(r.body, &out); r.status != http.StatusOK || err != nil {
			t.Fatalf("keyToken token: %d %s", r.status, r.body)
		}
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(out.Key+":"+out.Token))
		return out.Key + "." + out.Token, func() {
			r := do(t, http.MethodDelete, s.PublicURL+"/users/token", jsonBody(t, map[string]string{"client": "web"}),
				"Authorization", basic, "Content-Type", "application/json")
			if r.status != http.StatusNoContent {
				t.Fatalf("keyToken logout: %d %s", r.status, r.body)
			}
		}
	}},
}

// deviseSignIn signs a in through deviseToken and returns its credential headers, as name,
// value pairs (access-token, the composite session token, first).
func deviseSignIn(t *testing.T, s *servertest.Server, a account) []string {
	t.Helper()
	r := do(t, http.MethodPost, s.PublicURL+"/auth/sign_in", jsonBody(t, map[string]string{"email": a.login, "password": password}),
		"Content-Type", "application/json")
	if r.status != http.StatusOK {
		t.Fatalf("deviseToken sign_in: %d %s", r.status, r.body)
	}
	return []string{"access-token", r.header.Get("access-token"), "client", r.header.Get("client"), "uid", r.header.Get("uid")}
}

func jsonBody(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A socket bound on replica A receives close within a second when its session is ended on
// replica B, through each dialect; a socket of another session receives nothing.
func TestSessionEndReachesOtherReplica(t *testing.T) {
	a := start(t, func(c *config.Config) {
		c.Protocols.DeviseToken = &config.DeviseToken{}
		c.Protocols.BearerToken = &config.BearerToken{}
		c.Protocols.KeyToken = &config.KeyToken{}
	})
	b := a.Sibling(t)
	bystander := reactauthtest.Bind(t, a, login(t, a, newUser(t, a)))
	for _, tc := range sessionEnds {
		t.Run(tc.name, func(t *testing.T) {
			u := newUser(t, b)
			tok, end := tc.open(t, b, u)
			onA := reactauthtest.Bind(t, a, tok)
			began := time.Now()
			end()
			at := onA.WaitClose(crossReplicaBudget)
			t.Logf("ended on B, close on A after %s", at.Sub(began).Round(time.Microsecond))
			bystander.ExpectSilence(silence)
			if reactauthtest.Dial(t, a, nil).Resume(tok) {
				t.Error("the ended session still resumes on A")
			}
		})
	}
}

// Many tabs of one session, on both replicas, all receive the close; the sockets of the
// user's other session, on both replicas, receive nothing, until a password reset ends every
// session of the user and closes them too.
func TestTabs(t *testing.T) {
	a, b := replicas(t)
	u := newUser(t, a)
	tok, other := login(t, a, u), login(t, b, u)
	var tabs, others []*reactauthtest.Socket
	for i := range 8 {
		s := a
		if i%2 == 1 {
			s = b
		}
		tabs = append(tabs, reactauthtest.Bind(t, s, tok))
		if i < 4 {
			others = append(others, reactauthtest.Bind(t, s, other))
		}
	}
	unbound := reactauthtest.Dial(t, a, nil)

	logoutAccount(t, b, tok)
	for _, tab := range tabs {
		tab.WaitClose(crossReplicaBudget)
	}
	for _, o := range append(others, unbound) {
		o.ExpectSilence(silence)
	}

	resetPassword(t, a, u, "another new password")
	for _, o := range others {
		o.WaitClose(crossReplicaBudget)
	}
	unbound.ExpectSilence(silence)
	for _, s := range []*servertest.Server{a, b} {
		waitMetric(t, s, "latch_socket_bound_connections", 0, 5*time.Second)
	}
	// The sockets stay open and unbound: the next login's resume can use them.
	fresh, _ := wantSuccess(t, postForm(t, b, qsStringify("type", "fantaptik/react-auth/authenticate", "username", u.login, "password", "another new password")))
	if !tabs[0].Resume(fresh) {
		t.Error("a socket that got the close push cannot resume the next session")
	}
}

// A killed pub/sub connection is recovered: the replica subscribes again, and a session
// ended while it was not listening still closes its sockets (the resync after the gap finds
// it ended, if the event itself was lost).
func TestPubSubKillRecovered(t *testing.T) {
	a, b := replicas(t)
	u := newUser(t, a)
	tok := login(t, a, u)
	onA := reactauthtest.Bind(t, a, tok)
	waitMetric(t, a, "latch_socket_revocations_subscribed", 1, 10*time.Second)
	resyncs := a.Metric(t, "latch_socket_resyncs_total", nil)

	admin := redis.NewClient(&redis.Options{Addr: a.Redis.Addr})
	t.Cleanup(func() { _ = admin.Close() })
	killed, err := admin.ClientKillByFilter(t.Context(), "TYPE", "pubsub").Result()
	if err != nil {
		t.Fatal(err)
	}
	if killed < 2 {
		t.Fatalf("CLIENT KILL TYPE pubsub killed %d connections, want both replicas'", killed)
	}
	// At once, while A's subscription is down.
	began := time.Now()
	logoutAccount(t, b, tok)
	at := onA.WaitClose(10 * time.Second)
	t.Logf("close after the pub/sub kill: %s", at.Sub(began).Round(time.Millisecond))

	// The subscription is back and a resync ran after the gap.
	waitMetric(t, a, "latch_socket_revocations_subscribed", 1, 10*time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for a.Metric(t, "latch_socket_resyncs_total", nil) <= resyncs {
		if time.Now().After(deadline) {
			t.Fatal("no resync after the pub/sub kill")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// And the feed works again: an ordinary end still arrives within the budget.
	tok2 := login(t, b, u)
	onA2 := reactauthtest.Bind(t, a, tok2)
	logoutAccount(t, b, tok2)
	onA2.WaitClose(crossReplicaBudget)
}

// A rolling restart of a replica ends nothing and pushes no close: its sockets are closed with
// 1001 (going away), the session stays live, and the next process resumes it, over HTTP and
// on the socket, and still pushes its close when it ends.
func TestRollingRestart(t *testing.T) {
	a, b := replicas(t)
	u := newUser(t, a)
	tok := login(t, a, u)
	onA, onB := reactauthtest.Bind(t, a, tok), reactauthtest.Bind(t, b, tok)
	closesBefore := b.Metric(t, "latch_socket_close_pushes_total", nil)
	rdb := redis.NewClient(&redis.Options{Addr: a.Redis.Addr})
	t.Cleanup(func() { _ = rdb.Close() })
	sub := rdb.Subscribe(t.Context(), "latch:test:revocations")
	t.Cleanup(func() { _ = sub.Close() })
	if _, err := sub.Receive(t.Context()); err != nil {
		t.Fatal(err)
	}
	revocations := sub.Channel()

	a.Signal(syscall.SIGTERM)
	if code := onA.WaitDisconnect(10 * time.Second); code != websocket.CloseGoingAway {
		t.Errorf("socket on the stopping replica closed with %d, want %d (going away)", code, websocket.CloseGoingAway)
	}
	if err := a.Wait(20 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	onB.ExpectSilence(silence)
	select {
	case m := <-revocations:
		t.Errorf("the shutdown published a revocation: %s", m.Payload)
	default:
	}
	if n := b.Metric(t, "latch_socket_close_pushes_total", nil); n != closesBefore {
		t.Errorf("the other replica pushed %v closes during the restart", n-closesBefore)
	}

	next := a.Sibling(t)
	wantSuccess(t, resumeHTTP(t, next, tok))
	again := reactauthtest.Bind(t, next, tok)
	if !again.End(tok) {
		t.Fatal("close on the new process failed")
	}
	again.WaitClose(crossReplicaBudget)
	onB.WaitClose(crossReplicaBudget)
	wantFailure(t, resumeHTTP(t, b, tok), http.StatusOK)
}
