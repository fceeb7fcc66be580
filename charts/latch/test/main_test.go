// Package charttest tests the Helm chart in charts/latch and the image it deploys: helm lint,
// the rendered objects for the important values, the schema's refusals, a real install,
// upgrade and uninstall into a local control plane (envtest: etcd and kube-apiserver), the
// operator run with the installed Deployment's arguments as the installed ServiceAccount, and
// the Dockerfile's build step.
//
// The package lives inside the chart directory, next to what it tests; the chart's
// .helmignore keeps it out of the packaged chart.
package charttest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	authv1 "github.com/latchauth/latch/api/v1alpha1"
	"github.com/latchauth/latch/internal/toolenv"
)

const (
	releaseName      = "latch"
	releaseNamespace = "latch-system"
)

var (
	// repoRoot and chartDir are absolute: helm and go run in other directories.
	repoRoot string
	chartDir string
	// helmBin is the pinned helm that hack/tools.sh builds.
	helmBin string
	// scheme decodes every kind the chart renders or the tests read back.
	scheme = newScheme()

	// The local control plane of the install tests, started once for the package.
	testEnv *envtest.Environment
	// adminConfig and adminKubeconfig belong to a system:masters user: what helm runs as.
	adminConfig     *rest.Config
	adminKubeconfig string
)

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	utilruntime.Must(authv1.AddToScheme(s))
	return s
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// The API clients log through controller-runtime; the tests report what they check.
	ctrllog.SetLogger(logr.Discard())
	if err := setUp(); err != nil {
		fmt.Fprintln(os.Stderr, "charttest:", err)
		return 1
	}
	work, err := os.MkdirTemp("", "latch-charttest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "charttest:", err)
		return 1
	}
	defer os.RemoveAll(work)
	workDir = work

	// envtest starts a real etcd and kube-apiserver. No CRDs are installed here: installing
	// them is the chart's job, and the install test checks that it does.
	testEnv = &envtest.Environment{Scheme: scheme}
	if _, err := testEnv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "charttest: start control plane:", err)
		return 1
	}
	defer func() {
		if err := testEnv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "charttest: stop control plane:", err)
		}
	}()
	admin, err := testEnv.AddUser(envtest.User{Name: "chart-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "charttest: add admin user:", err)
		return 1
	}
	adminConfig = admin.Config()
	// client-go's default of 5 requests/s would make the hundreds of access reviews the
	// install test asks for take minutes; this API server serves only the tests.
	adminConfig.QPS, adminConfig.Burst = 1000, 1000
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "charttest: admin kubeconfig:", err)
		return 1
	}
	adminKubeconfig = filepath.Join(work, "admin.kubeconfig")
	if err := os.WriteFile(adminKubeconfig, kubeconfig, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "charttest:", err)
		return 1
	}
	return m.Run()
}

// workDir holds what the package's tests share for one run (kubeconfigs, the built binary).
var workDir string

// setUp finds the repository, the chart and the pinned tools, installing the tools first when
// the test runs outside `make test` (hack/tools.sh caches them, so this takes seconds once
// they are built).
func setUp() error {
	var err error
	if chartDir, err = filepath.Abs(".."); err != nil {
		return err
	}
	if repoRoot, err = filepath.Abs(filepath.Join("..", "..", "..")); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(chartDir, "Chart.yaml")); err != nil {
		return fmt.Errorf("chart not found next to the test: %w", err)
	}
	if helmBin, err = toolenv.Find(repoRoot, os.Stderr, "HELM", "helm"); err != nil {
		return err
	}
	if !executable(helmBin) {
		return fmt.Errorf("no usable helm at %q", helmBin)
	}
	assets, err := toolenv.Find(repoRoot, os.Stderr, "KUBEBUILDER_ASSETS", "envtest")
	if err != nil {
		return err
	}
	return os.Setenv("KUBEBUILDER_ASSETS", assets)
}

func executable(path string) bool {
	if path == "" {
		return false
	}
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
