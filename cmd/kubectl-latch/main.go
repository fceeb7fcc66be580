// Command kubectl-latch is the `kubectl latch` plugin: kubectl runs any kubectl-* binary on
// its PATH as a subcommand. It runs `latch admin` in a realm's server pod through pods/exec,
// and prints the realms' and device clients' status (see internal/kubectllatch).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/latchauth/latch/internal/kubectllatch"
)

func main() {
	// Ctrl-C ends the exec stream; latch admin in the pod finishes its one command.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := kubectllatch.Main(ctx, os.Args[1:], kubectllatch.Env{Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
