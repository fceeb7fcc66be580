package servertest_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/servertest"
)

func TestMain(m *testing.M) { servertest.Main(m) }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestStartServesAdminPort(t *testing.T) {
	for _, inMemory := range []bool{false, true} {
		t.Run(map[bool]string{false: "redis", true: "memory"}[inMemory], func(t *testing.T) {
			s := servertest.Start(t, servertest.Options{InMemory: inMemory})
			if code, body := get(t, s.AdminURL+"/healthz"); code != http.StatusOK {
				t.Errorf("/healthz = %d %q, want 200", code, body)
			}
			if code, body := get(t, s.AdminURL+"/readyz"); code != http.StatusOK {
				t.Errorf("/readyz = %d %q, want 200", code, body)
			}
			code, body := get(t, s.AdminURL+"/metrics")
			if code != http.StatusOK || !strings.Contains(body, "latch_password_hash_workers") {
				t.Errorf("/metrics = %d, want 200 with latch_password_hash_workers", code)
			}
			if strings.Contains(body, "latch_store_round_trips_total") == inMemory {
				t.Errorf("/metrics has the Redis round-trip counter: %v, want %v", !inMemory, !inMemory)
			}
			// Nothing else is on the admin port.
			for _, p := range []string{"/", "/account/session", "/debug/pprof/"} {
				if code, _ := get(t, s.AdminURL+p); code != http.StatusNotFound {
					t.Errorf("admin %s = %d, want 404", p, code)
				}
			}
			if len(s.LogLines(map[string]any{"msg": "listening"})) != 1 {
				t.Errorf("no single \"listening\" log line in:\n%s", s.Logs())
			}
		})
	}
}

func TestStopIsGraceful(t *testing.T) {
	s := servertest.Start(t, servertest.Options{})
	s.Stop()
	if err := s.Wait(0); err != nil {
		t.Fatalf("exit = %v, want status 0", err)
	}
	if len(s.LogLines(map[string]any{"msg": "shut down"})) != 1 {
		t.Errorf("no \"shut down\" log line in:\n%s", s.Logs())
	}
}

// A bad config file stops the process at start, on stderr, naming the field, with a non-zero
// exit status.
func TestBadConfigFailsAtStart(t *testing.T) {
	bin := servertest.Binary(t)
	dir := t.TempDir()
	for name, tc := range map[string]struct{ file, want string }{
		"invalid field": {`{"listen":{"readTimeout":"-1s"},"tokenHashKey":{"env":"K"},"protocols":{"account":{}}}`, "listen.readTimeout"},
		"unknown field": {`{"tokenHashKey":{"env":"K"},"protocols":{"account":{}},"bogus":1}`, `unknown field "bogus"`},
		"no dialect":    {`{"tokenHashKey":{"env":"K"}}`, "protocols"},
		"missing key":   {`{"listen":{"public":"127.0.0.1:0","admin":"127.0.0.1:0"},"tokenHashKey":{"env":"LATCH_TEST_UNSET_KEY"},"protocols":{"account":{}}}`, "tokenHashKey"},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(bin, "server", "--config", path)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("latch server = %v, want a non-zero exit status", err)
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr = %q, want it to name %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestMailboxReceivesMail(t *testing.T) {
	s := servertest.Start(t, servertest.Options{InMemory: true})
	c := servertest.Client()
	body := `{"login":"mail@test.example","password":"long enough password"}`
	resp, err := c.Post(s.PublicURL+"/account/register", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = c.Post(s.PublicURL+"/account/forgot", "application/json", strings.NewReader(`{"login":"mail@test.example"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	m := s.Mailbox.Wait(t, "mail@test.example", 1)
	uid, tok := m.Link(t)
	if uid == "" || len(tok) != 43 {
		t.Errorf("link uid=%q t=%q, want a user id and a 43-character token", uid, tok)
	}
}
