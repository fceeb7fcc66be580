package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// unavailableReplies are server errors that mean "not now" rather than "wrong request".
var unavailableReplies = []string{"LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "READONLY", "BUSY", "NOREPLICAS", "MISCONF", "OOM"}

// writeRefusals are the "not now" replies of a server that still answers reads: out of
// memory under noeviction, a read-only replica, a failed RDB save with
// stop-writes-on-bgsave-error.
var writeRefusals = []string{"OOM", "READONLY", "MISCONF"}

// isUnavailable reports whether a non-nil go-redis error means Redis cannot answer now rather
// than that the request was wrong: everything that is not a reply from a working server (dial
// failures, timeouts, pool timeouts, closed connections, a closed client, cancelled contexts)
// and the "not now" replies above. Other server replies (WRONGTYPE, CROSSSLOT, script errors,
// redis.Nil) are not. wrapErr and the Health monitor share it.
func isUnavailable(err error) bool {
	msg, ok := serverReply(err)
	return !ok || hasPrefix(msg, unavailableReplies)
}

// writeRefused reports whether err is Redis refusing a write it would otherwise run
// (writeRefusals); reads still work then.
func writeRefused(err error) bool {
	msg, ok := serverReply(err)
	return ok && hasPrefix(msg, writeRefusals)
}

// serverReply returns the error reply of a server that answered, if err is one.
func serverReply(err error) (string, bool) {
	var rerr redis.Error
	if err == nil || !errors.As(err, &rerr) || isNetError(err) {
		return "", false
	}
	return rerr.Error(), true
}

// hasPrefix reports whether msg starts with one of prefixes (the replies' error codes).
func hasPrefix(msg string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

func isNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}

// outcome is what one command, pipeline or dial says about Redis, in increasing severity: a
// pipeline takes the worst of its commands.
type outcome int

const (
	// outcomeIgnored says nothing about Redis: the caller gave up (context cancelled), or the
	// client was closed on purpose.
	outcomeIgnored outcome = iota
	// outcomeOK is a reply from a working server, redis.Nil and NOSCRIPT included (EVALSHA's
	// miss is answered by sending the script).
	outcomeOK
	// outcomeOther is an error reply from a working server: a bug, not an outage. It still
	// shows the server answering.
	outcomeOther
	// outcomeUnavailable is Redis not answering, or answering "not now".
	outcomeUnavailable
)

func judge(err error) outcome {
	switch {
	case err == nil, errors.Is(err, redis.Nil):
		return outcomeOK
	case errors.Is(err, context.Canceled), errors.Is(err, redis.ErrClosed):
		return outcomeIgnored
	case isUnavailable(err):
		return outcomeUnavailable
	case strings.HasPrefix(err.Error(), "NOSCRIPT"):
		return outcomeOK
	}
	return outcomeOther
}

// judgeCmd is judge for one command of a pipeline. The connection handshake runs through the
// hooks too, and go-redis probes for features with it (CLIENT SETINFO, CLIENT
// MAINT_NOTIFICATIONS, HELLO): an older server's "unknown subcommand" is an answer, not a bug.
func judgeCmd(c redis.Cmder, err error) outcome {
	o := judge(err)
	if o == outcomeOther {
		switch c.Name() {
		case "client", "hello":
			return outcomeOK
		}
	}
	return o
}

// HealthReportEvery bounds the "redis still unavailable" lines of an outage: at most one per
// interval. A failure within the same interval after a recovery is taken for the same outage
// (a flapping link logs one outage, not a line per command).
const HealthReportEvery = 10 * time.Second

// Health is a go-redis hook that watches what a client's commands say about Redis and turns an
// outage into three kinds of log lines instead of one per failed request:
//
//   - ERROR "redis unavailable", once, at the first unavailable result after a success (or
//     at the first ever, for a store that starts while Redis is down), with the command and
//     the error;
//   - WARN "redis still unavailable", at most once per HealthReportEvery while it lasts, with
//     the failures since the previous line;
//   - INFO "redis available again", at the first success after it, with its duration and how
//     many commands failed during it.
//
// It also counts errors by kind and outages, and tells whether Redis is up, for the metrics.
// Commands and pipelines are judged by ProcessHook and ProcessPipelineHook; a failed dial
// (a pub/sub reconnection, the pool's background redial) marks Redis down too, without
// counting as a failed command. A command that ends because its caller gave up (context
// cancelled) or because the client was closed says nothing about Redis and is not counted.
//
// A success costs one atomic load; only the transitions take a lock.
type Health struct {
	logger *slog.Logger
	every  time.Duration
	now    func() time.Time

	// up is 1 while Redis answers, 0 before the first result and during an outage.
	up          atomic.Int32
	unavailable atomic.Int64
	other       atomic.Int64
	outages     atomic.Int64

	mu sync.Mutex
	// down is set from the first unavailable result to the next success.
	down bool
	// since is when the current (or last) outage began.
	since time.Time
	// failed counts the failed commands of the current (or last) outage; sinceLine those
	// since the last line logged about it.
	failed, sinceLine int64
	// lastLine is when the last line about the outage was logged; recovered when it ended.
	lastLine, recovered time.Time
	// relapses counts failures taken back into an outage that had just been reported over.
	relapses int64
}

var _ redis.Hook = (*Health)(nil)

// NewHealth returns a monitor that logs to logger (slog.Default() if nil). Add it to the
// store's client (Store.AddHook).
func NewHealth(logger *slog.Logger) *Health {
	if logger == nil {
		logger = slog.Default()
	}
	return &Health{logger: logger, every: HealthReportEvery, now: time.Now}
}

// Up reports whether the last command that said anything about Redis succeeded: false before
// the first one and during an outage.
func (h *Health) Up() bool { return h.up.Load() == 1 }

// UnavailableErrors counts the commands and pipelines that found Redis unavailable.
func (h *Health) UnavailableErrors() int64 { return h.unavailable.Load() }

// OtherErrors counts the commands and pipelines answered with an error reply that is not an
// outage (a bug: WRONGTYPE, a script error).
func (h *Health) OtherErrors() int64 { return h.other.Load() }

// Outages counts the outages begun, the one in progress included.
func (h *Health) Outages() int64 { return h.outages.Load() }

// DialHook implements redis.Hook.
func (h *Health) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := next(ctx, network, addr)
		if err != nil && judge(err) == outcomeUnavailable {
			h.failure("dial "+addr, err, false)
		}
		return conn, err
	}
}

// ProcessHook implements redis.Hook.
func (h *Health) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.observe(cmd.Name(), judgeCmd(cmd, err), err)
		return err
	}
}

// ProcessPipelineHook implements redis.Hook.
func (h *Health) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		// The worst of the commands' results; the pipeline's own error (the first command's,
		// in go-redis) only when no command carries one.
		worst, werr, cmdErr := outcomeIgnored, err, false
		for _, c := range cmds {
			cmdErr = cmdErr || c.Err() != nil
			if o := judgeCmd(c, c.Err()); o > worst {
				worst, werr = o, c.Err()
			}
		}
		if !cmdErr && err != nil {
			worst = judge(err)
		}
		h.observe("pipeline", worst, werr)
		return err
	}
}

// observe records one command's or pipeline's outcome.
func (h *Health) observe(op string, o outcome, err error) {
	switch o {
	case outcomeOK:
		h.success()
	case outcomeOther:
		h.other.Add(1)
		h.success() // the server answered
	case outcomeUnavailable:
		h.unavailable.Add(1)
		h.failure(op, err, true)
	}
}

func (h *Health) success() {
	if h.up.Load() == 1 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.up.Load() == 1 {
		return
	}
	h.up.Store(1)
	if !h.down {
		return // the first result of a store that was never down
	}
	h.down = false
	now := h.now()
	h.recovered = now
	// A recovery of a relapsed outage is reported at the pace of the "still" lines.
	if h.relapses > 0 && now.Sub(h.lastLine) < h.every {
		return
	}
	h.lastLine = now
	attrs := []any{
		slog.Float64("duration_ms", float64(now.Sub(h.since).Microseconds())/1000),
		slog.Int64("failed", h.failed),
	}
	if h.relapses > 0 {
		attrs = append(attrs, slog.Int64("relapses", h.relapses))
	}
	h.logger.Info("redis available again", attrs...)
	h.sinceLine = 0
}

// failure records a result that found Redis unavailable; counted says whether it was a command
// (or pipeline) rather than a dial.
func (h *Health) failure(op string, err error, counted bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.up.Store(0)
	now := h.now()
	if counted {
		h.failed++
		h.sinceLine++
	}
	if h.down {
		if now.Sub(h.lastLine) >= h.every {
			h.lastLine = now
			h.logger.Warn("redis still unavailable",
				slog.Float64("duration_ms", float64(now.Sub(h.since).Microseconds())/1000),
				slog.Int64("failed", h.sinceLine), slog.Int64("failed_total", h.failed),
				slog.String("op", op), slog.String("error", err.Error()))
			h.sinceLine = 0
		}
		return
	}
	h.down = true
	if !h.recovered.IsZero() && now.Sub(h.recovered) < h.every {
		// Back down right after a recovery: the same outage goes on (its start, its count).
		h.relapses++
		return
	}
	h.since, h.lastLine, h.relapses = now, now, 0
	h.failed, h.sinceLine = 0, 0
	if counted {
		h.failed, h.sinceLine = 1, 1
	}
	h.outages.Add(1)
	h.logger.Error("redis unavailable", slog.String("op", op), slog.String("error", err.Error()))
}

// ClientLogger adapts go-redis's own logger (redis.SetLogger, process-wide) to slog: each line
// becomes a WARN "redis client" with the formatted text in "detail", so the server's log stays
// JSON. The Sentinel client's failover line becomes an INFO "redis master changed" with the
// master's name and address, and is counted. The pool's "failed to dial" lines, one per dial
// during an outage and redundant with the Health monitor's report, go to DEBUG.
type ClientLogger struct {
	logger        atomic.Pointer[slog.Logger]
	masterChanges atomic.Int64
}

// NewClientLogger returns an adapter that logs to logger. SetClientLogger installs the
// process's.
func NewClientLogger(logger *slog.Logger) *ClientLogger {
	c := &ClientLogger{}
	c.SetLogger(logger)
	return c
}

// SetLogger changes where the adapter logs (slog.Default() if nil).
func (c *ClientLogger) SetLogger(logger *slog.Logger) {
	if logger == nil {
		logger = slog.Default()
	}
	c.logger.Store(logger)
}

// MasterChanges counts the Sentinel master changes logged so far.
func (c *ClientLogger) MasterChanges() int64 { return c.masterChanges.Load() }

// sentinelNewMaster is the format of go-redis's failover line (sentinel.go).
const sentinelNewMaster = "sentinel: new master=%q addr=%q"

// Printf implements go-redis's internal.Logging.
func (c *ClientLogger) Printf(ctx context.Context, format string, v ...any) {
	l := c.logger.Load()
	if format == sentinelNewMaster && len(v) == 2 {
		c.masterChanges.Add(1)
		l.InfoContext(ctx, "redis master changed", slog.String("master", fmt.Sprint(v[0])), slog.String("addr", fmt.Sprint(v[1])))
		return
	}
	level := slog.LevelWarn
	if strings.Contains(format, "failed to dial") {
		level = slog.LevelDebug
	}
	if !l.Enabled(ctx, level) {
		return
	}
	l.Log(ctx, level, "redis client", slog.String("detail", strings.TrimSpace(fmt.Sprintf(format, v...))))
}

var (
	clientLogger     = NewClientLogger(nil)
	installClientLog sync.Once
)

// SetClientLogger routes go-redis's own log lines, for the whole process, to logger through
// the ClientLogger it returns (the same one at every call: the last logger set wins). The
// server calls it once at startup.
func SetClientLogger(logger *slog.Logger) *ClientLogger {
	clientLogger.SetLogger(logger)
	installClientLog.Do(func() { redis.SetLogger(clientLogger) })
	return clientLogger
}
