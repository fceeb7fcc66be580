package main

import (
	"bufio"
	"context"
	_ "embed"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// notes is the hand-written account of the profiling and the fixes, appended to every report.
//
//go:embed notes.md
var notes string

// report collects the run's sections and target verdicts and writes BENCHMARKS.md.
type report struct {
	opts     options
	command  string
	machine  machineInfo
	sections map[string]string // by suite
	targets  []targetRow
	failures map[string]error
	times    map[string]time.Duration
}

// targetRow is one target of the issue and where the run stands against it.
type targetRow struct {
	Suite, Target, Figure, Status string
}

func newReport(ctx context.Context, opts options, args []string) *report {
	cmd := strings.Join(append([]string{os.Args[0]}, args...), " ")
	if rel, err := relToCwd(os.Args[0]); err == nil {
		cmd = strings.Join(append([]string{rel}, args...), " ")
	}
	if os.Getenv("MAKELEVEL") != "" {
		cmd = "make bench  # runs: " + cmd
	}
	return &report{
		opts: opts, command: cmd, machine: collectMachine(ctx),
		sections: map[string]string{}, failures: map[string]error{}, times: map[string]time.Duration{},
	}
}

func relToCwd(p string) (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	if r, ok := strings.CutPrefix(p, wd+"/"); ok {
		return r, nil
	}
	return p, nil
}

func (r *report) section(suite, markdown string) { r.sections[suite] = markdown }

func (r *report) target(suite, target, figure string, met bool) {
	status := "**met**"
	if !met {
		status = "**missed**"
	}
	r.targets = append(r.targets, targetRow{Suite: suite, Target: target, Figure: figure, Status: status})
}

func (r *report) failed(suite string, err error) { r.failures[suite] = err }

func (r *report) suiteTime(suite string, d time.Duration) { r.times[suite] = d }

// write renders the report. A suite not run, or failed, says so in place of its figures.
func (r *report) write(path string, total time.Duration) error {
	var w strings.Builder
	m := r.machine
	fmt.Fprintf(&w, "# Benchmarks\n\n")
	fmt.Fprintf(&w, "Written by `make bench` (`hack/bench`). Every figure is the median of %d runs and stands beside its\n", r.opts.reps)
	fmt.Fprintf(&w, "ceiling: the same work done by the least program that can do it, measured in the same run on the\n")
	fmt.Fprintf(&w, "same machine, its runs interleaved with the figure's. Absolute figures on a shared machine drift from\n")
	fmt.Fprintf(&w, "run to run; the ratios are what to compare.\n\n")

	fmt.Fprintf(&w, "## Machine and run\n\n| | |\n|---|---|\n")
	fmt.Fprintf(&w, "| date | %s |\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&w, "| `nproc` | %s |\n", m.nproc)
	fmt.Fprintf(&w, "| CPU | %s |\n", m.cpu)
	fmt.Fprintf(&w, "| memory | %s |\n", m.memory)
	fmt.Fprintf(&w, "| kernel | %s |\n", m.kernel)
	fmt.Fprintf(&w, "| Go | %s |\n", m.goVersion)
	fmt.Fprintf(&w, "| Redis | %s |\n", m.redis)
	fmt.Fprintf(&w, "| commit | %s |\n", m.commit)
	fmt.Fprintf(&w, "| command | `%s` |\n", r.command)
	fmt.Fprintf(&w, "| load average before the run | %s |\n", m.loadBefore)
	fmt.Fprintf(&w, "| load average after the run | %s |\n", loadAverage())
	fmt.Fprintf(&w, "| wall time | %s", total.Round(time.Second))
	for _, s := range suiteNames {
		if d, ok := r.times[s]; ok {
			fmt.Fprintf(&w, "; %s %s", s, d.Round(time.Second))
		}
	}
	fmt.Fprintf(&w, " |\n\n")
	if m.busy {
		fmt.Fprintf(&w, "Other work was running on the machine when the run began (a load average of half the cores or\n")
		fmt.Fprintf(&w, "more before the bench started anything) and shared its cores with the bench; the ceilings were\n")
		fmt.Fprintf(&w, "measured under the same sharing.\n\n")
	}

	fmt.Fprintf(&w, "## Targets\n\n| target | figure | status |\n|---|---|---|\n")
	for _, s := range suiteNames {
		ran := false
		for _, t := range r.targets {
			if t.Suite == s {
				ran = true
				fmt.Fprintf(&w, "| %s | %s | %s |\n", t.Target, t.Figure, t.Status)
			}
		}
		if !ran {
			why := "not run (`-only`)"
			if err, ok := r.failures[s]; ok {
				why = "failed: " + oneLine(err.Error())
			}
			fmt.Fprintf(&w, "| %s | %s | — |\n", suiteTitle(s), why)
		}
	}
	fmt.Fprintln(&w)

	for _, s := range suiteNames {
		body, ok := r.sections[s]
		if !ok {
			continue
		}
		fmt.Fprintln(&w, body)
		if err, ok := r.failures[s]; ok {
			fmt.Fprintf(&w, "\n**This suite failed before it finished:** %s\n\n", oneLine(err.Error()))
		}
	}
	w.WriteString(notes)
	return os.WriteFile(path, []byte(w.String()), 0o644)
}

func suiteTitle(s string) string {
	switch s {
	case "session":
		return "session check"
	case "login":
		return "login"
	case "sockets":
		return "idle sockets and revoke-to-close"
	case "operator":
		return "operator"
	case "admin":
		return "administration: a user's sessions"
	}
	return s
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// machineInfo describes where the run happened.
type machineInfo struct {
	nproc, cpu, memory, kernel, goVersion, redis, commit, loadBefore string
	busy                                                             bool
}

func collectMachine(ctx context.Context) machineInfo {
	m := machineInfo{
		nproc:      strings.TrimSpace(output(ctx, "nproc")),
		cpu:        cpuModel(),
		memory:     memTotal(),
		kernel:     strings.TrimSpace(output(ctx, "uname", "-sr")),
		goVersion:  runtime.Version(),
		redis:      strings.TrimSpace(output(ctx, "redis-server", "--version")),
		loadBefore: loadAverage(),
	}
	if m.nproc == "" {
		m.nproc = fmt.Sprint(runtime.NumCPU())
	}
	commit := strings.TrimSpace(output(ctx, "git", "rev-parse", "--short=12", "HEAD"))
	if commit == "" {
		commit = "unknown"
	}
	if dirty := strings.TrimSpace(output(ctx, "git", "status", "--porcelain")); dirty != "" {
		commit += fmt.Sprintf(" with uncommitted changes (%d paths)", len(strings.Split(dirty, "\n")))
	}
	m.commit = commit
	var load1 float64
	var n int
	if _, err := fmt.Sscan(m.loadBefore, &load1); err == nil {
		// The bench has not started anything yet: a load of half the cores is other work.
		if _, err := fmt.Sscan(m.nproc, &n); err == nil && load1 >= float64(n)/2 {
			m.busy = true
		}
	}
	return m
}

func output(ctx context.Context, name string, args ...string) string {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return ""
	}
	return string(out)
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotal() string {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			var kb int64
			if _, err := fmt.Sscan(strings.TrimSpace(v), &kb); err == nil {
				return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	return "unknown"
}

// loadAverage returns the 1, 5 and 15 minute load averages.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// Formatting helpers for the tables.

func fmtRate(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", ms(d))
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", ms(d))
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

func fmtPct(ratio float64) string { return fmt.Sprintf("%.0f %%", ratio*100) }

func fmtBytes(n float64) string {
	switch {
	case n >= 1<<30 || n <= -(1<<30):
		return fmt.Sprintf("%.2f GiB", n/(1<<30))
	case n >= 1<<20 || n <= -(1<<20):
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	case n >= 1<<10 || n <= -(1<<10):
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}

// spread formats the lowest and highest of a run's ratios, "(78–85 %)"; nothing for one run.
func spread(ratios []float64) string {
	if len(ratios) < 2 {
		return ""
	}
	return fmt.Sprintf("(%.0f–%.0f %%)", slices.Min(ratios)*100, slices.Max(ratios)*100)
}

// pointsShort formats by how many percentage points a ratio misses its target.
func pointsShort(gap float64) string {
	n := max(1, int(math.Round(gap*100)))
	if n == 1 {
		return "1 point short"
	}
	return fmt.Sprintf("%d points short", n)
}
