//go:build unix

package e2e

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock on path (created if missing), waiting for it, and
// returns its release. Two test processes that install at once (two `go test` runs) would
// otherwise both run npm ci into one directory. The kernel releases the lock if the process
// dies, so a crash leaves no stale lock behind.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
