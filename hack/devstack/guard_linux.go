package devstack

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/latchauth/latch/internal/childproc"
)

// guardScript waits for SIGTERM, which the kernel sends it when the stack dies (its parent-
// death signal), then kills the process groups in $GROUPS (negative numbers; dash's kill
// takes no "--" before them) and removes the directories it was given, which the stack would
// have removed. A clean stop kills the guard with SIGKILL first, which it cannot trap.
const guardScript = `trap 'kill -KILL $GROUPS; rm -rf -- "$@"; exit 0' TERM; while :; do sleep 1; done`

// startGuard covers what the parent-death signal of the stack's own children cannot: envtest
// starts etcd and kube-apiserver without one, so a stack killed outright (SIGKILL, a test
// binary's timeout) would leave them running. The guard, a shell with the signal, kills
// their process groups then, and removes dirs: the control plane's data and certificates,
// and the stack's work directory when the stack made it.
func startGuard(env *envtest.Environment, dirs []string, log *syncWriter) (*childproc.Process, error) {
	groups, err := controlPlaneGroups(env)
	if err != nil {
		return nil, err
	}
	var neg []string
	for _, g := range groups {
		neg = append(neg, "-"+strconv.Itoa(g))
	}
	for _, d := range []string{env.ControlPlane.Etcd.DataDir, env.ControlPlane.APIServer.CertDir} {
		if d != "" {
			dirs = append(dirs, d)
		}
	}
	cmd := command{
		Name: "guard", Path: "/bin/sh",
		Args: append([]string{"-c", guardScript, "devstack-guard"}, dirs...),
		Env:  []string{"GROUPS=" + strings.Join(neg, " "), "PATH=/usr/bin:/bin"},
	}
	spec := cmd.spec(newLineWriter(log, cmd.Name))
	// SIGTERM, which the script traps, rather than SIGKILL, which it could not.
	spec.DeathSignal = syscall.SIGTERM
	return childproc.Start(spec)
}

// controlPlaneGroups finds the process groups of the control plane's etcd and kube-apiserver
// among the stack's children, by the addresses envtest gave them.
func controlPlaneGroups(env *envtest.Environment) ([]int, error) {
	api := env.ControlPlane.APIServer
	etcd := env.ControlPlane.Etcd
	if api == nil || etcd == nil || etcd.URL == nil {
		return nil, fmt.Errorf("the control plane is not started")
	}
	wants := map[string]string{
		"kube-apiserver": "--secure-port=" + api.SecureServing.Port,
		"etcd":           "--listen-client-urls=" + etcd.URL.String(),
	}
	kids, err := Descendants(os.Getpid())
	if err != nil {
		return nil, err
	}
	var groups []int
	for what, arg := range wants {
		found := false
		for _, p := range kids {
			if p.PPID == os.Getpid() && p.PGID == p.PID && hasArg(p.Cmdline, arg) {
				groups = append(groups, p.PGID)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("no child process of the stack is the control plane's %s (%s)", what, arg)
		}
	}
	return groups, nil
}

func hasArg(cmdline, arg string) bool {
	for _, f := range strings.Fields(cmdline) {
		if f == arg {
			return true
		}
	}
	return false
}
