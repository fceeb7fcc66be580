package toolenv

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Install runs `hack/tools.sh names…` of the repository at root, its progress lines on
// progress, and returns what the script's --print-env prints, by variable (ETCD, HELM,
// KUBEBUILDER_ASSETS, ...).
func Install(root string, progress io.Writer, names ...string) (map[string]string, error) {
	script := filepath.Join(root, "hack", "tools.sh")
	if len(names) > 0 {
		install := exec.Command(script, names...)
		install.Stdout, install.Stderr = progress, progress
		if err := install.Run(); err != nil {
			return nil, fmt.Errorf("hack/tools.sh %s: %w", strings.Join(names, " "), err)
		}
	}
	var stderr strings.Builder
	cmd := exec.Command(script, "--print-env")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("hack/tools.sh --print-env: %w: %s", err, stderr.String())
	}
	return parse(string(out)), nil
}

// parse reads --print-env's KEY=value lines.
func parse(out string) map[string]string {
	env := map[string]string{}
	for line := range strings.Lines(out) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			env[k] = v
		}
	}
	return env
}

// Find returns the variable key: from the environment when it is set there (make exports
// every one), else from Install(root, progress, names…).
func Find(root string, progress io.Writer, key string, names ...string) (string, error) {
	if v := os.Getenv(key); v != "" {
		return v, nil
	}
	env, err := Install(root, progress, names...)
	if err != nil {
		return "", err
	}
	if env[key] == "" {
		return "", errors.New("hack/tools.sh --print-env names no " + key)
	}
	return env[key], nil
}
