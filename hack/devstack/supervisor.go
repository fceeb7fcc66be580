package devstack

import (
	"sync"
	"time"

	"github.com/latchauth/latch/internal/childproc"
)

// Restart backoff, as a kubelet's CrashLoopBackOff: doubling from restartBackoffMin up to
// restartBackoffMax, back to the minimum once a process stayed up for restartBackoffReset.
const (
	restartBackoffMin   = 500 * time.Millisecond
	restartBackoffMax   = 30 * time.Second
	restartBackoffReset = 30 * time.Second
)

// supervisor keeps one command running: it restarts it with backoff whenever it exits,
// until Stop.
type supervisor struct {
	cmd   command
	out   *lineWriter
	log   *syncWriter
	grace time.Duration
	// onExit, if set, is called after each exit of the process, before any restart.
	onExit func()

	stopOnce sync.Once
	stopCh   chan struct{}
	ended    chan struct{}

	mu       sync.Mutex
	cur      *childproc.Process
	restarts int
}

func supervise(c command, log *syncWriter, grace time.Duration, onExit func()) *supervisor {
	s := &supervisor{
		cmd: c, out: newLineWriter(log, c.Name), log: log, grace: grace, onExit: onExit,
		stopCh: make(chan struct{}), ended: make(chan struct{}),
	}
	go s.loop()
	return s
}

func (s *supervisor) loop() {
	defer close(s.ended)
	backoff := restartBackoffMin
	for {
		select {
		case <-s.stopCh:
			return
		default:
		}
		started := time.Now()
		p, err := startProcess(s.cmd, s.out)
		if err != nil {
			s.log.logf("%s: %v", s.cmd.Name, err)
		} else {
			s.mu.Lock()
			s.cur = p
			s.mu.Unlock()
			select {
			case <-p.Done():
			case <-s.stopCh:
				p.Stop(s.grace)
				return
			}
			s.mu.Lock()
			s.cur = nil
			s.mu.Unlock()
			if s.onExit != nil {
				s.onExit()
			}
		}
		if time.Since(started) >= restartBackoffReset {
			backoff = restartBackoffMin
		}
		why := "could not start"
		if p != nil {
			why = exitError(p).Error()
		}
		s.log.logf("%s: %s; restarting in %s", s.cmd.Name, why, backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-s.stopCh:
			t.Stop()
			return
		}
		backoff = min(backoff*2, restartBackoffMax)
		s.mu.Lock()
		s.restarts++
		s.mu.Unlock()
	}
}

// Stop stops the process (SIGTERM to its group, SIGKILL after the grace period) and the
// restarts, and returns once the process is gone.
func (s *supervisor) Stop() {
	s.stopOnce.Do(func() { close(s.stopCh) })
	<-s.ended
}

// Kill is Stop without the grace period, for a second Ctrl-C: SIGKILL to the group at once.
func (s *supervisor) Kill() {
	s.stopOnce.Do(func() { close(s.stopCh) })
	s.mu.Lock()
	p := s.cur
	s.mu.Unlock()
	if p != nil {
		p.Kill()
	}
	<-s.ended
}

// PID is the pid of the current process, 0 before the first start.
func (s *supervisor) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return 0
	}
	return s.cur.PID()
}

// Restarts counts the restarts after exits.
func (s *supervisor) Restarts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}
