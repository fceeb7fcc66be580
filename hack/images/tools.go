package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/latchauth/latch/internal/toolenv"
)

// toolEnv is what hack/tools.sh --print-env reports, after installing the tools the images
// need. Installing them here, not only in `make tools`, means a missing tool is built (or the
// build fails saying why) instead of an image silently being skipped.
func toolEnv(repo string) (map[string]string, error) {
	env, err := toolenv.Install(repo, os.Stderr, "crane", "coredns", "redis", "ca-certificates")
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"CRANE", "COREDNS"} {
		if st, err := os.Stat(env[k]); err != nil || st.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("hack/tools.sh --print-env gave no usable %s (%q)", k, env[k])
		}
	}
	return env, nil
}

func say(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[images] "+format+"\n", args...)
}

// run runs a command, showing its output only when it fails; a slow one prints a line every
// 15 s so a watcher knows it is alive (as hack/tools.sh does).
func run(what string, cmd *exec.Cmd) error {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("%s: %w\n%s", what, err, out.String())
			}
			if d := time.Since(start); d > 5*time.Second {
				say("  %s done in %s", what, d.Round(time.Second))
			}
			return nil
		case <-tick.C:
			say("  ... %s still running (%s)", what, time.Since(start).Round(time.Second))
		}
	}
}

// output runs a quick command and returns its trimmed standard output.
func output(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, ee.Stderr)
		}
		return "", fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}
