package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/latchauth/latch/authserver/config"
)

// The login suite: password logins through the account dialect against raw argon2id on
// every core, and the server's memory under a flood of concurrent logins.

// Login targets (issue 6).
const targetLoginRatio = 0.90 // logins/s within 10 % of the hashing ceiling

// hashSetting is one set of argon2id parameters measured.
type hashSetting struct {
	name   string
	argon2 config.Argon2
}

func (s hashSetting) String() string {
	return fmt.Sprintf("m=%s, t=%d, p=%d", fmtBytes(float64(s.argon2.MemoryKiB)*1024), s.argon2.Iterations, s.argon2.Parallelism)
}

// loginRun is one measured run of one setting and its ceiling run.
type loginRun struct {
	stats   loadStats
	ceiling hashCeiling
	// CPU time per login of the server process, and per hash of the ceiling process: the
	// work each costs, whatever else the machine runs meanwhile.
	cpuPerLogin, cpuPerHash time.Duration
}

// ratio is the run's logins/s over its ceiling's hashes/s, the two measured back to back.
func (r loginRun) ratio() float64 { return r.stats.rate() / r.ceiling.rate() }

// floodRun is one flood of concurrent logins on a fresh server.
type floodRun struct {
	before, peak, after memory // RSS before the flood, highest sample during it, after it
	hwm                 int64  // VmHWM at the end: the peak since the process started
	workers             int
	ok, failed          int
	firstErr            error
	slowest             time.Duration
	elapsed             time.Duration
}

func (b *bench) loginSuite() error {
	o := b.opts
	rds, err := b.startRedis("login-redis")
	if err != nil {
		return err
	}
	def := config.Config{}
	def.Default()
	settings := []hashSetting{
		{"default", def.Passwords.Argon2},
		{"stronger", config.Argon2{MemoryKiB: uint32(o.strongMemoryKiB), Iterations: uint32(o.strongIt), Parallelism: 1}},
	}
	results := make([][]loginRun, len(settings))
	var workers []int
	for si, set := range settings {
		cfg, err := b.serverConfig(rds.addr, fmt.Sprintf("latch:login%d:", si))
		if err != nil {
			return err
		}
		cfg.Protocols = config.Protocols{Account: &config.Account{}}
		cfg.Passwords.Argon2 = set.argon2
		p, err := b.startLatch("login-latch-"+set.name, cfg)
		if err != nil {
			return err
		}
		m, err := p.metrics(b.ctx)
		if err != nil {
			return err
		}
		n := int(m.Sum("latch_password_hash_workers", nil))
		if n < 1 {
			return fmt.Errorf("the server reports %d hash workers", n)
		}
		workers = append(workers, n)
		// Twice as many logins in flight as workers keep every worker busy: throughput is the
		// pool's, and a login waits about one hash for its worker.
		conc := 2 * n
		logins, err := b.loginUsers("http://"+p.public, conc, "login-"+set.name)
		if err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		for rep := 1; rep <= o.reps; rep++ {
			if err := b.ctx.Err(); err != nil {
				return err
			}
			measure := func() (loadStats, time.Duration, error) {
				ws := make([]worker, conc)
				for i := range ws {
					ws[i] = &fixedWorker{hc: newHTTPConn(p.public, nil), req: loginRequest(p.public, logins[i]), done: new(atomic.Int64)}
				}
				defer func() {
					for _, w := range ws {
						w.close()
					}
				}()
				var profDone chan error
				var cpu0, cpu1 time.Duration
				var cpuErr error
				st := runClosedLoop(ws, o.warmup, o.loginWindow, func() {
					cpu0, cpuErr = cpuTime(p.PID())
					if rep == 1 && o.profileDir != "" {
						profDone = make(chan error, 1)
						go func() { profDone <- b.cpuProfile(p, "login-"+set.name, o.loginWindow) }()
					}
				}, func() {
					var err error
					cpu1, err = cpuTime(p.PID())
					cpuErr = errors.Join(cpuErr, err)
				})
				if profDone != nil {
					if err := <-profDone; err != nil {
						logf("profile: %v", err)
					}
				}
				if cpuErr != nil {
					return st, 0, cpuErr
				}
				if st.Requests == 0 {
					return st, 0, fmt.Errorf("%s: no successful login (%d errors, first: %v)", set.name, st.Errors, st.FirstErr)
				}
				return st, (cpu1 - cpu0) / time.Duration(st.Requests), nil
			}
			// The ceiling and the logins run back to back, in alternating order from one
			// repetition to the next, so that a drift in the machine's other load does not
			// always favour the same side.
			var (
				ceil        hashCeiling
				st          loadStats
				cpuPerLogin time.Duration
				errC, errL  error
			)
			if rep%2 == 1 {
				ceil, errC = b.hashCeiling(set.argon2, o.loginWindow)
				st, cpuPerLogin, errL = measure()
			} else {
				st, cpuPerLogin, errL = measure()
				ceil, errC = b.hashCeiling(set.argon2, o.loginWindow)
			}
			if err := errors.Join(errC, errL); err != nil {
				return err
			}
			run := loginRun{stats: st, ceiling: ceil, cpuPerLogin: cpuPerLogin, cpuPerHash: ceil.cpuPerHash()}
			results[si] = append(results[si], run)
			logf("login %s run %d/%d: %s logins/s (ceiling %s hashes/s, %s), p50 %s, p99 %s, CPU per login %s, per hash %s, %d errors",
				set.name, rep, o.reps, fmtRate(st.rate()), fmtRate(ceil.rate()), fmtPct(run.ratio()), fmtDur(st.pct(50)), fmtDur(st.pct(99)),
				fmtDur(run.cpuPerLogin), fmtDur(run.cpuPerHash), st.Errors)
		}
		p.stop()
	}

	var floods []floodRun
	for rep := 1; rep <= o.reps; rep++ {
		if err := b.ctx.Err(); err != nil {
			return err
		}
		f, err := b.loginFlood(rds, rep)
		if err != nil {
			return fmt.Errorf("flood: %w", err)
		}
		floods = append(floods, f)
		logf("login flood run %d/%d: %d logins, RSS before %s, peak %s, after %s (VmHWM %s), %d failed, slowest %s",
			rep, o.reps, o.flood, fmtBytes(float64(f.before.RSS)), fmtBytes(float64(f.peak.RSS)), fmtBytes(float64(f.after.RSS)),
			fmtBytes(float64(f.hwm)), f.failed, fmtDur(f.slowest))
	}
	b.reportLogins(settings, workers, results, floods)
	return nil
}

// loginUsers registers n users (each registration is one hash) and returns their logins.
func (b *bench) loginUsers(base string, n int, tag string) ([]string, error) {
	logins := make([]string, n)
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	err := parallel(n, 4, func(i int) error {
		logins[i] = fmt.Sprintf("%s-%s-%d@bench.test", tag, run, i)
		_, _, err := registerAccount(b.ctx, base, logins[i])
		return err
	})
	return logins, err
}

func loginRequest(host, login string) []byte {
	body, _ := json.Marshal(map[string]string{"login": login, "password": benchPassword})
	return []byte("POST /account/login HTTP/1.1\r\nHost: " + host + "\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + string(body))
}

// hashCeiling runs `ceiling-argon2` for d.
func (b *bench) hashCeiling(a config.Argon2, d time.Duration) (hashCeiling, error) {
	ctx, cancel := context.WithTimeout(b.ctx, d+2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.self, "ceiling-argon2",
		"-m", strconv.Itoa(int(a.MemoryKiB)), "-t", strconv.Itoa(int(a.Iterations)), "-p", strconv.Itoa(int(a.Parallelism)),
		"-duration", d.String())
	out, err := cmd.Output()
	if err != nil {
		return hashCeiling{}, fmt.Errorf("ceiling-argon2: %w", err)
	}
	h := hashCeiling{cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	if err := json.Unmarshal(out, &h); err != nil {
		return hashCeiling{}, fmt.Errorf("ceiling-argon2 output %q: %w", out, err)
	}
	if h.Calls == 0 {
		return hashCeiling{}, fmt.Errorf("ceiling-argon2 hashed nothing in %s", d)
	}
	return h, nil
}

// floodUsers is how many users the flood's logins are spread over.
const floodUsers = 10

// loginFlood starts a fresh server with the default parameters, lets -flood logins arrive at
// once, each on its own connection, and samples the server's RSS throughout.
func (b *bench) loginFlood(rds *redisProc, rep int) (floodRun, error) {
	cfg, err := b.serverConfig(rds.addr, fmt.Sprintf("latch:flood%d:", rep))
	if err != nil {
		return floodRun{}, err
	}
	cfg.Protocols = config.Protocols{Account: &config.Account{}}
	p, err := b.startLatch(fmt.Sprintf("login-flood-%d", rep), cfg)
	if err != nil {
		return floodRun{}, err
	}
	defer p.stop()
	m, err := p.metrics(b.ctx)
	if err != nil {
		return floodRun{}, err
	}
	f := floodRun{workers: int(m.Sum("latch_password_hash_workers", nil))}
	logins, err := b.loginUsers("http://"+p.public, floodUsers, fmt.Sprintf("flood%d", rep))
	if err != nil {
		return floodRun{}, err
	}
	// A few logins first, so "before" is a server that has served logins, not a cold one.
	for i := range 4 {
		hc := newHTTPConn(p.public, nil)
		err := hc.roundTrip(loginRequest(p.public, logins[i%len(logins)]), nil)
		hc.close()
		if err != nil {
			return floodRun{}, fmt.Errorf("warm-up login: %w", err)
		}
	}
	time.Sleep(time.Second)
	if f.before, err = readMemory(p.PID()); err != nil {
		return floodRun{}, err
	}

	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			if m, err := readMemory(p.PID()); err == nil && m.RSS > f.peak.RSS {
				f.peak = m
			}
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
		}
	})

	n := b.opts.flood
	conns := make([]*httpConn, n)
	reqs := make([][]byte, n)
	for i := range conns {
		conns[i] = newHTTPConn(p.public, nil)
		reqs[i] = loginRequest(p.public, logins[i%len(logins)])
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ready sync.WaitGroup
	ready.Add(n)
	for i := range conns {
		wg.Go(func() {
			defer conns[i].close()
			ready.Done()
			<-start
			t0 := time.Now()
			err := conns[i].roundTrip(reqs[i], nil)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			f.slowest = max(f.slowest, d)
			if err != nil {
				f.failed++
				if f.firstErr == nil {
					f.firstErr = err
				}
				return
			}
			f.ok++
		})
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	wg.Wait()
	f.elapsed = time.Since(t0)
	// Let the server settle: the Go runtime returns freed memory to the OS gradually.
	time.Sleep(3 * time.Second)
	close(stopSampling)
	sampling.Wait()
	if f.after, err = readMemory(p.PID()); err != nil {
		return floodRun{}, err
	}
	f.hwm = f.after.HWM
	if f.failed > 0 {
		logf("flood: %d of %d logins failed, first: %v", f.failed, n, f.firstErr)
	}
	return f, nil
}

func (b *bench) reportLogins(settings []hashSetting, workers []int, results [][]loginRun, floods []floodRun) {
	o := b.opts
	var w strings.Builder
	fmt.Fprintf(&w, "## 2. Login\n\n")
	fmt.Fprintf(&w, "Password logins (`POST /account/login`, each creating a session) in a closed loop with twice as many\n")
	fmt.Fprintf(&w, "logins in flight as the server has hash workers (so every worker is always busy and a login waits about\n")
	fmt.Fprintf(&w, "one hash for its worker), %s warm-up and a %s window per run, %d runs. The ceiling is\n", o.warmup, o.loginWindow, o.reps)
	fmt.Fprintf(&w, "`hack/bench ceiling-argon2`: raw `argon2.IDKey` calls with the same parameters, salt and key\n")
	fmt.Fprintf(&w, "lengths, one goroutine per core, in its own process, run right before or right after each login run\n")
	fmt.Fprintf(&w, "(alternating); its latency is one call's. The ratio is the median of the runs' own ratios, lowest and\n")
	fmt.Fprintf(&w, "highest in brackets. CPU per login is the server process's CPU time over the window per login, CPU per\n")
	fmt.Fprintf(&w, "hash the ceiling process's per call; their quotient (CPU ratio) is what the server adds to the hash, and\n")
	fmt.Fprintf(&w, "unlike wall-clock rates it does not move with whatever else the machine runs meanwhile.\n\n")
	fmt.Fprintf(&w, "| parameters | hash workers | logins/s | ceiling hashes/s | ratio | CPU ratio | login p50 | login p99 | one hash p50 | one hash p99 | CPU per login | CPU per hash | errors |\n")
	fmt.Fprintf(&w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for si, set := range settings {
		var rate, ceil, ratios, p50, p99, h50, h99, cpuL, cpuH []float64
		var errs int64
		for _, r := range results[si] {
			rate = append(rate, r.stats.rate())
			ceil = append(ceil, r.ceiling.rate())
			ratios = append(ratios, r.ratio())
			p50 = append(p50, r.stats.pct(50).Seconds())
			p99 = append(p99, r.stats.pct(99).Seconds())
			h50 = append(h50, r.ceiling.P50ms/1000)
			h99 = append(h99, r.ceiling.P99ms/1000)
			cpuL = append(cpuL, r.cpuPerLogin.Seconds())
			cpuH = append(cpuH, r.cpuPerHash.Seconds())
			errs += r.stats.Errors
		}
		ratio, cpuRatio := median(ratios), median(cpuH)/median(cpuL)
		fmt.Fprintf(&w, "| %s %s | %d | %s | %s | %s %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", set.name, set, workers[si],
			fmtRate(median(rate)), fmtRate(median(ceil)), fmtPct(ratio), spread(ratios), fmtPct(cpuRatio),
			fmtDur(secs(median(p50))), fmtDur(secs(median(p99))),
			fmtDur(secs(median(h50))), fmtDur(secs(median(h99))), fmtDur(secs(median(cpuL))), fmtDur(secs(median(cpuH))), errs)
		b.report.target("login", fmt.Sprintf("logins/s within 10 %% of the hashing ceiling — %s (%s)", set.name, set),
			fmt.Sprintf("%s %s (%s vs %s/s); CPU ratio %s (%s per login vs %s per hash); login p99 %s%s", fmtPct(ratio), spread(ratios),
				fmtRate(median(rate)), fmtRate(median(ceil)), fmtPct(cpuRatio), fmtDur(secs(median(cpuL))), fmtDur(secs(median(cpuH))),
				fmtDur(secs(median(p99))), shortfall(ratio < targetLoginRatio, pointsShort(targetLoginRatio-ratio))),
			ratio >= targetLoginRatio)
	}

	def := settings[0].argon2
	fmt.Fprintf(&w, "\n### Memory under a flood of %d concurrent logins\n\n", o.flood)
	fmt.Fprintf(&w, "A fresh server with the default parameters (%s), %d logins arriving at once, each on its own\n", settings[0], o.flood)
	fmt.Fprintf(&w, "connection, spread over %d users. RSS is sampled every 5 ms from `/proc/PID/status`; \"before\" is\n", floodUsers)
	fmt.Fprintf(&w, "after a few warm-up logins, \"after\" 3 s after the last answer. Without the pool, %d concurrent\n", o.flood)
	fmt.Fprintf(&w, "hashes would need %s at once. The bound the pool should keep to: RSS growth ≤ 2 × workers ×\n", fmtBytes(float64(o.flood)*float64(def.MemoryKiB)*1024))
	fmt.Fprintf(&w, "memory (the hashes in flight, doubled for Go's GC target, GOGC=100) plus 64 KiB per waiting connection.\n\n")
	fmt.Fprintf(&w, "| run | workers | RSS before | peak RSS (sampled) | VmHWM | RSS after | growth at peak | bound | logins ok | failed | flood duration | slowest login |\n")
	fmt.Fprintf(&w, "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	flat := true
	var growths []float64
	var bound float64
	for i, f := range floods {
		growth := float64(max(f.peak.RSS, f.hwm) - f.before.RSS)
		bound = 2*float64(f.workers)*float64(def.MemoryKiB)*1024 + float64(o.flood)*64*1024
		growths = append(growths, growth)
		flat = flat && growth <= bound && f.failed == 0
		fmt.Fprintf(&w, "| %d | %d | %s | %s | %s | %s | %s | %s | %d | %d | %s | %s |\n", i+1, f.workers,
			fmtBytes(float64(f.before.RSS)), fmtBytes(float64(f.peak.RSS)), fmtBytes(float64(f.hwm)), fmtBytes(float64(f.after.RSS)),
			fmtBytes(growth), fmtBytes(bound), f.ok, f.failed, fmtDur(f.elapsed), fmtDur(f.slowest))
	}
	fmt.Fprintln(&w)
	b.report.section("login", w.String())
	b.report.target("login", fmt.Sprintf("RSS flat under a flood of %d concurrent logins (bounded by the hashing pool)", o.flood),
		fmt.Sprintf("median growth at peak %s, bound %s%s", fmtBytes(median(growths)), fmtBytes(bound),
			shortfall(!flat, "a run grew past the bound or failed logins")), flat)
}
