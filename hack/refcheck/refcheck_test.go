package refcheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTrackedFilesStayInside fails naming every line of a tracked file that refers to a file
// outside the repository: a user who clones it could not follow the reference. Point at
// docs/protocol.md (or another document of the repository) instead.
func TestTrackedFilesStayInside(t *testing.T) {
	root, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Fatalf("git rev-parse --show-toplevel: %v (the check lists the tracked files with git)", err)
	}
	dir := strings.TrimSpace(string(root))
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	paths := SplitNUL(out)
	if len(paths) == 0 {
		t.Fatal("git ls-files listed no file")
	}
	found, err := Scan(dir, paths)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Error(f)
	}
	if len(found) > 0 {
		t.Log("point such references at docs/protocol.md#<section> or another document of the repository")
	}
}

// TestScanFindsPlantedReferences plants each kind of reference (and lines that only look like
// one) in a scratch tree and checks what Scan reports. The planted text is assembled at run
// time so that this file itself refers to nothing.
func TestScanFindsPlantedReferences(t *testing.T) {
	dir := t.TempDir()
	shared := "shar" + "ed"
	files := map[string]string{
		"a.go":   "package a\n\n// See ../" + shared + "/docs/PROTO" + "COL.md section 2.\nfunc A() {}\n",
		"b.md":   "# B\n\nfine\nthe document " + "003_" + "f40e336247a4f60b" + ".txt says so\n",
		"c.yaml": "x: 1\n# from /work/" + shared + "/docs\n",
		"d.sh":   "#!/bin/sh\ncat seed" + "s/000.txt\n",
		"f.go":   "package f\n\n// As PROTO" + "COL.md section 4 and se" + "ed 003 say.\n",
		"g.md":   "see docs/ARCHITEC" + "TURE.md\n",
		// Not references: a Redis Cluster's seed addresses, a relative path inside the
		// repository, an issue number, a hex digest without the document's shape.
		"e.md": "Cluster (seed addresses)\n../docs/protocol.md\nissue 12\n0a_27609f4bb6156616\ndocs/protocol.md#account\n",
		"bin":  "\x00../" + shared,
	}
	var paths []string
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, name)
	}
	paths = append(paths, "deleted-but-tracked.go")

	found, err := Scan(dir, paths)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range found {
		got[f.Path+":"+strconv.Itoa(f.Line)] = true
	}
	want := []string{"a.go:3", "b.md:4", "c.yaml:2", "d.sh:2", "f.go:3", "g.md:1"}
	for _, w := range want {
		if !got[w] {
			t.Errorf("Scan missed %s; found %v", w, found)
		}
	}
	if len(found) != len(want) {
		t.Errorf("Scan found %d lines, want %d: %v", len(found), len(want), found)
	}
}
