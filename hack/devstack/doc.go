// Package devstack brings the whole Latch system up on one machine, with no container engine
// and no cluster: a redis-server, a local control plane (etcd and kube-apiserver, started with
// envtest), the CRDs and RBAC installed by the Helm chart, the operator as a local process, a
// dev realm with every dialect and its clients (manifests/), and the auth-server replicas the
// operator rendered, run as local processes by a stand-in for the kubelet. `make run` runs it
// through cmd/devstack; the end-to-end tests call Start.
//
// The kubelet stand-in (kubelet.go) runs every Deployment labelled
// app.kubernetes.io/name=latch-server. For each replica it does what a kubelet does to start
// a container: it reads the ConfigMaps and Secrets the pod references, lays the pod's volumes
// out in a directory of its own (ConfigMap keys and projected Secret items as files, at their
// paths and modes; emptyDirs as directories), points the paths of the container's config and
// arguments into that directory, gives the replica its own loopback ports, and starts `latch
// server`. It follows the replica count, restarts crashed processes with backoff, replaces
// replicas when the pod template changes (the operator's latch.dev/config-hash annotation is
// part of it), and writes the Deployment's status from each process's readiness probe, so
// the operator sees what it would see on a cluster and reports the realm Ready. The pure
// parts (materialize.go, rollout.go) are tested without a cluster.
//
// Ports are fixed per replica for the life of the stack, so a replica's URL survives its
// restarts and rolls. A roll therefore stops a replica before starting its replacement, one
// replica at a time and only while the others are ready: the realm keeps serving on the
// others, and no session ends, as sessions live in Redis.
//
// Every child leads its own process group: a Ctrl-C at the terminal reaches only the stack,
// which stops the children in order (servers, operator, control plane, Redis), each group
// with SIGTERM then SIGKILL after its grace period. Should the stack itself be killed
// outright (SIGKILL, a test binary's timeout), its children die with it (Linux's
// parent-death signal), and a guard process kills etcd and kube-apiserver, which envtest
// starts without that signal, and removes the stack's directories (guard_linux.go).
//
// Not supported, because the dev realm needs none of it: StatefulSets (so a realm's Redis
// must be external), init and sidecar containers, subPath mounts, volumes other than
// ConfigMap, Secret, projected ConfigMap/Secret and emptyDir, and $(VAR) expansion in env.
package devstack
