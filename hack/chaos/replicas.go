package main

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
)

// numReplicas is how many latch processes share the store: two, so that a session ended on
// one must be refused by the other, and a socket on one must hear of a logout on the other.
const numReplicas = 2

// replica is one `latch server` process in a slot. A killed replica is replaced by a new
// process (new ports) in the same slot.
type replica struct {
	srv    *servertest.Server
	killed atomic.Bool
}

func (r *replica) public() string { return r.srv.PublicURL }
func (r *replica) admin() string  { return r.srv.AdminURL }

type replicas struct {
	t     testing.TB
	slots [numReplicas]atomic.Pointer[replica]
	first *servertest.Server
}

// realmConfig is the realm every replica serves: every dialect on, the topology's Redis,
// limits raised where one address drives the whole load, and the defaults elsewhere. The
// redis.fence setting is deliberately left out: its defaults by mode are under test.
func realmConfig(rc config.Redis) func(*config.Config) {
	return func(c *config.Config) {
		r := rc
		r.KeyPrefix = "latch:chaos:"
		r.DialTimeout = config.D(time.Second)
		r.ReadTimeout = config.D(time.Second)
		r.WriteTimeout = config.D(time.Second)
		c.Redis = &r
		c.Protocols = config.Protocols{
			Account:     &config.Account{},
			ReactAuth:   &config.ReactAuth{},
			DeviseToken: &config.DeviseToken{MaxDevices: 1000},
			BearerToken: &config.BearerToken{},
			KeyToken:    &config.KeyToken{},
		}
		c.RateLimits.Register = config.RateLimit{PerIP: 1_000_000, PerLogin: 1_000}
		c.Log.Level = "info"
		// Longer than net/http's 5 s allowance for a connection that has not sent its first
		// request: Shutdown waits that long for one (the harness's clients leave such
		// connections behind at the end), and a shorter timeout made a clean stop exit 1.
		c.Listen.ShutdownTimeout = config.D(8 * time.Second)
	}
}

// startReplicas starts the replicas with servertest (which builds the binary once, with
// -race under `go test -race`), each on its own free loopback ports.
func startReplicas(t testing.TB, rc config.Redis) *replicas {
	t.Helper()
	rs := &replicas{t: t}
	r := &replica{}
	r.srv = servertest.Start(replicaTB{TB: t, killed: &r.killed}, servertest.Options{InMemory: true, Config: realmConfig(rc)})
	rs.first = r.srv
	rs.slots[0].Store(r)
	for i := 1; i < numReplicas; i++ {
		rs.restart(i)
	}
	return rs
}

func (rs *replicas) get(i int) *replica { return rs.slots[i].Load() }

// pick is the load balancer: a random replica among those the harness has not killed.
func (rs *replicas) pick(rng *rand.Rand) (int, *replica) {
	i := rng.IntN(numReplicas)
	for range numReplicas {
		if r := rs.get(i); !r.killed.Load() {
			return i, r
		}
		i = (i + 1) % numReplicas
	}
	return i, rs.get(i)
}

// other is a replica other than i that is up, or i itself if none is.
func (rs *replicas) other(i int) (int, *replica) {
	for k := 1; k < numReplicas; k++ {
		j := (i + k) % numReplicas
		if r := rs.get(j); !r.killed.Load() {
			return j, r
		}
	}
	return i, rs.get(i)
}

// kill SIGKILLs the replica in slot i and waits for it to exit.
func (rs *replicas) kill(i int) {
	r := rs.get(i)
	r.killed.Store(true)
	r.srv.Signal(syscall.SIGKILL)
	_ = r.srv.Wait(10 * time.Second)
}

// restart starts a new process in slot i, with the same config file (a replica restarted
// by its supervisor).
func (rs *replicas) restart(i int) {
	r := &replica{}
	r.srv = rs.first.Sibling(replicaTB{TB: rs.t, killed: &r.killed})
	rs.slots[i].Store(r)
}

// pollReadiness polls each slot's /readyz every 100 ms until ctx ends, one poller per slot:
// the server bounds its store probe to 2 s, and a slow answer from one replica must not thin
// out the other's samples. A kubelet with the default 1 s probe timeout would count a slower
// answer as a failure; the timeline shows it as "none".
func (e *env) pollReadiness(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range numReplicas {
		wg.Go(func() { e.pollReplica(ctx, i) })
	}
	wg.Wait()
}

func (e *env) pollReplica(ctx context.Context, i int) {
	hc := &http.Client{Timeout: 3 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		r := e.reps.get(i)
		if !r.killed.Load() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.admin()+"/readyz", nil)
			status := 0
			if resp, err := hc.Do(req); err == nil {
				status = resp.StatusCode
				_ = resp.Body.Close()
			}
			if ctx.Err() != nil {
				return
			}
			if !r.killed.Load() {
				e.rec.readiness(readySample{at: time.Now(), replica: i, status: status})
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
