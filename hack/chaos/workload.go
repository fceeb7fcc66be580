package main

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// held is a session a client holds: live until it ends it, or a replica refuses it.
type held struct {
	c         creds
	lastWrite time.Time // creation, or the last rotation or refresh the server answered
	created   time.Time // the login
	// uncertain: a request on it had an unknown effect (a devise rotation or a refresh may have
	// happened with the answer lost), so a later refusal proves nothing about the server.
	uncertain bool
}

// loss is h refused at at by the replica in slot.
func (h *held) loss(at time.Time, slot int, sweep bool) loss {
	return loss{d: h.c.d, lastWrite: h.lastWrite, at: at, sweep: sweep, who: h.c.who(), replica: slot, created: h.created}
}

// endedCred is a credential the server answered as ended (logout, or the access token a
// refresh replaced) at at. Every replica must refuse it from then on.
type endedCred struct {
	c        creds
	at       time.Time
	violated bool
}

type endedSet struct {
	mu   sync.Mutex
	list []*endedCred
}

func (s *endedSet) add(c creds, at time.Time) {
	s.mu.Lock()
	s.list = append(s.list, &endedCred{c: c, at: at})
	s.mu.Unlock()
}

func (s *endedSet) snapshot() []*endedCred {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*endedCred(nil), s.list...)
}

// client is one simulated user agent: one user, sessions in every dialect, a closed loop of
// requests with a think time, each to a replica the load balancer picks.
type client struct {
	e     *env
	login string
	rng   *rand.Rand
	live  [numDialects][]*held
}

// record turns an outcome into an event. refusedKind says what a refusal means here.
func (e *env) record(o outcome, op op, slot int, r *replica, d dialect, refusedKind kind) {
	k := kOK
	switch o {
	case oRefused:
		k = refusedKind
	case oServer:
		k = kServer
	case oTransport:
		k = kTransport
		if r.killed.Load() {
			k = kDownReplica
		}
	case oOther:
		k = kOther
	}
	e.rec.event(event{at: time.Now(), kind: k, op: op, replica: int8(slot), d: d})
}

func (c *client) run(ctx context.Context) {
	for ctx.Err() == nil {
		c.step(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(c.e.o.think/2 + time.Duration(c.rng.Int64N(int64(c.e.o.think)))):
		}
	}
}

func (c *client) step(ctx context.Context) {
	e := c.e
	d := dialect(c.rng.IntN(int(numDialects)))
	live := c.live[d]
	slot, r := e.reps.pick(c.rng)
	base := r.public()
	p := c.rng.Float64()
	switch {
	case len(live) == 0 || (len(live) < 4 && p < 0.08):
		cr, o, _ := e.api.login(ctx, base, d, c.login)
		if ctx.Err() != nil {
			return
		}
		e.record(o, opLogin, slot, r, d, kUnexpected401)
		if o == oOK {
			now := time.Now()
			c.live[d] = append(live, &held{c: cr, lastWrite: now, created: now})
		}
	case len(live) > 1 && p < 0.14:
		i := c.rng.IntN(len(live))
		h := live[i]
		o, _ := e.api.logout(ctx, base, h.c)
		at := time.Now()
		c.live[d] = append(live[:i:i], live[i+1:]...)
		if c.cancelled(ctx, o, h) {
			return // forgotten: it may have ended
		}
		switch {
		case o == oOK:
			e.record(o, opLogout, slot, r, d, kUnexpected401)
			e.ended.add(h.c, at)
		case o == oRefused && !h.uncertain:
			e.record(o, opLogout, slot, r, d, kUnexpected401)
			e.rec.loss(h.loss(at, slot, false))
		default:
			// Ended or not, nobody knows: the client forgets it, as a real one would.
			e.record(o, opLogout, slot, r, d, kUncertain401)
			e.rec.addUncertain()
		}
	case d == dKeyToken && p < 0.30:
		i := c.rng.IntN(len(live))
		h := live[i]
		old := h.c
		o, _ := e.api.refresh(ctx, base, &h.c)
		if c.cancelled(ctx, o, h) {
			// It may have happened: the old secret may be ended, and the new one never came.
			c.live[d] = append(live[:i:i], live[i+1:]...)
			return
		}
		at := time.Now()
		switch {
		case o == oOK:
			e.record(o, opRefresh, slot, r, d, kUnexpected401)
			h.lastWrite, h.uncertain = at, false
			e.ended.add(old, at)
		case o == oRefused && !h.uncertain:
			e.record(o, opRefresh, slot, r, d, kUnexpected401)
			e.rec.loss(h.loss(at, slot, false))
			c.live[d] = append(live[:i:i], live[i+1:]...)
		default:
			// The refresh may have happened: presenting the same refresh secret again would
			// be reuse (and revoke the session), so the client drops the session.
			e.record(o, opRefresh, slot, r, d, kUncertain401)
			e.rec.addUncertain()
			c.live[d] = append(live[:i:i], live[i+1:]...)
		}
	default:
		i := c.rng.IntN(len(live))
		h := live[i]
		before := h.c.access
		opk := opCheck
		if d == dDevise {
			opk = opRotate
		}
		o, _ := e.api.check(ctx, base, &h.c)
		if d == dDevise && c.cancelled(ctx, o, h) {
			return // the rotation may have happened: h is uncertain now
		}
		if ctx.Err() != nil && o == oTransport {
			return // a check without a write: nothing to forget
		}
		at := time.Now()
		switch {
		case o == oOK:
			e.record(o, opk, slot, r, d, kUnexpected401)
			if h.c.access != before {
				h.lastWrite = at
			}
			h.uncertain = false
		case o == oRefused && h.uncertain:
			e.record(o, opk, slot, r, d, kUncertain401)
			c.live[d] = append(live[:i:i], live[i+1:]...)
		case o == oRefused:
			e.record(o, opk, slot, r, d, kUnexpected401)
			e.rec.loss(h.loss(at, slot, false))
			c.live[d] = append(live[:i:i], live[i+1:]...)
		default:
			e.record(o, opk, slot, r, d, kUnexpected401)
			if d == dDevise {
				// The rotation may have happened with its answer lost; the previous token
				// lives only for the batch buffer.
				if !h.uncertain {
					e.rec.addUncertain()
				}
				h.uncertain = true
			}
		}
	}
}

// cancelled reports whether the request on h got no answer because the harness itself
// cancelled it (the load's end), and if so marks h uncertain. Such a request may have taken
// effect on the server (a logout, a refresh, a devise rotation) with its answer dropped; a
// client that kept h as live would have the sweep report a session the server lost when the
// harness ended it (the "lost" sessions refused by the sweep in the Cluster runs, 3 in 38,
// were keyToken refreshes and logouts in flight at the load's end). It is no server error
// either, so it is not recorded as one. A request answered before the cancel is handled as
// any other answer.
func (c *client) cancelled(ctx context.Context, o outcome, h *held) bool {
	if ctx.Err() == nil || o != oTransport {
		return false
	}
	if !h.uncertain {
		c.e.rec.addUncertain()
	}
	h.uncertain = true
	return true
}

// sweep checks every session the client still holds live on every replica, after the
// fault and the recovery: one refused is a session the fault lost.
func (c *client) sweep(ctx context.Context) {
	e := c.e
	for d := range numDialects {
		for _, h := range c.live[d] {
			if h.uncertain {
				continue
			}
			for slot := range numReplicas {
				r := e.reps.get(slot)
				o, _ := e.api.check(ctx, r.public(), &h.c)
				if ctx.Err() != nil {
					return
				}
				kd := kUnexpected401
				e.record(o, opCheck, slot, r, d, kd)
				if o == oRefused {
					e.rec.loss(h.loss(time.Now(), slot, true))
					break
				}
			}
		}
	}
}

// recheck checks every ended credential against every replica, over and over until ctx
// ends: during the fault and after it, an ended session must stay ended everywhere.
func (e *env) recheck(ctx context.Context, once bool) {
	for ctx.Err() == nil {
		list := e.ended.snapshot()
		sem := make(chan struct{}, 4)
		var wg sync.WaitGroup
		for _, ec := range list {
			for slot := range numReplicas {
				r := e.reps.get(slot)
				if r.killed.Load() {
					continue
				}
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					c := ec.c
					o, _ := e.api.check(ctx, r.public(), &c)
					if ctx.Err() != nil {
						return
					}
					e.record(o, opRecheck, slot, r, c.d, kExpected401)
					if o == oOK {
						e.rec.event(event{at: time.Now(), kind: kRevokedAccepted, op: opRecheck, replica: int8(slot), d: c.d})
						e.rec.mu.Lock()
						first := !ec.violated
						ec.violated = true
						e.rec.mu.Unlock()
						if first {
							e.rec.violation(violation{d: c.d, endedAt: ec.at, acceptedAt: time.Now(), replica: slot})
						}
					}
				})
			}
		}
		wg.Wait()
		if once {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(e.o.recheckEvery):
		}
	}
}
