package e2e

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/hack/devstack"
	"github.com/latchauth/latch/internal/childproc"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// account is the one user of the test. The real devise client registers it; every other
// dialect then signs it in: one realm, one set of users.
type account struct {
	ID                                   string // known once registered
	Email, Password, FirstName, LastName string
}

// env is what every part of the test needs: the stack, its two replicas and their config.
type env struct {
	stack *devstack.Stack
	// urls are the replicas' public base URLs, replica 0 first.
	urls []string
	// cfg is the config the replicas run at the start (both run the same).
	cfg  *config.Config
	user *account
	// pageURL is the test page, on the origin the realm allows.
	pageURL string
}

// TestEndToEnd brings the whole system up as `make run` does and drives it with the real
// clients. Its parts run in order on one stack and one user, each needing the ones before.
func TestEndToEnd(t *testing.T) {
	begin := time.Now()
	ctx := t.Context()

	// The page server's port is taken first: its origin must be in the realm's allowedOrigins
	// when the stack applies the realm (CORS of the login POST, Origin of the socket).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	origin := "http://" + ln.Addr().String()

	// The clients' installs (minutes the first time, nothing after) run while the stack starts.
	installCtx, cancelInstall := context.WithCancel(ctx)
	var installs sync.WaitGroup
	var installErr error
	installs.Add(1)
	go func() {
		defer installs.Done()
		installErr = installClients(installCtx)
	}()
	// A failed start must not leave an install running past the test.
	t.Cleanup(func() { cancelInstall(); installs.Wait() })

	st := startStack(t, origin)
	installs.Wait()
	if installErr != nil {
		t.Fatal(installErr)
	}

	pageDir := t.TempDir()
	if err := buildPage(ctx, jsDir, pageDir); err != nil {
		t.Fatal(err)
	}
	servePage(t, ln, pageDir)

	reps := st.Replicas()
	if len(reps) != 2 {
		t.Fatalf("the dev realm runs %d replicas, want 2: %+v", len(reps), reps)
	}
	cfg, err := reps[0].ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Protocols; p.ReactAuth == nil || p.DeviseToken == nil || p.BearerToken == nil || p.KeyToken == nil {
		t.Fatalf("the dev realm does not enable every dialect this test drives: %+v", p)
	}
	e := &env{
		stack:   st,
		urls:    []string{reps[0].PublicURL, reps[1].PublicURL},
		cfg:     cfg,
		user:    &account{Email: "ada.e2e@example.com", Password: "correct-horse-battery-staple", FirstName: "Ada", LastName: "Lovelace"},
		pageURL: origin + "/index.html",
	}
	t.Logf("stack and clients ready in %s: replicas %s and %s, page %s", time.Since(begin).Round(100*time.Millisecond), e.urls[0], e.urls[1], e.pageURL)

	// Each part needs the ones before (the user the first registers, above all), so the first
	// failure ends the test.
	parts := []struct {
		name string
		run  func(*testing.T, *env)
	}{
		{"redux-token-auth", testReduxTokenAuth},
		{"redux-token-auth from a token imported from devise", testReduxTokenAuthImported},
		{"bearerToken", testBearerToken},
		{"keyToken", testKeyToken},
		{"react-auth in Chromium across a realm edit", testReactAuthAcrossRealmEdit},
	}
	for _, p := range parts {
		start := time.Now()
		ok := t.Run(p.name, func(t *testing.T) { p.run(t, e) })
		t.Logf("%s: %s", p.name, time.Since(start).Round(100*time.Millisecond))
		if !ok {
			return
		}
	}
}

// installClients installs what the clients need and the machine lacks: node and npm, Debian's
// chromium, and the pinned npm packages.
func installClients(ctx context.Context) error {
	if err := ensureNode(ctx); err != nil {
		return err
	}
	// Both are slow only the first time, and independent.
	var wg sync.WaitGroup
	var chromiumErr, npmErr error
	wg.Add(2)
	go func() { defer wg.Done(); chromiumErr = ensureChromium(ctx) }()
	go func() { defer wg.Done(); npmErr = ensureNodeModules(ctx, jsDir) }()
	wg.Wait()
	return errors.Join(chromiumErr, npmErr)
}

// startStack starts the `make run` stack on free ports, the page's origin added to the dev
// realm's allowed origins, with its output in a file whose end is printed if the test fails.
// The stack stops at cleanup; a data race any of its processes reported (they are built with
// -race when the test is) then fails the test.
func startStack(t *testing.T, origin string) *devstack.Stack {
	t.Helper()
	root, err := devstack.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	tools, err := devstack.FindTools(root, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(t.TempDir(), "stack.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// Registered before the stop, so it runs after it, on the whole output.
	t.Cleanup(func() {
		_ = logFile.Close()
		b, err := os.ReadFile(logPath)
		if err != nil {
			t.Error(err)
		}
		if bytes.Contains(b, []byte("DATA RACE")) {
			t.Error("a process of the stack reported a data race (see its output below)")
		}
		if t.Failed() {
			t.Logf("last lines of the stack's output:\n%s", childproc.LastLines(string(b), 200))
		}
	})
	latch := servertest.Binary(t)
	progressf("starting the stack (redis, control plane, chart, operator, dev realm, 2 replicas)...")
	begin := time.Now()
	st, err := devstack.Start(t.Context(), devstack.Options{
		Root: root, LatchBinary: latch, Tools: tools, Log: logFile,
		Customize: allowOrigin(origin),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Stop(); err != nil {
			t.Errorf("stop the stack: %v", err)
		}
	})
	progressf("stack ready in %.1fs", time.Since(begin).Seconds())
	return st
}

// allowOrigin adds origin to the AuthRealm's allowed origins as the stack applies it.
func allowOrigin(origin string) func(*unstructured.Unstructured) error {
	return func(u *unstructured.Unstructured) error {
		if u.GetKind() != "AuthRealm" {
			return nil
		}
		origins, _, err := unstructured.NestedStringSlice(u.Object, "spec", "allowedOrigins")
		if err != nil {
			return err
		}
		return unstructured.SetNestedStringSlice(u.Object, append(origins, origin), "spec", "allowedOrigins")
	}
}

// prefix returns a dialect's prefix without a trailing slash ("/" becomes ""), ready to join.
func prefix(p string) string { return strings.TrimSuffix(p, "/") }

// wsURL is the reactAuth socket URL of a replica.
func (e *env) wsURL(replica int) string {
	return "ws" + strings.TrimPrefix(e.urls[replica], "http") + prefix(e.cfg.Protocols.ReactAuth.Prefix) + "/socket"
}

func (e *env) devise(replica int, path string) string {
	return e.urls[replica] + prefix(e.cfg.Protocols.DeviseToken.Prefix) + path
}

func (e *env) bearerAPI(replica int, path string) string {
	return e.urls[replica] + prefix(e.cfg.Protocols.BearerToken.Prefix) + path
}

func (e *env) keyAPI(replica int, path string) string {
	return e.urls[replica] + prefix(e.cfg.Protocols.KeyToken.Prefix) + path
}

// near reports whether got is within tol of want, for expiry times computed from the clock.
func near(got, want time.Time, tol time.Duration) bool {
	d := got.Sub(want)
	return d > -tol && d < tol
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// must fails the test on err with what was being done.
func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
