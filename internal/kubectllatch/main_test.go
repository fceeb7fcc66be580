package kubectllatch

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/servertest"
	"github.com/latchauth/latch/internal/toolenv"
)

// The tests run against a real kube-apiserver and etcd (envtest) with Latch's CRDs and no
// operator: each test creates the objects the operator would, with the status it would set.
// There is no kubelet, so nothing runs in a pod; the exec step is replaced where a test needs
// one to run (a real latch admin against a real server process, e2e_test.go).
var (
	testEnv    *envtest.Environment
	adminCfg   *rest.Config
	testScheme *runtime.Scheme
	k8s        client.Client
)

func TestMain(m *testing.M) { os.Exit(runSuite(m)) }

func runSuite(m *testing.M) int {
	if err := ensureAssets(); err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
		return 1
	}
	testScheme = runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(testScheme))
	utilruntime.Must(authv1.AddToScheme(testScheme))
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                testScheme,
	}
	var err error
	adminCfg, err = testEnv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest: start control plane:", err)
		return 1
	}
	defer func() {
		if err := testEnv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "envtest: stop:", err)
		}
	}()
	if k8s, err = client.New(adminCfg, client.Options{Scheme: testScheme}); err != nil {
		fmt.Fprintln(os.Stderr, "envtest: client:", err)
		return 1
	}
	defer servertest.RemoveBinary()
	return m.Run()
}

// ensureAssets points envtest at the kube-apiserver and etcd hack/tools.sh builds (as the
// controllers' suite does), installing them when the test runs outside `make test`.
func ensureAssets() error {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return err
	}
	assets, err := toolenv.Find(root, os.Stderr, "KUBEBUILDER_ASSETS", "envtest")
	if err != nil {
		return err
	}
	return os.Setenv("KUBEBUILDER_ASSETS", assets)
}
