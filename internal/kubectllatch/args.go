package kubectllatch

import (
	"fmt"
	"strings"
)

// invocation is a parsed command line: the plugin's own flags, and the command with its
// arguments (a latch admin command, passed through in order, or "status").
type invocation struct {
	kubeconfig, context, namespace string
	realm                          string
	output                         string
	allNamespaces                  bool
	help                           bool
	command                        []string
}

// usageError is a command line the plugin cannot read; it exits 2, as latch admin does.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// parseArgs picks the plugin's flags out of args wherever they stand and keeps everything
// else, in order, as the command. The plugin's flags cannot be parsed with a flag set that
// stops at the first command word: `kubectl latch sessions list --realm dev --user ada` puts
// --realm among latch admin's own flags, the way kubectl lets -n stand anywhere. Anything
// after "--" is the command's, untouched.
//
// kubectl's --user (a kubeconfig user) is not taken: latch admin's --user names the realm's
// user, and it is the flag an administrator types. --actor, --config and --audit-log are
// refused: the plugin sets them, so that the audit log names who really acted and lands in
// the server's log stream.
func parseArgs(args []string) (invocation, error) {
	var inv invocation
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			inv.command = append(inv.command, args[i+1:]...)
			break
		}
		name, value, hasValue := splitFlag(a)
		takeValue := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 >= len(args) {
				return "", usagef("flag %s needs a value", name)
			}
			i++
			return args[i], nil
		}
		var target *string
		switch name {
		case "-n", "--namespace":
			target = &inv.namespace
		case "--context":
			target = &inv.context
		case "--kubeconfig":
			target = &inv.kubeconfig
		case "--realm":
			target = &inv.realm
		case "-o", "--output":
			target = &inv.output
		case "-A", "--all-namespaces":
			if hasValue {
				return inv, usagef("%s takes no value", name)
			}
			inv.allNamespaces = true
			continue
		case "-h", "--help":
			inv.help = true
			continue
		case "--actor":
			return inv, usagef("--actor is not accepted: the audit log names your Kubernetes identity")
		case "--config", "--audit-log":
			return inv, usagef("%s is not accepted: the plugin runs latch admin with the server pod's own", name)
		default:
			inv.command = append(inv.command, a)
			continue
		}
		v, err := takeValue()
		if err != nil {
			return inv, err
		}
		if v == "" {
			return inv, usagef("flag %s needs a value", name)
		}
		*target = v
	}
	return inv, nil
}

// splitFlag splits "--name=value", "-x=value" and "-nvalue" (kubectl's short form, for -n
// and -o only) into name and value. Anything else is returned as the name, without a value.
func splitFlag(a string) (name, value string, hasValue bool) {
	switch {
	case strings.HasPrefix(a, "--"):
		if n, v, ok := strings.Cut(a, "="); ok {
			return n, v, true
		}
		return a, "", false
	case len(a) > 2 && a[0] == '-' && a[2] == '=':
		return a[:2], a[3:], true
	case len(a) > 2 && (strings.HasPrefix(a, "-n") || strings.HasPrefix(a, "-o")):
		return a[:2], a[2:], true
	}
	return a, "", false
}
