package devstack

import (
	"context"
	"fmt"
	"net/http"
	"time"
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
	metrics, err := freePort()
	if err != nil {
		return err
	}
	health, err := freePort()
	if err != nil {
		return err
	}
	// Metrics are served as the chart serves them: HTTPS, to callers the API server
	// authenticates and authorizes (bound to the chart's latch-metrics-reader ClusterRole).
	s.OperatorMetricsURL = "https://" + loopback(metrics) + "/metrics"
	s.OperatorHealthURL = "http://" + loopback(health) + "/readyz"
	// `latch manager` reads its kubeconfig the controller-runtime way: KUBECONFIG.
	env := append(filteredEnv("KUBECONFIG"), "KUBECONFIG="+kubeconfig)
	s.operator = supervise(command{Name: "operator", Path: s.opts.LatchBinary, Env: env, Dir: s.WorkDir, Args: []string{
		"manager",
		"--metrics-bind-address=" + loopback(metrics),
		"--health-probe-bind-address=" + loopback(health),
		"--operator-namespace=" + OperatorNamespace,
		"--zap-encoder=console",
	}}, s.log, 15*time.Second, nil)
	hc := &http.Client{Timeout: 2 * time.Second}
	return poll(ctx, 100*time.Millisecond, func() (bool, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.OperatorHealthURL, nil)
		if err != nil {
			return false, err.Error()
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false, fmt.Sprintf("operator %s: %v (its output is above)", s.OperatorHealthURL, err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Sprintf("operator %s: %s", s.OperatorHealthURL, resp.Status)
	})
}
