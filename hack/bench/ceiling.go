package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/password"
	"github.com/latchauth/latch/authserver/store/redisstore"
)

// The ceiling programs are this binary run with a subcommand, each in its own process like
// the server it bounds, so the two compete for the machine alike.

// ceilingScript is the least a session check can ask of Redis: get the stored token,
// compare it, set it back and renew its expiry, in one EVALSHA.
const ceilingScript = `
local v = redis.call('GET', KEYS[1])
if v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], v)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`

// ceilingKeyPrefix prefixes the keys the ceiling checks; the bench seeds one per connection.
const ceilingKeyPrefix = "ceiling:"

// runSessionCeiling is `ceiling-session`: a bare net/http handler doing exactly one EVALSHA
// per request, with the Redis client and HTTP server settings of `latch server` (built from
// the same config defaults through the same constructor, redisstore.NewClient).
func runSessionCeiling(args []string) error {
	fs := flag.NewFlagSet("ceiling-session", flag.ContinueOnError)
	redisAddr := fs.String("redis", "", "Redis host:port")
	addrFile := fs.String("addr-file", "", "write the bound address here once listening")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	cfg := &config.Config{Redis: &config.Redis{Addresses: []string{*redisAddr}}}
	cfg.Default()
	rc, err := redisstore.NewClient(cfg.Redis)
	if err != nil {
		return err
	}
	defer rc.Close()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	sha, err := rc.ScriptLoad(ctx, ceilingScript).Result()
	if err != nil {
		return fmt.Errorf("SCRIPT LOAD: %w", err)
	}
	ttl := strconv.FormatInt(time.Hour.Milliseconds(), 10)
	ok := []byte(`{"ok":true}`)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key, secret, found := strings.Cut(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), ".")
		if !found {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		n, err := rc.EvalSha(r.Context(), sha, []string{ceilingKeyPrefix + key}, secret, ttl).Int()
		switch {
		case err != nil:
			http.Error(w, "store error", http.StatusInternalServerError)
		case n != 1:
			http.Error(w, "invalid token", http.StatusUnauthorized)
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(ok)
		}
	})
	l := cfg.Listen
	srv := &http.Server{
		Handler: h, ReadHeaderTimeout: l.ReadHeaderTimeout.Duration, ReadTimeout: l.ReadTimeout.Duration,
		WriteTimeout: l.WriteTimeout.Duration, IdleTimeout: l.IdleTimeout.Duration, MaxHeaderBytes: l.MaxHeaderBytes,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(*addrFile, []byte(ln.Addr().String())); err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// hashCeiling is the output of `ceiling-argon2`.
type hashCeiling struct {
	Calls   int64   `json:"calls"`
	Seconds float64 `json:"seconds"`
	Threads int     `json:"threads"`
	P50ms   float64 `json:"p50_ms"`
	P99ms   float64 `json:"p99_ms"`
	// cpu is the process's CPU time, from its rusage (set by the bench, not printed).
	cpu time.Duration
}

func (h hashCeiling) rate() float64 { return float64(h.Calls) / h.Seconds }

func (h hashCeiling) cpuPerHash() time.Duration { return h.cpu / time.Duration(max(h.Calls, 1)) }

// runHashCeiling is `ceiling-argon2`: raw argon2.IDKey calls with the given parameters, one
// goroutine per core (GOMAXPROCS), for a duration; it prints calls per second as JSON. The
// salt and key lengths are the server's (password.SaltLen, password.KeyLen).
func runHashCeiling(args []string) error {
	fs := flag.NewFlagSet("ceiling-argon2", flag.ContinueOnError)
	m := fs.Uint("m", 19*1024, "memory in KiB")
	t := fs.Uint("t", 2, "iterations")
	p := fs.Uint("p", 1, "parallelism")
	d := fs.Duration("duration", 5*time.Second, "how long to hash")
	if err := fs.Parse(args); err != nil {
		return err
	}
	threads := runtime.GOMAXPROCS(0)
	salt := make([]byte, password.SaltLen)
	pw := []byte("bench-password-123")
	lat := make([][]time.Duration, threads)
	start := time.Now()
	deadline := start.Add(*d)
	var wg sync.WaitGroup
	for i := range threads {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				t0 := time.Now()
				argon2.IDKey(pw, salt, uint32(*t), uint32(*m), uint8(*p), password.KeyLen)
				lat[i] = append(lat[i], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	out := hashCeiling{
		Calls: int64(len(all)), Seconds: elapsed.Seconds(), Threads: threads,
		P50ms: ms(percentile(all, 50)), P99ms: ms(percentile(all, 99)),
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// writeFileAtomic writes through a temporary file and a rename, so a reader polling for the
// file never sees it half written.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
