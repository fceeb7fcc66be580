//go:build !linux

package devstack

import "sigs.k8s.io/controller-runtime/pkg/envtest"

// startGuard needs Linux's parent-death signal; elsewhere a stack killed outright leaves its
// control plane running.
func startGuard(*envtest.Environment, []string, *syncWriter) (*process, error) { return nil, nil }
