package socket

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/latchauth/latch/authserver/store"
)

// maxCloseText is the longest close reason that fits a control frame (125 bytes less the code).
const maxCloseText = 123

// Conn is one live socket. One goroutine reads it for its whole life and runs the handler.
// Writes (data frames, pings, the close handshake) are done by a writer goroutine that exists
// only while there is something to write: a push, a ping request or the close starts one if
// none runs, and it ends when the queue is empty. At most one writer runs at a time (gorilla's
// one-reader, one-writer rule); everything else talks to it through the send queue. An idle
// socket thus costs one parked goroutine, not two.
type Conn struct {
	hub     *Hub
	ws      *websocket.Conn
	handler Handler
	send    chan []byte
	ctx     context.Context
	cancel  context.CancelFunc

	stopOnce sync.Once
	// stopping is set once a close has begun: nothing more is queued or dispatched.
	stopping atomic.Bool
	// quit is closed when the connection should end; closeCode (0: none) and closeText are
	// written before stopping is set and read by the writer after it sees it.
	quit       chan struct{}
	closeCode  int
	closeText  string
	readerDone chan struct{}
	// room is signalled by the writer each time it takes a message off the queue; the reader
	// waits on it while the queue is half full (awaitRoom).
	room chan struct{}
	// pingSlot spreads the hub's pings over its ping period (Hub.pingLoop).
	pingSlot uint8

	// wmu guards the write side: whether a writer runs, a ping waits, or the write side has
	// ended (the socket is closed for writing and writesDone is closed).
	wmu         sync.Mutex
	writing     bool
	pingDue     bool
	writesEnded bool
	writesDone  chan struct{}

	// Guarded by hub.mu.
	bound *session
	gone  bool
}

func newConn(h *Hub, ws *websocket.Conn, handler Handler) *Conn {
	ctx, cancel := context.WithCancel(h.ctx)
	return &Conn{
		hub:        h,
		ws:         ws,
		handler:    handler,
		send:       make(chan []byte, h.sendQueue),
		ctx:        ctx,
		cancel:     cancel,
		quit:       make(chan struct{}),
		readerDone: make(chan struct{}),
		room:       make(chan struct{}, 1),
		writesDone: make(chan struct{}),
	}
}

// Send queues msg for the peer. It never blocks: if the queue is full the peer is too slow,
// the connection is dropped and ErrSlowPeer returned. A closing connection takes nothing
// (ErrClosed). msg must not be modified afterwards.
func (c *Conn) Send(msg []byte) error { return c.push(msg) }

// Close closes the connection: messages already queued are sent, then a close frame with
// code and text, and the TCP connection ends once the peer answers (or after a short grace).
// Later calls do nothing.
func (c *Conn) Close(code int, text string) {
	if len(text) > maxCloseText {
		text = strings.ToValidUTF8(text[:maxCloseText], "")
	}
	c.stop(code, text)
}

// CheckFunc confirms, for Bind, that a session is live and returns its deadline (when it ends
// if unused; zero for none). It is the dialect's own check (a ValidateSession, say).
type CheckFunc func(ctx context.Context) (deadline time.Time, err error)

// Bind binds the connection to a session once check confirms it, replacing any previous
// binding, and then queues reply (if any). There is no window in which the session's end could
// be missed: the hub watches the session from before check runs, so an end announced while
// check runs makes Bind fail with ErrSessionEnded, and one announced after Bind finds the
// connection bound. reply is queued together with the binding, so a close push for the session
// always comes after it on the wire. An error from check is returned wrapped, and leaves any
// previous binding alone.
//
// The deadline arms the session's expiry timer; at it the hub re-checks the session and
// pushes close only if it has really ended (an idle window may have slid elsewhere).
func (c *Conn) Bind(ctx context.Context, ref store.SessionRef, check CheckFunc, reply []byte) error {
	if ref.UserID == "" || ref.SessionID == "" {
		return errors.New("socket: bind: empty session reference")
	}
	h := c.hub
	h.mu.Lock()
	if c.gone || c.stopping.Load() {
		h.mu.Unlock()
		return ErrClosed
	}
	s := h.index[ref.SessionID]
	if s == nil {
		s = &session{ref: ref}
		h.index[ref.SessionID] = s
	} else if s.ref.UserID != ref.UserID {
		h.mu.Unlock()
		return ErrSessionMismatch
	}
	s.pending++
	h.mu.Unlock()

	deadline, err := check(ctx)

	h.mu.Lock()
	defer h.mu.Unlock()
	s.pending--
	switch {
	case err != nil:
		h.releaseLocked(s)
		return fmt.Errorf("socket: bind: %w", err)
	case s.ended:
		return ErrSessionEnded
	case c.gone || c.stopping.Load():
		h.releaseLocked(s)
		return ErrClosed
	}
	if c.bound != s {
		h.unbindLocked(c)
		h.attachLocked(c, s)
	}
	grew := deadline.After(s.deadline)
	if grew {
		s.deadline = deadline
	}
	if grew || s.timer == nil {
		h.armLocked(s, s.deadline)
	}
	if len(reply) > 0 {
		return c.push(reply)
	}
	return nil
}

// Unbind detaches the connection from its session, if any: it will get no close push for it.
func (c *Conn) Unbind() {
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	c.hub.unbindLocked(c)
}

// Session returns the session the connection is bound to.
func (c *Conn) Session() (store.SessionRef, bool) {
	c.hub.mu.Lock()
	defer c.hub.mu.Unlock()
	if c.bound == nil {
		return store.SessionRef{}, false
	}
	return c.bound.ref, true
}

// push queues msg without blocking. Callers may hold hub.mu.
func (c *Conn) push(msg []byte) error {
	if c.stopping.Load() {
		return ErrClosed
	}
	select {
	case c.send <- msg:
		c.kickWriter()
		return nil
	default:
		if c.abort() {
			c.hub.slowDropped.Add(1)
			c.hub.log.Info("socket: slow peer dropped", "remote", c.ws.RemoteAddr().String(), "queue", cap(c.send))
		}
		return ErrSlowPeer
	}
}

// stop begins the end of the connection once; a non-zero code asks the writer for a close
// handshake after the queued messages. It reports whether this call began it.
func (c *Conn) stop(code int, text string) bool {
	began := false
	c.stopOnce.Do(func() {
		began = true
		// Before stopping: a writer reads them once it sees stopping.
		c.closeCode, c.closeText = code, text
		c.stopping.Store(true)
		close(c.quit)
	})
	if began {
		c.kickWriter() // to flush, shake hands or just close the socket, and end the write side
	}
	return began
}

// abort ends the connection at once, without a close frame: for a peer that is too slow to
// take one, a dead peer, or a failed write. Closing the socket unblocks both goroutines. It
// reports whether this call ended the connection.
func (c *Conn) abort() bool {
	began := c.stop(0, "")
	_ = c.ws.NetConn().Close() // a second close of a closed socket fails harmlessly
	return began
}

// readLoop is the connection's only reader; it runs the handler.
func (c *Conn) readLoop() {
	h := c.hub
	defer func() {
		c.abort()
		close(c.readerDone)
		// The write side ends soon after: a write in flight fails on the closed socket, a
		// close handshake has just seen readerDone. The connection counts in the hub's wait
		// group until then, so Shutdown waits for its writers too.
		<-c.writesDone
		c.cancel()
		h.remove(c)
		h.wg.Done()
	}()
	c.ws.SetReadLimit(h.readLimit)
	// A peer that sends nothing, not even a pong, for pongWait is dead: the read fails.
	_ = c.ws.SetReadDeadline(time.Now().Add(h.pongWait))
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(h.pongWait)) })
	for {
		typ, msg, err := c.ws.ReadMessage()
		if err != nil {
			if !c.stopping.Load() && websocket.IsUnexpectedCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
				h.log.Debug("socket: read ended", "remote", c.ws.RemoteAddr().String(), "err", err)
			}
			return
		}
		if c.stopping.Load() {
			continue // closing: read on only to see the peer's close frame
		}
		if typ != websocket.TextMessage {
			c.Close(websocket.CloseUnsupportedData, "text messages only")
			continue
		}
		if !c.awaitRoom() {
			continue // closing
		}
		onFreshStack(func() { c.dispatch(msg) })
	}
}

// onFreshStack runs f on a short-lived goroutine and waits for it. The reader spends nearly
// all its life parked (an idle socket), and a parked goroutine keeps the stack its deepest
// excursion grew: the runtime halves a stack at a collection only while less than a quarter
// of it is in use, and the reader, parked deep in gorilla's read path, uses over 2 KiB. A
// store round trip in the handler would leave the reader at 8 KiB or more for as long as the
// socket lives. Run aside, the deep part leaves it at what its parked depth needs (4 KiB), for
// a goroutine start per message. Nothing else changes: the reader waits, so messages are still
// handled one at a time and in order.
func onFreshStack(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
}

// awaitRoom holds the reader while the send queue is half full or more. A peer that pipelines
// requests then gets its replies at the pace it reads them, instead of being dropped as slow
// because the reader (which queues the replies) outran the writer: holding the reader is TCP's
// own back-pressure, and delays this connection only. The other half of the queue stays free
// for pushes, which never wait. A peer that reads nothing is ended by the writer's deadline,
// which releases the wait through quit. It reports false if the connection is closing.
func (c *Conn) awaitRoom() bool {
	for len(c.send) >= max(cap(c.send)/2, 1) {
		select {
		case <-c.room:
		case <-c.quit:
			return false
		}
	}
	return true
}

// dispatch runs the handler; a panic in it closes this connection (1011) instead of the
// process, as net/http does for a request.
func (c *Conn) dispatch(msg []byte) {
	defer func() {
		if p := recover(); p != nil {
			c.hub.log.Error("socket: handler panic", "panic", p, "stack", string(debug.Stack()))
			c.Close(websocket.CloseInternalServerErr, "internal error")
		}
	}()
	c.handler.HandleMessage(c.ctx, c, msg)
}

// requestPing asks for a ping frame (Hub.pingLoop).
func (c *Conn) requestPing() {
	c.wmu.Lock()
	c.pingDue = true
	c.wmu.Unlock()
	c.kickWriter()
}

// kickWriter starts a writer unless one runs or the write side has ended. Whoever queues work
// (a message, a ping, the close) records it first and then kicks, and the writer looks for
// work again after it has marked itself gone, so no work is left behind.
func (c *Conn) kickWriter() {
	if c.claimWriter() {
		go c.writeRun()
	}
}

// claimWriter makes the caller the writer, unless one runs or the write side has ended.
func (c *Conn) claimWriter() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writing || c.writesEnded {
		return false
	}
	c.writing = true
	return true
}

// writeRun is the connection's writer: it writes what is queued, then a requested ping, then,
// once the connection is closing, the close handshake; and it returns when there is nothing
// left to do, to be started again by the next kick.
func (c *Conn) writeRun() {
	for {
		select {
		case msg := <-c.send:
			if c.stopping.Load() {
				// Closing: the close handshake sends what is queued, this message first.
				c.finishWrites(msg)
				return
			}
			select {
			case c.room <- struct{}{}:
			default: // a signal is pending already
			}
			if err := c.write(msg); err != nil {
				c.abort()
				c.finishWrites(nil)
				return
			}
			continue
		default:
		}
		c.wmu.Lock()
		switch {
		case c.stopping.Load():
			c.wmu.Unlock()
			c.finishWrites(nil)
			return
		case c.pingDue:
			c.pingDue = false
			c.wmu.Unlock()
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.hub.writeWait)); err != nil {
				c.abort()
				c.finishWrites(nil)
				return
			}
			continue
		}
		c.writing = false
		c.wmu.Unlock()
		// A message queued after the queue looked empty found a writer running and did not
		// start one: look again now that this one is gone.
		if len(c.send) == 0 || !c.claimWriter() {
			return
		}
	}
}

// finishWrites ends the write side of a closing connection: the close handshake when a close
// code was given (first is a message already taken off the queue), then the socket is closed
// and writesDone released.
func (c *Conn) finishWrites(first []byte) {
	if c.closeCode != 0 {
		c.closeHandshake(first)
	}
	_ = c.ws.NetConn().Close()
	c.wmu.Lock()
	c.writing, c.writesEnded = false, true
	c.wmu.Unlock()
	close(c.writesDone)
}

func (c *Conn) write(msg []byte) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.hub.writeWait))
	return c.ws.WriteMessage(websocket.TextMessage, msg)
}

// closeHandshake flushes what was queued before the close began (a close push, say; first,
// if any, is the head of the queue), sends the close frame, and waits briefly for the peer's
// close frame, which the reader consumes.
func (c *Conn) closeHandshake(first []byte) {
	if first != nil && c.write(first) != nil {
		return
	}
	for drained := false; !drained; {
		select {
		case msg := <-c.send:
			if c.write(msg) != nil {
				return
			}
		default:
			drained = true
		}
	}
	frame := websocket.FormatCloseMessage(c.closeCode, c.closeText)
	if err := c.ws.WriteControl(websocket.CloseMessage, frame, time.Now().Add(c.hub.writeWait)); err != nil {
		return
	}
	grace := time.NewTimer(closeGrace)
	defer grace.Stop()
	select {
	case <-c.readerDone:
	case <-grace.C:
	}
}
