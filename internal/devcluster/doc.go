// Package devcluster is Latch installed for real on a real node: it starts a kubenode (a
// single-node Kubernetes on this machine), imports the images hack/images builds from the
// working tree (the latch image's binary is static and built without the race detector,
// whatever the test binary is built with), `helm install`s charts/latch with that image,
// waits for the operator's pod to be Ready under the chart's ServiceAccount, applies the
// samples (by default the full realm of config/samples: every dialect, two replicas, a
// managed Redis on a claim of the node's StorageClass; and its device and app clients) and
// waits for the realm and the clients to be Ready and for the realm's Service to take
// connections (kube-proxy has its endpoints).
//
// A Cluster then gives the kube clients, the realm's Service URL (its ClusterIP, which
// kube-proxy's iptables rules route from the host as from a pod), the server pods and their
// public and admin URLs (pod IPs on the node's bridge, also reachable from the host), the
// servers' config as the operator rendered it, a device client's minted token, the real
// `kubectl latch` and the audit lines it leaves in the pods' logs, an edit of the realm that
// waits for the Deployment controller's rollout, and Stop, which stops the node and restores
// the host.
//
// It is what `make run` (hack/run, with the dev realm of config/dev), the on-node fault test
// (hack/onnode) and the end-to-end test with the real npm clients (hack/e2e) run on: start
// node → images → helm install → samples → Ready → endpoints. It needs root (the node does);
// see docs/node.md.
package devcluster
