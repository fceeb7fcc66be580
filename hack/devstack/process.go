package devstack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"syscall"
	"time"
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

// process is one running child, the leader of its own process group. The group is what is
// signalled, so anything the child starts goes with it, and a Ctrl-C at the terminal (which
// signals the terminal's foreground group) reaches only the stack, which then stops its
// children in order instead of all of them at once.
type process struct {
	cmd  *exec.Cmd
	out  *lineWriter
	done chan struct{}
	err  error // the exit status, valid once done is closed
}

// waitDelay bounds how long Wait keeps copying output after the child exited, should
// something it started hold its stdout open.
const waitDelay = 2 * time.Second

func startProcess(c command, out *lineWriter) (*process, error) {
	return startProcessWith(c, out, childAttrs())
}

func startProcessWith(c command, out *lineWriter, attrs *syscall.SysProcAttr) (*process, error) {
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env, cmd.Dir = c.Env, c.Dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = waitDelay
	cmd.SysProcAttr = attrs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.Name, err)
	}
	p := &process{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		out.Flush()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, waits up to grace for the leader to exit, then
// kills the group. It returns once the leader has been reaped; the exit status of a process
// stopped this way is not an error.
func (p *process) stop(grace time.Duration) {
	pgid := p.pid()
	if !p.exited() {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		t := time.NewTimer(grace)
		select {
		case <-p.done:
		case <-t.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
		}
		t.Stop()
	}
	// Whatever the leader left behind in its group goes too. The leader's pid cannot have
	// been reused for another group while members of this one remain, and an empty group
	// answers ESRCH.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// kill kills the process group at once and waits for the leader.
func (p *process) kill() {
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
}

// exitError describes how the process ended.
func (p *process) exitError() error {
	if p.err == nil {
		return errors.New("exited with status 0")
	}
	return p.err
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
