package kubectllatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Usage is the plugin's help. The commands are latch admin's (authserver/admin.Usage);
// TestUsageNamesEveryAdminCommand keeps the two lists together.
const Usage = `Usage: kubectl latch [-n NAMESPACE] [--realm REALM] [-o table|json] COMMAND
       kubectl latch status [-n NAMESPACE | -A] [--realm REALM]

Runs latch admin in a ready server pod of the realm, through pods/exec: whoever may exec into
the namespace's pods may administer its realms. The audit log (the pod's log stream) names
your Kubernetes identity. --realm may be left out when the namespace has one realm.

Commands (latch admin's):
  users list [--filter TEXT]           users whose login, email or name contains TEXT
  users show LOGIN|ID                  one user
  users disable LOGIN|ID               refuse logins and end every session
  users enable LOGIN|ID                allow logins again
  users delete LOGIN|ID                the user, sessions, tokens and login counter
  users export LOGIN|ID                everything stored about the user, as JSON
  sessions list --user LOGIN|ID        live sessions
  sessions revoke --user LOGIN|ID [--session ID]
                                       end one session, or all of the user's
  reset-link --user LOGIN|ID           issue a password reset link to hand over
  import FILE --format devise-csv|devise-jsonl|jsonl [--workers N]
                                       create users from an export; FILE is local and
                                       streamed to the pod
  status                               realms and device clients: conditions, servers
                                       ready, versions

Flags (anywhere on the line; "--" ends them):
  -n, --namespace NS    the namespace (default: the kubeconfig context's)
  -A, --all-namespaces  status of every namespace
  --realm NAME          the AuthRealm
  -o, --output FORMAT   table (default) or json, for latch admin
  --context NAME        the kubeconfig context
  --kubeconfig FILE     the kubeconfig file
  (--user is latch admin's: the realm's user, not a kubeconfig user.)

Exit codes: latch admin's (0 done, 1 refused or failed, 2 a command line it cannot read);
1 when the plugin cannot reach the realm's pod, 2 for its own flags.
`

// Env is how the plugin runs: its output, and how it reaches the cluster.
type Env struct {
	Stdout, Stderr io.Writer
	// Connect makes the cluster clients; nil reads the kubeconfig as kubectl does.
	Connect func(invocation) (*Cluster, error)
	// NewExecutor makes the exec step; nil is pods/exec through the API server.
	NewExecutor func(*Cluster) Executor
}

// Main runs the plugin with args (without the program name) and returns its exit code.
func Main(ctx context.Context, args []string, env Env) int {
	err := env.run(ctx, args)
	var code exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	}
	fmt.Fprintf(env.Stderr, "kubectl latch: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprint(env.Stderr, "\n"+Usage)
		return 2
	}
	return 1
}

// exitCode is latch admin's own exit code, passed through; it has already said why.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit %d", int(c)) }

func (env Env) run(ctx context.Context, args []string) error {
	inv, err := parseArgs(args)
	if err != nil {
		return err
	}
	if inv.help || (len(inv.command) > 0 && inv.command[0] == "help") {
		fmt.Fprint(env.Stdout, Usage)
		return nil
	}
	if len(inv.command) == 0 {
		return usagef("no command")
	}
	status := inv.command[0] == "status"
	switch {
	case status && len(inv.command) > 1:
		return usagef("status takes no arguments")
	case status && inv.output != "" && inv.output != "table":
		return usagef("status prints tables only")
	case status && inv.allNamespaces && inv.realm != "":
		return usagef("--realm names a realm of one namespace; it does not go with -A")
	case !status && inv.allNamespaces:
		return usagef("-A goes with status only: latch admin works on one realm")
	}

	connect := env.Connect
	if connect == nil {
		connect = loadCluster
	}
	c, err := connect(inv)
	if err != nil {
		return err
	}
	if status {
		return Status(ctx, c, statusOptions{allNamespaces: inv.allNamespaces, realm: inv.realm}, env.Stdout)
	}

	realm, err := resolveRealm(ctx, c, inv.realm)
	if err != nil {
		return err
	}
	t, err := FindTarget(ctx, c, realm)
	if err != nil {
		return err
	}
	actor, err := Actor(ctx, c.Core, c.KubeconfigUser)
	if err != nil {
		return err
	}
	newExec := env.NewExecutor
	if newExec == nil {
		newExec = func(c *Cluster) Executor { return PodExecutor{Config: c.Config, Core: c.Core.CoreV1().RESTClient()} }
	}
	command, stdin, err := streamImport(inv.command)
	if err != nil {
		return err
	}
	if stdin != nil {
		defer stdin.Close()
	}
	code, err := newExec(c).Exec(ctx, t, AdminArgv(t, actor, inv.output, command), readerOrNil(stdin), env.Stdout, env.Stderr)
	if err != nil {
		return err
	}
	if code != 0 {
		return exitCode(code)
	}
	return nil
}

// streamImport rewrites `import FILE …` to read the pod's standard input, and opens the local
// FILE to stream there: the pod has neither the caller's file nor a tar to copy it in with
// (kubectl cp), and its root filesystem is read-only. --format is required: latch admin tells
// the format from the file name's extension, and /dev/stdin has none.
func streamImport(command []string) ([]string, *os.File, error) {
	if len(command) == 0 || command[0] != "import" {
		return command, nil, nil
	}
	out := append([]string{}, command...)
	file, format := -1, false
	for i := 1; i < len(out); i++ {
		a := out[i]
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		switch {
		case name == "-format" || name == "format":
			format = true
			if !hasValue {
				i++
			}
		case name == "-workers" || name == "workers":
			if !hasValue {
				i++
			}
		case strings.HasPrefix(a, "-"):
		case file >= 0:
			return nil, nil, usagef("import takes one FILE")
		default:
			file = i
		}
	}
	if file < 0 {
		return nil, nil, usagef("import takes FILE --format devise-csv|devise-jsonl|jsonl")
	}
	if !format {
		return nil, nil, usagef("import through kubectl latch needs --format: FILE is streamed to the pod's standard input, which has no extension to tell it by")
	}
	f, err := os.Open(out[file])
	if err != nil {
		return nil, nil, err
	}
	out[file] = "/dev/stdin"
	return out, f, nil
}

// readerOrNil keeps a nil *os.File from becoming a non-nil io.Reader.
func readerOrNil(f *os.File) io.Reader {
	if f == nil {
		return nil
	}
	return f
}
