package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchauth/latch/authserver/core"
	"github.com/latchauth/latch/authserver/store"
	"github.com/latchauth/latch/authserver/token"
)

// The admin suite: what `latch admin sessions list` and `sessions revoke --user` cost for a
// user with many sessions, each holding a live socket.

// Admin targets (issue 14).
const (
	adminSessions         = 1000
	adminListCalls        = 200
	targetAdminListP99    = 50 * time.Millisecond
	targetAdminRevokeAll  = time.Second
	adminSocketSourceAddr = 4
)

// adminRun is one repetition: a fresh user with adminSessions sessions.
type adminRun struct {
	list, ceiling []time.Duration // sorted
	bound         int
	revokeCall    time.Duration // RevokeAllSessions' own round trip
	allClosed     time.Duration // from the call to the last close push
	closed        int
}

func (b *bench) adminSuite() error {
	o := b.opts
	realm, err := b.startSocketRealm("admin", adminSessions)
	if err != nil {
		return err
	}
	defer realm.store.Close()
	// What latch admin runs, minus the process start: core.Admin over the realm's store.
	adm := core.Admin{Service: &core.Service{Store: realm.store, Hasher: realm.hasher, Config: realm.cfg,
		Logger: slog.New(slog.DiscardHandler), Now: time.Now}, Actor: "bench"}
	var runs []adminRun
	for rep := 1; rep <= o.reps; rep++ {
		if err := b.ctx.Err(); err != nil {
			return err
		}
		r, err := b.adminRun(rep, adm, realm)
		if err != nil {
			return fmt.Errorf("run %d: %w", rep, err)
		}
		runs = append(runs, r)
		logf("admin run %d/%d: sessions list p50 %s p99 %s (ceiling p99 %s); revoke-all call %s, %d/%d sockets closed in %s",
			rep, o.reps, fmtDur(percentile(r.list, 50)), fmtDur(percentile(r.list, 99)), fmtDur(percentile(r.ceiling, 99)),
			fmtDur(r.revokeCall), r.closed, r.bound, fmtDur(r.allClosed))
	}
	b.reportAdmin(runs)
	return nil
}

func (b *bench) adminRun(rep int, adm core.Admin, realm *socketRealm) (adminRun, error) {
	st, replica := realm.store, realm.replica
	var r adminRun
	now := time.Now()
	uid, err := token.NewID()
	if err != nil {
		return r, err
	}
	login := fmt.Sprintf("admin-%d-%s@bench.test", rep, uid)
	if _, err := st.CreateUser(b.ctx, store.User{ID: uid, Login: login, Email: login, Status: store.StatusActive}, now); err != nil {
		return r, err
	}
	sessions := make([]socketSession, adminSessions)
	keys := make([]string, adminSessions)
	err = parallel(adminSessions, 32, func(i int) (err error) {
		sessions[i], err = realm.newSession(b, uid, now, func(s *store.Session) {
			s.ClientIP, s.UserAgent = "203.0.113.9", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
			keys[i] = replica.cfg.Redis.KeyPrefix + "{u:" + uid + "}:s:" + s.ID
		})
		return err
	})
	if err != nil {
		return r, fmt.Errorf("create sessions: %w", err)
	}

	// sessions list, and its ceiling (the same records in one pipelined round trip of HGETALLs,
	// no script), interleaved.
	for range adminListCalls {
		t0 := time.Now()
		got, err := adm.Sessions(b.ctx, uid)
		r.list = append(r.list, time.Since(t0))
		if err != nil {
			return r, err
		}
		if len(got) != adminSessions {
			return r, fmt.Errorf("sessions list: %d sessions, want %d", len(got), adminSessions)
		}
		t0 = time.Now()
		if err := hgetallPipelined(b.ctx, realm.redis.client, keys); err != nil {
			return r, err
		}
		r.ceiling = append(r.ceiling, time.Since(t0))
	}
	slices.Sort(r.list)
	slices.Sort(r.ceiling)

	// One live socket per session on the replica.
	bound0, err := waitMetric(b.ctx, replica, "latch_socket_bound_connections", 0, 30*time.Second)
	if err != nil {
		return r, fmt.Errorf("sockets of the previous run still bound (%v): %w", bound0, err)
	}
	held, err := holdSockets(b, "ws://"+replica.public+"/react-auth/socket", sessions, adminSocketSourceAddr)
	defer held.close()
	if err != nil {
		return r, err
	}
	closedAt := held.closedAt
	bound, err := waitMetric(b.ctx, replica, "latch_socket_bound_connections", adminSessions, 30*time.Second)
	r.bound = int(bound)
	if err != nil {
		return r, err
	}

	// sessions revoke --user: one call; every socket must hear close.
	t0 := time.Now()
	ended, err := adm.RevokeSessions(b.ctx, uid)
	r.revokeCall = time.Since(t0)
	if err != nil {
		return r, err
	}
	if len(ended) != adminSessions {
		return r, fmt.Errorf("revoke-all ended %d sessions, want %d", len(ended), adminSessions)
	}
	deadline := time.Now().Add(30 * time.Second)
	var last int64
	for {
		r.closed, last = 0, 0
		for i := range closedAt {
			if at := closedAt[i].Load(); at != 0 {
				r.closed++
				last = max(last, at)
			}
		}
		if r.closed == adminSessions || time.Now().After(deadline) || b.ctx.Err() != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if last != 0 {
		r.allClosed = time.Duration(last - t0.UnixNano())
	}
	return r, nil
}

// hgetallPipelined reads every key's hash in one round trip.
func hgetallPipelined(ctx context.Context, c *redis.Client, keys []string) error {
	p := c.Pipeline()
	for _, k := range keys {
		p.HGetAll(ctx, k)
	}
	_, err := p.Exec(ctx)
	return err
}

func (b *bench) reportAdmin(runs []adminRun) {
	var w strings.Builder
	fmt.Fprintf(&w, "## 5. Administration: a user's sessions\n\n")
	fmt.Fprintf(&w, "One user holds %d sessions (written through the store, each with an address and a user agent). `sessions\n", adminSessions)
	fmt.Fprintf(&w, "list` is what `latch admin sessions list --user` runs after its lookup: `core.Admin.Sessions`, one Redis\n")
	fmt.Fprintf(&w, "script over the user's index, called %d times; its ceiling is the same %d records read with a pipelined\n", adminListCalls, adminSessions)
	fmt.Fprintf(&w, "HGETALL each, one round trip, calls interleaved. Then every session gets a live reactAuth socket on one\n")
	fmt.Fprintf(&w, "replica, and `sessions revoke --user` (`core.Admin.RevokeSessions`, one script) ends them all: the time runs\n")
	fmt.Fprintf(&w, "from the call to the last socket's close push. The process start of `latch admin` is not counted.\n\n")
	fmt.Fprintf(&w, "| run | list p50 | list p99 | ceiling p50 | ceiling p99 | revoke-all call | all %d sockets closed | closed |\n", adminSessions)
	fmt.Fprintf(&w, "|---|---|---|---|---|---|---|---|\n")
	var lp99, lp50, cp99, cp50, call, all []float64
	allClosed := true
	for i, r := range runs {
		lp50, lp99 = append(lp50, percentile(r.list, 50).Seconds()), append(lp99, percentile(r.list, 99).Seconds())
		cp50, cp99 = append(cp50, percentile(r.ceiling, 50).Seconds()), append(cp99, percentile(r.ceiling, 99).Seconds())
		call, all = append(call, r.revokeCall.Seconds()), append(all, r.allClosed.Seconds())
		allClosed = allClosed && r.closed == adminSessions
		fmt.Fprintf(&w, "| %d | %s | %s | %s | %s | %s | %s | %d / %d |\n", i+1, fmtDur(percentile(r.list, 50)), fmtDur(percentile(r.list, 99)),
			fmtDur(percentile(r.ceiling, 50)), fmtDur(percentile(r.ceiling, 99)), fmtDur(r.revokeCall), fmtDur(r.allClosed), r.closed, r.bound)
	}
	fmt.Fprintf(&w, "| median | %s | %s | %s | %s | %s | %s | |\n\n", fmtDur(secs(median(lp50))), fmtDur(secs(median(lp99))),
		fmtDur(secs(median(cp50))), fmtDur(secs(median(cp99))), fmtDur(secs(median(call))), fmtDur(secs(median(all))))
	b.report.section("admin", w.String())
	p99 := secs(median(lp99))
	b.report.target("admin", "sessions list of a user with 1,000 sessions: p99 < 50 ms",
		fmt.Sprintf("p99 %s (ceiling %s), p50 %s", fmtDur(p99), fmtDur(secs(median(cp99))), fmtDur(secs(median(lp50)))), p99 < targetAdminListP99)
	allT := secs(median(all))
	b.report.target("admin", "sessions revoke --user with 1,000 live sockets: all closed < 1 s",
		fmt.Sprintf("%s (the call itself %s)%s", fmtDur(allT), fmtDur(secs(median(call))), shortfall(!allClosed, "some sockets never got the close push")),
		allClosed && allT < targetAdminRevokeAll)
}
