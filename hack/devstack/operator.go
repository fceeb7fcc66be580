package devstack

import (
	"context"
	"fmt"
	"time"

	"github.com/latchauth/latch/internal/childproc"
)

// startOperator runs `latch manager` against the control plane, as the chart's
// ServiceAccount unless OperatorAsAdmin, and waits for its /readyz.
func (s *Stack) startOperator(ctx, bg context.Context) error {
	kubeconfig := s.Kubeconfig
	if !s.opts.OperatorAsAdmin {
		t, err := newServiceAccountKubeconfig(ctx, s.admin, OperatorNamespace, operatorServiceAccount, s.WorkDir)
		if err != nil {
			return err
		}
		kubeconfig = t.Kubeconfig
		s.background.Add(1)
		go func() {
			defer s.background.Done()
			t.keepFresh(bg, s.log)
		}()
	}
	metrics, err := childproc.FreePort()
	if err != nil {
		return err
	}
	health, err := childproc.FreePort()
	if err != nil {
		return err
	}
	// Metrics are served as the chart serves them: HTTPS, to callers the API server
	// authenticates and authorizes (bound to the chart's latch-metrics-reader ClusterRole).
	s.OperatorMetricsURL = "https://" + childproc.Loopback(metrics) + "/metrics"
	s.OperatorHealthURL = "http://" + childproc.Loopback(health) + "/readyz"
	// `latch manager` reads its kubeconfig the controller-runtime way: KUBECONFIG.
	env := append(filteredEnv("KUBECONFIG"), "KUBECONFIG="+kubeconfig)
	s.operator = supervise(command{Name: "operator", Path: s.opts.LatchBinary, Env: env, Dir: s.WorkDir, Args: []string{
		"manager",
		"--metrics-bind-address=" + childproc.Loopback(metrics),
		"--health-probe-bind-address=" + childproc.Loopback(health),
		"--operator-namespace=" + OperatorNamespace,
		"--zap-encoder=console",
	}}, s.log, 15*time.Second, nil)
	return childproc.Poll(ctx, 100*time.Millisecond, func(ctx context.Context) error {
		if err := childproc.GetOK(ctx, s.OperatorHealthURL); err != nil {
			return fmt.Errorf("operator: %w (its output is above)", err)
		}
		return nil
	})
}
