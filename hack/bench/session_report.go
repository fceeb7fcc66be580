package main

import (
	"fmt"
	"strings"
	"time"
)

// Session-check targets (issue 6).
const (
	targetRateRatio = 0.80 // req/s ≥ 80 % of the ceiling's
	targetP99Ratio  = 1.5  // p99 ≤ 1.5 × the ceiling's
	targetTrips     = 1.0  // store round trips per check
)

// sessionSummary is the medians of one row at one replica count.
type sessionSummary struct {
	rate, p50, p99                 float64 // req/s, seconds
	scripts, commands, roundTrips  float64
	rotatedShare, rotatedPerSecond float64
	cpuServer, cpuRedis, cpuClient float64 // seconds per request
	// ratios and p99Ratios are each run's against the ceiling run of the same repetition.
	ratios, p99Ratios []float64
	errors            int64
	runs              int
}

// summarize takes the medians of runs; ceiling holds the ceiling's runs of the same
// repetitions, in the same order, for the paired ratios.
func summarize(runs, ceiling []rowRun) sessionSummary {
	var rate, p50, p99, scripts, commands, trips, share, perSec, cs, cr, cc []float64
	var s sessionSummary
	for i, r := range runs {
		if i < len(ceiling) {
			s.ratios = append(s.ratios, r.stats.rate()/ceiling[i].stats.rate())
			s.p99Ratios = append(s.p99Ratios, r.stats.pct(99).Seconds()/ceiling[i].stats.pct(99).Seconds())
		}
		cs = append(cs, r.cpuServer.Seconds())
		cr = append(cr, r.cpuRedis.Seconds())
		cc = append(cc, r.cpuClient.Seconds())
		rate = append(rate, r.stats.rate())
		p50 = append(p50, r.stats.pct(50).Seconds())
		p99 = append(p99, r.stats.pct(99).Seconds())
		scripts = append(scripts, r.scripts)
		commands = append(commands, r.commands)
		trips = append(trips, r.roundTrips)
		share = append(share, r.rotatedShare)
		perSec = append(perSec, r.rotatedPerSec)
		s.errors += r.stats.Errors
	}
	s.rate, s.p50, s.p99 = median(rate), median(p50), median(p99)
	s.scripts, s.commands, s.roundTrips = median(scripts), median(commands), median(trips)
	s.rotatedShare, s.rotatedPerSecond = median(share), median(perSec)
	s.cpuServer, s.cpuRedis, s.cpuClient = median(cs), median(cr), median(cc)
	s.runs = len(runs)
	return s
}

func secs(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }

func (b *bench) reportSessions(rows []sessionRow, results map[string][]rowRun) {
	o := b.opts
	var w strings.Builder
	fmt.Fprintf(&w, "## 1. Session check\n\n")
	fmt.Fprintf(&w, "%d keep-alive connections, closed loop (each sends its next request when the last is answered),\n", o.conns)
	fmt.Fprintf(&w, "%s of warm-up then a %s measured window per run, %d runs per row; with two replicas the\n", o.warmup, o.window, o.reps)
	fmt.Fprintf(&w, "connections are split evenly between them and both use the one Redis. Each connection holds its own\n")
	fmt.Fprintf(&w, "session. Latencies are measured by the load generator (this program, on the same cores). The\n")
	fmt.Fprintf(&w, "ceiling is `hack/bench ceiling-session`: a bare `net/http` handler doing exactly one `EVALSHA` of a\n")
	fmt.Fprintf(&w, "get-compare-set-expire script per request, with the server's go-redis client (`redisstore.NewClient`,\n")
	fmt.Fprintf(&w, "same pool and timeouts) and HTTP server timeouts; one ceiling process per replica.\n\n")
	fmt.Fprintf(&w, "Redis commands per request come from `INFO commandstats` deltas over the window (commands run inside\n")
	fmt.Fprintf(&w, "a script count too, so a script call is 1 `EVALSHA` plus its inner commands); store round trips from the\n")
	fmt.Fprintf(&w, "servers' `latch_store_round_trips_total`. The servers run with production defaults (info-level access\n")
	fmt.Fprintf(&w, "log to a file, default Redis pool) except cheap argon2id parameters, which a session check never uses.\n\n")

	fmt.Fprintf(&w, "The ratio is the median of the runs' own ratios, each run against the ceiling run of the same\n")
	fmt.Fprintf(&w, "repetition (lowest and highest in brackets; the rows run in reverse order every other repetition);\n")
	fmt.Fprintf(&w, "p99 ÷ ceiling p99 likewise. CPU per request is each\n")
	fmt.Fprintf(&w, "process's CPU time over the window divided by the requests answered: the servers (one or two), Redis,\n")
	fmt.Fprintf(&w, "and the load generator. All three share the machine's cores, so throughput follows their sum.\n\n")
	for _, replicas := range []int{1, 2} {
		ceilRuns := results[fmt.Sprintf("ceiling/%d", replicas)]
		ceil := summarize(ceilRuns, nil)
		fmt.Fprintf(&w, "### %d replica%s\n\n", replicas, plural(replicas))
		fmt.Fprintf(&w, "| request | req/s | ceiling req/s | ratio | p50 | p99 | ceiling p99 | p99 ÷ ceiling p99 | EVALSHA / req | Redis commands / req | store round trips / req | CPU / req: server · Redis · generator | errors |\n")
		fmt.Fprintf(&w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		for _, row := range rows {
			runs := results[fmt.Sprintf("%s/%d", row.key, replicas)]
			title, ratio, p99Ratio, trips := row.title, "—", "—", "1 (by construction)"
			var s sessionSummary
			if row.ceiling {
				s = ceil
			} else {
				s = summarize(runs, ceilRuns)
				ratio = fmtPct(median(s.ratios)) + " " + spread(s.ratios)
				p99Ratio = fmt.Sprintf("%.2f×", median(s.p99Ratios))
				trips = fmt.Sprintf("%.2f", s.roundTrips)
			}
			if strings.HasPrefix(row.key, "devise") {
				title += fmt.Sprintf("; %.1f %% of responses carried a new token (%.2f rotations/s per session)", s.rotatedShare*100, s.rotatedPerSecond)
			}
			fmt.Fprintf(&w, "| %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %.2f | %s | %s · %s · %s | %d |\n",
				title, fmtRate(s.rate), fmtRate(ceil.rate), ratio,
				fmtDur(secs(s.p50)), fmtDur(secs(s.p99)), fmtDur(secs(ceil.p99)), p99Ratio,
				s.scripts, s.commands, trips, fmtDur(secs(s.cpuServer)), fmtDur(secs(s.cpuRedis)), fmtDur(secs(s.cpuClient)), s.errors)
		}
		fmt.Fprintln(&w)
	}
	b.report.section("session", w.String())

	// Targets: one line per kind of check, both replica counts in it.
	var trips []string
	tripsOK := true
	for _, row := range rows {
		if row.ceiling {
			continue
		}
		var rateFig, p99Fig []string
		rateOK, p99OK := true, true
		for _, replicas := range []int{1, 2} {
			ceilRuns := results[fmt.Sprintf("ceiling/%d", replicas)]
			s := summarize(results[fmt.Sprintf("%s/%d", row.key, replicas)], ceilRuns)
			c := summarize(ceilRuns, nil)
			ratio, p99 := median(s.ratios), median(s.p99Ratios)
			rateFig = append(rateFig, fmt.Sprintf("%d replica%s %s (%s vs %s req/s)%s", replicas, plural(replicas),
				fmtPct(ratio), fmtRate(s.rate), fmtRate(c.rate), shortfall(ratio < targetRateRatio, pointsShort(targetRateRatio-ratio))))
			p99Fig = append(p99Fig, fmt.Sprintf("%d replica%s %.2f× (%s vs %s)%s", replicas, plural(replicas),
				p99, fmtDur(secs(s.p99)), fmtDur(secs(c.p99)), shortfall(p99 > targetP99Ratio, fmt.Sprintf("%.2f× over", p99-targetP99Ratio))))
			rateOK = rateOK && ratio >= targetRateRatio
			p99OK = p99OK && p99 <= targetP99Ratio
			trips = append(trips, fmt.Sprintf("%s ×%d: %.2f", row.key, replicas, s.roundTrips))
			// A resync or a readiness ping could add a stray command; a second round trip per
			// check would add a whole one.
			tripsOK = tripsOK && s.roundTrips <= targetTrips+0.05
		}
		name := row.label
		b.report.target("session", "session check ≥ 80 % of the ceiling's req/s — "+name, strings.Join(rateFig, "; "), rateOK)
		b.report.target("session", "session check p99 ≤ 1.5× the ceiling's p99 — "+name, strings.Join(p99Fig, "; "), p99OK)
	}
	b.report.target("session", "one Redis round trip per check", "store round trips per check: "+strings.Join(trips, ", "), tripsOK)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// shortfall returns " — text" when missed is true.
func shortfall(missed bool, text string) string {
	if !missed {
		return ""
	}
	return " — " + text
}
