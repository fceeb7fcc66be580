package refcheck

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// outside matches a reference to a file outside the repository: a relative path climbing into
// a sibling "shared" directory, that directory's absolute path on the machines Latch was
// written on, a "seeds" directory, the file name of an original protocol document (three
// digits, an underscore and sixteen hex digits) or its number ("seed" and the number), or the external
// reference documents by name (the upper-case PROTOCOL, ARCHITECTURE and STYLE .md files; the
// repository's own contract is docs/protocol.md, lower case). Each alternative is written so that
// this source does not match it.
var outside = regexp.MustCompile(`\.\./shared|/work/shar[e]d|seed[s]/|00[0-9]_[0-9a-f]{16}|seed 00[0-9]|(PROTOCOL|ARCHITECTURE|STYLE)\.m[d]`)

// Finding is one line that refers outside the repository.
type Finding struct {
	Path  string // relative to the scanned root, with forward slashes
	Line  int    // 1-based
	Match string // the reference found
	Text  string // the line, trimmed and shortened
}

func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: refers outside the repository (%q): %s", f.Path, f.Line, f.Match, f.Text)
}

// maxShown bounds the line text a finding repeats.
const maxShown = 160

// Scan reads each of paths (relative to root) and returns every line that refers outside the
// repository. Binary files (a NUL byte in their first 8000 bytes, as git decides) and files
// listed but absent from the work tree are skipped.
func Scan(root string, paths []string) ([]Finding, error) {
	var found []Finding
	for _, p := range paths {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		switch {
		case os.IsNotExist(err):
			continue
		case err != nil:
			return nil, err
		case bytes.IndexByte(data[:min(len(data), 8000)], 0) >= 0:
			continue
		}
		found = append(found, scanText(p, data)...)
	}
	return found, nil
}

func scanText(path string, data []byte) []Finding {
	var found []Finding
	r := bufio.NewReader(bytes.NewReader(data))
	for n := 1; ; n++ {
		line, err := r.ReadString('\n')
		if m := outside.FindString(line); m != "" {
			text := strings.TrimSpace(line)
			if len(text) > maxShown {
				text = text[:maxShown] + "…"
			}
			found = append(found, Finding{Path: path, Line: n, Match: m, Text: text})
		}
		if err == io.EOF {
			return found
		}
	}
}

// SplitNUL splits the output of `git ls-files -z` into paths.
func SplitNUL(out []byte) []string {
	var paths []string
	for _, p := range bytes.Split(out, []byte{0}) {
		if len(p) > 0 {
			paths = append(paths, string(p))
		}
	}
	return paths
}
