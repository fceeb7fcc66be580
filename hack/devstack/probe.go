package devstack

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/latchauth/latch/internal/childproc"
)

// readinessProbe is the URL and failure threshold of the container's HTTP readiness probe,
// or /readyz on the admin port when the template has none.
func readinessProbe(c *corev1.Container, portMap map[int32]int, ports replicaPorts) (string, int) {
	p := c.ReadinessProbe
	if p == nil || p.HTTPGet == nil {
		return "http://" + childproc.Loopback(ports.Admin) + "/readyz", 3
	}
	port := ports.Admin
	var containerPort int32
	if p.HTTPGet.Port.IntValue() != 0 {
		containerPort = int32(p.HTTPGet.Port.IntValue())
	} else {
		for _, cp := range c.Ports {
			if cp.Name == p.HTTPGet.Port.String() {
				containerPort = cp.ContainerPort
			}
		}
	}
	if local, ok := portMap[containerPort]; ok {
		port = local
	}
	failures := int(p.FailureThreshold)
	if failures <= 0 {
		failures = 3
	}
	return "http://" + childproc.Loopback(port) + p.HTTPGet.Path, failures
}

// probe polls url until ctx ends: ready after a success, not ready after failures in a row.
// Every change calls changed.
func probe(ctx context.Context, url string, failures int, ready *atomic.Bool, changed func()) {
	hc := &http.Client{Timeout: probeTimeout}
	failed := 0
	t := time.NewTicker(probePeriod)
	defer t.Stop()
	for {
		ok := probeOnce(ctx, hc, url)
		switch {
		case ok:
			failed = 0
			if !ready.Swap(true) {
				changed()
			}
		default:
			failed++
			if failed >= failures && ready.Swap(false) {
				changed()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func probeOnce(ctx context.Context, hc *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}
