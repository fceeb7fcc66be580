package kubenode

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostLockPath is the lock every node holds from Start to the end of Stop, whatever its state
// directory: one bridge, one cgroup root and one set of iptables chains make one node per
// host. The file stays (it holds no state), in /run/lock so that no directory a test watches
// gains an entry.
var hostLockPath = "/run/lock/latch-node.lock"

// DefaultWait is how long Start waits for another test's node to stop when Options.Wait is 0.
const DefaultWait = 15 * time.Minute

// holder is what the host lock's file says about the process holding it.
type holder struct {
	pid  int
	test bool   // a test binary (testing.Testing), whose node stops when its test ends
	dir  string // its state directory
	cmd  string // its command line, for messages
}

func (h holder) String() string {
	kind := "not a test"
	if h.test {
		kind = "a test"
	}
	return fmt.Sprintf("pid %d, %s: %s; state directory %s", h.pid, kind, h.cmd, h.dir)
}

func readHolder(f *os.File) holder {
	b, _ := os.ReadFile(f.Name())
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var h holder
	if len(lines) >= 3 {
		h.pid, _ = strconv.Atoi(lines[0])
		h.test = lines[1] == "test"
		h.dir = lines[2]
	}
	if h.pid > 0 {
		cmd, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(h.pid), "cmdline"))
		h.cmd = strings.TrimSpace(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))
	}
	return h
}

// lockHost takes the host lock for a node of dir. When a node of a test process, or of this
// process (another Start, another test of the package), holds it, lockHost waits for that node
// to stop, saying so every 30 s, for at most wait (negative: refuse at once) and while ctx
// lasts: `go test ./...` runs the packages that start nodes side by side. Any other holder
// (a `hack/node up` that serves until Ctrl-C) is refused at once.
func lockHost(ctx context.Context, dir string, wait time.Duration, out io.Writer) (*os.File, error) {
	f, err := os.OpenFile(hostLockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("kubenode: the host lock: %w", err)
	}
	start := time.Now()
	var said time.Time
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK {
			_ = f.Close()
			return nil, fmt.Errorf("kubenode: lock %s: %w", hostLockPath, err)
		}
		h := readHolder(f)
		waitable := h.pid == os.Getpid() || h.test
		switch {
		case h.pid == 0:
			// Locked, not written yet: the holder is between its lock and its write.
		case !waitable || wait < 0:
			_ = f.Close()
			return nil, fmt.Errorf("kubenode: a node is already running on this host (%s); stop it first (go run ./hack/node down -dir %s)", h, h.dir)
		case time.Since(start) > wait:
			_ = f.Close()
			return nil, fmt.Errorf("kubenode: another test's node (%s) still runs after %s of waiting for it", h, wait.Round(time.Second))
		case said.IsZero() || time.Since(said) >= 30*time.Second:
			fmt.Fprintf(out, "[node] waiting for the node of another test to stop (%s); waited %.0f s of at most %s\n", h, time.Since(start).Seconds(), wait)
			said = time.Now()
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("kubenode: waiting for the host: %w", context.Cause(ctx))
		case <-time.After(250 * time.Millisecond):
		}
	}
	if !said.IsZero() {
		fmt.Fprintf(out, "[node] the host is free after %.1f s of waiting\n", time.Since(start).Seconds())
	}
	kind := "up"
	if testing.Testing() {
		kind = "test"
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt(fmt.Appendf(nil, "%d\n%s\n%s\n", os.Getpid(), kind, dir), 0)
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("kubenode: write %s: %w", hostLockPath, err)
	}
	return f, nil
}
