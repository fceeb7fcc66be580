package servertest

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var build struct {
	once sync.Once
	dir  string
	path string
	err  error
	out  []byte
}

// Binary returns the path of the latch binary, built on the first call of the test process
// (with -race when the tests run with it) into a temporary directory that Main removes.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "latch-servertest-")
		if build.err != nil {
			return
		}
		build.path = filepath.Join(build.dir, "latch")
		args := []string{"build", "-o", build.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		args = append(args, "github.com/latchauth/latch")
		build.out, build.err = exec.Command("go", args...).CombinedOutput()
	})
	if build.err != nil {
		t.Fatalf("servertest: go build latch: %v\n%s", build.err, build.out)
	}
	return build.path
}

// Main runs the tests of a package that uses servertest and removes the built binary after
// them. Call it from TestMain: func TestMain(m *testing.M) { servertest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	RemoveBinary()
	os.Exit(code)
}

// RemoveBinary removes the binary Binary built, for packages whose TestMain does more than
// Main does.
func RemoveBinary() {
	if build.dir != "" {
		_ = os.RemoveAll(build.dir)
	}
}
