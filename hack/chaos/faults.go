package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/store/redistest"
)

// outage is what a fault takes from the store between its injection and "Redis back".
type outage uint8

const (
	outageNone   outage = iota // nothing: any error is a defect
	outageWrites               // writes (out of memory): reads must go on
	outageAll                  // everything (some slots, for a cluster)
)

// fault is one scenario: a topology, something done to it, and what the invariants allow.
// inject does the fault and returns how to undo it; the undo returns once Redis is back,
// which is the moment the recovery figures are measured from. Adding a fault is a value here.
type fault struct {
	name, title string
	topo        topology
	outage      outage
	// hold is how long the fault lasts before the undo starts (the undo itself may take
	// longer: a failover's election).
	hold time.Duration
	// lossBefore: writes answered this long before the injection may be lost (the AOF's
	// fsync second, a replica's lag); lossUntilBack: and those answered until Redis is back
	// (a failover's un-replicated writes).
	lossBefore    time.Duration
	lossUntilBack bool
	// readyDown: /readyz must say 503 while the fault lasts (a whole store unreachable).
	readyDown bool
	// follow bounds the errors after Redis is back (0: the general 10 s).
	follow time.Duration
	inject func(ctx context.Context, e *env) (undo func(ctx context.Context) error, err error)
}

// faults is the scenario list, in the order they run.
var faults = []fault{
	{
		name: "redis-sigterm", title: "Redis SIGTERM, restarted", topo: standalone,
		outage: outageAll, hold: 2 * time.Second, readyDown: true,
		inject: func(ctx context.Context, e *env) (func(context.Context) error, error) {
			s := e.store.single
			s.Terminate()
			return func(context.Context) error { s.Restart(); return nil }, nil
		},
	},
	{
		name: "redis-sigkill", title: "Redis SIGKILL, restarted (AOF everysec)", topo: standalone,
		outage: outageAll, hold: 2 * time.Second, readyDown: true, lossBefore: time.Second,
		inject: func(ctx context.Context, e *env) (func(context.Context) error, error) {
			s := e.store.single
			s.Kill()
			return func(context.Context) error { s.Restart(); return nil }, nil
		},
	},
	{
		name: "redis-pause", title: "Redis paused 5 s (SIGSTOP/SIGCONT)", topo: standalone,
		outage: outageAll, hold: 5 * time.Second, readyDown: true,
		inject: func(ctx context.Context, e *env) (func(context.Context) error, error) {
			s := e.store.single
			s.Pause()
			return func(context.Context) error { s.Resume(); return nil }, nil
		},
	},
	{
		name: "sentinel-failover", title: "Sentinel FAILOVER", topo: sentinel,
		outage: outageAll, lossBefore: time.Second, lossUntilBack: true,
		inject: func(ctx context.Context, e *env) (func(context.Context) error, error) {
			s := e.store.sentinel
			old, err := s.MasterAddr(ctx)
			if err != nil {
				return nil, err
			}
			// Failover returns only once the old master is a replica again (10 s or so);
			// Redis is back when the sentinels agree on the new master.
			done := make(chan error, 1)
			go func() { _, err := s.Failover(ctx); done <- err }()
			return func(ctx context.Context) error {
				if _, err := s.WaitMasterChange(ctx, old); err != nil {
					return err
				}
				e.afterBack(func() error {
					select {
					case err := <-done:
						return err
					case <-ctx.Done():
						return ctx.Err()
					}
				})
				return nil
			}, nil
		},
	},
	{
		name: "sentinel-master-sigkill", title: "Sentinel master SIGKILL", topo: sentinel,
		outage: outageAll, readyDown: true, lossBefore: time.Second, lossUntilBack: true,
		inject: func(ctx context.Context, e *env) (func(context.Context) error, error) {
			m := e.store.sentinel.Master(ctx)
			m.Kill()
			return func(ctx context.Context) error {
				if _, err := e.store.sentinel.WaitMasterChange(ctx, m.Addr); err != nil {
					return err
				}
				// The supervisor restarts the old master; the sentinels make it a replica.
				e.afterBack(func() error { m.Restart(); return nil })
				return nil
			}, nil
		},
	},
	{
		name: "cluster-master-sigkill", title: "Cluster master SIGKILL", topo: cluster,
		outage: outageAll, lossBefore: time.Second, lossUntilBack: true, follow: 2 * time.Second,
		inject: func(ctx context.Context, e *env) (func(context.Context) error, error) {
			ms, err := e.store.cluster.Masters(ctx)
			if err != nil {
				return nil, err
			}
			m := ms[0]
			m.Kill()
			return func(ctx context.Context) error {
				if err := e.store.cluster.WaitFailover(ctx, m); err != nil {
					return err
				}
				e.afterBack(func() error { m.Restart(); return nil })
				return nil
			}, nil
		},
	},
	{
		name: "latch-sigkill", title: "one latch replica SIGKILL, restarted", topo: standalone,
		outage: outageNone, hold: 2 * time.Second,
		inject: func(ctx context.Context, e *env) (func(context.Context) error, error) {
			e.reps.kill(1)
			return func(context.Context) error { e.reps.restart(1); return nil }, nil
		},
	},
	{
		name: "redis-oom", title: "Redis out of memory (maxmemory just above used, noeviction)", topo: standalone,
		outage: outageWrites, hold: 3 * time.Second, readyDown: true,
		inject: func(ctx context.Context, e *env) (func(context.Context) error, error) {
			ms, err := e.store.masters(ctx)
			if err != nil {
				return nil, err
			}
			for _, m := range ms {
				used, err := usedMemory(ctx, m)
				if err != nil {
					return nil, err
				}
				if err := m.ConfigSet(ctx, "maxmemory-policy", "noeviction"); err != nil {
					return nil, err
				}
				if err := m.ConfigSet(ctx, "maxmemory", strconv.FormatInt(used+16<<10, 10)); err != nil {
					return nil, err
				}
			}
			return func(ctx context.Context) error {
				for _, m := range ms {
					if err := m.ConfigSet(ctx, "maxmemory", "0"); err != nil {
						return err
					}
				}
				return nil
			}, nil
		},
	},
	{
		name: "pubsub-kill", title: "pub/sub connections killed during revocations", topo: standalone,
		outage: outageNone, hold: 4 * time.Second,
		inject: func(ctx context.Context, e *env) (func(context.Context) error, error) {
			ms, err := e.store.masters(ctx)
			if err != nil {
				return nil, err
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			clients := make([]*redis.Client, len(ms))
			for i, m := range ms {
				clients[i] = m.Client()
			}
			wg.Go(func() {
				for {
					for i, m := range ms {
						c := clients[i]
						n, err := c.ClientKillByFilter(ctx, "TYPE", "pubsub").Result()
						if err != nil {
							e.rec.note(fmt.Sprintf("CLIENT KILL TYPE pubsub on %s: %v", m.Addr, err))
						} else if n > 0 {
							e.rec.note(fmt.Sprintf("%s CLIENT KILL TYPE pubsub on %s: %d killed", time.Now().Format("15:04:05.000"), m.Addr, n))
						}
					}
					select {
					case <-stop:
						return
					case <-time.After(700 * time.Millisecond):
					}
				}
			})
			return func(context.Context) error { close(stop); wg.Wait(); return nil }, nil
		},
	},
}

func usedMemory(ctx context.Context, m *redistest.Server) (int64, error) {
	info, err := m.Client().Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("INFO memory has no used_memory")
}
