package controllers

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/controllers/writecount"
	"github.com/latchauth/latch/internal/toolenv"
)

// The suite runs against a real etcd and kube-apiserver (envtest), started here from the
// tools hack/tools.sh builds, and a manager running the real reconcilers.
var (
	testEnv    *envtest.Environment
	testCfg    *rest.Config
	testScheme *runtime.Scheme
	k8s        client.Client // uncached: assertions see the API server, not a cache
	testImage  = "example.test/latch:test"
	// cached is the manager's client: reads from its cache, with its field indexes.
	cached client.Client
)

// testClientResync is the DeviceClient resync period of the suite's manager: short, so that
// drift repair is seen within a test, and longer than the rotation period of the rotation
// test, so that rotating on time proves the rotation deadline drives it.
const testClientResync = 3 * time.Second

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if err := ensureAssets(); err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
		return 1
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(false), zap.Level(zapLevel())))
	testScheme = runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(testScheme))
	utilruntime.Must(authv1.AddToScheme(testScheme))

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                testScheme,
	}
	var err error
	testCfg, err = testEnv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest: start control plane:", err)
		return 1
	}
	defer func() {
		if err := testEnv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "envtest: stop:", err)
		}
	}()
	k8s, err = client.New(testCfg, client.Options{Scheme: testScheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest: client:", err)
		return 1
	}

	mgr, err := ctrl.NewManager(testCfg, ctrl.Options{
		Scheme:  testScheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Client:  ClientOptions(),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest: manager:", err)
		return 1
	}
	if err := (&AuthRealmReconciler{Client: mgr.GetClient(), Scheme: testScheme, ServerImage: testImage, OperatorNamespace: testOperatorNamespace}).SetupWithManager(mgr); err != nil {
		fmt.Fprintln(os.Stderr, "envtest: setup realm controller:", err)
		return 1
	}
	if err := (&DeviceClientReconciler{
		Client: mgr.GetClient(), Scheme: testScheme, Recorder: mgr.GetEventRecorder("latch-deviceclient"),
		ResyncPeriod: testClientResync,
	}).SetupWithManager(mgr); err != nil {
		fmt.Fprintln(os.Stderr, "envtest: setup device client controller:", err)
		return 1
	}
	cached = mgr.GetClient()
	// go-redis logs every failed redial; the outage tests cause them on purpose.
	redis.SetLogger(quietRedisLogger{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "envtest: manager:", err)
		}
	}()
	// Tests that start a real auth server build the latch binary once; remove it after them.
	defer servertest.RemoveBinary()
	return m.Run()
}

func zapLevel() zapcore.Level {
	if os.Getenv("LATCH_TEST_VERBOSE") != "" {
		return -1
	}
	return 2 // errors only: a reconcile that fails mid-test is visible, chatter is not
}

// ensureAssets points envtest at the etcd and kube-apiserver that hack/tools.sh builds,
// installing them first when this test runs outside `make test`.
func ensureAssets() error {
	root, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	assets, err := toolenv.Find(root, os.Stderr, "KUBEBUILDER_ASSETS", "envtest")
	if err != nil {
		return err
	}
	return os.Setenv("KUBEBUILDER_ASSETS", assets)
}

// newNamespace creates a namespace for one test and deletes it at the end.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	if err := k8s.Create(t.Context(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ns) })
	return ns.Name
}

// eventually retries check until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = check(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type quietRedisLogger struct{}

func (quietRedisLogger) Printf(context.Context, string, ...any) {}

// countingClient is an uncached client that counts every write it makes.
func countingClient(t *testing.T, writes *atomic.Int64) client.Client {
	t.Helper()
	base, err := client.New(testCfg, client.Options{Scheme: testScheme})
	if err != nil {
		t.Fatal(err)
	}
	return writecount.Wrap(base, writes)
}

// countingCachedClient reads through the manager's cache, as a reconciler does (its lists by
// field index work only there), and counts every write, which goes to the API server.
func countingCachedClient(writes *atomic.Int64) client.Client {
	return writecount.Wrap(cached, writes)
}

// kubectl runs the real kubectl against the test control plane, as a user would.
func kubectl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	user, err := testEnv.AddUser(envtest.User{Name: "kubectl-user", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := user.Kubectl()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := k.Run(args...)
	var out bytes.Buffer
	if stdout != nil {
		_, _ = out.ReadFrom(stdout)
	}
	if stderr != nil {
		_, _ = out.ReadFrom(stderr)
	}
	return out.String(), err
}
