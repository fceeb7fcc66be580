package kubenode

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/latchauth/latch/internal/toolenv"
)

// Tools are the programs the node runs, all installed by hack/tools.sh (built from Go modules
// or from Debian packages) and named by the variables its --print-env prints.
type Tools struct {
	Etcd          string // ETCD
	KubeAPIServer string // KUBE_APISERVER
	// KubeNodeBin holds kubelet, kube-controller-manager, kube-scheduler, kube-proxy and
	// kubectl, all of the node's version.
	KubeNodeBin string // KUBE_NODE_BIN
	// ContainerdBin holds containerd, containerd-shim-runc-v2 and ctr.
	ContainerdBin string // CONTAINERD_BIN
	// CNIBinDir holds the bridge, host-local and portmap plugins.
	CNIBinDir string // CNI_BIN_DIR
	Runc      string // RUNC
}

// toolNames are the hack/tools.sh tools the node needs.
var toolNames = []string{"kube-node", "etcd", "containerd", "runc", "containernetworking-plugins", "iptables", "conntrack", "nftables"}

// FindTools returns the tools named by the environment the Makefile exports (make test, make
// node). When any is unset (go test run by hand) it runs hack/tools.sh under root, which
// installs what is missing into its cache (minutes the first time, with progress lines on
// progress) and prints where everything is.
func FindTools(root string, progress io.Writer) (Tools, error) {
	get := os.Getenv
	t := toolsFrom(get)
	if t.check() != nil {
		printed, err := toolenv.Install(root, progress, toolNames...)
		if err != nil {
			return Tools{}, err
		}
		// What the script printed wins over the environment here: the environment did not
		// name a complete set, and the script just installed one.
		t = toolsFrom(func(k string) string { return printed[k] })
	}
	return t, t.check()
}

func toolsFrom(get func(string) string) Tools {
	return Tools{
		Etcd: get("ETCD"), KubeAPIServer: get("KUBE_APISERVER"), KubeNodeBin: get("KUBE_NODE_BIN"),
		ContainerdBin: get("CONTAINERD_BIN"), CNIBinDir: get("CNI_BIN_DIR"), Runc: get("RUNC"),
	}
}

func (t Tools) kubelet() string    { return filepath.Join(t.KubeNodeBin, "kubelet") }
func (t Tools) kcm() string        { return filepath.Join(t.KubeNodeBin, "kube-controller-manager") }
func (t Tools) scheduler() string  { return filepath.Join(t.KubeNodeBin, "kube-scheduler") }
func (t Tools) kubeProxy() string  { return filepath.Join(t.KubeNodeBin, "kube-proxy") }
func (t Tools) kubectl() string    { return filepath.Join(t.KubeNodeBin, "kubectl") }
func (t Tools) containerd() string { return filepath.Join(t.ContainerdBin, "containerd") }
func (t Tools) ctr() string        { return filepath.Join(t.ContainerdBin, "ctr") }

// check verifies that every program is where it is said to be, and that the host programs
// the node's components call by name (iptables, conntrack, nft) are on PATH.
func (t Tools) check() error {
	var errs []error
	for _, f := range []struct{ what, path string }{
		{"etcd (ETCD)", t.Etcd},
		{"kube-apiserver (KUBE_APISERVER)", t.KubeAPIServer},
		{"kubelet (KUBE_NODE_BIN)", t.kubelet()},
		{"kube-controller-manager (KUBE_NODE_BIN)", t.kcm()},
		{"kube-scheduler (KUBE_NODE_BIN)", t.scheduler()},
		{"kube-proxy (KUBE_NODE_BIN)", t.kubeProxy()},
		{"kubectl (KUBE_NODE_BIN)", t.kubectl()},
		{"containerd (CONTAINERD_BIN)", t.containerd()},
		{"containerd-shim-runc-v2 (CONTAINERD_BIN)", filepath.Join(t.ContainerdBin, "containerd-shim-runc-v2")},
		{"ctr (CONTAINERD_BIN)", t.ctr()},
		{"the CNI bridge plugin (CNI_BIN_DIR)", filepath.Join(t.CNIBinDir, "bridge")},
		{"runc (RUNC)", t.Runc},
	} {
		if !strings.HasPrefix(f.path, "/") {
			errs = append(errs, fmt.Errorf("%s: not set (an absolute path)", f.what))
			continue
		}
		if st, err := os.Stat(f.path); err != nil || st.Mode()&0o111 == 0 {
			errs = append(errs, fmt.Errorf("%s: %s is not an executable", f.what, f.path))
		}
	}
	for _, p := range []string{"iptables", "ip6tables", "iptables-save", "iptables-restore", "conntrack", "nft", "ip"} {
		if _, err := exec.LookPath(p); err != nil {
			errs = append(errs, fmt.Errorf("%s: not on PATH", p))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("the node's tools are missing (run hack/tools.sh %s): %w", strings.Join(toolNames, " "), errors.Join(errs...))
	}
	return nil
}

// modulePath identifies the repository root by its go.mod.
const modulePath = "github.com/latchauth/latch"

// FindRoot returns the repository root: the nearest directory at or above the working
// directory whose go.mod declares the Latch module. The node needs it for hack/tools.sh and
// the images in bin/images.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && declaresModule(b, modulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod of %s at or above the working directory", modulePath)
		}
		dir = parent
	}
}

func declaresModule(gomod []byte, path string) bool {
	s := bufio.NewScanner(bytes.NewReader(gomod))
	for s.Scan() {
		if f := strings.Fields(s.Text()); len(f) == 2 && f[0] == "module" {
			return f[1] == path
		}
	}
	return false
}
