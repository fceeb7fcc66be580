package reactauthtest

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/authserver/token"
)

// ClosePush is what every socket bound to a session receives when the session ends.
const ClosePush = `{"type":"fantaptik/react-auth/close","data":{"type":"fantaptik/react-auth/close"}}`

// The reactAuth socket request types.
const (
	SocketResume = "fantaptik/react-auth/socket/resume"
	Close        = "fantaptik/react-auth/close"
)

// replyTimeout bounds the wait for the reply to one socket request.
const replyTimeout = 10 * time.Second

// Enable is a servertest.Options.Config edit that enables the reactAuth dialect at its default
// prefix, which the socket helpers need. Compose it with other edits:
//
//	servertest.Start(t, servertest.Options{Config: func(c *config.Config) {
//		reactauthtest.Enable(c)
//		c.Protocols.KeyToken = &config.KeyToken{}
//	}})
func Enable(c *config.Config) {
	if c.Protocols.ReactAuth == nil {
		c.Protocols.ReactAuth = &config.ReactAuth{}
	}
}

// SocketURL returns the ws:// URL of the server's reactAuth socket.
func SocketURL(t testing.TB, s *servertest.Server) string {
	t.Helper()
	ra := s.Config.Protocols.ReactAuth
	if ra == nil {
		t.Fatal("reactauthtest: the server does not speak reactAuth; add reactauthtest.Enable to Options.Config")
	}
	return "ws" + strings.TrimPrefix(s.PublicURL, "http") + strings.TrimSuffix(ra.Prefix, "/") + "/socket"
}

// Socket is a client socket on a server's reactAuth dialect, speaking as the real
// client (@fantaptik/socket with the Id enveloper) does. One goroutine reads the socket into a
// queue, so a push that arrives while a request waits for its reply is kept for Next. Use a
// socket from one goroutine at a time; it is closed at cleanup.
type Socket struct {
	// URL is the socket's endpoint.
	URL string

	t    testing.TB
	ws   *websocket.Conn
	msgs chan Message
	// unread holds messages taken from msgs while looking for a reply.
	unread []Message
	// done is closed when the reader has stopped; err is why (a *websocket.CloseError for a
	// close frame).
	done chan struct{}
	err  error
}

// Message is one message the server sent, and when it arrived.
type Message struct {
	Data []byte
	At   time.Time
}

// Dial opens a socket on the server's reactAuth endpoint with the handshake headers header
// (nil: none, so no Origin). It fails the test if the handshake fails.
func Dial(t testing.TB, s *servertest.Server, header http.Header) *Socket {
	t.Helper()
	rs, resp, err := DialURL(t, SocketURL(t, s), header)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("reactauthtest: reactAuth socket handshake: %v (HTTP %d)", err, status)
	}
	return rs
}

// DialURL opens a socket at url and returns the handshake's error and response (for tests of
// refused handshakes) instead of failing the test.
func DialURL(t testing.TB, url string, header http.Header) (*Socket, *http.Response, error) {
	t.Helper()
	// A write buffer above the server's read limit sends any message a test writes in one
	// write: a server that refuses a message while the rest of it is still being written
	// would otherwise reset the connection under the writer.
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, WriteBufferSize: 16 << 10}
	ws, resp, err := d.Dial(url, header)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, resp, fmt.Errorf("dial %s: %w", url, err)
	}
	rs := &Socket{URL: url, t: t, ws: ws, msgs: make(chan Message, 64), done: make(chan struct{})}
	go rs.read()
	t.Cleanup(rs.Close)
	return rs, resp, nil
}

// Bind opens a socket on the server and binds it to the session of sessionToken (the
// composite `<userID>.<sessionID>.<secret>` token of any dialect) with socket/resume, failing
// the test unless the server replies success. The socket then receives the close push when
// the session ends on any replica: wait for it with WaitClose.
func Bind(t testing.TB, s *servertest.Server, sessionToken string) *Socket {
	t.Helper()
	rs := Dial(t, s, nil)
	if !rs.Resume(sessionToken) {
		t.Fatal("reactauthtest: socket/resume of a live session failed")
	}
	return rs
}

func (rs *Socket) read() {
	// done closes before msgs, so whoever sees msgs closed finds done closed and err set.
	defer close(rs.msgs)
	defer close(rs.done)
	for {
		typ, data, err := rs.ws.ReadMessage()
		if err != nil {
			rs.err = err
			return
		}
		if typ != websocket.TextMessage {
			rs.err = fmt.Errorf("reactauthtest: the server sent a non-text message (type %d)", typ)
			return
		}
		rs.msgs <- Message{Data: data, At: time.Now()}
	}
}

// WriteRaw sends data as one text message.
func (rs *Socket) WriteRaw(data []byte) {
	rs.t.Helper()
	rs.WriteRawType(websocket.TextMessage, data)
}

// WriteRawType sends data as one message of type typ (websocket.TextMessage, BinaryMessage).
func (rs *Socket) WriteRawType(typ int, data []byte) {
	rs.t.Helper()
	_ = rs.ws.SetWriteDeadline(time.Now().Add(replyTimeout))
	if err := rs.ws.WriteMessage(typ, data); err != nil {
		rs.t.Fatalf("reactauthtest: socket write: %v", err)
	}
}

// Request sends {type, session, user: {id: userID}} in the Id envelope, as the real client
// does, and returns the reply's success. It fails the test on a reply without success or on
// no reply.
func (rs *Socket) Request(typ, session, userID string) bool {
	rs.t.Helper()
	id := newUUID()
	msg, err := json.Marshal(map[string]any{
		"id":   id,
		"data": map[string]any{"type": typ, "session": session, "user": map[string]string{"id": userID}},
	})
	if err != nil {
		rs.t.Fatal(err)
	}
	rs.WriteRaw(msg)
	deadline := time.After(replyTimeout)
	for {
		var m Message
		var ok bool
		select {
		case m, ok = <-rs.msgs:
		case <-deadline:
			rs.t.Fatalf("reactauthtest: no reply to %s within %s", typ, replyTimeout)
		}
		if !ok {
			rs.t.Fatalf("reactauthtest: socket closed while waiting for the reply to %s: %v", typ, rs.err)
		}
		var reply struct {
			ID   string `json:"id"`
			Data struct {
				Success *bool `json:"success"`
			} `json:"data"`
		}
		if json.Unmarshal(m.Data, &reply) != nil || reply.ID != id {
			rs.unread = append(rs.unread, m) // a push, or a reply to someone else
			continue
		}
		if reply.Data.Success == nil {
			rs.t.Fatalf("reactauthtest: reply %s has no data.success", m.Data)
		}
		return *reply.Data.Success
	}
}

// Resume sends socket/resume for sessionToken, with the user ID the token names, and returns
// the reply's success.
func (rs *Socket) Resume(sessionToken string) bool {
	rs.t.Helper()
	return rs.Request(SocketResume, sessionToken, tokenUser(sessionToken))
}

// End sends close for sessionToken (the client's logout) and returns the reply's success.
func (rs *Socket) End(sessionToken string) bool {
	rs.t.Helper()
	return rs.Request(Close, sessionToken, tokenUser(sessionToken))
}

// tokenUser returns the user ID of a composite session token, or "" if it does not parse.
func tokenUser(sessionToken string) string {
	tok, err := token.ParseSessionToken(sessionToken)
	if err != nil {
		return ""
	}
	return tok.UserID
}

// Next returns the next message the server sent, waiting up to within; ok is false if none
// came (the socket closed, or the time ran out).
func (rs *Socket) Next(within time.Duration) (m Message, ok bool) {
	if len(rs.unread) > 0 {
		m, rs.unread = rs.unread[0], rs.unread[1:]
		return m, true
	}
	timer := time.NewTimer(within)
	defer timer.Stop()
	select {
	case m, ok = <-rs.msgs:
		return m, ok
	case <-timer.C:
		return Message{}, false
	}
}

// WaitClose waits up to within for the close push and returns when it arrived. It fails the
// test if anything else arrives first, or nothing in time.
func (rs *Socket) WaitClose(within time.Duration) time.Time {
	rs.t.Helper()
	m, ok := rs.Next(within)
	switch {
	case !ok && rs.closed():
		rs.t.Fatalf("reactauthtest: the socket closed (%v) instead of receiving the close push", rs.err)
	case !ok:
		rs.t.Fatalf("reactauthtest: no close push within %s", within)
	case string(m.Data) != ClosePush:
		rs.t.Fatalf("reactauthtest: got %s, want the close push %s", m.Data, ClosePush)
	}
	return m.At
}

// ExpectSilence fails the test if the server sends anything within d.
func (rs *Socket) ExpectSilence(d time.Duration) {
	rs.t.Helper()
	if m, ok := rs.Next(d); ok {
		rs.t.Fatalf("reactauthtest: expected nothing, got %s", m.Data)
	}
}

// WaitDisconnect waits up to within for the server to end the socket and returns the close
// code it sent (websocket.CloseAbnormalClosure, 1006, when it sent none). Messages that
// arrive first fail the test: a socket the server closes must not have been told its session
// ended.
func (rs *Socket) WaitDisconnect(within time.Duration) int {
	rs.t.Helper()
	m, ok := rs.Next(within)
	switch {
	case ok:
		rs.t.Fatalf("reactauthtest: got %s, want the socket closed", m.Data)
	case !rs.closed():
		rs.t.Fatalf("reactauthtest: the socket is still open after %s", within)
	}
	if ce := (*websocket.CloseError)(nil); errors.As(rs.err, &ce) {
		return ce.Code
	}
	return websocket.CloseAbnormalClosure
}

func (rs *Socket) closed() bool {
	select {
	case <-rs.done:
		return true
	default:
		return false
	}
}

// Close sends a normal close and closes the connection. It is idempotent.
func (rs *Socket) Close() {
	if rs.closed() {
		_ = rs.ws.Close()
		return
	}
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	_ = rs.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	_ = rs.ws.Close()
	<-rs.done
}

// newUUID returns a random version 4 UUID, as the client's Id enveloper makes.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
