package main

import (
	"bufio"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/hack/devstack"
	"github.com/latchauth/latch/internal/childproc"
)

// runMainEnv makes the test binary run the command instead of the tests, so the test drives
// the very code `make run` runs, signals included, without building it separately.
const runMainEnv = "DEVSTACK_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout))
	}
	servertest.Main(m)
}

// command is the devstack command running as a child of the test.
type command struct {
	cmd    *exec.Cmd
	out    *transcript
	exited chan error
}

// startCommand runs the command as `make run` does, on free ports, and waits for its
// banner.
func startCommand(t *testing.T) *command {
	t.Helper()
	root, err := devstack.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	tools, err := devstack.FindTools(root, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "--root", root, "--latch-bin", servertest.Binary(t), "--public-port", "0", "--admin-port", "0")
	cmd.Env = append(os.Environ(), runMainEnv+"=1",
		"KUBEBUILDER_ASSETS="+tools.KubebuilderAssets, "HELM="+tools.Helm, "REDIS_SERVER="+tools.RedisServer)
	// Its own process group, as a shell with job control gives each job. If the test dies, the
	// command gets SIGTERM and stops its children.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &command{cmd: cmd, out: &transcript{ready: make(chan struct{})}, exited: make(chan error, 1)}
	go func() {
		c.exited <- cmd.Wait()
		_ = pw.Close()
	}()
	go c.out.read(pr)
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			<-c.exited
		}
		if t.Failed() {
			t.Logf("the command's output (last lines):\n%s", childproc.LastLines(c.out.String(), 150))
		}
	})
	select {
	case <-c.out.ready:
	case err := <-c.exited:
		t.Fatalf("the command exited before it was ready: %v", err)
	case <-time.After(5 * time.Minute):
		t.Fatal("the command was not ready within 5 minutes")
	}
	return c
}

// processes lists the command and everything it runs, and checks that it is the whole stack,
// so that finding none of them left later means something.
func (c *command) processes(t *testing.T) []devstack.Process {
	t.Helper()
	procs, err := devstack.Descendants(c.cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := devstack.Components(procs), devstack.FullStack(2); !maps.Equal(got, want) {
		t.Fatalf("the stack runs %v, want %v; processes:\n%s", got, want, devstack.ProcessList(procs))
	}
	all, err := devstack.Processes()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if p.PID == c.cmd.Process.Pid {
			procs = append(procs, p)
		}
	}
	return procs
}

// TestInterruptStopsEverything runs the command as `make run` does, checks that the
// commands its banner tells a user to try work, then sends SIGINT as Ctrl-C does: the
// command must exit 0 and leave no process behind.
func TestInterruptStopsEverything(t *testing.T) {
	t.Parallel()
	c := startCommand(t)
	tryBanner(t, c.out.String())
	snapshot := c.processes(t)

	// As a terminal's Ctrl-C: SIGINT to the command, whose children each lead a group of
	// their own and so get nothing from the terminal.
	if err := c.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-c.exited:
		if err != nil {
			t.Errorf("the command exited with %v after SIGINT", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the command did not exit within 2 minutes of SIGINT")
	}
	if !strings.Contains(c.out.String(), "devstack | stopped\n") {
		t.Error("the command did not report its stop")
	}
	if left, err := devstack.WaitGone(snapshot, c.cmd.Process.Pid, 5*time.Second); err != nil || len(left) > 0 {
		t.Errorf("processes left after SIGINT (%v):\n%s", err, devstack.ProcessList(left))
	}
}

// TestKilledLeavesNothing kills the command outright, as a crash or a test binary's timeout
// would: it cannot stop anything, yet nothing of the stack may survive it (the kernel's
// parent-death signal ends its children, and its guard ends the control plane).
func TestKilledLeavesNothing(t *testing.T) {
	t.Parallel()
	c := startCommand(t)
	snapshot := c.processes(t)
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-c.exited
	if left, err := devstack.WaitGone(snapshot, c.cmd.Process.Pid, 10*time.Second); err != nil || len(left) > 0 {
		t.Errorf("processes left after SIGKILL (%v):\n%s", err, devstack.ProcessList(left))
	}
	// Nor any of its directories: the work directory, and the control plane's.
	dirs := []string{filepath.Dir(kubeconfigPath(t, c.out.String()))}
	for _, p := range snapshot {
		for _, a := range strings.Fields(p.Cmdline) {
			for _, flag := range []string{"--data-dir=", "--cert-dir="} {
				if d, ok := strings.CutPrefix(a, flag); ok {
					dirs = append(dirs, d)
				}
			}
		}
	}
	if len(dirs) != 3 {
		t.Fatalf("directories of the stack: %q", dirs)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, d := range dirs {
		for exists(d) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if exists(d) {
			t.Errorf("%s is left after SIGKILL", d)
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// kubeconfigPath is the kubeconfig path the banner prints.
func kubeconfigPath(t *testing.T, banner string) string {
	t.Helper()
	for _, f := range strings.Fields(banner) {
		if strings.HasSuffix(f, "/kubeconfig") && filepath.IsAbs(f) {
			return f
		}
	}
	t.Fatal("the banner names no kubeconfig")
	return ""
}

// tryBanner runs the shell commands the banner prints, as a user would paste them: the first
// curl pair must show the registered user's session on the other replica, and the device
// token pair must show a device token.
func tryBanner(t *testing.T, banner string) {
	t.Helper()
	cookies := filepath.Join(t.TempDir(), "cookies")
	account := commandsAfter(banner, "Try it:")
	device := commandsAfter(banner, "The device token")
	if len(account) != 2 || len(device) != 2 {
		t.Fatalf("the banner's commands: try %q, device %q", account, device)
	}
	script := strings.ReplaceAll(strings.Join(account, "\n"), "/tmp/latch.cookies", cookies)
	if got := bash(t, script); !strings.Contains(got, `"login":"ada@example.com"`) || strings.Count(got, `"login"`) != 2 {
		t.Errorf("the banner's first curl printed:\n%s", got)
	}
	if got := bash(t, strings.Join(device, "\n")); !strings.Contains(got, `"type":"device"`) {
		t.Errorf("the banner's device token commands printed:\n%s", got)
	}
}

// commandsAfter returns the indented command lines after the line holding marker, up to the
// next blank line, with backslash continuations joined.
func commandsAfter(text, marker string) []string {
	lines := strings.Split(text, "\n")
	var out []string
	for i, l := range lines {
		if !strings.Contains(l, marker) {
			continue
		}
		cur := ""
		for _, c := range lines[i+1:] {
			c = strings.TrimSpace(c)
			if c == "" {
				break
			}
			if strings.HasSuffix(c, "\\") {
				cur += strings.TrimSuffix(c, "\\")
				continue
			}
			out = append(out, cur+c)
			cur = ""
		}
		break
	}
	return out
}

func bash(t *testing.T, script string) string {
	t.Helper()
	c := exec.CommandContext(t.Context(), "bash", "-euo", "pipefail", "-c", script)
	b, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\nscript:\n%s\noutput:\n%s", err, script, b)
	}
	return string(b)
}

// transcript collects the command's output and closes ready at the banner's last line.
type transcript struct {
	mu    sync.Mutex
	b     strings.Builder
	ready chan struct{}
	once  sync.Once
}

func (tr *transcript) read(r io.Reader) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for s.Scan() {
		line := s.Text()
		tr.mu.Lock()
		tr.b.WriteString(line + "\n")
		tr.mu.Unlock()
		if strings.Contains(line, "Stop: Ctrl-C") { // the banner's last line
			tr.once.Do(func() { close(tr.ready) })
		}
	}
}

func (tr *transcript) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.b.String()
}
