package devstack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/latchauth/latch/internal/childproc"
)

// command is a child process to start.
type command struct {
	// Name prefixes every line the process writes.
	Name string
	Path string
	Args []string
	// Env is the whole environment of the process; nil inherits the stack's.
	Env []string
	Dir string
}

// waitDelay bounds how long the output is still copied after the child exited, should
// something it started hold its stdout open.
const waitDelay = 2 * time.Second

// startProcess starts c with its output on out. Every child leads its own process group. The
// group is what is signalled, so anything the child starts goes with it, and a Ctrl-C at the
// terminal (which signals the terminal's foreground group) reaches only the stack, which then
// stops its children in order instead of all of them at once.
func startProcess(c command, out *lineWriter) (*childproc.Process, error) {
	p, err := childproc.Start(c.spec(out))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	return p, nil
}

func (c command) spec(out *lineWriter) childproc.Spec {
	return childproc.Spec{
		Path: c.Path, Args: c.Args, Env: c.Env, Dir: c.Dir,
		Stdout: out, Stderr: out, Group: true, WaitDelay: waitDelay,
	}
}

// exitError describes how the process ended; the exit status of a process stopped by the
// stack is not an error, so this is for the supervisor's log line.
func exitError(p *childproc.Process) error {
	if p.Err() == nil {
		return errors.New("exited with status 0")
	}
	return p.Err()
}

// lineWriter writes each complete line of a child's output to out, prefixed with the child's
// name, whole, so the lines of concurrent children never interleave mid-line.
type lineWriter struct {
	out    *syncWriter
	prefix []byte
	mu     sync.Mutex
	buf    []byte
}

// maxLine bounds a line held back waiting for its newline.
const maxLine = 64 << 10

func newLineWriter(out *syncWriter, name string) *lineWriter {
	return &lineWriter{out: out, prefix: []byte(name + " | ")}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i+1])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > maxLine {
		w.emit(append(w.buf, '\n'))
		w.buf = nil
	}
	return len(p), nil
}

// Flush writes a last line that had no newline.
func (w *lineWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(append(w.buf, '\n'))
		w.buf = nil
	}
}

func (w *lineWriter) emit(line []byte) {
	w.out.write(w.prefix, line)
}

// syncWriter serializes writes to the stack's one output.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) write(parts ...[]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range parts {
		_, _ = s.w.Write(p)
	}
}

// Write lets a syncWriter be handed to code that writes whole messages itself.
func (s *syncWriter) Write(p []byte) (int, error) {
	s.write(p)
	return len(p), nil
}

// logf writes one line of the stack's own.
func (s *syncWriter) logf(format string, args ...any) {
	s.write([]byte("devstack | " + fmt.Sprintf(format, args...) + "\n"))
}
