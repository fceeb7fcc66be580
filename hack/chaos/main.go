package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/latchauth/latch/authserver/servertest"
)

func main() {
	out := flag.String("out", "CHAOS.md", "where to write the report")
	reps := flag.Int("reps", 3, "repetitions of each scenario (figures are medians)")
	only := flag.String("only", "", "comma-separated scenario names to run (default: all)")
	short := flag.Bool("short", false, "the short suite's sizes (seconds per scenario) instead of the full run's")
	verbose := flag.Bool("v", false, "log the servers' and Redis helpers' messages too")
	flag.Parse()

	o := fullOptions
	if *short {
		o = shortOptions
	}
	start := time.Now()
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%7.1fs  %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	quiet := func(format string, args ...any) {
		if *verbose {
			logf(format, args...)
		}
	}
	rep := newReport(os.Args[1:], o, *reps)

	// A first interrupt finishes the scenario under way (its cleanups stop every process);
	// a second one exits at once, and the kernel ends the children (Pdeathsig).
	var stop atomic.Bool
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		logf("interrupted: finishing the scenario under way (interrupt again to quit now)")
		stop.Store(true)
		<-sig
		servertest.RemoveBinary()
		os.Exit(130)
	}()

	for _, f := range faults {
		if *only != "" && !contains(strings.Split(*only, ","), f.name) {
			continue
		}
		for i := 1; i <= *reps && !stop.Load(); i++ {
			logf("=== %s, run %d/%d", f.name, i, *reps)
			s := newScope(fmt.Sprintf("%s-%d", f.name, i), quiet)
			var r *result
			err := runScope(s, func(s *scope) { r = runScenario(s, f, o, logf) })
			if r == nil {
				r = &result{fault: f}
			}
			if err != nil {
				r.harness = append(r.harness, "fatal: "+err.Error())
			}
			for _, e := range s.errors() {
				if err == nil || !strings.Contains(err.Error(), e) {
					r.harness = append(r.harness, e)
				}
			}
			logf("%s", summaryLine(r))
			for _, c := range r.failed(o.timings) {
				logf("  FAILED %s: %s", c.name, c.detail)
			}
			for _, h := range r.harness {
				logf("  HARNESS %s", h)
			}
			rep.add(r)
		}
	}
	servertest.RemoveBinary()
	if err := rep.write(*out, time.Since(start)); err != nil {
		fmt.Fprintf(os.Stderr, "chaos: %v\n", err)
		os.Exit(2)
	}
	logf("wrote %s", *out)
	if rep.anyFailed() {
		fmt.Fprintf(os.Stderr, "chaos: invariants failed (see %s)\n", *out)
		os.Exit(1)
	}
}

func summaryLine(r *result) string {
	f := r.fig
	return fmt.Sprintf("%s: %d requests, %d ok, %d expected 401, %d unexpected 401, %d 5xx, %d no answer; revoked-accepted %d; lost %d (+%d in window); sockets %d, missed %d, late %d, close p50 %s max %s; fault %s, first success %s, last error %s after back",
		r.fault.name, f.Requests, f.OK, f.Expected401, f.Unexpected401, f.Server, f.Transport, f.RevokedAccepted, f.Lost, f.LostWindow,
		f.Sockets, f.Missed, f.Late, fmtDur(f.CloseP50), fmtDur(f.CloseMax), fmtDur(f.FaultLasted), fmtDur(f.FirstSuccess), fmtDur(f.ErrorFree))
}
