package kubectllatch

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/authserver/servertest"
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
	if os.Getenv("KUBEBUILDER_ASSETS") != "" {
		return nil
	}
	tools, err := filepath.Abs(filepath.Join("..", "..", "hack", "tools.sh"))
	if err != nil {
		return err
	}
	install := exec.Command(tools, "envtest")
	install.Stdout, install.Stderr = os.Stderr, os.Stderr
	if err := install.Run(); err != nil {
		return fmt.Errorf("hack/tools.sh envtest failed: %w", err)
	}
	out, err := exec.Command(tools, "--print-env").Output()
	if err != nil {
		return fmt.Errorf("hack/tools.sh --print-env: %w", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "KUBEBUILDER_ASSETS="); ok {
			return os.Setenv("KUBEBUILDER_ASSETS", v)
		}
	}
	return fmt.Errorf("hack/tools.sh --print-env printed no KUBEBUILDER_ASSETS")
}
