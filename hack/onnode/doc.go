// Package onnode is the end-to-end test of Latch installed for real: on a kubenode (a real
// single-node Kubernetes on this machine), `helm install` of charts/latch with the image built
// from the working tree, and the full sample realm (every dialect, two replicas, managed Redis
// on a claim) with its device and app clients, through internal/devcluster. Users sign in
// over HTTP through the realm's Service (account and deviseToken dialects, and a reactAuth
// socket), and the test then rolls, kills, drains and restarts what the cluster runs, checking
// after each fault that every session is still valid and, while pods roll, that every request
// is answered. It needs root, as `make test` runs; see docs/node.md ("Latch on the node").
package onnode
