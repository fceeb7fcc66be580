package devstack

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
)

// modulePath identifies the repository root by its go.mod.
const modulePath = "github.com/latchauth/latch"

// FindRoot returns the repository root: the nearest directory at or above the working
// directory whose go.mod declares the Latch module.
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

// Tools are the programs the stack runs besides latch, all from hack/tools.sh.
type Tools struct {
	// KubebuilderAssets is the directory holding etcd and kube-apiserver.
	KubebuilderAssets string
	Helm              string
	RedisServer       string
}

// toolVars are the variables `hack/tools.sh --print-env` prints and the Makefile exports.
var toolVars = []string{"KUBEBUILDER_ASSETS", "HELM", "REDIS_SERVER"}

// FindTools returns the tools named by the environment the Makefile exports. When any is
// unset (go test run by hand), it runs hack/tools.sh, which installs what is missing into
// its cache (minutes the first time, with progress on progress) and prints where they are.
func FindTools(root string, progress io.Writer) (Tools, error) {
	get := os.Getenv
	if !allSet(get) {
		script := filepath.Join(root, "hack", "tools.sh")
		install := exec.Command(script, "redis", "envtest", "helm")
		install.Stdout, install.Stderr = progress, progress
		if err := install.Run(); err != nil {
			return Tools{}, fmt.Errorf("hack/tools.sh redis envtest helm: %w", err)
		}
		out, err := exec.Command(script, "--print-env").Output()
		if err != nil {
			return Tools{}, fmt.Errorf("hack/tools.sh --print-env: %w", err)
		}
		printed := map[string]string{}
		for _, line := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok {
				printed[k] = v
			}
		}
		get = func(k string) string {
			if v := os.Getenv(k); v != "" {
				return v
			}
			return printed[k]
		}
	}
	t := Tools{KubebuilderAssets: get("KUBEBUILDER_ASSETS"), Helm: get("HELM"), RedisServer: get("REDIS_SERVER")}
	return t, t.check()
}

func allSet(get func(string) string) bool {
	for _, k := range toolVars {
		if get(k) == "" {
			return false
		}
	}
	return true
}

// check verifies that every tool is where it is said to be.
func (t Tools) check() error {
	var errs []error
	for _, f := range []struct{ what, path string }{
		{"etcd (KUBEBUILDER_ASSETS)", filepath.Join(t.KubebuilderAssets, "etcd")},
		{"kube-apiserver (KUBEBUILDER_ASSETS)", filepath.Join(t.KubebuilderAssets, "kube-apiserver")},
		{"helm (HELM)", t.Helm},
		{"redis-server (REDIS_SERVER)", t.RedisServer},
	} {
		if err := executable(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.what, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("tools missing (run make tools): %w", errors.Join(errs...))
	}
	return nil
}

func executable(path string) error {
	if path == "" || path == "." {
		return errors.New("not set")
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}
