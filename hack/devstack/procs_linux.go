package devstack

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Process is a process as /proc shows it: what tests need to tell whether the stack left
// anything behind.
type Process struct {
	PID, PPID, PGID int
	// State is the state letter; 'Z' is a zombie, dead and only waiting to be reaped.
	State byte
	// StartTicks is the start time in clock ticks after boot: with PID it names one process,
	// whatever later reuses the PID.
	StartTicks uint64
	Cmdline    string
}

// Processes lists every process of the machine.
func Processes() ([]Process, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, err := readProc(pid)
		if err != nil {
			continue // it exited while we looked
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out, nil
}

func readProc(pid int) (Process, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return Process{}, err
	}
	// "pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
	// utime stime cutime cstime priority nice num_threads itrealvalue starttime ...": comm
	// may hold spaces and parentheses, so the fields start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Process{}, fmt.Errorf("/proc/%d/stat: no command", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return Process{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	p := Process{PID: pid, State: f[0][0]}
	if p.PPID, err = strconv.Atoi(f[1]); err != nil {
		return Process{}, err
	}
	if p.PGID, err = strconv.Atoi(f[2]); err != nil {
		return Process{}, err
	}
	if p.StartTicks, err = strconv.ParseUint(f[19], 10, 64); err != nil {
		return Process{}, err
	}
	cmd, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	p.Cmdline = strings.TrimSpace(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))
	return p, nil
}

// Descendants lists the live (not zombie) processes whose parent chain reaches root.
func Descendants(root int) ([]Process, error) {
	all, err := Processes()
	if err != nil {
		return nil, err
	}
	parent := map[int]int{}
	for _, p := range all {
		parent[p.PID] = p.PPID
	}
	var out []Process
	for _, p := range all {
		if p.State == 'Z' {
			continue
		}
		for q, hops := p.PPID, 0; q > 0 && hops < len(all); q, hops = parent[q], hops+1 {
			if q == root {
				out = append(out, p)
				break
			}
		}
	}
	return out, nil
}

// Survivors lists the live processes that are one of snapshot (same PID and start time) or
// share a process group with one of them: what is left of the processes snapshot saw.
func Survivors(snapshot []Process) ([]Process, error) {
	all, err := Processes()
	if err != nil {
		return nil, err
	}
	seen := map[[2]uint64]bool{}
	groups := map[int]bool{}
	for _, p := range snapshot {
		seen[[2]uint64{uint64(p.PID), p.StartTicks}] = true
		groups[p.PGID] = true
	}
	var out []Process
	for _, p := range all {
		if p.State == 'Z' {
			continue
		}
		if seen[[2]uint64{uint64(p.PID), p.StartTicks}] || groups[p.PGID] {
			out = append(out, p)
		}
	}
	return out, nil
}

// WaitGone waits up to timeout for every process of snapshot, of its process groups, and
// every descendant of root, to be gone, and returns those still there. Stop reaps its
// children before it returns, but a process reparented to init (a child's child) may take a
// moment to go.
func WaitGone(snapshot []Process, root int, timeout time.Duration) ([]Process, error) {
	deadline := time.Now().Add(timeout)
	for {
		left, err := Survivors(snapshot)
		if err != nil {
			return nil, err
		}
		desc, err := Descendants(root)
		if err != nil {
			return nil, err
		}
		for _, d := range desc {
			if !slices.ContainsFunc(left, func(p Process) bool { return p.PID == d.PID }) {
				left = append(left, d)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			return left, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
}
