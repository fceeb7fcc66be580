// Command node starts and stops the real single-node Kubernetes cluster of package
// internal/kubenode (docs/node.md). It needs root.
//
//	go run ./hack/node up [-dir DIR]       start; serve until Ctrl-C or SIGTERM, then stop
//	go run ./hack/node down [-dir DIR]     stop a running node, or undo what a killed one left
//	go run ./hack/node status [-dir DIR]   say whether a node runs, and its nodes and pods
//
// up stays in the foreground: every component of the node dies with it, and on Ctrl-C it
// stops them and restores the host. down signals the `up` process holding DIR and waits for
// it; with no such process, it undoes from DIR's record whatever a node that did not stop
// left behind.
package main
