package devcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// pluginBuildTimeout bounds the plugin's build, whoever asks first: it does not run under the
// caller's deadline, which is meant for the command, so a short one cannot fail the build for
// every later call.
const pluginBuildTimeout = 5 * time.Minute

// KubectlLatch runs the real `kubectl latch -n <namespace> --realm <realm> -o json args…`
// (cmd/kubectl-latch, built from the working tree the first time) as the node's admin, and
// returns its standard output. The plugin runs `latch admin` in a ready server pod through
// pods/exec; an error carries what it printed.
func (c *Cluster) KubectlLatch(ctx context.Context, args ...string) ([]byte, error) {
	c.pluginOnce.Do(func() { c.plugin, c.pluginErr = c.buildPlugin(ctx) })
	if c.pluginErr != nil {
		return nil, c.pluginErr
	}
	args = append([]string{"-n", c.Namespace, "--realm", c.Realm.Name, "-o", "json"}, args...)
	cmd := exec.CommandContext(ctx, c.plugin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Node.Kubeconfig())
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("kubectl latch %s: %w\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// buildPlugin builds cmd/kubectl-latch into a directory of its own, removed at Stop.
func (c *Cluster) buildPlugin(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp("", "latch-kubectl-plugin-")
	if err != nil {
		return "", err
	}
	c.cleanups = append(c.cleanups, func() { _ = os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pluginBuildTimeout)
	defer cancel()
	path := filepath.Join(dir, "kubectl-latch")
	build := exec.CommandContext(ctx, "go", "build", "-o", path, "./cmd/kubectl-latch")
	build.Dir = c.root
	build.WaitDelay = 5 * time.Second
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/kubectl-latch: %w\n%s", err, out)
	}
	return path, nil
}
