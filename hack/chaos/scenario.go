package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// options size a run: the short suite (go test) and make chaos differ only here.
type options struct {
	clients       int           // concurrent HTTP clients
	socketWorkers int           // concurrent bound sockets
	think         time.Duration // mean pause between a client's requests
	warmup        time.Duration // load before the fault
	after         time.Duration // load after Redis is back
	holdScale     float64       // scales each fault's hold (the pause stays 5 s in the full run)
	socketHold    time.Duration // how long a socket stays bound before its logout, about
	closeWait     time.Duration // a close later than this after the logout is missed
	recheckEvery  time.Duration
	httpTimeout   time.Duration
	timings       bool // assert the timing invariants too
}

var (
	shortOptions = options{
		clients: 6, socketWorkers: 3, think: 120 * time.Millisecond,
		warmup: 1500 * time.Millisecond, after: 3 * time.Second, holdScale: 0.6,
		socketHold: 1500 * time.Millisecond, closeWait: 5 * time.Second, recheckEvery: 700 * time.Millisecond,
		httpTimeout: 3 * time.Second,
	}
	fullOptions = options{
		clients: 16, socketWorkers: 6, think: 60 * time.Millisecond,
		warmup: 5 * time.Second, after: 13 * time.Second, holdScale: 1,
		socketHold: 4 * time.Second, closeWait: 5 * time.Second, recheckEvery: 500 * time.Millisecond,
		httpTimeout: 3 * time.Second, timings: true,
	}
)

// env is one scenario run: the store, the replicas, the load and what it saw.
type env struct {
	t     testing.TB
	o     options
	f     fault
	store *store
	reps  *replicas
	api   *api
	rec   *recorder
	ended endedSet

	start, faultAt, backAt, loadEnd time.Time
	// after runs once Redis is back (the rest of a failover, the restart of a killed
	// node): part of the fault, not of the outage.
	after []func() error
}

func (e *env) afterBack(f func() error) { e.after = append(e.after, f) }

// runScenario runs fault f once: topology, two replicas, load, the fault, recovery, a
// sweep, and returns what was seen. Every wait is bounded; every process and goroutine
// ends at t's cleanup, even when something calls t.Fatalf.
func runScenario(t testing.TB, f fault, o options, logf func(string, ...any)) *result {
	t.Helper()
	e := &env{t: t, o: o, f: f, rec: &recorder{}}
	t0 := time.Now()
	phase := func(what string) { logf("%s: %s (%s)", f.name, what, time.Since(t0).Round(time.Millisecond)) }
	e.store = f.topo.start(t)
	phase(f.topo.name + " started")
	e.reps = startReplicas(t, e.store.cfg)
	phase("replicas ready")
	e.api = newAPI(o.httpTimeout, o.clients+o.socketWorkers)
	t.Cleanup(e.api.hc.CloseIdleConnections)

	run := fmt.Sprintf("%x", time.Now().UnixNano()%(1<<32))
	logins := make([]string, o.clients+o.socketWorkers)
	setup, cancelSetup := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancelSetup()
	var wg sync.WaitGroup
	errs := make(chan error, len(logins))
	for i := range logins {
		logins[i] = fmt.Sprintf("chaos-%s-%02d@chaos.test", run, i)
		wg.Go(func() { errs <- e.api.register(setup, e.reps.get(i%numReplicas).public(), logins[i]) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("chaos: setup: %v", err)
		}
	}

	// Three lifetimes: the pollers and re-checks run to the very end; the clients stop after
	// the observation; the sockets stop starting new sessions then, and finish the ones they
	// hold (logout and close) before the hard stop.
	bg, stopBG := context.WithCancel(context.Background())
	load, stopLoad := context.WithCancel(bg)
	var bgWG, loadWG, sockWG sync.WaitGroup
	t.Cleanup(func() { stopBG(); loadWG.Wait(); sockWG.Wait(); bgWG.Wait() })

	phase("users registered")
	e.start = time.Now()
	bgWG.Go(func() { e.pollReadiness(bg) })
	bgWG.Go(func() { e.recheck(bg, false) })
	clients := make([]*client, o.clients)
	for i := range clients {
		clients[i] = &client{e: e, login: logins[i], rng: rand.New(rand.NewPCG(uint64(i), uint64(e.start.UnixNano())))}
		loadWG.Go(func() { clients[i].run(load) })
	}
	// The sockets' logouts are retried until answered; past this they give up.
	socks, stopSocks := context.WithCancel(bg)
	defer stopSocks()
	for i := range o.socketWorkers {
		sockWG.Go(func() { e.socketWorker(socks, load, logins[o.clients+i], uint64(i)+uint64(e.start.UnixNano())) })
	}

	res := &result{fault: f}
	time.Sleep(o.warmup)
	fctx, cancelF := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancelF()
	e.faultAt = time.Now()
	logf("%s: injecting at +%s", f.name, e.faultAt.Sub(e.start).Round(time.Millisecond))
	undo, err := f.inject(fctx, e)
	if err != nil {
		res.harness = append(res.harness, fmt.Sprintf("inject: %v", err))
	} else {
		time.Sleep(time.Duration(float64(f.hold) * o.holdScale))
		if f.name == "redis-pause" && o.holdScale < 1 {
			// The pause is the point: 5 s is longer than every Redis timeout of the server.
			time.Sleep(f.hold - time.Duration(float64(f.hold)*o.holdScale))
		}
		if err := undo(fctx); err != nil {
			res.harness = append(res.harness, fmt.Sprintf("recover: %v", err))
		}
	}
	e.backAt = time.Now()
	logf("%s: Redis back at +%s (fault lasted %s)", f.name, e.backAt.Sub(e.start).Round(time.Millisecond), e.backAt.Sub(e.faultAt).Round(time.Millisecond))
	for _, a := range e.after {
		if err := a(); err != nil {
			res.harness = append(res.harness, fmt.Sprintf("after recovery: %v", err))
		}
	}
	if rest := o.after - time.Since(e.backAt); rest > 0 {
		time.Sleep(rest)
	}
	stopLoad()
	loadWG.Wait()
	giveUp := time.AfterFunc(o.closeWait+15*time.Second, stopSocks)
	sockWG.Wait()
	giveUp.Stop()
	e.loadEnd = time.Now()
	phase("load stopped")

	// After recovery: every session still held must validate on every replica, and every
	// ended one must be refused by every replica.
	sweep, cancelSweep := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancelSweep()
	for _, c := range clients {
		c.sweep(sweep)
	}
	e.recheck(sweep, true)
	time.Sleep(300 * time.Millisecond) // a last readiness sample or three
	stopBG()
	bgWG.Wait()
	res.compute(e)
	phase("swept")
	return res
}
