package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/store"
)

// A fence (WAIT for n replicas) is exact only while the master is the master. During a
// Sentinel failover it is not: Sentinel promotes one replica while the others still follow
// the old master, which goes on taking writes; those others acknowledge a logout written there
// and then resynchronise from the promoted replica, which never had it. And until a server's
// own Sentinel connection announces the switch, that server still reads the old master. With
// two replicas and a fence of one, a planned failover brought back 160 of 2,200 sessions
// logged out during it (TestPlannedFailoverDoesNotBringLoggedOutSessionsBack).
//
// So a store in Sentinel mode with a fence listens to every configured sentinel's events. From
// the first sign of a failover of its master (+try-failover and the failover states that
// follow, from whichever sentinel leads it) until every sentinel it hears reports the same
// master after a +switch-master or an abort, fenced writes are refused as unavailable; so is a
// fenced write that was under way when the failover began. Reads go on. Before the refusal
// ends, the store's client is made to dial the master once: go-redis's Sentinel client learns
// of a switch from one sentinel's +switch-master, which in the tests came up to a second after
// the others agreed (or only at its next dial), and meanwhile it kept reading the old master;
// its dialer asks its sentinel and, finding a new master, moves its pools there. After it,
// the fence applies as before: the promoted master's replicas acknowledge, or the write is
// refused.
//
// What it cannot see: a failover led by a sentinel the store does not listen to (list every
// sentinel in redis.addresses) or one it missed while its connection to that sentinel was
// down. A failover that outlasts the sentinels' failover-timeout ends the refusal with a
// warning: the sentinels consider it over too.

// failoverPoll is how often the sentinels are asked for the master while a failover lasts.
const failoverPoll = 100 * time.Millisecond

// failoverStarts are the events by which a sentinel announces a failover of a master, the
// leader's from its attempt to the start of the replicas' reconfiguration. (The replicas'
// reconfiguration events come later, some after +switch-master, and start nothing.)
var failoverStarts = map[string]bool{
	"+try-failover":                      true,
	"+elected-leader":                    true,
	"+failover-state-select-slave":       true,
	"+selected-slave":                    true,
	"+failover-state-send-slaveof-noone": true,
	"+failover-state-wait-promotion":     true,
	"+promoted-slave":                    true,
	"+failover-state-reconf-slaves":      true,
}

// failoverWatch refuses fenced writes while a Sentinel failover of its master lasts.
type failoverWatch struct {
	master   string
	sentinel []*redis.SentinelClient
	logger   func() *slog.Logger
	now      func() time.Time
	// dial makes the store's client dial its master once and returns the address it
	// reached.
	dial func(ctx context.Context) (string, error)

	// active is read on every fenced write; epoch changes whenever a failover begins or
	// ends, so a write can tell whether one began while it waited.
	active atomic.Bool
	epoch  atomic.Uint64
	count  atomic.Int64

	mu      sync.Mutex
	since   time.Time
	ended   bool // a +switch-master or an abort was heard since the failover began
	limit   time.Duration
	wake    chan struct{}
	cancel  context.CancelFunc
	stopped sync.WaitGroup
}

// watchFailovers listens to the sentinels at addrs (opts gives the connection settings, Addr
// set per sentinel) for failovers of master.
func watchFailovers(addrs []string, master string, opts redis.Options, client *redis.Client, logger func() *slog.Logger) *failoverWatch {
	ctx, cancel := context.WithCancel(context.Background())
	w := &failoverWatch{master: master, logger: logger, now: time.Now, dial: dialMaster(client),
		limit: 3 * time.Minute, wake: make(chan struct{}, 1), cancel: cancel}
	for _, addr := range addrs {
		o := opts
		o.Addr = addr
		c := redis.NewSentinelClient(&o)
		w.sentinel = append(w.sentinel, c)
		w.stopped.Go(func() { w.listen(ctx, c) })
	}
	w.stopped.Go(func() { w.resolve(ctx) })
	return w
}

// close stops listening.
func (w *failoverWatch) close() {
	if w == nil {
		return
	}
	w.cancel()
	for _, c := range w.sentinel {
		_ = c.Close()
	}
	w.stopped.Wait()
}

// guard returns the epoch a fenced write starts in, or an error if a failover is under way.
func (w *failoverWatch) guard(op string) (uint64, error) {
	if w == nil {
		return 0, nil
	}
	e := w.epoch.Load()
	if w.active.Load() {
		return e, fmt.Errorf("redis %s: %w: a Sentinel failover of %q is under way; a write now could be undone by it", op, store.ErrUnavailable, w.master)
	}
	return e, nil
}

// check fails a fenced write that began in epoch e if a failover began since.
func (w *failoverWatch) check(op string, e uint64) error {
	if w == nil || w.epoch.Load() == e {
		return nil
	}
	return fmt.Errorf("redis %s: %w: a Sentinel failover of %q began while the write waited for its acknowledgement; it could be undone", op, store.ErrUnavailable, w.master)
}

// listen follows one sentinel's events. go-redis renews the subscription after a lost
// connection (and pings it while it is idle).
func (w *failoverWatch) listen(ctx context.Context, c *redis.SentinelClient) {
	ps := c.PSubscribe(ctx, "*")
	defer ps.Close()
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			w.event(m.Channel, m.Payload)
		}
	}
}

// event acts on one sentinel event: a failover of our master begins, or one ends.
func (w *failoverWatch) event(channel, payload string) {
	f := strings.Fields(payload)
	switch {
	case channel == "+switch-master":
		if len(f) > 0 && f[0] == w.master {
			w.end()
		}
	case strings.HasPrefix(channel, "-failover-abort"):
		if namesMaster(f, w.master) {
			w.end()
		}
	case failoverStarts[channel]:
		if namesMaster(f, w.master) {
			w.begin(channel)
		}
	}
}

// namesMaster reports whether an event's instance details ("master NAME IP PORT", or a
// replica's "slave ADDR IP PORT @ NAME IP PORT") are about master.
func namesMaster(f []string, master string) bool {
	if len(f) >= 2 && f[0] == "master" && f[1] == master {
		return true
	}
	for i, s := range f {
		if s == "@" && i+1 < len(f) && f[i+1] == master {
			return true
		}
	}
	return false
}

func (w *failoverWatch) begin(event string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.active.Load() && !w.ended {
		return
	}
	first := !w.active.Load()
	if first || w.ended {
		// A failover that begins after the last one ended gets its own time limit.
		w.since = w.now()
	}
	if first {
		w.count.Add(1)
	}
	w.ended = false
	w.epoch.Add(1)
	w.active.Store(true)
	if first {
		w.logger().Warn("redis failover under way: writes that end or change a session are refused until it is over",
			slog.String("master", w.master), slog.String("event", event))
	}
	w.kick()
}

func (w *failoverWatch) end() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.active.Load() {
		return
	}
	w.ended = true
	w.kick()
}

func (w *failoverWatch) kick() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// resolve ends the refusal once the failover is over: every answering sentinel reports the
// same master after an end was heard, and the store's client reaches it.
func (w *failoverWatch) resolve(ctx context.Context) {
	t := time.NewTicker(failoverPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-t.C:
		}
		w.mu.Lock()
		active, ended, since, epoch := w.active.Load(), w.ended, w.since, w.epoch.Load()
		w.mu.Unlock()
		if !active {
			continue
		}
		if w.now().Sub(since) > w.limit {
			w.finish(ctx, "", "the failover did not end within the sentinels' failover-timeout: writes resume", epoch)
			continue
		}
		if !ended {
			continue
		}
		addr, ok := w.agreed(ctx)
		if !ok {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		reached, err := w.dial(dctx)
		cancel()
		if err != nil || !sameAddr(reached, addr) {
			continue // the client's sentinel lags, or the master does not answer yet: next tick
		}
		w.finish(ctx, addr, "", epoch)
	}
}

// dialMaster returns a function that makes c, a go-redis Sentinel client, dial its master
// once. Its dialer asks its sentinel for the master and, if that changed, closes the pools'
// connections to the old one before dialing (go-redis's trySwitchMaster), which is the point.
func dialMaster(c *redis.Client) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		conn, err := c.Options().Dialer(ctx, "tcp", "")
		if err != nil {
			return "", err
		}
		addr := conn.RemoteAddr().String()
		_ = conn.Close()
		return addr, nil
	}
}

// sameAddr compares the address a client reached with the one the sentinels report. A
// sentinel may report a host name (announce-hostnames); then the dial itself is the proof.
func sameAddr(reached, reported string) bool {
	host, _, err := net.SplitHostPort(reported)
	if err != nil || net.ParseIP(host) == nil {
		return true
	}
	return reached == reported
}

// agreed asks every sentinel for the master; it is agreed when all that answer name the same
// one (and at least one answers).
func (w *failoverWatch) agreed(ctx context.Context) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	answers := make([]string, len(w.sentinel))
	var wg sync.WaitGroup
	for i, c := range w.sentinel {
		wg.Go(func() {
			if a, err := c.GetMasterAddrByName(ctx, w.master).Result(); err == nil && len(a) == 2 {
				answers[i] = a[0] + ":" + a[1]
			}
		})
	}
	wg.Wait()
	agreed := ""
	for _, a := range answers {
		switch {
		case a == "":
		case agreed == "":
			agreed = a
		case a != agreed:
			return "", false
		}
	}
	return agreed, agreed != ""
}

// finish ends the refusal, unless a failover began after epoch (what resolve checked is
// then about the earlier one).
func (w *failoverWatch) finish(ctx context.Context, addr, warning string, epoch uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.active.Load() || w.epoch.Load() != epoch || (warning == "" && !w.ended) {
		return
	}
	lasted := w.now().Sub(w.since).Round(time.Millisecond)
	w.active.Store(false)
	w.epoch.Add(1)
	if warning != "" {
		w.logger().WarnContext(ctx, warning, slog.String("master", w.master), slog.String("lasted", lasted.String()))
		return
	}
	w.logger().InfoContext(ctx, "redis failover over: writes resume", slog.String("master", w.master),
		slog.String("addr", addr), slog.String("lasted", lasted.String()))
}
