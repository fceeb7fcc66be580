package charttest

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// There is no container engine where the tests run, so the image itself is never built here.
// What can rot without one is tested instead: the Dockerfile's build stage is replayed (its
// COPY lines into a fresh directory, then its `go build` line, parsed from the Dockerfile so
// the two cannot drift), and the result must be the static, stripped, runnable binary the
// final stage expects. The final stage must hold nothing but that binary and the CA
// certificates, run as the chart's non-root user.

// dockerfile is the parsed Dockerfile: its stages and their instructions.
type dockerfile struct {
	stages []stage
}

type stage struct {
	from         string // the FROM line, flags and "AS name" included
	name         string
	instructions []instruction
}

type instruction struct {
	cmd  string // upper case: RUN, COPY, ...
	args string
}

func parseDockerfile(path string) (dockerfile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return dockerfile{}, err
	}
	var df dockerfile
	var logical strings.Builder
	for line := range strings.SplitSeq(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && logical.Len() == 0) {
			continue
		}
		if rest, ok := strings.CutSuffix(trimmed, `\`); ok {
			logical.WriteString(rest + " ")
			continue
		}
		logical.WriteString(trimmed)
		text := strings.TrimSpace(logical.String())
		logical.Reset()
		if text == "" {
			continue
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			st := stage{from: in.args}
			fields := strings.Fields(in.args)
			if n := len(fields); n >= 3 && strings.EqualFold(fields[n-2], "AS") {
				st.name = fields[n-1]
			}
			df.stages = append(df.stages, st)
			continue
		}
		if len(df.stages) == 0 {
			if in.cmd == "ARG" {
				continue // an ARG before the first FROM only parameterizes FROM lines
			}
			return df, fmt.Errorf("%s before the first FROM", in.cmd)
		}
		last := &df.stages[len(df.stages)-1]
		last.instructions = append(last.instructions, in)
	}
	if logical.Len() != 0 {
		return df, fmt.Errorf("the Dockerfile ends inside a continued line")
	}
	return df, nil
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.instructions {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// baseImage is the image a stage starts from, without --platform and AS.
func (s stage) baseImage() string {
	for _, f := range strings.Fields(s.from) {
		if !strings.HasPrefix(f, "--") {
			return f
		}
	}
	return ""
}

// shellWords splits a RUN line the way sh would for the simple commands a Dockerfile build
// step uses: words, single and double quotes. Anything fancier (pipes, &&, $(...)) is
// refused, so the build line stays one command this test can replay faithfully.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case strings.ContainsRune("|&;<>()`", r):
			return nil, fmt.Errorf("%q: the go build step must be one simple command", s)
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("%q: unterminated quote", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// buildStep is the builder stage's `go build`, ready to replay.
type buildStep struct {
	env    map[string]string // ARG defaults, ENV, and VAR=value words before `go`
	goArgs []string          // after `go`, with -o's value as the Dockerfile has it
	output string            // the -o path inside the builder
	copies []instruction     // the COPY lines before it, from the build context
	stage  stage
}

// targetArgs are the values BuildKit gives the automatic platform ARGs on a native build.
var targetArgs = map[string]string{
	"TARGETOS": runtime.GOOS, "TARGETARCH": runtime.GOARCH,
	"BUILDOS": runtime.GOOS, "BUILDARCH": runtime.GOARCH,
	"TARGETPLATFORM": runtime.GOOS + "/" + runtime.GOARCH, "BUILDPLATFORM": runtime.GOOS + "/" + runtime.GOARCH,
}

func (df dockerfile) buildStep() (buildStep, error) {
	var found []buildStep
	for _, st := range df.stages {
		bs := buildStep{env: map[string]string{}, stage: st}
		for _, in := range st.instructions {
			switch in.cmd {
			case "ARG":
				for _, a := range strings.Fields(in.args) {
					name, def, _ := strings.Cut(a, "=")
					if v, ok := targetArgs[name]; ok {
						def = v
					}
					bs.env[name] = def
				}
			case "ENV":
				for _, kv := range strings.Fields(in.args) {
					k, v, ok := strings.Cut(kv, "=")
					if !ok {
						return bs, fmt.Errorf("ENV %s: use the KEY=value form", in.args)
					}
					bs.env[k] = os.Expand(v, func(n string) string { return bs.env[n] })
				}
			case "COPY":
				if !strings.HasPrefix(in.args, "--from=") {
					bs.copies = append(bs.copies, in)
				}
			case "RUN":
				if !strings.Contains(in.args, "go build") {
					continue
				}
				words, err := shellWords(in.args)
				if err != nil {
					return bs, err
				}
				for len(words) > 0 && strings.HasPrefix(words[0], "--") {
					words = words[1:] // RUN flags: --mount=type=cache,... only speed the build up
				}
				env := maps.Clone(bs.env)
				for len(words) > 0 && strings.Contains(words[0], "=") && words[0] != "go" {
					k, v, _ := strings.Cut(words[0], "=")
					env[k] = os.Expand(v, func(n string) string { return env[n] })
					words = words[1:]
				}
				if len(words) < 2 || words[0] != "go" || words[1] != "build" {
					return bs, fmt.Errorf("RUN %s: want `[VAR=value...] go build ...`", in.args)
				}
				step := bs
				step.env = env
				for _, w := range words[1:] {
					step.goArgs = append(step.goArgs, os.Expand(w, func(n string) string { return env[n] }))
				}
				if i := slices.Index(step.goArgs, "-o"); i >= 0 && i+1 < len(step.goArgs) {
					step.output = step.goArgs[i+1]
				} else {
					return bs, fmt.Errorf("RUN %s: go build needs -o PATH, the path the final stage copies", in.args)
				}
				step.copies = slices.Clone(bs.copies)
				found = append(found, step)
			}
		}
	}
	if len(found) != 1 {
		return buildStep{}, fmt.Errorf("want exactly one RUN with go build, found %d", len(found))
	}
	return found[0], nil
}

// replayContext copies what the build stage's COPY lines take from the build context (the
// repository) into dir, as Docker would into the WORKDIR, so the build sees only those files.
func (bs buildStep) replayContext(dir string) error {
	for _, in := range bs.copies {
		words := strings.Fields(in.args)
		if len(words) < 2 || strings.HasPrefix(words[0], "--") {
			return fmt.Errorf("COPY %s: want COPY SRC... DEST without flags", in.args)
		}
		srcs, dest := words[:len(words)-1], words[len(words)-1]
		if filepath.IsAbs(dest) {
			return fmt.Errorf("COPY %s: use a destination relative to WORKDIR", in.args)
		}
		destDir := strings.HasSuffix(dest, "/") || dest == "." || len(srcs) > 1
		for _, pattern := range srcs {
			matches, err := filepath.Glob(filepath.Join(repoRoot, pattern))
			if err != nil || len(matches) == 0 {
				return fmt.Errorf("COPY %s: %s matches nothing in the build context", in.args, pattern)
			}
			for _, src := range matches {
				st, err := os.Stat(src)
				if err != nil {
					return err
				}
				target := filepath.Join(dir, dest)
				switch {
				case st.IsDir():
					err = copyTree(src, target) // Docker copies a directory's contents
				case destDir || len(matches) > 1:
					err = copyFile(src, filepath.Join(target, filepath.Base(src)))
				default:
					err = copyFile(src, target)
				}
				if err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return copyFile(path, filepath.Join(dst, rel))
	})
}

func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// builtBinary is the latch binary built by replaying the Dockerfile's build step, once per
// test run: TestDockerfile checks it and TestInstall runs it as the operator.
var builtBinary = sync.OnceValues(func() (string, error) {
	df, err := parseDockerfile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		return "", err
	}
	bs, err := df.buildStep()
	if err != nil {
		return "", err
	}
	ctxDir := filepath.Join(workDir, "docker-context")
	if err := bs.replayContext(ctxDir); err != nil {
		return "", err
	}
	out := filepath.Join(workDir, "latch")
	args := slices.Clone(bs.goArgs)
	args[slices.Index(args, "-o")+1] = out
	cmd := exec.Command("go", args...)
	cmd.Dir = ctxDir
	// GOWORK=off: the builder has no go.work, and one above the repository must not count.
	cmd.Env = append(os.Environ(), "GOWORK=off")
	for k, v := range bs.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("replaying the Dockerfile's go %s in a copy of its build context: %w\n%s", strings.Join(bs.goArgs, " "), err, output)
	}
	return out, nil
})

// latchBinary returns the binary the Dockerfile builds, building it on first use.
func latchBinary(t *testing.T) string {
	t.Helper()
	bin, err := builtBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestDockerfile(t *testing.T) {
	df, err := parseDockerfile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	bs, err := df.buildStep()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("build stage", func(t *testing.T) {
		// The builder's Go is the one go.mod asks for.
		gomod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		goLine := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
		if goLine == nil {
			t.Fatal("go.mod has no go directive")
		}
		if want := "golang:" + string(goLine[1]); !strings.HasPrefix(bs.stage.baseImage(), want) {
			t.Errorf("build stage FROM %s, want %s (go.mod's go %s)", bs.stage.baseImage(), want, goLine[1])
		}
		if bs.env["CGO_ENABLED"] != "0" {
			t.Errorf("CGO_ENABLED = %q, want 0: a cgo binary needs a libc the final stage does not have", bs.env["CGO_ENABLED"])
		}
		if !slices.Contains(bs.goArgs, "-trimpath") || !slices.Contains(bs.goArgs, "-ldflags=-s -w") {
			t.Errorf("go %v: want -trimpath and -ldflags=\"-s -w\"", bs.goArgs)
		}
	})

	t.Run("final stage", func(t *testing.T) {
		final := df.stages[len(df.stages)-1]
		if base := final.baseImage(); base != "scratch" && !strings.HasPrefix(base, "gcr.io/distroless/static") {
			t.Errorf("final stage FROM %s, want scratch or distroless static", base)
		}
		wantCopies := map[string]string{ // source in the builder -> path in the image
			"/etc/ssl/certs/ca-certificates.crt": "/etc/ssl/certs/ca-certificates.crt",
			bs.output:                            "/latch",
		}
		for _, in := range final.instructions {
			switch in.cmd {
			case "COPY":
				words := strings.Fields(in.args)
				if len(words) != 3 || words[0] != "--from="+bs.stage.name || wantCopies[words[1]] != words[2] {
					t.Errorf("final stage COPY %s: want only the CA bundle and %s from the %s stage", in.args, bs.output, bs.stage.name)
					continue
				}
				delete(wantCopies, words[1])
			case "USER":
				if want := fmt.Sprintf("%d:%d", nonRootUID, nonRootUID); in.args != want {
					t.Errorf("USER %s, want %s (the chart's runAsUser and runAsGroup)", in.args, want)
				}
			case "ENTRYPOINT":
				if in.args != `["/latch"]` {
					t.Errorf("ENTRYPOINT %s, want [\"/latch\"]", in.args)
				}
			case "LABEL", "EXPOSE":
			default:
				t.Errorf("final stage has %s %s: it holds the binary and the CA bundle, nothing else", in.cmd, in.args)
			}
		}
		if len(wantCopies) != 0 {
			t.Errorf("final stage does not copy %v", wantCopies)
		}
		if len(final.all("USER")) != 1 || len(final.all("ENTRYPOINT")) != 1 {
			t.Errorf("final stage needs one USER and one ENTRYPOINT")
		}
	})

	t.Run("static binary", func(t *testing.T) {
		bin := latchBinary(t)
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("binary has a %s program header: it is dynamically linked", p.Type)
			}
		}
		for _, name := range []string{".interp", ".dynamic", ".dynsym"} {
			if f.Section(name) != nil {
				t.Errorf("binary has a %s section: it is dynamically linked", name)
			}
		}
		// -s -w: no symbol table, no DWARF.
		for _, name := range []string{".symtab", ".debug_info"} {
			if f.Section(name) != nil {
				t.Errorf("binary has a %s section: -ldflags=\"-s -w\" was not applied", name)
			}
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		// -trimpath: no path of the machine that built it.
		if ctxDir := filepath.Join(workDir, "docker-context"); bytes.Contains(data, []byte(ctxDir)) {
			t.Errorf("binary embeds its build directory %s: -trimpath was not applied", ctxDir)
		}
	})

	t.Run("binary starts", func(t *testing.T) {
		bin := latchBinary(t)
		out, err := exec.Command(bin, "--help").CombinedOutput()
		if err != nil {
			t.Fatalf("latch --help: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "latch manager") || !strings.Contains(string(out), "latch server") {
			t.Errorf("latch --help printed:\n%s", out)
		}
	})

	// One value, hack/IMAGE, names the image everywhere: the Makefile tags what it builds with
	// it, the operator's --server-image defaults to it, and the chart's defaults to it
	// (TestTemplate/defaults).
	t.Run("one image name", func(t *testing.T) {
		want := defaultImage(t)
		// -h makes the flag package print the defaults and the manager exit non-zero.
		out, _ := exec.Command(latchBinary(t), "manager", "-h").CombinedOutput()
		if !regexp.MustCompile(`-server-image string\s+auth-server image for realms that name none \(default "` + regexp.QuoteMeta(want) + `"\)`).Match(out) {
			t.Errorf("latch manager -h does not default --server-image to %q:\n%s", want, out)
		}
		cmd := exec.Command("make", "--no-print-directory", "-n", "docker-build", "docker-push")
		cmd.Dir = repoRoot
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make -n docker-build docker-push: %v\n%s", err, out)
		}
		if got, wantCmds := strings.TrimSpace(string(out)), "docker build -t "+want+" .\ndocker push "+want; got != wantCmds {
			t.Errorf("make -n docker-build docker-push =\n%s\nwant\n%s", got, wantCmds)
		}
	})
}
