// Package kubectllatch is the `kubectl latch` plugin (cmd/kubectl-latch). It runs `latch
// admin` inside a ready server pod of a realm, through the pods/exec subresource, so who may
// administer a realm's users is exactly who Kubernetes RBAC lets exec into that namespace's
// pods: the plugin holds no credentials of its own and the realm's Redis is never exposed.
// The actor named in the audit log is the caller's Kubernetes identity (a SelfSubjectReview),
// never a flag the caller chooses. `kubectl latch status` prints the realms and device clients
// of a namespace with their conditions and the readiness and versions of the servers.
//
// The exec step is the Executor interface, so the lookup of the pod and the command line it
// builds are tested against envtest (which has no kubelet) and the command itself against a
// real server process.
package kubectllatch
