package socket

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/latchauth/latch/authserver/store"
)

// Back-off bounds for re-subscribing and for retrying a resync that could not reach the store.
const (
	resubscribeMin = 250 * time.Millisecond
	resubscribeMax = 30 * time.Second
	// A resync that could not check some sessions is retried soon: it usually ran into the
	// tail of the fault that caused it (a cluster slot map still being refreshed), and a
	// socket of an ended session stays open until it succeeds. The back-off still doubles
	// up to the maximum while the store stays away.
	resyncRetryMin = 200 * time.Millisecond
	resyncRetryMax = 30 * time.Second
)

// Listen consumes the store's revocation feed until ctx ends, and returns nil then; it never
// gives up while ctx is live. Each revocation closes this hub's connections of the session.
// A Resync event, and every (re)subscription, starts a resync: every session bound here is
// re-checked against the store, so an end announced while this replica was not listening (a
// pub/sub gap, dropped events) still closes its sockets. A feed that closes while ctx is live
// is re-subscribed with back-off.
//
// Start it before serving connections, and run one per hub.
func (h *Hub) Listen(ctx context.Context, revs store.Revocations) error {
	if revs == nil {
		return errors.New("socket: listen: nil revocations")
	}
	kick := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() { h.resyncLoop(ctx, kick) })
	defer wg.Wait()
	failures := 0
	for {
		events, err := revs.SubscribeRevocations(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			wait := backoff(failures, resubscribeMin, resubscribeMax)
			h.log.Warn("socket: revocation subscription failed", "retry", wait, "err", err)
			if !h.sleep(ctx, wait) {
				return nil
			}
			continue
		}
		failures = 0
		h.subscriptions.Add(1)
		// Whatever was announced before this subscription was in place went unheard.
		requestResync(kick)
		h.consume(ctx, events, kick)
		h.subscriptions.Add(-1)
		if ctx.Err() != nil {
			return nil
		}
		// The feed ended under a live ctx (the store dropped it). Pause before subscribing
		// again, so a feed that keeps closing cannot spin.
		h.log.Warn("socket: revocation subscription ended; subscribing again")
		if !h.sleep(ctx, backoff(1, resubscribeMin, resubscribeMax)) {
			return nil
		}
	}
}

// consume handles events until the feed closes or ctx ends (a store closes the feed when ctx
// ends, but Listen's return should not depend on it).
func (h *Hub) consume(ctx context.Context, events <-chan store.RevocationEvent, kick chan<- struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			switch {
			case !ok:
				return
			case ev.Resync:
				requestResync(kick)
			default:
				h.CloseSession(ev.Revocation.SessionID, h.closePush)
			}
		}
	}
}

// requestResync asks the resync loop for a resync; requests made while one is pending merge.
func requestResync(kick chan<- struct{}) {
	select {
	case kick <- struct{}{}:
	default:
	}
}

// resyncLoop runs resyncs on request, off the event loop, so revocations keep flowing while
// it checks. A request that arrives during a resync runs another one after it: events lost
// after the first one took its snapshot are covered only by the second.
func (h *Hub) resyncLoop(ctx context.Context, kick <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		}
		for attempt := 1; ; attempt++ {
			err := h.Resync(ctx)
			if err == nil || ctx.Err() != nil {
				break
			}
			wait := backoff(attempt, resyncRetryMin, resyncRetryMax)
			h.log.Warn("socket: resync incomplete", "retry", wait, "err", err)
			// A new request during the wait (the subscription came back, which usually
			// means the store did) retries at once, with the back-off started afresh: after
			// a long outage the doubled wait would otherwise delay the closes it owes.
			ok, kicked := h.sleepOrKick(ctx, wait, kick)
			if !ok {
				return
			}
			if kicked {
				attempt = 0
			}
		}
	}
}

// Resync re-checks every session bound here (or being bound) against the store, at most
// CheckConcurrency at a time, and closes those that have ended. Sessions found live get their
// expiry timer moved to their current deadline. It fails, naming how many sessions it could
// not check, if the store could not answer for some; those are neither closed nor forgotten.
func (h *Hub) Resync(ctx context.Context) error {
	h.mu.Lock()
	entries := make([]*session, 0, len(h.index))
	for _, s := range h.index {
		entries = append(entries, s)
	}
	h.mu.Unlock()

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		failed   int
		firstErr error
		ended    int
	)
	for _, s := range entries {
		select {
		case h.checkSem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return fmt.Errorf("socket: resync: %w", ctx.Err())
		}
		wg.Go(func() {
			defer func() { <-h.checkSem }()
			gone, err := h.recheck(ctx, s)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if firstErr == nil {
					firstErr = err
				}
			} else if gone {
				ended++
			}
		})
	}
	wg.Wait()
	if failed > 0 {
		return fmt.Errorf("socket: resync: %d of %d sessions not checked: %w", failed, len(entries), firstErr)
	}
	h.resyncs.Add(1)
	h.log.Info("socket: resync done", "sessions", len(entries), "ended", ended)
	return nil
}

// recheck asks the store about one entry and acts on the answer; it reports whether the
// session had ended.
func (h *Hub) recheck(ctx context.Context, s *session) (bool, error) {
	sess, err := h.getSession(ctx, s.ref)
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.endLocked(s, h.closePush)
		return true, nil
	case err != nil:
		return false, err
	}
	if d := sess.Deadline(); d.After(s.deadline) && !s.ended {
		s.deadline = d
		if len(s.conns) > 0 {
			h.armLocked(s, d)
		}
	}
	return false, nil
}

// sleep waits d on the hub's clock; it reports false if ctx ended first.
func (h *Hub) sleep(ctx context.Context, d time.Duration) bool {
	done := make(chan struct{})
	t := h.clock.AfterFunc(d, func() { close(done) })
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// sleepOrKick is sleep that also ends when kick fires; kicked says which ended it.
func (h *Hub) sleepOrKick(ctx context.Context, d time.Duration, kick <-chan struct{}) (ok, kicked bool) {
	done := make(chan struct{})
	t := h.clock.AfterFunc(d, func() { close(done) })
	defer t.Stop()
	select {
	case <-done:
		return true, false
	case <-kick:
		return true, true
	case <-ctx.Done():
		return false, false
	}
}

// backoff is the wait before retry number attempt (1, 2, ...): doubling from lo up to hi, with
// ±20% jitter so replicas that failed together do not retry together.
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
