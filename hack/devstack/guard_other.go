//go:build !linux

package devstack

import (
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/latchauth/latch/internal/childproc"
)

// startGuard needs Linux's parent-death signal; elsewhere a stack killed outright leaves its
// control plane running.
func startGuard(*envtest.Environment, []string, *syncWriter) (*childproc.Process, error) {
	return nil, nil
}
