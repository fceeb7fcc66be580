package kubectllatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/servertest"
)

// localExec stands in for the kubelet: it runs the command the plugin asks a pod to run as a
// local process, the real latch binary against the real server process the pod stands for.
// The pod's PID 1 is that server, so the container's /proc/1/fd/1 is the server's
// /proc/PID/fd/1: an audit event written there lands in the server's own output, as it lands
// in the pod's log stream in a cluster.
type localExec struct {
	t      *testing.T
	server *servertest.Server
	calls  int
}

func (e *localExec) Exec(ctx context.Context, tg Target, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	e.calls++
	if tg.Container != "server" || len(argv) < 2 || argv[0] != "/latch" {
		return 0, fmt.Errorf("localExec: container %q argv %q: not latch in the server container", tg.Container, argv)
	}
	args := append([]string{}, argv[1:]...)
	for i := range args {
		if args[i] == auditLogPath {
			args[i] = fmt.Sprintf("/proc/%d/fd/1", e.server.PID())
		}
	}
	cmd := exec.CommandContext(ctx, servertest.Binary(e.t), args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	return 0, err
}

// The plugin end to end: envtest serves the realm and its pod (whose server runs with the
// real server's config file), the exec runs the real latch admin against the real server on
// real Redis; output and exit codes come back as latch admin gave them, and the audit event
// lands in the server's log naming the caller's Kubernetes identity.
func TestEndToEnd(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	hc := servertest.Client()
	const pw = "correct horse battery"
	if res := servertest.Do(t, hc, http.MethodPost, s.PublicURL+"/account/register",
		map[string]string{"login": "ada@example.com", "password": pw, "firstName": "Ada", "lastName": "Lovelace"}); res.StatusCode != http.StatusOK {
		t.Fatalf("register: %d %s", res.StatusCode, res.Body)
	}
	laptop := servertest.Client()
	if res := servertest.Do(t, laptop, http.MethodPost, s.PublicURL+"/account/login",
		map[string]string{"login": "ada@example.com", "password": pw}, "User-Agent", "Firefox on a laptop"); res.StatusCode != http.StatusOK {
		t.Fatalf("login: %d %s", res.StatusCode, res.Body)
	}

	ns := newNamespace(t)
	createRealm(t, ns, "dev", 1, authv1.AuthRealmStatus{})
	createServerPod(t, ns, podSpec{name: "dev-7d9f-x2", realm: "dev", ready: true, config: s.ConfigFile()})
	kc := kubeconfig(t, addUser(t, "grace@ops.example", "system:masters"), "laptop-admin", ns, "envtest")
	ex := &localExec{t: t, server: s}
	latch := func(args ...string) result {
		t.Helper()
		return run(t, ex, append([]string{"--kubeconfig", kc}, args...)...)
	}

	// The example: the real table, exit 0.
	res := latch("-n", ns, "sessions", "list", "--realm", "dev", "--user", "ada@example.com")
	if res.code != 0 || !strings.Contains(res.stdout, "SESSION") || !strings.Contains(res.stdout, "Firefox on a laptop") {
		t.Fatalf("sessions list: exit %d\nstdout %s\nstderr %s", res.code, res.stdout, res.stderr)
	}
	// -o after the command reaches latch admin before it.
	res = latch("sessions", "list", "--user", "ada@example.com", "-o", "json")
	var sessions []struct{ ID, UserAgent string }
	// Two: registering signs in too (oldest first), then the laptop's login.
	if err := json.Unmarshal([]byte(res.stdout), &sessions); res.code != 0 || err != nil || len(sessions) != 2 || sessions[1].UserAgent != "Firefox on a laptop" {
		t.Fatalf("sessions list -o json: exit %d, %v\n%s%s", res.code, err, res.stdout, res.stderr)
	}

	// latch admin's exit codes pass through: 1 refused, 2 a command line it cannot read.
	res = latch("--realm", "dev", "sessions", "list", "--user", "nobody@example.com")
	if res.code != 1 || !strings.Contains(res.stderr, "no such user") {
		t.Errorf("unknown user: exit %d, stderr %q; want 1, no such user", res.code, res.stderr)
	}
	res = latch("--realm", "dev", "sessions", "frobnicate")
	if res.code != 2 || !strings.Contains(res.stderr, "unknown command") {
		t.Errorf("unknown command: exit %d, stderr %q; want 2", res.code, res.stderr)
	}

	// A change: the session ends for the user, and the server's log names who ended it.
	res = latch("sessions", "revoke", "--user", "ada@example.com")
	if res.code != 0 || !strings.Contains(res.stdout, "ended 2 sessions of ada@example.com") {
		t.Fatalf("sessions revoke: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if res := servertest.Do(t, laptop, http.MethodGet, s.PublicURL+"/account/session", nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the revoked session still answers %d", res.StatusCode)
	}
	events := s.LogLines(map[string]any{"audit": true, "event": "admin.sessions.revoke_all", "actor": "grace@ops.example"})
	if len(events) != 1 {
		t.Errorf("%d admin.sessions.revoke_all events naming grace@ops.example in the server's log, want 1:\n%s", len(events), s.Logs())
	}
	if strings.Contains(res.stderr, "admin.sessions.revoke_all") {
		t.Errorf("the audit event went to the caller's stderr: %s", res.stderr)
	}

	// import streams the local file to latch admin's standard input in the pod.
	export := filepath.Join(t.TempDir(), "users.jsonl")
	if err := os.WriteFile(export, []byte(`{"email":"grace@example.com","confirmed_at":"2024-01-01","first_name":"Grace"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if res := latch("import", export); res.code != 2 || !strings.Contains(res.stderr, "needs --format") {
		t.Errorf("import without --format: exit %d, %q; want 2 before any exec", res.code, res.stderr)
	}
	if res := latch("import", export, "--format", "devise-jsonl"); res.code != 0 {
		t.Errorf("import: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if res := latch("users", "show", "grace@example.com"); res.code != 0 || !strings.Contains(res.stdout, "Grace") {
		t.Errorf("the imported user: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if ex.calls != 7 {
		t.Errorf("%d execs, want 7", ex.calls)
	}
}
