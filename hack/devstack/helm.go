package devstack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"
)

// helmInstall installs the chart from the work tree, with helm's own state in the work
// directory so nothing of the user's helm setup is read or changed.
func (s *Stack) helmInstall(ctx context.Context) error {
	home := filepath.Join(s.WorkDir, "helm")
	env := append(filteredEnv("HELM_", "KUBECONFIG"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+s.Kubeconfig,
	)
	return runToEnd(ctx, command{Name: "helm", Path: s.opts.Tools.Helm, Env: env, Args: []string{
		"install", HelmRelease, filepath.Join(s.opts.Root, "charts", "latch"),
		"--namespace", OperatorNamespace, "--create-namespace", "--hide-notes",
	}}, s.log)
}

// runToEnd runs a command to its end; ctx ending stops it.
func runToEnd(ctx context.Context, c command, log *syncWriter) error {
	p, err := startProcess(c, newLineWriter(log, c.Name))
	if err != nil {
		return err
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		p.Stop(5 * time.Second)
		return fmt.Errorf("%s: %w", c.Name, ctx.Err())
	}
	if err := p.Err(); err != nil {
		return fmt.Errorf("%s %s: %w (its output is above)", c.Name, strings.Join(c.Args, " "), err)
	}
	return nil
}

// filteredEnv is the stack's environment without the variables whose names start with one
// of drop.
func filteredEnv(drop ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		keep := true
		for _, d := range drop {
			if strings.HasPrefix(kv, d) {
				keep = false
			}
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// waitCRDs waits until the API server serves the chart's CRDs.
func (s *Stack) waitCRDs(ctx context.Context) error {
	names := []string{"authrealms.auth.latch.dev", "deviceclients.auth.latch.dev"}
	return poll(ctx, 100*time.Millisecond, func() (bool, string) {
		for _, n := range names {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := s.client.Get(ctx, types.NamespacedName{Name: n}, crd); err != nil {
				return false, fmt.Sprintf("CRD %s: %v", n, err)
			}
			established := false
			for _, c := range crd.Status.Conditions {
				if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
					established = true
				}
			}
			if !established {
				return false, fmt.Sprintf("CRD %s is not established", n)
			}
		}
		return true, ""
	})
}
