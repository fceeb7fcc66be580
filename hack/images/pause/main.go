// Command pause is the node's sandbox ("pause") image: the first process of every pod, which
// holds the pod's namespaces open and does nothing else. As PID 1 of a pod that shares its
// process namespace it is also the reaper of orphaned children, so it waits for any child that
// exits. SIGTERM and SIGINT end it with status 0, which is how the runtime stops a sandbox.
//
// It is pure Go with no cgo, so it builds static and runs on an empty base (hack/images).
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-v" || os.Args[1] == "--version") {
		fmt.Println("latch pause 1.0")
		return
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	// SIGCHLD wakes the loop to reap; children are re-parented here only when this is PID 1.
	child := make(chan os.Signal, 1)
	signal.Notify(child, syscall.SIGCHLD)
	for {
		select {
		case s := <-stop:
			fmt.Fprintf(os.Stderr, "pause: %v, exiting\n", s)
			os.Exit(0)
		case <-child:
			reap()
		}
	}
}

// reap collects every exited child without blocking, so none lingers as a zombie.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
