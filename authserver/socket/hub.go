package socket

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/latchauth/latch/authserver/store"
)

// Defaults of Config.
const (
	DefaultReadLimit        = 4 << 10
	DefaultSendQueue        = 16
	DefaultWriteWait        = 10 * time.Second
	DefaultPongWait         = 60 * time.Second
	DefaultCheckTimeout     = 5 * time.Second
	DefaultCheckConcurrency = 16
)

// closeGrace bounds the wait for the peer to answer our close frame. Closing the TCP connection
// at once could reset it while the close frame is still unread on the peer's side (a close with
// unread input sends RST), and the peer would then see an abnormal closure instead of the code
// we sent.
const closeGrace = time.Second

// Errors.
var (
	// ErrClosed: the connection is closing or closed.
	ErrClosed = errors.New("socket: connection closed")
	// ErrHubClosed: the hub has been shut down and takes no new connections.
	ErrHubClosed = errors.New("socket: hub shut down")
	// ErrSlowPeer: the peer's send queue was full, so the connection has been dropped.
	ErrSlowPeer = errors.New("socket: peer too slow, connection dropped")
	// ErrSessionEnded: the session ended (revocation, expiry or resync) while Bind was checking
	// it. The dialect answers as for a session that is not live.
	ErrSessionEnded = errors.New("socket: session ended while binding")
	// ErrSessionMismatch: a session with this ID is bound here under another user ID, so the
	// reference cannot be genuine.
	ErrSessionMismatch = errors.New("socket: session is bound under another user")
)

// SessionChecker is the part of the store the hub re-checks sessions with (store.Store
// implements it). GetSession must not touch the session: a re-check is not a use, and must
// not slide the idle window of a session nobody is using.
type SessionChecker interface {
	GetSession(ctx context.Context, ref store.SessionRef, now time.Time) (store.Session, error)
}

// Config configures a Hub. Zero values take the defaults.
type Config struct {
	// Sessions re-checks a session when its expiry timer fires and on resync. Required.
	Sessions SessionChecker
	// ClosePush is the dialect's close push, sent to every connection of a session that ended
	// on any replica (revocation), at its deadline (expiry) or as found by a resync. Required.
	ClosePush []byte
	// CloseAfterPush, when set, follows every close push with a normal close of the socket.
	// By default the socket stays open and unbound: the reactAuth client stops its socket
	// itself when it returns to guest, and a socket kept open can carry the next login's
	// resume; a server-side close would only race the client's reconnect loop.
	CloseAfterPush bool
	// ReadLimit is the largest message accepted from a peer (default 4 KiB); a larger one
	// closes the connection with 1009 (message too big).
	ReadLimit int64
	// SendQueue is how many outbound messages may wait for a connection (default 16). A peer
	// that lets it fill is dropped rather than waited for.
	SendQueue int
	// WriteWait bounds each write to a peer (default 10 s).
	WriteWait time.Duration
	// PongWait is how long a peer may stay silent, pongs included, before it is taken for dead
	// (default 60 s).
	PongWait time.Duration
	// PingPeriod is how often the hub pings each peer (default 9/10 of PongWait); it must be
	// shorter than PongWait.
	PingPeriod time.Duration
	// CheckTimeout bounds one re-check of a session (default 5 s).
	CheckTimeout time.Duration
	// CheckConcurrency bounds the re-checks in flight, expiry and resync together (default
	// 16), so a resync of every bound session or a wave of expiries cannot flood the store.
	CheckConcurrency int
	// Clock drives expiry timers and back-off (default RealClock).
	Clock Clock
	// Logger receives the hub's logs (default slog.Default()).
	Logger *slog.Logger
}

// Hub holds the live sockets of one replica, indexed by the session they are bound to, and
// closes them when their session ends. It is safe for concurrent use.
type Hub struct {
	sessions       SessionChecker
	closePush      []byte
	closeAfterPush bool
	readLimit      int64
	sendQueue      int
	writeWait      time.Duration
	pongWait       time.Duration
	pingPeriod     time.Duration
	checkTimeout   time.Duration
	checkSem       chan struct{}
	clock          Clock
	log            *slog.Logger

	// ctx parents every connection's context and every re-check. It ends when Shutdown
	// completes or gives up, not when it starts: a resume in flight during a rolling restart
	// should finish rather than fail (a failed resume sends the client to guest).
	ctx    context.Context
	cancel context.CancelFunc

	mu            sync.Mutex
	closed        bool
	conns         map[*Conn]struct{}
	index         map[string]*session // by session ID
	boundConns    int
	boundSessions int
	// wg counts connections (until their reader and writer are done) and expiry re-checks.
	// Add happens under mu only while the hub is open, so it never races Shutdown's Wait.
	wg sync.WaitGroup

	// The pings: pingLoop starts with the first connection and pings slot after slot;
	// nextPingSlot (under mu) deals the slots out in turn.
	pingOnce     sync.Once
	pingSlots    uint8
	nextPingSlot uint8

	subscriptions atomic.Int32
	slowDropped   atomic.Uint64
	closesPushed  atomic.Uint64
	sessionsEnded atomic.Uint64
	expiryChecks  atomic.Uint64
	resyncs       atomic.Uint64
}

// New returns a hub. It starts nothing: connections arrive through Serve, and revocations
// through Listen.
func New(cfg Config) (*Hub, error) {
	if cfg.Sessions == nil {
		return nil, errors.New("socket: config: Sessions is required")
	}
	if len(cfg.ClosePush) == 0 {
		return nil, errors.New("socket: config: ClosePush is required")
	}
	h := &Hub{
		sessions:       cfg.Sessions,
		closePush:      slices.Clone(cfg.ClosePush),
		closeAfterPush: cfg.CloseAfterPush,
		readLimit:      orDefault(cfg.ReadLimit, DefaultReadLimit),
		sendQueue:      orDefault(cfg.SendQueue, DefaultSendQueue),
		writeWait:      orDefault(cfg.WriteWait, DefaultWriteWait),
		pongWait:       orDefault(cfg.PongWait, DefaultPongWait),
		checkTimeout:   orDefault(cfg.CheckTimeout, DefaultCheckTimeout),
		checkSem:       make(chan struct{}, orDefault(cfg.CheckConcurrency, DefaultCheckConcurrency)),
		clock:          cfg.Clock,
		log:            cfg.Logger,
		conns:          map[*Conn]struct{}{},
		index:          map[string]*session{},
	}
	h.pingPeriod = orDefault(cfg.PingPeriod, h.pongWait*9/10)
	switch {
	case h.readLimit < 0 || h.sendQueue < 0 || h.writeWait < 0 || h.pongWait < 0 || h.pingPeriod < 0 ||
		h.checkTimeout < 0 || cap(h.checkSem) <= 0:
		return nil, errors.New("socket: config: negative limit or duration")
	case h.pingPeriod >= h.pongWait:
		return nil, fmt.Errorf("socket: config: PingPeriod %s must be shorter than PongWait %s", h.pingPeriod, h.pongWait)
	}
	// As many slots as fit at a millisecond apart, up to maxPingSlots.
	h.pingSlots = uint8(max(1, min(maxPingSlots, int(h.pingPeriod/time.Millisecond))))
	if h.clock == nil {
		h.clock = RealClock{}
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	return h, nil
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Handler is a dialect's side of one connection.
type Handler interface {
	// HandleMessage is called for each text message the peer sends, by the connection's
	// reader, which waits for it (it runs on a goroutine of its own, so that its stack does not
	// stay with the idle reader): one at a time and in order, so replies keep the order of
	// requests, and a handler that blocks (a store round trip) delays only its own connection. It may
	// reply with c.Send, bind with c.Bind, or close with c.Close. ctx ends with the connection.
	// msg is the handler's to keep.
	HandleMessage(ctx context.Context, c *Conn, msg []byte)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, c *Conn, msg []byte)

// HandleMessage calls f.
func (f HandlerFunc) HandleMessage(ctx context.Context, c *Conn, msg []byte) { f(ctx, c, msg) }

// Serve takes over an upgraded connection: it starts the connection's reader (writers start
// as needed) and returns at once (the HTTP handler that upgraded may return). The hub owns ws
// from then on.
// After Shutdown it closes ws with 1001 (going away) and returns ErrHubClosed.
func (h *Hub) Serve(ws *websocket.Conn, handler Handler) (*Conn, error) {
	if handler == nil {
		_ = ws.Close()
		return nil, errors.New("socket: serve: nil handler")
	}
	c := newConn(h, ws, handler)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down")
		_ = ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(h.writeWait))
		_ = ws.Close()
		c.cancel()
		return nil, ErrHubClosed
	}
	h.conns[c] = struct{}{}
	c.pingSlot = h.nextPingSlot
	h.nextPingSlot = (h.nextPingSlot + 1) % h.pingSlots
	h.wg.Add(1)
	h.mu.Unlock()
	h.pingOnce.Do(func() { go h.pingLoop() })
	go c.readLoop()
	return c, nil
}

// maxPingSlots is how many groups the connections' pings are spread over. One ticker for the
// whole hub pings one group per tick, so a replica with 10,000 sockets has no timer per
// socket and starts ~160 short-lived writers per tick, not 10,000 at once.
const maxPingSlots = 64

// pingLoop pings every connection once per ping period, one slot of them per tick, until the
// hub's context ends.
func (h *Hub) pingLoop() {
	t := time.NewTicker(h.pingPeriod / time.Duration(h.pingSlots))
	defer t.Stop()
	var slot uint8
	var due []*Conn
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		}
		due = due[:0]
		h.mu.Lock()
		for c := range h.conns {
			if c.pingSlot == slot {
				due = append(due, c)
			}
		}
		h.mu.Unlock()
		for _, c := range due {
			c.requestPing()
		}
		slot = (slot + 1) % h.pingSlots
	}
}

// CloseSession pushes msg to every connection of this hub bound to the session and unbinds
// them; a Bind of the session still checking fails with ErrSessionEnded. It never blocks: a
// connection whose queue is full is dropped. It returns how many connections got msg. With
// CloseAfterPush the connections are then closed, otherwise they stay open, unbound.
func (h *Hub) CloseSession(sessionID string, msg []byte) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.index[sessionID]
	if s == nil {
		return 0
	}
	return h.endLocked(s, msg)
}

// Shutdown closes every connection with 1001 (going away) and waits for them to finish, or for
// ctx to end, when it drops those left. It ends no session and publishes nothing: on a
// rolling restart the clients reconnect to another replica and resume. Serve refuses
// connections from then on.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	conns := slices.Collect(maps.Keys(h.conns))
	for _, s := range h.index {
		h.stopTimerLocked(s)
	}
	h.mu.Unlock()
	for _, c := range conns {
		c.Close(websocket.CloseGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		h.cancel()
		return nil
	case <-ctx.Done():
		h.cancel()
		for _, c := range conns {
			c.abort()
		}
		return fmt.Errorf("socket: shutdown: %d connections dropped: %w", len(conns), ctx.Err())
	}
}

// Stats is a snapshot of the hub's gauges and counters, for metrics.
type Stats struct {
	// Connections is the number of live connections.
	Connections int
	// BoundConnections is the number of connections bound to a session.
	BoundConnections int
	// BoundSessions is the number of sessions with at least one bound connection.
	BoundSessions int
	// Subscribed reports whether a revocation subscription is in place (Listen).
	Subscribed bool
	// SlowPeersDropped counts connections dropped because their send queue was full.
	SlowPeersDropped uint64
	// ClosesPushed counts close pushes queued, one per connection.
	ClosesPushed uint64
	// SessionsEnded counts sessions whose bound connections were closed here (revocation,
	// expiry, resync or CloseSession).
	SessionsEnded uint64
	// ExpiryChecks counts re-checks run because a session's deadline came.
	ExpiryChecks uint64
	// Resyncs counts completed resyncs.
	Resyncs uint64
}

// Stats returns the current gauges and counters.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	st := Stats{Connections: len(h.conns), BoundConnections: h.boundConns, BoundSessions: h.boundSessions}
	h.mu.Unlock()
	st.Subscribed = h.subscriptions.Load() > 0
	st.SlowPeersDropped = h.slowDropped.Load()
	st.ClosesPushed = h.closesPushed.Load()
	st.SessionsEnded = h.sessionsEnded.Load()
	st.ExpiryChecks = h.expiryChecks.Load()
	st.Resyncs = h.resyncs.Load()
	return st
}

// remove forgets a connection whose reader has ended.
func (h *Hub) remove(c *Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.gone {
		return
	}
	c.gone = true
	delete(h.conns, c)
	h.unbindLocked(c)
}
