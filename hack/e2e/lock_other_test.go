//go:build !unix

package e2e

// lockFile does not lock where there is no flock: concurrent installs there are the caller's
// to avoid.
func lockFile(string) (func(), error) { return func() {}, nil }
