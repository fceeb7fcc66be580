package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/latchauth/latch/internal/kubenode"
)

func main() {
	fs := flag.NewFlagSet("node", flag.ExitOnError)
	dir := fs.String("dir", kubenode.DefaultStateDir, "the node's state directory")
	build := fs.Bool("build-images", true, "up: run hack/images first, so the latch image is the working tree's (cached: seconds when warm)")
	fs.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: go run ./hack/node up|down|status [-dir DIR] [-build-images=false]")
		fs.PrintDefaults()
	}
	if len(os.Args) < 2 {
		fs.Usage()
		os.Exit(2)
	}
	cmd := os.Args[1]
	_ = fs.Parse(os.Args[2:])
	var err error
	switch cmd {
	case "up":
		err = up(*dir, *build)
	case "down":
		err = kubenode.Down(*dir, os.Stderr)
	case "status":
		err = status(*dir)
	default:
		fs.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		os.Exit(1)
	}
}

func up(dir string, build bool) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	start := time.Now()
	n, err := kubenode.Start(ctx, kubenode.Options{StateDir: dir, BuildImages: build})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, `
Node %s is Ready (%.1f s). In another terminal:

  export KUBECONFIG=%s
  kubectl get nodes,pods -A

Images imported: %v
Component logs: %s/logs. Ctrl-C (or: go run ./hack/node down) stops the node and restores the host.
`, kubenode.NodeName, time.Since(start).Seconds(), n.Kubeconfig(), n.Images(), n.StateDir())
	<-ctx.Done()
	cancel() // a second Ctrl-C now kills this process; the next up or down cleans up after it
	fmt.Fprintln(os.Stderr)
	return n.Stop()
}

func status(dir string) error {
	s, err := kubenode.Status(dir)
	if err != nil {
		return err
	}
	switch {
	case s.Running:
		fmt.Printf("running: pid %d, KUBECONFIG=%s\n", s.PID, s.Kubeconfig)
		for _, args := range [][]string{{"get", "nodes", "-o", "wide"}, {"get", "pods", "-A"}} {
			c := exec.Command("kubectl", append([]string{"--kubeconfig", s.Kubeconfig}, args...)...)
			c.Stdout, c.Stderr = os.Stdout, os.Stderr
			_ = c.Run()
		}
	case s.Leftover:
		fmt.Printf("not running, but %s holds what a node that did not stop left on the host: go run ./hack/node down undoes it\n", dir)
	default:
		fmt.Printf("not running (%s)\n", dir)
	}
	return nil
}
