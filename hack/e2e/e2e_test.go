package e2e

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/latchauth/latch/authserver/config"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/internal/devcluster"
)

func TestMain(m *testing.M) { servertest.Main(m) }

// account is the one user of the test. The real devise client registers it; every other
// dialect then signs it in: one realm, one set of users.
type account struct {
	ID                                   string // known once registered
	Email, Password, FirstName, LastName string
}

// env is what every part of the test needs: the cluster, the realm's Service, its two server
// pods and their config.
type env struct {
	cluster *devcluster.Cluster
	// service is the realm's Service URL (its ClusterIP, through kube-proxy): what the browser
	// uses, as people do, and what stays when the pods roll.
	service string
	// urls are the server pods' URLs by pod IP, one per replica (by pod name), for the checks
	// that a session made on one replica works on the other. A roll replaces them.
	urls []string
	// pods are the same pods with their names and admin ports (metrics).
	pods []devcluster.PodURL
	// cfg is the config the servers run at the start, as the operator rendered it.
	cfg  *config.Config
	user *account
	// pageURL is the test page, on the origin the realm allows.
	pageURL string
}

// TestEndToEnd brings the system up as `make run` does, on a real node: the working tree's
// images, helm install, the operator pod, the dev realm (config/dev) and its clients. It
// then drives it with the real clients. Its parts run in order on one cluster and one user,
// each needing the ones before.
func TestEndToEnd(t *testing.T) {
	begin := time.Now()
	ctx := t.Context()

	// The page server's port is taken first: its origin must be in the realm's allowedOrigins
	// when the realm is applied (CORS of the login POST, Origin of the socket).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	origin := "http://" + ln.Addr().String()

	// The clients' installs (minutes the first time, nothing after) run while the node starts.
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

	progressf("starting the node and Latch on it (images, helm install, operator, dev realm, 2 server pods, managed Redis)...")
	c := devcluster.StartT(t, devcluster.Options{
		Namespace: devcluster.DevNamespace, Samples: devcluster.DevSamples,
		Customize: allowOrigin(origin),
	})
	progressf("cluster ready in %.1fs", time.Since(begin).Seconds())
	installs.Wait()
	if installErr != nil {
		t.Fatal(installErr)
	}

	pageDir := t.TempDir()
	if err := buildPage(ctx, jsDir, pageDir); err != nil {
		t.Fatal(err)
	}
	servePage(t, ln, pageDir)

	service, err := c.ServiceURL(ctx)
	must(t, "the realm's Service", err)
	cfg, err := c.ServerConfig(ctx)
	must(t, "the servers' config", err)
	if p := cfg.Protocols; p.ReactAuth == nil || p.DeviseToken == nil || p.BearerToken == nil || p.KeyToken == nil {
		t.Fatalf("the dev realm does not enable every dialect this test drives: %+v", p)
	}
	e := &env{
		cluster: c,
		service: service,
		cfg:     cfg,
		user:    &account{Email: "ada.e2e@example.com", Password: "correct-horse-battery-staple", FirstName: "Ada", LastName: "Lovelace"},
		pageURL: origin + "/index.html",
	}
	e.findPods(t)
	t.Logf("cluster and clients ready in %s: Service %s, pods %s and %s, page %s", time.Since(begin).Round(100*time.Millisecond), e.service, e.urls[0], e.urls[1], e.pageURL)

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

// findPods sets e.pods and e.urls to the realm's two ready server pods, by pod name.
func (e *env) findPods(t *testing.T) {
	t.Helper()
	pods, err := e.cluster.PodURLs(t.Context())
	must(t, "the server pods' URLs", err)
	if len(pods) != 2 {
		t.Fatalf("the dev realm runs %d ready server pods %v, want 2", len(pods), pods)
	}
	e.pods = pods
	e.urls = []string{pods[0].URL, pods[1].URL}
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

// allowOrigin adds origin to the AuthRealm's allowed origins as the cluster applies it.
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
func (e *env) wsURL(replica int) string { return e.socketURL(e.urls[replica]) }

// socketURL is the reactAuth socket URL of a server's base URL.
func (e *env) socketURL(base string) string {
	return "ws" + strings.TrimPrefix(base, "http") + prefix(e.cfg.Protocols.ReactAuth.Prefix) + "/socket"
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
