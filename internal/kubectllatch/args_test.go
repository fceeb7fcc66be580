package kubectllatch

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/latchauth/latch/authserver/admin"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want invocation
	}{
		{ // the example: plugin flags among latch admin's
			[]string{"-n", "team", "sessions", "list", "--realm", "dev", "--user", "ada@example.com"},
			invocation{namespace: "team", realm: "dev", command: []string{"sessions", "list", "--user", "ada@example.com"}},
		},
		{
			[]string{"users", "list", "--namespace=team", "--realm=dev", "--filter", "example", "-ojson"},
			invocation{namespace: "team", realm: "dev", output: "json", command: []string{"users", "list", "--filter", "example"}},
		},
		{
			[]string{"-nteam", "--context", "prod", "--kubeconfig", "/k", "-o=json", "users", "show", "ada"},
			invocation{namespace: "team", context: "prod", kubeconfig: "/k", output: "json", command: []string{"users", "show", "ada"}},
		},
		{ // after "--" everything is the command's, even what looks like a plugin flag
			[]string{"--realm", "dev", "--", "users", "show", "--realm"},
			invocation{realm: "dev", command: []string{"users", "show", "--realm"}},
		},
		{[]string{"status", "-A"}, invocation{allNamespaces: true, command: []string{"status"}}},
		{[]string{"users", "list", "-h"}, invocation{help: true, command: []string{"users", "list"}}},
	} {
		got, err := parseArgs(tc.args)
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.args, got, tc.want)
		}
	}
}

func TestParseArgsRefuses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		// The plugin sets these: the audit log must name who really acted, in the pod's log.
		{[]string{"--actor", "someone-else", "users", "disable", "ada"}, "--actor is not accepted"},
		{[]string{"--actor=someone-else", "users", "disable", "ada"}, "--actor is not accepted"},
		{[]string{"users", "list", "--config", "/tmp/mine.json"}, "--config is not accepted"},
		{[]string{"users", "list", "--audit-log=/dev/null"}, "--audit-log is not accepted"},
		{[]string{"users", "list", "--realm"}, "--realm needs a value"},
		{[]string{"users", "list", "--realm="}, "--realm needs a value"},
		{[]string{"-A=x", "status"}, "-A takes no value"},
	} {
		_, err := parseArgs(tc.args)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want a usage error %q", tc.args, err, tc.want)
		}
	}
}

func TestAdminArgv(t *testing.T) {
	tg := Target{Binary: "/latch", ConfigPath: "/etc/latch/config/config.json"}
	got := AdminArgv(tg, "ada@ops.example", "json", []string{"sessions", "list", "--user", "ada@example.com"})
	want := []string{"/latch", "admin", "--config", "/etc/latch/config/config.json", "--actor", "ada@ops.example",
		"--audit-log", "/proc/1/fd/1", "-o", "json", "sessions", "list", "--user", "ada@example.com"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("argv\n got %q\nwant %q", got, want)
	}
	// Without -o, latch admin's default (a table) stands.
	if got := AdminArgv(tg, "a", "", []string{"users", "list"}); strings.Contains(strings.Join(got, " "), " -o ") {
		t.Errorf("argv %q passes -o nobody asked for", got)
	}
}

// The usage lists latch admin's commands; a command added there must be added here.
func TestUsageNamesEveryAdminCommand(t *testing.T) {
	_, commands, ok := strings.Cut(admin.Usage, "Commands:")
	if !ok {
		t.Fatal("admin.Usage has no Commands: section")
	}
	n := 0
	for _, line := range strings.Split(commands, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "    ") {
			continue
		}
		cmd := f[0]
		if f[0] != "reset-link" {
			cmd += " " + f[1]
		}
		n++
		if !strings.Contains(Usage, "  "+cmd+" ") {
			t.Errorf("kubectl latch's usage does not name latch admin's %q", cmd)
		}
	}
	if n < 9 {
		t.Errorf("found %d commands in admin.Usage, want at least 9: did its layout change?", n)
	}
}
