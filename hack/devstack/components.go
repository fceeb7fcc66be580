package devstack

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Components counts the stack's processes among procs, by kind: redis-server, etcd,
// kube-apiserver, operator (latch manager) and server (latch server). A test that lists a
// stack's processes before stopping it checks the list is complete with it, so that finding
// none left afterwards means something.
func Components(procs []Process) map[string]int {
	out := map[string]int{}
	for _, p := range procs {
		args := strings.Fields(p.Cmdline)
		if len(args) == 0 {
			continue
		}
		switch bin := filepath.Base(args[0]); {
		case bin == "redis-server":
			out["redis-server"]++
		case bin == "etcd", bin == "kube-apiserver":
			out[bin]++
		case len(args) > 1 && args[1] == "manager":
			out["operator"]++
		case len(args) > 1 && args[1] == "server":
			out["server"]++
		}
	}
	return out
}

// FullStack is what Components counts of a stack whose realm runs servers replicas.
func FullStack(servers int) map[string]int {
	return map[string]int{"redis-server": 1, "etcd": 1, "kube-apiserver": 1, "operator": 1, "server": servers}
}

// ProcessList formats processes one a line, for messages.
func ProcessList(ps []Process) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "  pid %d (pgid %d, ppid %d, state %c): %s\n", p.PID, p.PGID, p.PPID, p.State, p.Cmdline)
	}
	return b.String()
}
