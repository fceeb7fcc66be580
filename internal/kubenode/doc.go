// Package kubenode starts a real single-node Kubernetes cluster on this machine and stops it
// leaving the host as it found it. The node is what `helm install` of the chart and the
// on-node end-to-end tests run on: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, containerd with runc, the kubelet, kube-proxy (iptables mode), the Debian
// CNI plugins (bridge, host-local, portmap) on a private bridge, CoreDNS as a Deployment, and a
// default StorageClass served by an in-process provisioner. All of them come from hack/tools.sh
// (built from Go modules or Debian packages, versions pinned there); the images (latch, pause,
// redis, coredns) are hack/images' OCI tarballs, imported into containerd, so nothing is
// pulled. `go run ./hack/node up|down|status` runs it by hand; a test calls StartT. See
// docs/node.md.
//
// It needs root, and it changes the host: it creates the bridge latch0 (10.244.0.1/24, where
// the API server and the kubelet listen), the cgroup /latch-node under every hierarchy,
// iptables and nftables tables and chains (kube-proxy's, the kubelet's KUBE-FIREWALL, the CNI
// plugins'), sysctls (the kubelet's vm.overcommit_memory, vm.panic_on_oom, kernel.panic,
// kernel.panic_on_oops and kernel.keys.*; the bridge plugin's ip_forward), mounts (the
// kubelet's root and volumes, containerd's overlays, the pods' network namespaces), and the
// directories /var/lib/kubelet/device-plugins, /var/log/containers and /run/containerd that
// the kubelet and containerd hard-code. Everything else is under its state directory
// (DefaultStateDir).
//
// Before it changes anything, Start records the host's state in the state directory
// (host.json: mounts, those directories, the sysctls, iptables-save, the nftables tables,
// links, the cgroup roots). Stop restores it: it kills the node's processes (its children,
// and what outlives them: the containerd shims and the pods' processes, found by their
// command lines and cgroups), unmounts what appeared, removes the cgroups, the bridge and the
// veths, deletes the nftables tables that appeared and restores changed iptables tables,
// writes the sysctls back, removes the directories that appeared and the state directory.
// Every component dies with the process that started it, so a killed test leaves only what
// outlives its children, and the record to undo it: Down (`hack/node down`), or the next
// Start, undoes it from there. One node runs per host: Start takes a host-wide lock
// (/run/lock/latch-node.lock) and the state directory's. When a node of another test process,
// or of this one, holds the host, Start waits for it to stop (Options.Wait, 15 minutes by
// default, saying so every 30 s): `go test ./...` runs the packages that start nodes side by
// side. It refuses at once when the node is any other process's (hack/node up), and when the
// bridge or the cgroup root belong to a node no state directory recorded.
package kubenode
