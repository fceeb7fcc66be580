package socket

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/gorilla/websocket"

	"github.com/latchauth/latch/authserver/store"
)

// expiryRetryMin and expiryRetryMax bound the back-off of an expiry re-check that could not
// reach the store.
const (
	expiryRetryMin = time.Second
	expiryRetryMax = 30 * time.Second
)

// session is the index entry of one session: the connections bound to it here, the binds
// still checking it, and its expiry timer. One entry serves every tab of the session, so a
// session costs one timer however many sockets it has. All fields are guarded by hub.mu.
type session struct {
	ref store.SessionRef
	// conns is a slice, not a set: a session has few tabs, and a slice costs less per idle
	// socket than a map.
	conns []*Conn
	// pending counts Binds whose check is running; the entry stays indexed while any is, so
	// an end announced meanwhile is seen by them (ended).
	pending int
	// ended is set when the session was found or announced ended; the entry has then left
	// the index, and a new Bind of the ID starts a new entry.
	ended bool
	// deadline is the latest deadline known: a session's deadline only ever moves later (its
	// absolute end is fixed, its idle window slides forward), so the latest is the truest.
	deadline time.Time
	timer    Timer
	// gen identifies the current timer; a timer that fires after being replaced does nothing.
	gen uint64
	// failures counts consecutive expiry re-checks that could not reach the store.
	failures int
}

func (h *Hub) attachLocked(c *Conn, s *session) {
	if len(s.conns) == 0 {
		h.boundSessions++
	}
	s.conns = append(s.conns, c)
	c.bound = s
	h.boundConns++
}

func (h *Hub) unbindLocked(c *Conn) {
	s := c.bound
	if s == nil {
		return
	}
	c.bound = nil
	h.boundConns--
	if i := slices.Index(s.conns, c); i >= 0 {
		last := len(s.conns) - 1
		s.conns[i], s.conns[last] = s.conns[last], nil
		s.conns = s.conns[:last]
	}
	if len(s.conns) == 0 {
		h.boundSessions--
		h.releaseLocked(s)
	}
}

// releaseLocked drops an entry nobody uses any more.
func (h *Hub) releaseLocked(s *session) {
	if s.ended || len(s.conns) > 0 || s.pending > 0 {
		return
	}
	h.stopTimerLocked(s)
	if h.index[s.ref.SessionID] == s {
		delete(h.index, s.ref.SessionID)
	}
}

// endLocked closes a session here: every bound connection gets msg and is unbound (and closed
// with CloseAfterPush), and Binds still checking it fail. It returns the connections pushed to.
func (h *Hub) endLocked(s *session, msg []byte) int {
	if s.ended {
		return 0
	}
	s.ended = true
	h.stopTimerLocked(s)
	if h.index[s.ref.SessionID] == s {
		delete(h.index, s.ref.SessionID)
	}
	pushed := 0
	for _, c := range s.conns {
		c.bound = nil
		h.boundConns--
		if len(msg) > 0 && c.push(msg) == nil {
			pushed++
		}
		if h.closeAfterPush {
			c.Close(websocket.CloseNormalClosure, "session ended")
		}
	}
	if len(s.conns) > 0 {
		h.boundSessions--
		h.sessionsEnded.Add(1)
	}
	s.conns = nil
	h.closesPushed.Add(uint64(pushed))
	return pushed
}

// armLocked (re)sets the session's timer to fire at at.
func (h *Hub) armLocked(s *session, at time.Time) {
	h.stopTimerLocked(s)
	if h.closed || at.IsZero() {
		return
	}
	gen := s.gen
	s.timer = h.clock.AfterFunc(at.Sub(h.clock.Now()), func() { h.expire(s, gen) })
}

func (h *Hub) stopTimerLocked(s *session) {
	s.gen++
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
}

// expire runs when a session's deadline comes: it asks the store whether the session has
// really ended, since another replica may have slid its idle window since it was bound here.
func (h *Hub) expire(s *session, gen uint64) {
	h.mu.Lock()
	if s.gen == gen {
		s.timer = nil // fired: a Bind from now on arms a new one
	}
	if h.closed || s.ended || s.gen != gen || len(s.conns) == 0 {
		h.mu.Unlock()
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()
	h.expiryChecks.Add(1)

	select {
	case h.checkSem <- struct{}{}:
	case <-h.ctx.Done():
		return
	}
	sess, err := h.getSession(h.ctx, s.ref)
	<-h.checkSem

	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case s.ended:
	case errors.Is(err, store.ErrNotFound):
		// Ended whatever happened to the timer meanwhile.
		h.endLocked(s, h.closePush)
	case s.gen != gen:
		// A Bind found a later deadline and re-armed the timer meanwhile.
	case err != nil:
		// Unknown is not ended: a close push would log the user out of a session that may
		// well be live. Try again later; a revocation still arrives through Listen.
		s.failures++
		retry := backoff(s.failures, expiryRetryMin, expiryRetryMax)
		h.log.Warn("socket: expiry re-check failed", "session", s.ref.SessionID, "retry", retry, "err", err)
		h.armLocked(s, h.clock.Now().Add(retry))
	default:
		s.failures = 0
		if d := sess.Deadline(); d.After(s.deadline) {
			s.deadline = d
		}
		h.armLocked(s, s.deadline)
	}
}

// getSession asks the store about one session, bounded by CheckTimeout. Callers hold a
// checkSem slot.
func (h *Hub) getSession(ctx context.Context, ref store.SessionRef) (store.Session, error) {
	ctx, cancel := context.WithTimeout(ctx, h.checkTimeout)
	defer cancel()
	return h.sessions.GetSession(ctx, ref, h.clock.Now())
}
