package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.TrimSpace(v) == s {
			return true
		}
	}
	return false
}

// report gathers every run and writes CHAOS.md, as make bench writes BENCHMARKS.md.
type report struct {
	command string
	o       options
	reps    int
	machine [][2]string
	runs    map[string][]*result
	order   []string
}

func newReport(args []string, o options, reps int) *report {
	cmd := strings.Join(append([]string{"bin/latch-chaos"}, args...), " ")
	if os.Getenv("MAKELEVEL") != "" {
		cmd = "make chaos  # runs: " + cmd
	}
	return &report{command: cmd, o: o, reps: reps, machine: machine(), runs: map[string][]*result{}}
}

func (r *report) add(res *result) {
	n := res.fault.name
	if _, ok := r.runs[n]; !ok {
		r.order = append(r.order, n)
	}
	r.runs[n] = append(r.runs[n], res)
}

func (r *report) anyFailed() bool {
	for _, rs := range r.runs {
		for _, x := range rs {
			if len(x.failed(r.o.timings)) > 0 || len(x.harness) > 0 {
				return true
			}
		}
	}
	return false
}

func output(name string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func machine() [][2]string {
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	load := "unknown"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	return [][2]string{
		{"date", time.Now().UTC().Format("2006-01-02 15:04 UTC")},
		{"`nproc`", fmt.Sprint(runtime.NumCPU())},
		{"CPU", cpu},
		{"kernel", output("uname", "-sr")},
		{"Go", runtime.Version()},
		{"Redis", output("redis-server", "--version")},
		{"commit", commit()},
		{"load average before the run", load},
	}
}

// median of a figure over the runs.
func median[T int | time.Duration](rs []*result, f func(*figures) T) T {
	v := make([]T, 0, len(rs))
	for _, r := range rs {
		v = append(v, f(&r.fig))
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	return v[len(v)/2]
}

func (r *report) write(path string, total time.Duration) error {
	var w strings.Builder
	o := r.o
	fmt.Fprintf(&w, "# Faults under load\n\n")
	fmt.Fprintf(&w, "Written by `make chaos` (`hack/chaos`, issue 13). Each scenario starts its Redis topology and two\n")
	fmt.Fprintf(&w, "`latch server` replicas on loopback, drives every dialect with %d clients and %d bound sockets, injects\n", o.clients, o.socketWorkers)
	fmt.Fprintf(&w, "one fault, undoes it, and checks what the clients were told against what the servers did. Figures\n")
	fmt.Fprintf(&w, "are medians of %d runs; an invariant fails if it failed in any run. A failing invariant is a server\n", r.reps)
	fmt.Fprintf(&w, "defect, not a harness setting: none is relaxed to pass. CHAOS.md in the repository's root is the\n")
	fmt.Fprintf(&w, "last full run; `go test ./hack/chaos` runs the short version (no timing invariants).\n\n")

	fmt.Fprintf(&w, "## Machine and run\n\n| | |\n|---|---|\n")
	for _, kv := range r.machine {
		fmt.Fprintf(&w, "| %s | %s |\n", kv[0], kv[1])
	}
	fmt.Fprintf(&w, "| command | `%s` |\n", r.command)
	fmt.Fprintf(&w, "| wall time | %s |\n\n", total.Round(time.Second))

	fmt.Fprintf(&w, "## Figures\n\n")
	fmt.Fprintf(&w, "Times are from \"Redis back\" (the fault undone: a restarted server answering PING, the sentinels\n")
	fmt.Fprintf(&w, "agreeing on a new master, the cluster's slots served again). Errors are 5xx answers and requests\n")
	fmt.Fprintf(&w, "a replica that was up left unanswered. Lost sessions in the window are those whose last write fell\n")
	fmt.Fprintf(&w, "in the second before a SIGKILL (AOF everysec) or in a failover (un-replicated writes): allowed, and\n")
	fmt.Fprintf(&w, "counted.\n\n")
	fmt.Fprintf(&w, "| scenario | fault lasted | requests | ok | errors (before / during / after) | unexpected 401 | revoked but accepted | lost (+ in window) | first success | last error | /readyz 200 again | sockets: closes missed / late of | close p50 / max |\n")
	fmt.Fprintf(&w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, n := range r.order {
		rs := r.runs[n]
		md := func(f func(*figures) int) int { return median(rs, f) }
		mdd := func(f func(*figures) time.Duration) string { return fmtDur(median(rs, f)) }
		fmt.Fprintf(&w, "| %s | %s | %d | %d | %d / %d / %d | %d | %d | %d (+%d) | %s | %s | %s | %d / %d of %d | %s / %s |\n",
			rs[0].fault.title, mdd(func(f *figures) time.Duration { return f.FaultLasted }),
			md(func(f *figures) int { return f.Requests }), md(func(f *figures) int { return f.OK }),
			md(func(f *figures) int { return f.ErrorsBefore }), md(func(f *figures) int { return f.ErrorsDuring }), md(func(f *figures) int { return f.ErrorsAfter }),
			md(func(f *figures) int { return f.Unexpected401 }), md(func(f *figures) int { return f.RevokedAccepted }),
			md(func(f *figures) int { return f.Lost }), md(func(f *figures) int { return f.LostWindow }),
			mdd(func(f *figures) time.Duration { return f.FirstSuccess }), mdd(func(f *figures) time.Duration { return f.ErrorFree }),
			mdd(func(f *figures) time.Duration { return readyBack(f) }),
			md(func(f *figures) int { return f.Missed }), md(func(f *figures) int { return f.Late }), md(func(f *figures) int { return f.Sockets }),
			mdd(func(f *figures) time.Duration { return f.CloseP50 }), mdd(func(f *figures) time.Duration { return f.CloseMax }))
	}

	fmt.Fprintf(&w, "\n## Invariants\n\n| scenario | invariant | verdict | figures (each run) |\n|---|---|---|---|\n")
	for _, n := range r.order {
		rs := r.runs[n]
		for ci, c := range rs[0].checks {
			if c.timing && !o.timings {
				continue
			}
			failed := 0
			var details []string
			for _, x := range rs {
				if ci < len(x.checks) {
					if !x.checks[ci].ok {
						failed++
					}
					details = append(details, x.checks[ci].detail)
				}
			}
			verdict := "pass"
			if failed > 0 {
				verdict = fmt.Sprintf("**FAIL** (%d of %d runs)", failed, len(rs))
			}
			fmt.Fprintf(&w, "| %s | %s | %s | %s |\n", n, c.name, verdict, strings.Join(details, "; "))
		}
		for _, x := range rs {
			for _, h := range x.harness {
				fmt.Fprintf(&w, "| %s | harness | **ERROR** | %s |\n", n, oneLine(h))
			}
		}
	}

	fmt.Fprintf(&w, "\n## Timelines\n\nPer second of the first run of each scenario, t relative to the fault's second. `/readyz` lists\n")
	fmt.Fprintf(&w, "the statuses polled every 100 ms (none: no answer; —: the replica was down).\n")
	for _, n := range r.order {
		x := r.runs[n][0]
		fmt.Fprintf(&w, "\n### %s\n\n%s", x.fault.title, x.timelineTable())
		// Notes of every run, not only the first: a loss in run 3 must be named too.
		for i, run := range r.runs[n] {
			if len(run.notes) > 0 {
				fmt.Fprintf(&w, "\nNotes (run %d): %s\n", i+1, oneLine(strings.Join(run.notes, "; ")))
			}
		}
	}
	return os.WriteFile(path, []byte(w.String()), 0o644)
}

func readyBack(f *figures) time.Duration {
	var m time.Duration
	for _, d := range f.ReadyBack {
		if d < 0 {
			return -1
		}
		m = max(m, d)
	}
	return m
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "\\|")
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// commit names HEAD, and says so when the servers were built from a tree with uncommitted
// changes (servertest builds the working tree).
func commit() string {
	c := output("git", "rev-parse", "--short", "HEAD")
	st := output("git", "status", "--porcelain", "--untracked-files=no")
	if st != "unknown" && st != "" {
		c += fmt.Sprintf(" + uncommitted changes in %d files", len(strings.Split(st, "\n")))
	}
	return c
}
