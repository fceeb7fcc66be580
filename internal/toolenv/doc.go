// Package toolenv finds the pinned tools hack/tools.sh installs (etcd, kube-apiserver, helm,
// promtool, crane, the node's components, ...): from the environment `make` exports, or by
// running the script, which builds what is missing into its cache (keyed by version, with
// progress lines on slow steps) and prints where everything is (--print-env). Tests, the
// node and the image builder all ask through it, so a tool run by hand outside `make` is
// installed the same way everywhere, and the script's output is read in one place.
package toolenv
