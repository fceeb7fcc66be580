package childproc

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Spec is a child process to start.
type Spec struct {
	Path string
	Args []string
	// Env is the child's whole environment; nil inherits this process's.
	Env []string
	// Dir is the child's working directory; "" is this process's.
	Dir string
	// Stdin feeds the child's standard input; nil reads as empty.
	Stdin io.Reader
	// Stdout and Stderr receive the child's output; give both the same writer to keep the
	// two in order. A nil one goes to LogFile if set, else nowhere.
	Stdout, Stderr io.Writer
	// LogFile, if set, is created (or truncated) to receive the output no writer was given
	// for, and closed once the child has exited. The child writes to it directly, so a busy
	// server's output costs the parent nothing (the bench measures such servers).
	LogFile string
	// Group makes the child lead a process group of its own: Signal, Stop and Kill then reach
	// whatever it started too, and a Ctrl-C at the terminal (which signals the foreground
	// group) reaches only the parent, which can stop its children in order.
	Group bool
	// DeathSignal is what the kernel sends the child when the parent dies without stopping it
	// (a panic, a test binary's timeout, SIGKILL); 0 is SIGKILL. Only Linux has this.
	DeathSignal syscall.Signal
	// WaitDelay bounds how long the output is still copied after the child exited, should
	// something it started keep its stdout open (exec.Cmd.WaitDelay); 0 waits for EOF.
	WaitDelay time.Duration
}

// Process is a running (or exited) child. Its methods may be called from any goroutine.
type Process struct {
	spec Spec
	cmd  *exec.Cmd
	done chan struct{}
	err  error // the exit status, valid once done is closed
}

// Start starts the child and a goroutine that waits for it, so that Done closes when it exits
// (and its output has been copied) without anyone having to call Wait.
//
// If Stdout has a Flush method (a writer that holds back a line without its newline, as the
// dev stack's prefixing writer does), it is called then, before Done closes.
func Start(s Spec) (*Process, error) {
	cmd := exec.Command(s.Path, s.Args...)
	cmd.Env, cmd.Dir, cmd.Stdin = s.Env, s.Dir, s.Stdin
	cmd.Stdout, cmd.Stderr = s.Stdout, s.Stderr
	cmd.WaitDelay = s.WaitDelay
	cmd.SysProcAttr = procAttr(s.Group, s.DeathSignal)
	var log *os.File
	if s.LogFile != "" && (s.Stdout == nil || s.Stderr == nil) {
		f, err := os.Create(s.LogFile)
		if err != nil {
			return nil, fmt.Errorf("start %s: %w", s.Path, err)
		}
		log = f
		if cmd.Stdout == nil {
			cmd.Stdout = f
		}
		if cmd.Stderr == nil {
			cmd.Stderr = f
		}
	}
	if err := cmd.Start(); err != nil {
		if log != nil {
			_ = log.Close()
		}
		return nil, fmt.Errorf("start %s: %w", s.Path, err)
	}
	p := &Process{spec: s, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		if log != nil {
			_ = log.Close()
		}
		if f, ok := s.Stdout.(interface{ Flush() }); ok {
			f.Flush()
		}
		close(p.done)
	}()
	return p, nil
}

// PID is the child's process ID (and its process group's, with Spec.Group).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed once the child has exited and its output has been copied.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether Done is closed.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is how the child ended (nil for status 0, an *exec.ExitError otherwise); read it once
// Done is closed.
func (p *Process) Err() error { return p.err }

// Signal sends sig to the child, or to its process group with Spec.Group (sig must then be a
// syscall.Signal, as every signal is on Unix). The error is os.ErrProcessDone once the child
// has exited and been reaped.
func (p *Process) Signal(sig os.Signal) error {
	if p.spec.Group {
		if p.Exited() {
			return os.ErrProcessDone
		}
		return signalGroup(p.PID(), sig.(syscall.Signal))
	}
	return p.cmd.Process.Signal(sig)
}

// Stop asks the child to end with SIGTERM and waits up to grace for it to exit, then kills it
// (SIGKILL). It returns once the child has been reaped, and reports whether it had to kill
// it; Err then says how the child ended. With Spec.Group the signals go to the whole group,
// and whatever of the group is left once the child is gone is killed too.
func (p *Process) Stop(grace time.Duration) (killed bool) {
	if !p.Exited() {
		_ = p.Signal(syscall.SIGTERM)
		t := time.NewTimer(grace)
		select {
		case <-p.done:
		case <-t.C:
			_ = p.Signal(syscall.SIGKILL)
			<-p.done
			killed = true
		}
		t.Stop()
	}
	if p.spec.Group {
		// The leader's pid cannot have been reused for another group while members of this
		// one remain, and an empty group answers ESRCH.
		_ = signalGroup(p.PID(), syscall.SIGKILL)
	}
	return killed
}

// Kill kills the child (its group, with Spec.Group) at once and returns once it has been
// reaped. SIGKILL ends a stopped (SIGSTOP) process too.
func (p *Process) Kill() {
	// The only error is that the child has already exited, and then done closes anyway.
	_ = p.Signal(syscall.SIGKILL)
	<-p.done
}

// signalGroup signals the process group that pid leads.
func signalGroup(pid int, sig syscall.Signal) error { return syscall.Kill(-pid, sig) }

// Output is what the kit captured of the child's output, for an error message: the contents
// of a Buffer given as Stdout (or else Stderr), or else the last lines of LogFile; "" when the
// output went elsewhere.
func (p *Process) Output() string {
	for _, w := range []io.Writer{p.spec.Stdout, p.spec.Stderr} {
		if b, ok := w.(*Buffer); ok {
			return b.String()
		}
	}
	if p.spec.LogFile != "" {
		return TailFile(p.spec.LogFile, tailLines)
	}
	return ""
}

// tailLines is how much of a log file an error message shows.
const tailLines = 20

// TailFile returns the last n lines of the file at path, "" if it cannot be read: for an error
// message about a child that writes its own log (redis-server's --logfile).
func TailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	return LastLines(string(b), n)
}
