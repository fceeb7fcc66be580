package kubectllatch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The exec runs serverBinary and writes audit events to PID 1's stdout; both hold only while
// the image's final stage runs /latch itself as PID 1: an exec-form ENTRYPOINT (a shell form
// would make /bin/sh PID 1, and the scratch image has no shell) and no init in between.
func TestImageRunsLatchAsPID1(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	stages := strings.Split(string(b), "\nFROM ")
	final := stages[len(stages)-1]
	var entrypoint, cmd []string
	for _, line := range strings.Split(final, "\n") {
		if v, ok := strings.CutPrefix(line, "ENTRYPOINT "); ok {
			entrypoint = append(entrypoint, v)
		}
		if v, ok := strings.CutPrefix(line, "CMD "); ok {
			cmd = append(cmd, v)
		}
	}
	if !strings.HasPrefix(final, "scratch") {
		t.Errorf("the final stage is FROM %s, not scratch: check that nothing but latch can be PID 1", strings.SplitN(final, "\n", 2)[0])
	}
	if want := `["` + serverBinary + `"]`; len(entrypoint) != 1 || entrypoint[0] != want {
		t.Errorf("final stage ENTRYPOINT %q, want exactly %s (exec form, the binary kubectl latch runs)", entrypoint, want)
	}
	if len(cmd) != 0 {
		t.Errorf("final stage CMD %q: the operator passes the arguments", cmd)
	}
}
