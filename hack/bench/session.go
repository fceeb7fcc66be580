package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/token"
)

// The session-check suite: one request that checks a session, over -conns keep-alive
// connections, against one replica and against two sharing one Redis, beside the ceiling.

// sessionRow is one kind of session check (or the ceiling).
type sessionRow struct {
	key, title string
	label      string // short name in the targets
	ceiling    bool
	// servers, pids and latch return the row's first server, or its first two: their public
	// addresses, their process IDs, and (latch rows only) the processes.
	servers func(replicas int) []string
	pids    func(replicas int) []int
	latch   func(replicas int) []*latchProc
	worker  func(i int, addr string, done *atomic.Int64) worker
}

// rowRun is one measured run of one row.
type rowRun struct {
	stats         loadStats
	scripts       float64 // EVALSHA per request
	commands      float64 // Redis commands per request, those inside scripts included
	roundTrips    float64 // latch_store_round_trips_total per request (latch rows)
	rotatedShare  float64 // deviseToken: share of responses that carried a new token
	rotatedPerSec float64 // deviseToken: rotations per second per session
	// CPU time per request of the server processes, of Redis and of the load generator:
	// on a machine where all three share the cores, throughput follows their sum.
	cpuServer, cpuRedis, cpuClient time.Duration
}

// deviseSession is one connection's deviseToken session: the client follows the token of
// each response, as redux-token-auth does.
type deviseSession struct {
	token, client, uid  string
	requests, rotations int64
}

// sessionUser is one bench user and a session of it in each dialect.
type sessionUser struct {
	id, account, bearer string
	devise              *deviseSession
	ceilingKey          string
	ceilingSecret       string
}

func (b *bench) sessionSuite() error {
	o := b.opts
	rds, err := b.startRedis("session-redis")
	if err != nil {
		return err
	}
	cfgFor := func(buffer time.Duration) (*config.Config, error) {
		cfg, err := b.serverConfig(rds.addr, "latch:bench:")
		if err != nil {
			return nil, err
		}
		cfg.Protocols = config.Protocols{
			Account:     &config.Account{},
			BearerToken: &config.BearerToken{},
			DeviseToken: &config.DeviseToken{BatchRequestBuffer: config.D(buffer)},
		}
		cfg.Passwords.Argon2 = cheapArgon2
		return cfg, nil
	}
	// Two sets of two replicas on the one Redis: production's batch buffer (5 s), and 1 ms,
	// so that every validate_token rotates. An idle set costs the measured one nothing.
	var std, rot, ceil [2]string
	var stdProcs, rotProcs [2]*latchProc
	var stdPIDs, rotPIDs, ceilPIDs [2]int
	for i := range 2 {
		cfg, err := cfgFor(5 * time.Second)
		if err != nil {
			return err
		}
		if stdProcs[i], err = b.startLatch(fmt.Sprintf("session-latch-%d", i+1), cfg); err != nil {
			return err
		}
		if cfg, err = cfgFor(time.Millisecond); err != nil {
			return err
		}
		if rotProcs[i], err = b.startLatch(fmt.Sprintf("session-latch-rotating-%d", i+1), cfg); err != nil {
			return err
		}
		c, err := b.startSessionCeiling(fmt.Sprintf("session-ceiling-%d", i+1), rds.addr)
		if err != nil {
			return err
		}
		std[i], rot[i], ceil[i] = stdProcs[i].public, rotProcs[i].public, c.addr
		stdPIDs[i], rotPIDs[i], ceilPIDs[i] = stdProcs[i].PID(), rotProcs[i].PID(), c.PID()
	}

	users, err := b.sessionUsers(rds, "http://"+std[0], o.conns)
	if err != nil {
		return fmt.Errorf("setup: %w", err)
	}

	pick := func(set [2]string) func(int) []string { return func(n int) []string { return set[:n] } }
	pickProcs := func(set [2]*latchProc) func(int) []*latchProc { return func(n int) []*latchProc { return set[:n] } }
	pickPIDs := func(set [2]int) func(int) []int { return func(n int) []int { return set[:n] } }
	rows := []sessionRow{
		{key: "ceiling", title: "ceiling: net/http + one EVALSHA (get, compare, set, expire)", ceiling: true,
			servers: pick(ceil), pids: pickPIDs(ceilPIDs), worker: func(i int, addr string, done *atomic.Int64) worker {
				u := users[i]
				return &fixedWorker{hc: newHTTPConn(addr, nil), done: done, req: []byte(
					"GET /check HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + u.ceilingKey + "." + u.ceilingSecret + "\r\n\r\n")}
			}},
		{key: "devise", label: "deviseToken validate_token, 5 s buffer", title: "deviseToken `GET /auth/validate_token`, batch buffer 5 s (default)",
			servers: pick(std), pids: pickPIDs(stdPIDs), latch: pickProcs(stdProcs), worker: func(i int, addr string, done *atomic.Int64) worker {
				return &deviseWorker{hc: newHTTPConn(addr, nil), done: done, s: users[i].devise, host: addr}
			}},
		{key: "devise-rotating", label: "deviseToken validate_token, rotating on every request", title: "deviseToken `GET /auth/validate_token`, batch buffer 1 ms (every request rotates)",
			servers: pick(rot), pids: pickPIDs(rotPIDs), latch: pickProcs(rotProcs), worker: func(i int, addr string, done *atomic.Int64) worker {
				return &deviseWorker{hc: newHTTPConn(addr, nil), done: done, s: users[i].devise, host: addr}
			}},
		{key: "bearer", label: "bearerToken GET /api/auth", title: "bearerToken `GET /api/auth` (user token introspection)",
			servers: pick(std), pids: pickPIDs(stdPIDs), latch: pickProcs(stdProcs), worker: func(i int, addr string, done *atomic.Int64) worker {
				return &fixedWorker{hc: newHTTPConn(addr, nil), done: done, req: []byte(
					"GET /api/auth HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + users[i].bearer + "\r\n\r\n")}
			}},
		{key: "account", label: "account GET /account/session", title: "account `GET /account/session` (cookie)",
			servers: pick(std), pids: pickPIDs(stdPIDs), latch: pickProcs(stdProcs), worker: func(i int, addr string, done *atomic.Int64) worker {
				return &fixedWorker{hc: newHTTPConn(addr, nil), done: done, req: []byte(
					"GET /account/session HTTP/1.1\r\nHost: " + addr + "\r\nCookie: latch_session=" + users[i].account + "\r\n\r\n")}
			}},
	}

	if o.rows != "" {
		rows = slices.DeleteFunc(rows, func(r sessionRow) bool {
			return !r.ceiling && !slices.Contains(strings.Split(o.rows, ","), r.key)
		})
	}
	results := map[string][]rowRun{} // by row key + "/" + replicas
	for _, replicas := range []int{1, 2} {
		for rep := 1; rep <= o.reps; rep++ {
			// The rows run in reverse order every other repetition, so that a drift in the
			// machine's other load does not always favour the same rows.
			order := slices.Clone(rows)
			if rep%2 == 0 {
				slices.Reverse(order)
			}
			for _, row := range order {
				if err := b.ctx.Err(); err != nil {
					return err
				}
				rr, err := b.runSessionRow(rds, row, replicas, users, rep == 1 && replicas == 1)
				if err != nil {
					return fmt.Errorf("%s, %d replica(s): %w", row.key, replicas, err)
				}
				k := fmt.Sprintf("%s/%d", row.key, replicas)
				results[k] = append(results[k], rr)
				logf("session %-16s %d replica(s) run %d/%d: %s req/s, p50 %s, p99 %s, %.2f scripts/req, %.2f round trips/req, CPU/req server %s redis %s client %s, %d errors",
					row.key, replicas, rep, o.reps, fmtRate(rr.stats.rate()), fmtDur(rr.stats.pct(50)), fmtDur(rr.stats.pct(99)),
					rr.scripts, rr.roundTrips, fmtDur(rr.cpuServer), fmtDur(rr.cpuRedis), fmtDur(rr.cpuClient), rr.stats.Errors)
			}
		}
	}
	b.reportSessions(rows, results)
	return nil
}

// sessionUsers registers n users and opens a session of each in every dialect, and seeds the
// ceiling's keys.
func (b *bench) sessionUsers(rds *redisProc, base string, n int) ([]*sessionUser, error) {
	users := make([]*sessionUser, n)
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	err := parallel(n, 8, func(i int) error {
		login := fmt.Sprintf("session-%s-%03d@bench.test", run, i)
		id, account, err := registerAccount(b.ctx, base, login)
		if err != nil {
			return err
		}
		u := &sessionUser{id: id, account: account}
		var bearer struct {
			Content struct {
				Token string `json:"token"`
			} `json:"content"`
		}
		if _, err := postJSON(b.ctx, base+"/api/auth", map[string]string{"login": login, "password": benchPassword}, &bearer); err != nil {
			return err
		}
		u.bearer = bearer.Content.Token
		h, err := postJSON(b.ctx, base+"/auth/sign_in", map[string]string{"email": login, "password": benchPassword}, nil)
		if err != nil {
			return err
		}
		u.devise = &deviseSession{token: h.Get("access-token"), client: h.Get("client"), uid: h.Get("uid")}
		if u.bearer == "" || u.devise.token == "" || u.devise.client == "" || u.devise.uid == "" {
			return fmt.Errorf("user %s: a dialect gave no token", login)
		}
		u.ceilingKey = fmt.Sprintf("%s-%03d", run, i)
		if u.ceilingSecret, err = token.New(); err != nil {
			return err
		}
		if err := rds.client.Set(b.ctx, ceilingKeyPrefix+u.ceilingKey, u.ceilingSecret, time.Hour).Err(); err != nil {
			return err
		}
		users[i] = u
		return nil
	})
	return users, err
}

// runSessionRow runs one row once: the connections spread evenly over the row's servers.
func (b *bench) runSessionRow(rds *redisProc, row sessionRow, replicas int, users []*sessionUser, profile bool) (rowRun, error) {
	addrs := row.servers(replicas)
	var done atomic.Int64
	workers := make([]worker, len(users))
	for i := range users {
		workers[i] = row.worker(i, addrs[i%len(addrs)], &done)
	}
	defer func() {
		for _, w := range workers {
			w.close()
		}
	}()
	var procs []*latchProc
	if row.latch != nil {
		procs = row.latch(replicas)
	}
	type snap struct {
		done                float64
		commands            map[string]int64
		trips               float64
		server, redis, self time.Duration
	}
	pids := row.pids(replicas)
	var before, after snap
	var snapErr error
	take := func(s *snap) {
		d0 := done.Load()
		var errs []error
		for _, pid := range pids {
			t, err := cpuTime(pid)
			errs = append(errs, err)
			s.server += t
		}
		var err error
		s.redis, err = cpuTime(rds.PID())
		errs = append(errs, err)
		s.self, err = cpuTime(os.Getpid())
		errs = append(errs, err)
		if err := errors.Join(errs...); err != nil && snapErr == nil {
			snapErr = err
		}
		if s.commands, err = rds.commandStats(b.ctx); err != nil && snapErr == nil {
			snapErr = err
		}
		for _, p := range procs {
			m, err := p.metrics(b.ctx)
			if err != nil && snapErr == nil {
				snapErr = err
			}
			s.trips += m.Sum("latch_store_round_trips_total", nil)
		}
		// The counters were read while requests completed: take the middle.
		s.done = float64(d0+done.Load()) / 2
	}
	var devise0 []deviseSession
	if strings.HasPrefix(row.key, "devise") {
		for _, u := range users {
			devise0 = append(devise0, *u.devise)
		}
	}
	var profDone chan error
	stats := runClosedLoop(workers, b.opts.warmup, b.opts.window,
		func() {
			take(&before)
			if profile && b.opts.profileDir != "" && len(procs) > 0 {
				profDone = make(chan error, 1)
				go func() { profDone <- b.cpuProfile(procs[0], "session-"+row.key, b.opts.window) }()
			}
		},
		func() { take(&after) })
	if profDone != nil {
		if err := <-profDone; err != nil {
			logf("profile: %v", err)
		}
	}
	if snapErr != nil {
		return rowRun{}, snapErr
	}
	if stats.Requests == 0 {
		return rowRun{}, fmt.Errorf("no successful request (%d errors, first: %v)", stats.Errors, stats.FirstErr)
	}
	rr := rowRun{stats: stats}
	n := after.done - before.done
	cmd := diffCommands(before.commands, after.commands)
	rr.scripts, rr.commands = float64(cmd.Scripts)/n, float64(cmd.Total)/n
	perReq := func(d time.Duration) time.Duration { return time.Duration(float64(d) / n) }
	rr.cpuServer, rr.cpuRedis, rr.cpuClient = perReq(after.server-before.server), perReq(after.redis-before.redis), perReq(after.self-before.self)
	if len(procs) > 0 {
		rr.roundTrips = (after.trips - before.trips) / n
	}
	if devise0 != nil {
		var reqs, rots int64
		for i, u := range users {
			reqs += u.devise.requests - devise0[i].requests
			rots += u.devise.rotations - devise0[i].rotations
		}
		if reqs > 0 {
			rr.rotatedShare = float64(rots) / float64(reqs)
		}
		span := b.opts.warmup + b.opts.window
		rr.rotatedPerSec = float64(rots) / float64(len(users)) / span.Seconds()
	}
	if stats.Errors > 0 {
		logf("session %s: %d errors, first: %v", row.key, stats.Errors, stats.FirstErr)
	}
	return rr, nil
}

// cpuProfile saves a CPU profile of p taken over d.
func (b *bench) cpuProfile(p *latchProc, name string, d time.Duration) error {
	if err := os.MkdirAll(b.opts.profileDir, 0o755); err != nil {
		return err
	}
	secs := max(1, int(d.Seconds()))
	ctx, cancel := context.WithTimeout(b.ctx, d+30*time.Second)
	defer cancel()
	return saveURL(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.admin, secs),
		filepath.Join(b.opts.profileDir, name+".cpu.pprof"))
}

// fixedWorker sends the same request every time.
type fixedWorker struct {
	hc   *httpConn
	req  []byte
	done *atomic.Int64
}

func (w *fixedWorker) do() error {
	err := w.hc.roundTrip(w.req, nil)
	w.done.Add(1)
	return err
}

func (w *fixedWorker) close() { w.hc.close() }

// deviseWorker sends validate_token with its session's current headers and follows the
// access-token of every response.
type deviseWorker struct {
	hc   *httpConn
	s    *deviseSession
	host string
	buf  []byte
	tok  []byte
	done *atomic.Int64
}

var hdrAccessToken = []byte("access-token")

func (w *deviseWorker) do() error {
	w.buf = append(w.buf[:0], "GET /auth/validate_token HTTP/1.1\r\nHost: "...)
	w.buf = append(w.buf, w.host...)
	w.buf = append(w.buf, "\r\naccess-token: "...)
	w.buf = append(w.buf, w.s.token...)
	w.buf = append(w.buf, "\r\nclient: "...)
	w.buf = append(w.buf, w.s.client...)
	w.buf = append(w.buf, "\r\nuid: "...)
	w.buf = append(w.buf, w.s.uid...)
	w.buf = append(w.buf, "\r\n\r\n"...)
	w.tok = w.tok[:0]
	err := w.hc.roundTrip(w.buf, func(k, v []byte) {
		if bytes.EqualFold(k, hdrAccessToken) {
			w.tok = append(w.tok, v...)
		}
	})
	w.done.Add(1)
	if err != nil {
		return err
	}
	w.s.requests++
	if len(w.tok) == 0 {
		return fmt.Errorf("validate_token answered without an access-token")
	}
	if string(w.tok) != w.s.token {
		w.s.token = string(w.tok)
		w.s.rotations++
	}
	return nil
}

func (w *deviseWorker) close() { w.hc.close() }
