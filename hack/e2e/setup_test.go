package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchauth/latch/internal/childproc"
)

// chromiumPath is where Debian's chromium package puts its launcher; browser.mjs runs it.
const chromiumPath = "/usr/bin/chromium"

// jsDir is the JavaScript side of the test, relative to the package directory (the working
// directory of a Go test).
const jsDir = "testdata"

// Bounds of the slow steps. Cold installs take a minute or two on a small machine; a hung
// network must still end the test with a message, not at go test's global timeout.
const (
	aptTimeout     = 10 * time.Minute
	npmTimeout     = 5 * time.Minute
	buildTimeout   = time.Minute
	scriptTimeout  = 2 * time.Minute
	heartbeatEvery = 15 * time.Second
)

// progressf prints a progress line on stderr at once: the slow installs happen the first time
// only, and whoever runs the tests should see why they wait (t.Log shows only at the end).
func progressf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "e2e | "+format+"\n", args...)
}

// runSlow runs a command to its end, printing a heartbeat while it runs and its output's last
// lines if it fails. It runs apt-get and npm as exec.Cmds, not childproc's children: those
// must not die with the test (the kernel's parent-death signal), as a package manager killed
// halfway leaves the machine's packages or node_modules half installed.
func runSlow(ctx context.Context, what string, timeout time.Duration, cmd *exec.Cmd) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out childproc.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	progressf("%s...", what)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(heartbeatEvery)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("%s: %w; its output ends:\n%s", what, err, childproc.LastLines(out.String(), 30))
			}
			progressf("%s: done in %.0fs", what, time.Since(start).Seconds())
			return nil
		case <-tick.C:
			progressf("  ... %s still running (%.0fs)", what, time.Since(start).Seconds())
		case <-ctx.Done():
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("%s: not done after %s; its output ends:\n%s", what, timeout, childproc.LastLines(out.String(), 30))
		}
	}
}

// aptInstall installs Debian packages, after refreshing the package lists. Root is needed; the
// message says what to run otherwise. The lock timeout makes apt wait for another apt (say
// hack/tools.sh installing redis-server) instead of failing at once.
func aptInstall(ctx context.Context, pkgs ...string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s missing and not root: run `sudo apt-get update && sudo apt-get install -y %s`", strings.Join(pkgs, ", "), strings.Join(pkgs, " "))
	}
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	lock := "-oDPkg::Lock::Timeout=300"
	update := exec.Command("apt-get", lock, "update", "-q")
	update.Env = env
	if err := runSlow(ctx, "apt-get update", aptTimeout, update); err != nil {
		return err
	}
	install := exec.Command("apt-get", append([]string{lock, "install", "-y", "-q"}, pkgs...)...)
	install.Env = env
	return runSlow(ctx, "apt-get install -y "+strings.Join(pkgs, " "), aptTimeout, install)
}

// ensureNode installs Debian's node and npm when either is missing (the project's machines
// have node 20; Debian's own works for these packages too).
func ensureNode(ctx context.Context) error {
	_, errNode := exec.LookPath("node")
	_, errNpm := exec.LookPath("npm")
	if errNode == nil && errNpm == nil {
		return nil
	}
	return aptInstall(ctx, "nodejs", "npm")
}

// ensureChromium installs Debian's chromium when its launcher is missing. playwright-core
// cannot download a browser of its own here, and need not: browser.mjs points it at this one.
func ensureChromium(ctx context.Context) error {
	if isExecutable(chromiumPath) {
		return nil
	}
	if err := aptInstall(ctx, "chromium"); err != nil {
		return err
	}
	if !isExecutable(chromiumPath) {
		return fmt.Errorf("apt-get installed chromium, but %s is not there", chromiumPath)
	}
	return nil
}

func isExecutable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// installStamp, inside node_modules, records the hash of the npm inputs that node_modules was
// installed from. npm ci empties node_modules first, so a failed install leaves no stamp.
const installStamp = ".latch-e2e-installed"

// ensureNodeModules runs `npm ci` in dir when node_modules is missing or was installed from
// other inputs (package.json, the lockfile, .npmrc). Otherwise it does nothing: node_modules
// stays between runs, so only the first run (and a lockfile change) pays for the install.
func ensureNodeModules(ctx context.Context, dir string) error {
	want, err := npmInputsHash(dir)
	if err != nil {
		return err
	}
	stamp := filepath.Join(dir, "node_modules", installStamp)
	if b, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(b)) == want {
		return nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(abs))
	unlock, err := lockFile(filepath.Join(os.TempDir(), "latch-e2e-npm-"+hex.EncodeToString(sum[:8])+".lock"))
	if err != nil {
		return fmt.Errorf("lock the npm install: %w", err)
	}
	defer unlock()
	// Another process may have installed while this one waited for the lock.
	if b, err := os.ReadFile(stamp); err == nil && strings.TrimSpace(string(b)) == want {
		return nil
	}
	// The settings (legacy peer deps, no install scripts, no audit) are in dir/.npmrc, which npm
	// reads here as it would for a developer running npm by hand.
	cmd := exec.Command("npm", "ci")
	cmd.Dir = dir
	if err := runSlow(ctx, "npm ci in "+abs+" (the pinned JS clients)", npmTimeout, cmd); err != nil {
		return err
	}
	return os.WriteFile(stamp, []byte(want+"\n"), 0o644)
}

// npmInputsHash hashes what an install of dir depends on.
func npmInputsHash(dir string) (string, error) {
	h := sha256.New()
	for _, name := range []string{"package.json", "package-lock.json", ".npmrc"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", name, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// buildPage bundles the test page into out with esbuild (testdata/build.mjs).
func buildPage(ctx context.Context, dir, out string) error {
	ctx, cancel := context.WithTimeout(ctx, buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "build.mjs", out)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("bundle the page (node build.mjs): %w\n%s", err, b)
	}
	return nil
}

// servePage serves dir on ln until the test ends. The page is the browser's origin, which the
// realm lists among its allowed origins (CORS for the login POST, the socket's Origin check).
func servePage(t *testing.T, ln net.Listener, dir string) {
	srv := &http.Server{
		Handler:           http.FileServer(http.Dir(dir)),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       time.Minute,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("stop the page server: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("page server: %v", err)
		}
	})
}

// runScript runs `node script arg` in dir to its end and returns its stdout; a failure carries
// its stderr.
func runScript(ctx context.Context, dir, script string, arg any) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, scriptTimeout)
	defer cancel()
	a, err := json.Marshal(arg)
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	p, err := childproc.Start(childproc.Spec{
		Path: "node", Args: []string{script, string(a)}, Dir: dir,
		Stdout: &stdout, Stderr: &stderr, Group: true, WaitDelay: 5 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	select {
	case <-p.Done():
		err = p.Err()
	case <-ctx.Done():
		p.Kill()
		err = ctx.Err()
	}
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("node %s: %w\nstdout:\n%s\nstderr:\n%s", script, err, stdout.Bytes(), stderr.String())
	}
	return stdout.Bytes(), nil
}

// scriptProcess is a long-running node script that talks in JSON lines: events on its stdout,
// commands on its stdin.
type scriptProcess struct {
	name   string
	proc   *childproc.Process
	stdin  io.WriteCloser
	events chan json.RawMessage
	stderr childproc.Buffer
}

// startScript starts `node script arg` in dir, leading its own process group so that a stop
// reaches the browser it starts. At cleanup it asks the script to stop (SIGTERM: playwright
// then closes its browser) and kills the group if it does not.
func startScript(t *testing.T, dir, script string, arg any) *scriptProcess {
	t.Helper()
	a, err := json.Marshal(arg)
	if err != nil {
		t.Fatal(err)
	}
	p := &scriptProcess{name: script, events: make(chan json.RawMessage, 16)}
	// Pipes of our own, as exec's StdoutPipe may not be read once Wait has been called, and
	// childproc waits at once.
	stdout, stdoutW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdinR, stdin, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.proc, err = childproc.Start(childproc.Spec{
		Path: "node", Args: []string{script, string(a)}, Dir: dir,
		Stdin: stdinR, Stdout: stdoutW, Stderr: &p.stderr, Group: true, WaitDelay: 5 * time.Second,
	})
	_ = stdoutW.Close() // the child has its own copies
	_ = stdinR.Close()
	if err != nil {
		_ = stdout.Close()
		_ = stdin.Close()
		t.Fatalf("start node %s: %v", script, err)
	}
	p.stdin = stdin
	// The reader ends at EOF, which comes when the script exits; a reader of events that finds
	// the channel closed waits for the exit and looks at its status.
	go func() {
		defer stdout.Close()
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			line := append([]byte(nil), sc.Bytes()...)
			if json.Valid(line) {
				p.events <- line
			} else {
				p.stderr.Write(append(line, '\n')) // stray output: keep it for the report
			}
		}
		close(p.events)
	}()
	t.Cleanup(func() {
		_ = p.stdin.Close()
		if p.proc.Stop(15 * time.Second) {
			t.Errorf("node %s did not stop within 15s of SIGTERM; killed", script)
		}
	})
	return p
}

// next returns the script's next event, decoded into v, failing the test if none comes within
// d or the script exits first. An {"event":"error"} fails the test with the script's report.
func (p *scriptProcess) next(t *testing.T, d time.Duration, want string, v any) {
	t.Helper()
	var raw json.RawMessage
	var ok bool
	select {
	case raw, ok = <-p.events:
	case <-time.After(d):
		t.Fatalf("node %s: no %q event within %s; its stderr:\n%s", p.name, want, d, p.stderr.String())
	}
	if !ok {
		<-p.proc.Done()
		t.Fatalf("node %s exited (%v) before its %q event; its stderr:\n%s", p.name, p.proc.Err(), want, p.stderr.String())
	}
	var head struct {
		Event   string `json:"event"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		t.Fatalf("node %s: event %s: %v", p.name, raw, err)
	}
	if head.Event != want {
		t.Fatalf("node %s: got event %q, want %q:\n%s\nits stderr:\n%s", p.name, head.Event, want, indentJSON(raw), p.stderr.String())
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("node %s: event %s: %v", p.name, raw, err)
	}
}

// send writes one command line to the script.
func (p *scriptProcess) send(t *testing.T, cmd any) {
	t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		t.Fatalf("node %s: write command: %v", p.name, err)
	}
}

// wait waits for the script to exit and fails the test unless it exits 0 within d.
func (p *scriptProcess) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-p.proc.Done():
	case <-time.After(d):
		t.Fatalf("node %s still running %s after its last event", p.name, d)
	}
	if err := p.proc.Err(); err != nil {
		t.Fatalf("node %s: %v; its stderr:\n%s", p.name, err, p.stderr.String())
	}
}

func indentJSON(raw []byte) string {
	var b bytes.Buffer
	if json.Indent(&b, raw, "  ", "  ") != nil {
		return string(raw)
	}
	return b.String()
}
