package devstack

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/internal/childproc"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// startTestStack starts a stack on free ports with its output in a file, printed (the tail)
// if the test fails.
func startTestStack(t *testing.T, ctx context.Context) (*Stack, string) {
	t.Helper()
	root, err := FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	tools, err := FindTools(root, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "stack.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = logFile.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("last lines of the stack's output:\n%s", childproc.LastLines(string(b), 150))
		}
	})
	latch := servertest.Binary(t)
	begin := time.Now()
	s, err := Start(ctx, Options{Root: root, LatchBinary: latch, Tools: tools, Log: logFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stack ready in %s", time.Since(begin).Round(100*time.Millisecond))
	return s, logPath
}

// TestStack brings the whole stack up, signs a user in through one replica and sees the
// session on the other, edits the realm and sees both replicas roll to the new config with
// the session intact, then stops the stack and finds no process of it left.
func TestStack(t *testing.T) {
	ctx := t.Context()
	s, logPath := startTestStack(t, ctx)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = s.Stop()
		}
	})

	reps := s.Replicas()
	if len(reps) != 2 || reps[0].PublicURL == reps[1].PublicURL {
		t.Fatalf("replicas: %+v", reps)
	}
	cfg, err := reps[0].ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Protocols; p.ReactAuth == nil || p.DeviseToken == nil || p.Account == nil || p.BearerToken == nil || p.KeyToken == nil {
		t.Fatalf("the dev realm does not enable every dialect: %+v", p)
	}
	account := strings.TrimSuffix(cfg.Protocols.Account.Prefix, "/")

	// One session: registered through replica 0, read through replica 1.
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	body := `{"login":"ada@example.com","password":"correct-horse-battery","firstName":"Ada","lastName":"Lovelace"}`
	if code, out := do(t, hc, http.MethodPost, reps[0].PublicURL+account+"/register", body, ""); code != http.StatusOK {
		t.Fatalf("register on replica 0: %d %s", code, out)
	}
	sessionOn := func(r Replica) (int, string) {
		return do(t, hc, http.MethodGet, r.PublicURL+account+"/session", "", "")
	}
	if code, out := sessionOn(reps[1]); code != http.StatusOK || !strings.Contains(out, `"login":"ada@example.com"`) {
		t.Fatalf("session on replica 1: %d %s", code, out)
	}

	// The device token the operator minted works on a server: operator, Redis and servers
	// share one registry and one token hash key.
	tok, err := s.DeviceToken(ctx, DevNamespace, DevDeviceClient)
	if err != nil {
		t.Fatal(err)
	}
	api := strings.TrimSuffix(cfg.Protocols.BearerToken.Prefix, "/")
	if code, out := do(t, hc, http.MethodGet, reps[1].PublicURL+api+"/auth", "", tok); code != http.StatusOK || !strings.Contains(out, `"type":"device"`) {
		t.Fatalf("device token on replica 1: %d %s", code, out)
	}

	// An edit of the realm rolls both replicas to the new config; the session lives on.
	realm := &authv1.AuthRealm{}
	if err := s.Client().Get(ctx, s.Realm, realm); err != nil {
		t.Fatal(err)
	}
	rollStart := time.Now()
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"protocols":{"deviseToken":{"tokenLifespan":"100h"}}}}`))
	if err := s.Client().Patch(ctx, realm, patch); err != nil {
		t.Fatal(err)
	}
	wait, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := s.WaitReady(wait); err != nil {
		t.Fatal(err)
	}
	after := s.Replicas()
	if len(after) != 2 {
		t.Fatalf("replicas after the roll: %+v", after)
	}
	if err := s.Client().Get(ctx, s.Realm, realm); err != nil {
		t.Fatal(err)
	}
	for i, r := range after {
		b := reps[i]
		if r.ConfigHash == b.ConfigHash || r.ConfigHash != realm.Status.ConfigHash {
			t.Errorf("replica %d runs config hash %s (was %s; the realm's is %s)", i, r.ConfigHash, b.ConfigHash, realm.Status.ConfigHash)
		}
		if r.PID == b.PID {
			t.Errorf("replica %d kept its process %d", i, r.PID)
		}
		if r.PublicURL != b.PublicURL || r.AdminURL != b.AdminURL {
			t.Errorf("replica %d moved from %s to %s", i, b.PublicURL, r.PublicURL)
		}
		c, err := r.ServerConfig()
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Protocols.DeviseToken.TokenLifespan.Duration; got != 100*time.Hour {
			t.Errorf("replica %d runs deviseToken.tokenLifespan %s, want 100h", i, got)
		}
		if code, out := sessionOn(r); code != http.StatusOK || !strings.Contains(out, `"login":"ada@example.com"`) {
			t.Errorf("session on replica %d after the roll: %d %s", i, code, out)
		}
	}

	t.Logf("rolled in %s", time.Since(rollStart).Round(100*time.Millisecond))

	// A crashed server is restarted, on the same ports, and serves the session again.
	crashed := after[1]
	if err := syscall.Kill(crashed.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var restarted Replica
	if err := poll(wait, 50*time.Millisecond, func() (bool, string) {
		restarted = s.Replicas()[1]
		return restarted.PID != 0 && restarted.PID != crashed.PID && restarted.Ready,
			fmt.Sprintf("replica 1 after a crash: %+v", restarted)
	}); err != nil {
		t.Fatal(err)
	}
	if restarted.Restarts != crashed.Restarts+1 || restarted.PublicURL != crashed.PublicURL {
		t.Errorf("replica 1 after a crash: %+v (before: %+v)", restarted, crashed)
	}
	if code, out := sessionOn(restarted); code != http.StatusOK {
		t.Errorf("session on replica 1 after its crash: %d %s", code, out)
	}

	// The replica count is followed: a third replica starts on the next ports.
	if err := s.Client().Patch(ctx, realm, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"replicas":3}}`))); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitReady(wait); err != nil {
		t.Fatal(err)
	}
	three := s.Replicas()
	if len(three) != 3 || three[2].PublicURL == three[0].PublicURL || three[2].PublicURL == three[1].PublicURL {
		t.Fatalf("replicas after scaling to 3: %+v", three)
	}
	if code, out := sessionOn(three[2]); code != http.StatusOK {
		t.Errorf("session on the new replica 2: %d %s", code, out)
	}

	// Stop: nothing of the stack is left running.
	snapshot, err := Descendants(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Components(snapshot), FullStack(3); !maps.Equal(got, want) {
		t.Fatalf("the stack runs %v, want %v; processes:\n%s", got, want, ProcessList(snapshot))
	}
	stopStart := time.Now()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	t.Logf("stopped in %s", time.Since(stopStart).Round(100*time.Millisecond))
	if left, err := WaitGone(snapshot, os.Getpid(), 5*time.Second); err != nil || len(left) > 0 {
		t.Errorf("processes left after the stop (%v):\n%s", err, ProcessList(left))
	}
	if _, err := os.Stat(s.WorkDir); !os.IsNotExist(err) {
		t.Errorf("the work directory %s is still there: %v", s.WorkDir, err)
	}
	if b, _ := os.ReadFile(logPath); bytes.Contains(b, []byte("DATA RACE")) {
		t.Error("a child process reported a data race (see the output below)")
	}
}

func do(t *testing.T, hc *http.Client, method, url, body, bearer string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
