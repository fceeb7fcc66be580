package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/internal/childproc"
)

// Startup and shutdown bounds of the processes the bench runs.
const (
	startTimeout = 60 * time.Second
	stopGrace    = 30 * time.Second
)

// child is one process the bench started: a redis-server, a latch server or a ceiling
// program. Its output goes to a file in the work directory, kept for a failed run; the child
// writes it directly, so its logging costs the bench nothing. The kernel kills it if the bench
// dies first, so no server outlives an interrupted run.
type child struct{ *childproc.Process }

func startChild(name, logPath string, env []string, bin string, args ...string) (*child, error) {
	p, err := childproc.Start(childproc.Spec{Path: bin, Args: args, Env: append(os.Environ(), env...), LogFile: logPath})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &child{p}, nil
}

// stop ends the process with SIGTERM, and SIGKILL after stopGrace.
func (c *child) stop() {
	if c != nil {
		c.Stop(stopGrace)
	}
}

// memory is a process's resident memory from /proc/PID/status, in bytes.
type memory struct {
	RSS, HWM int64 // VmRSS now, VmHWM (the peak since the process started)
}

func readMemory(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			m.RSS = kb << 10
		} else {
			m.HWM = kb << 10
		}
	}
	return m, sc.Err()
}

// redisProc is a redis-server without persistence on a loopback port.
type redisProc struct {
	*child
	addr   string
	client *redis.Client
}

func (b *bench) startRedis(name string) (*redisProc, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server is not in PATH (hack/tools.sh redis installs it): %w", err)
	}
	dir := filepath.Join(b.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var lastErr error
	// A free port can be taken between choosing and binding it: try a few.
	for range 5 {
		port, err := childproc.FreePort()
		if err != nil {
			return nil, err
		}
		c, err := startChild(name, filepath.Join(dir, "redis.log"), nil, bin,
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--maxclients", "10000")
		if err != nil {
			return nil, err
		}
		r := &redisProc{child: c, addr: childproc.Loopback(port)}
		r.client = redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1})
		if lastErr = r.waitPing(); lastErr == nil {
			b.cleanup(r.stop)
			return r, nil
		}
		r.stop()
	}
	return nil, fmt.Errorf("%s: %w", name, lastErr)
}

func (r *redisProc) waitPing() error {
	return r.WaitReady(15*time.Second, func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return r.client.Ping(ctx).Err()
	})
}

func (r *redisProc) stop() {
	if r == nil {
		return
	}
	_ = r.client.Close()
	r.child.stop()
}

// version returns redis_version from INFO server.
func (r *redisProc) version(ctx context.Context) string {
	info, err := r.client.Info(ctx, "server").Result()
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v
		}
	}
	return "unknown"
}

// commandStats returns the calls of every command since the server started (INFO
// commandstats). Commands run inside a script are counted under their own names as well.
func (r *redisProc) commandStats(ctx context.Context) (map[string]int64, error) {
	info, err := r.client.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, fmt.Errorf("INFO commandstats: %w", err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		// cmdstat_evalsha:calls=12,usec=...,usec_per_call=...,rejected_calls=0,failed_calls=0
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		for _, kv := range strings.Split(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				out[strings.TrimPrefix(name, "cmdstat_")] = n
			}
		}
	}
	return out, nil
}

// commandDelta is what a measured window cost Redis: script calls and every command.
type commandDelta struct {
	Scripts int64 // EVALSHA + EVAL calls
	Total   int64 // every command, those run inside scripts included
}

func diffCommands(before, after map[string]int64) commandDelta {
	var d commandDelta
	for k, v := range after {
		n := v - before[k]
		d.Total += n
		if k == "evalsha" || k == "eval" || k == "evalsha_ro" || k == "eval_ro" {
			d.Scripts += n
		}
	}
	// INFO itself is a command and lands in the window once.
	d.Total -= after["info"] - before["info"]
	return d
}

// latchProc is one `latch server` process.
type latchProc struct {
	*child
	public, admin string // host:port
	cfg           *config.Config
}

// startLatch writes cfg and starts `bin/latch server` on it, waiting until /readyz says 200.
func (b *bench) startLatch(name string, cfg *config.Config) (*latchProc, error) {
	dir := filepath.Join(b.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	raw, err := cfg.Marshal()
	if err != nil {
		return nil, err
	}
	eff, err := config.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: the bench's config is invalid: %w", name, err)
	}
	cfgPath, addrPath := filepath.Join(dir, "config.json"), filepath.Join(dir, "addr.json")
	if err := os.WriteFile(cfgPath, raw, 0o600); err != nil {
		return nil, err
	}
	_ = os.Remove(addrPath)
	c, err := startChild(name, filepath.Join(dir, "server.log"), b.opts.serverEnv, b.latchBin, "server", "--config", cfgPath, "--addr-file", addrPath)
	if err != nil {
		return nil, err
	}
	p := &latchProc{child: c, cfg: eff}
	if err := p.WaitReady(startTimeout, func(ctx context.Context) error { return p.ready(ctx, addrPath) }); err != nil {
		c.stop()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	b.cleanup(p.stop)
	return p, nil
}

// ready reads the bound addresses once the server has written them, then asks /readyz.
func (p *latchProc) ready(ctx context.Context, addrPath string) error {
	if p.admin == "" {
		raw, err := os.ReadFile(addrPath)
		if err != nil {
			return fmt.Errorf("no address file yet: %w", err)
		}
		var a struct{ Public, Admin string }
		if err := json.Unmarshal(raw, &a); err != nil {
			return fmt.Errorf("address file: %w", err)
		}
		p.public, p.admin = a.Public, a.Admin
	}
	return childproc.GetOK(ctx, "http://"+p.admin+"/readyz")
}

// metrics scrapes the admin port's /metrics.
func (p *latchProc) metrics(ctx context.Context) (childproc.Metrics, error) {
	return childproc.Scrape(ctx, "http://"+p.admin+"/metrics")
}

// forceGC makes the server collect garbage, through the heap profile's gc=1 (the admin port
// serves pprof when listen.pprof is set), so heap figures read right after count live memory
// only.
func (p *latchProc) forceGC(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.admin+"/debug/pprof/heap?gc=1", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /debug/pprof/heap: %s (is listen.pprof set?)", resp.Status)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

// ceilingProc is the session-check ceiling program (this binary, `ceiling-session`).
type ceilingProc struct {
	*child
	addr string
}

func (b *bench) startSessionCeiling(name, redisAddr string) (*ceilingProc, error) {
	dir := filepath.Join(b.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	addrPath := filepath.Join(dir, "addr")
	args := []string{"ceiling-session", "-redis", redisAddr, "-addr-file", addrPath}
	if b.opts.profileDir != "" {
		args = append(args, "-cpuprofile", filepath.Join(b.opts.profileDir, name+".cpu.pprof"))
	}
	c, err := startChild(name, filepath.Join(dir, "ceiling.log"), nil, b.self, args...)
	if err != nil {
		return nil, err
	}
	p := &ceilingProc{child: c}
	err = c.WaitReady(startTimeout, func(context.Context) error {
		raw, err := os.ReadFile(addrPath)
		if err != nil || len(raw) == 0 {
			return fmt.Errorf("no address in %s yet", addrPath)
		}
		p.addr = strings.TrimSpace(string(raw))
		return nil
	})
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("%s did not start: %w", name, err)
	}
	b.cleanup(c.stop)
	return p, nil
}

// raiseFileLimit lifts RLIMIT_NOFILE to at least n, the hard limit too (the bench runs as
// root in CI; elsewhere the hard limit must already allow it). Children inherit it, and a Go
// child raises its own soft limit to the hard one at startup.
func raiseFileLimit(n uint64) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur >= n && lim.Max >= n {
		return nil
	}
	lim.Cur = max(lim.Cur, n)
	lim.Max = max(lim.Max, n)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("setrlimit RLIMIT_NOFILE %d (run as root, or raise `ulimit -Hn`): %w", n, err)
	}
	return nil
}

var errStopped = errors.New("bench stopped")

// clockTick is the kernel's USER_HZ: /proc/PID/stat counts CPU time in these ticks. It is
// 100 on every Linux architecture Go supports.
const clockTick = 100

// cpuTime returns the CPU time (user + system) a process has used so far.
func cpuTime(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count fields after its closing parenthesis.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// startCPUProfile profiles the bench's own process (the in-process operator) into path; the
// returned function stops it, once.
func startCPUProfile(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}, nil
}
