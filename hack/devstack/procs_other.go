//go:build !linux

package devstack

import (
	"errors"
	"time"
)

// Process is a process as /proc shows it; see procs_linux.go.
type Process struct {
	PID, PPID, PGID int
	State           byte
	StartTicks      uint64
	Cmdline         string
}

var errNoProc = errors.New("listing processes needs Linux's /proc")

// Processes needs Linux.
func Processes() ([]Process, error) { return nil, errNoProc }

// Descendants needs Linux.
func Descendants(int) ([]Process, error) { return nil, errNoProc }

// Survivors needs Linux.
func Survivors([]Process) ([]Process, error) { return nil, errNoProc }

func readProc(int) (Process, error) { return Process{}, errNoProc }

// WaitGone needs Linux.
func WaitGone([]Process, int, time.Duration) ([]Process, error) { return nil, errNoProc }
