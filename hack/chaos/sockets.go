package main

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/latchauth/latch/authserver/dialect/reactauth"
)

// wsConn is a reactAuth socket as the real client (@fantaptik/socket, Id enveloper) speaks
// it: requests with an id, replies with the same id, and the close push.
type wsConn struct {
	ws      *websocket.Conn
	replies chan wsReply
	push    chan time.Time
	done    chan struct{}
}

type wsReply struct {
	id      string
	success bool
}

func socketURL(public string) string {
	return "ws" + strings.TrimPrefix(public, "http") + "/react-auth/socket"
}

func dialWS(ctx context.Context, url string) (*wsConn, error) {
	d := websocket.Dialer{HandshakeTimeout: 3 * time.Second}
	ws, resp, err := d.DialContext(ctx, url, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	w := &wsConn{ws: ws, replies: make(chan wsReply, 4), push: make(chan time.Time, 1), done: make(chan struct{})}
	go w.read()
	return w, nil
}

func (w *wsConn) read() {
	defer close(w.done)
	for {
		_, data, err := w.ws.ReadMessage()
		if err != nil {
			return
		}
		if string(data) == reactauth.ClosePush {
			select {
			case w.push <- time.Now():
			default:
			}
			continue
		}
		var m struct {
			ID   string `json:"id"`
			Data struct {
				Success bool `json:"success"`
			} `json:"data"`
		}
		if json.Unmarshal(data, &m) == nil && m.ID != "" {
			select {
			case w.replies <- wsReply{id: m.ID, success: m.Data.Success}:
			default:
			}
		}
	}
}

// resume binds the socket to the session: socket/resume {session, user}.
func (w *wsConn) resume(tok string) (bool, error) {
	id := newID()
	msg, _ := json.Marshal(map[string]any{"id": id, "data": map[string]any{
		"type": "fantaptik/react-auth/socket/resume", "session": tok, "user": map[string]string{"id": userOfToken(tok)},
	}})
	_ = w.ws.SetWriteDeadline(time.Now().Add(3 * time.Second))
	if err := w.ws.WriteMessage(websocket.TextMessage, msg); err != nil {
		return false, err
	}
	timeout := time.After(3 * time.Second)
	for {
		select {
		case r := <-w.replies:
			if r.id == id {
				return r.success, nil
			}
		case <-w.done:
			return false, fmt.Errorf("socket closed before the reply")
		case <-timeout:
			return false, fmt.Errorf("no reply to socket/resume")
		}
	}
}

func (w *wsConn) close() {
	_ = w.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(200*time.Millisecond))
	_ = w.ws.Close()
	<-w.done
}

func newID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// keeper holds one session's socket as the real client does: bound with socket/resume, and
// on a dropped connection reconnected a second later and resumed again, until the close
// push comes or a resume is refused after the session ended (which is how the client learns
// of the end when the push was lost with its connection).
type keeper struct {
	e      *env
	tok    string
	slot   int
	ended  atomic.Bool
	bound  chan bool // the first bind's result
	closed chan closeSeen
	stop   chan struct{}
}

type closeSeen struct {
	at        time.Time
	viaResume bool
}

func (k *keeper) run() {
	first := true
	bind := func(ok bool) {
		if first {
			first = false
			k.bound <- ok
		}
	}
	for {
		slot := k.slot
		r := k.e.reps.get(slot)
		if r.killed.Load() {
			slot, r = k.e.reps.other(slot)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		w, err := dialWS(ctx, socketURL(r.public()))
		cancel()
		var ok bool
		if err == nil {
			ok, err = w.resume(k.tok)
			k.e.recordSocket(ok, err, slot, r, k.ended.Load())
		}
		switch {
		case err != nil:
			bind(false)
		case !ok && k.ended.Load():
			w.close()
			k.closed <- closeSeen{at: time.Now(), viaResume: true}
			return
		case !ok:
			bind(false)
		default:
			bind(true)
			select {
			case at := <-w.push:
				w.close()
				k.closed <- closeSeen{at: at}
				return
			case <-w.done:
				// Dropped: reconnect below.
			case <-k.stop:
				w.close()
				return
			}
		}
		if w != nil && err == nil {
			w.close()
		}
		select {
		case <-k.stop:
			return
		case <-time.After(time.Second):
		}
	}
}

// recordSocket counts a socket/resume: for an ended session a success is a revoked session
// accepted.
func (e *env) recordSocket(ok bool, err error, slot int, r *replica, ended bool) {
	o := oOK
	switch {
	case err != nil:
		o = oTransport
	case !ok:
		o = oRefused
	}
	refused := kUnexpected401
	if ended {
		refused = kExpected401
	}
	e.record(o, opSocket, slot, r, dReactAuth, refused)
	if ended && o == oOK {
		e.rec.event(event{at: time.Now(), kind: kRevokedAccepted, op: opSocket, replica: int8(slot), d: dReactAuth})
		e.rec.violation(violation{d: dReactAuth, acceptedAt: time.Now(), replica: slot})
	}
}

// socketWorker loops: sign in (account dialect) on one replica, bind a socket on the other,
// hold it a while, log the session out on a replica other than the socket's, and time the
// close push. Sessions held across the fault are logged out during or after it.
func (e *env) socketWorker(ctx, stopNew context.Context, login string, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	for stopNew.Err() == nil {
		slot, r := e.reps.pick(rng)
		c, o, _ := e.api.login(ctx, r.public(), dAccount, login)
		loggedIn := time.Now()
		e.record(o, opLogin, slot, r, dAccount, kUnexpected401)
		if o != oOK {
			sleepCtx(stopNew, 200*time.Millisecond)
			continue
		}
		sslot, _ := e.reps.other(slot)
		k := &keeper{e: e, tok: c.token, slot: sslot, bound: make(chan bool, 1), closed: make(chan closeSeen, 1), stop: make(chan struct{})}
		go k.run()
		var bound bool
		select {
		case bound = <-k.bound:
		case <-time.After(10 * time.Second):
		}
		boundAt := time.Now()
		if !bound {
			e.rec.addBindFailure()
		} else {
			hold := e.o.socketHold/4 + time.Duration(rng.Int64N(int64(e.o.socketHold)))
			sleepCtx(stopNew, hold)
		}
		// Logged out elsewhere: until the logout is answered, retried as a user would.
		var endedAt, triedAt time.Time
		loggedOutAt := -1
		for ctx.Err() == nil {
			lslot, lr := e.reps.other(k.slot)
			at := time.Now()
			o, _ := e.api.logout(ctx, lr.public(), c)
			if o == oRefused && !triedAt.IsZero() {
				// An earlier try went unanswered (a 5xx: a fenced logout the master took
				// but could not confirm, or a timeout) and ended the session after all: the
				// 401 is the retry's, not a live session refused. It ended by that try.
				e.record(o, opLogout, lslot, lr, dAccount, kUncertain401)
				endedAt, loggedOutAt = triedAt, lslot
				break
			}
			e.record(o, opLogout, lslot, lr, dAccount, kUnexpected401)
			if o == oOK {
				endedAt, loggedOutAt = time.Now(), lslot
				break
			}
			if o == oRefused {
				// Refused at the first try: the session was gone, a loss like the
				// workload's (inside the fault's window or not).
				e.rec.loss(loss{d: dAccount, lastWrite: loggedIn, created: loggedIn, at: at, who: c.who(), replica: lslot})
				break
			}
			triedAt = at
			sleepCtx(ctx, 200*time.Millisecond)
		}
		if endedAt.IsZero() {
			close(k.stop)
			return
		}
		k.ended.Store(true)
		e.ended.add(c, endedAt)
		if !bound {
			close(k.stop)
			continue
		}
		se := socketEnd{boundAt: boundAt, endedAt: endedAt, who: c.who(), replica: k.slot, loggedOutAt: loggedOutAt}
		select {
		case cs := <-k.closed:
			se.closeAt, se.viaResume = cs.at, cs.viaResume
		case <-time.After(e.o.closeWait):
		case <-ctx.Done():
		}
		close(k.stop)
		e.rec.socket(se)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
