// Command run is `make run`: it brings Latch up on a real single-node Kubernetes cluster on this
// machine (internal/devcluster: the node of internal/kubenode, the working tree's images, `helm
// install` of charts/latch, and the dev realm of config/dev with its managed Redis, two server
// replicas and a device and an app client), prints the endpoints and a first request to try,
// and serves until Ctrl-C, which stops the node and leaves the host as it found it. It needs
// root (the node does).
package main
