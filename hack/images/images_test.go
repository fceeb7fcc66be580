package main

import (
	"archive/tar"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The images are built once for the package (from the cache when nothing changed) into a
// temporary directory, then each is read back from its tarball and its contents run.
var (
	buildOnce sync.Once
	builtErr  error
	built     map[string]image
	builtDir  string // the tarballs' directory, removed after the tests
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

func images(t *testing.T) map[string]image {
	t.Helper()
	buildOnce.Do(func() {
		repo, err := filepath.Abs(filepath.Join("..", ".."))
		if err != nil {
			builtErr = err
			return
		}
		out, err := os.MkdirTemp("", "latch-images-test-")
		if err != nil {
			builtErr = err
			return
		}
		builtDir = out
		ims, err := build(context.Background(), repo, out, nil)
		built = map[string]image{}
		for _, im := range ims {
			built[im.name] = im
		}
		builtErr = err
	})
	if builtErr != nil {
		t.Fatalf("build the images: %v", builtErr)
	}
	return built
}

// open reads an image's tarball and extracts its layers into a fresh root file system.
func open(t *testing.T, name string) (*ociImage, string, map[string]*tar.Header) {
	t.Helper()
	im, ok := images(t)[name]
	if !ok {
		t.Fatalf("no %s image built", name)
	}
	oci := readImage(t, im.tarball)
	if got := oci.index["manifests"].([]any)[0].(map[string]any)["annotations"].(map[string]any)["io.containerd.image.name"]; got != fullReference(im.ref) {
		t.Errorf("io.containerd.image.name = %v, want %s", got, fullReference(im.ref))
	}
	if len(oci.legacy) != 1 || !slices.Equal(oci.legacy[0].RepoTags, []string{im.ref}) {
		t.Errorf("manifest.json = %+v, want one image tagged %s", oci.legacy, im.ref)
	}
	if oci.config.OS != "linux" || oci.config.Architecture == "" {
		t.Errorf("platform %s/%s, want linux/<arch>", oci.config.OS, oci.config.Architecture)
	}
	root := t.TempDir()
	headers := oci.extract(t, root)
	// No shell, nor anything that could serve as one.
	for p := range headers {
		switch path.Base(p) {
		case "sh", "bash", "dash", "ash", "busybox":
			t.Errorf("%s holds a shell: /%s", name, p)
		}
	}
	return oci, root, headers
}

func checkUser(t *testing.T, oci *ociImage, want string) {
	t.Helper()
	if oci.config.Config.User != want {
		t.Errorf("user = %q, want %q", oci.config.Config.User, want)
	}
}

func checkEntrypoint(t *testing.T, oci *ociImage, want ...string) {
	t.Helper()
	if !slices.Equal(oci.config.Config.Entrypoint, want) {
		t.Errorf("entrypoint = %q, want %q", oci.config.Config.Entrypoint, want)
	}
}

// checkStatic fails unless the file is an ELF executable without an interpreter (PT_INTERP),
// i.e. one that runs on an empty base.
func checkStatic(t *testing.T, file string) {
	t.Helper()
	f, err := elf.Open(file)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s is dynamically linked (it has PT_INTERP)", file)
		}
	}
}

func TestLatchImage(t *testing.T) {
	oci, root, headers := open(t, "latch")
	checkUser(t, oci, "65532:65532")
	checkEntrypoint(t, oci, "/latch")
	if got := keys(headers); !slices.Equal(got, []string{"etc", "etc/ssl", "etc/ssl/certs", "etc/ssl/certs/ca-certificates.crt", "latch"}) {
		t.Errorf("the latch image holds %q, want the binary and the CA bundle only", got)
	}
	if h := headers["latch"]; h == nil || h.Uid != 0 || h.Mode != 0o755 {
		t.Errorf("/latch header = %+v, want root-owned 0755", h)
	}
	if oci.config.Config.Labels["org.opencontainers.image.revision"] == "" {
		t.Errorf("no revision label: %v", oci.config.Config.Labels)
	}
	bin := filepath.Join(root, "latch")
	checkStatic(t, bin)
	out, err := exec.Command(bin, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "latch manager") {
		t.Errorf("latch --help: %v\n%s", err, out)
	}
}

func TestPauseImage(t *testing.T) {
	oci, root, _ := open(t, "pause")
	checkUser(t, oci, "65535:65535")
	checkEntrypoint(t, oci, "/pause")
	bin := filepath.Join(root, "pause")
	checkStatic(t, bin)
	cmd := inRoot(root, 65535, "/pause")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("pause exited before any signal: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("pause after SIGTERM: %v, want exit status 0", err)
		}
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		t.Error("pause did not exit within 5 s of SIGTERM")
	}
}

func TestCoreDNSImage(t *testing.T) {
	oci, root, _ := open(t, "coredns")
	checkUser(t, oci, "65532:65532")
	checkEntrypoint(t, oci, "/coredns")
	bin := filepath.Join(root, "coredns")
	checkStatic(t, bin)
	out, err := inRoot(root, 65532, "/coredns", "-version").CombinedOutput()
	if want := "CoreDNS-" + tagOf(images(t)["coredns"].ref); err != nil || !strings.Contains(string(out), want) {
		t.Errorf("coredns -version: %v\n%s\nwant %s", err, out, want)
	}
}

// inRoot runs a command of an extracted image as the image's user, with the image's root as /
// when the test runs as root (so nothing of the host's file system can help it).
func inRoot(root string, uid int, name string, args ...string) *exec.Cmd {
	if os.Geteuid() != 0 {
		return exec.Command(filepath.Join(root, name), args...)
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     root,
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)},
	}
	return cmd
}

func keys(m map[string]*tar.Header) []string {
	var k []string
	for p := range m {
		k = append(k, p)
	}
	slices.Sort(k)
	return k
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// eventually retries f until it succeeds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The name containerd stores an image under: a registry is added to a name without one, and
// library/ to a one-part name, as CRI normalizes the kubelet's lookups; a name with its own
// registry is kept.
func TestFullReference(t *testing.T) {
	for _, tc := range []struct{ in, suffix string }{
		{"latchauth/latch:dev", "/latchauth/latch:dev"},
		{"redis:7", "/library/redis:7"},
	} {
		got := fullReference(tc.in)
		if !strings.HasSuffix(got, tc.suffix) || !strings.Contains(strings.TrimSuffix(got, tc.suffix), ".") {
			t.Errorf("fullReference(%q) = %q, want a registry host then %s", tc.in, got, tc.suffix)
		}
	}
	if got := fullReference("registry.example:5000/a/b:1"); got != "registry.example:5000/a/b:1" {
		t.Errorf("a reference with its own registry became %q", got)
	}
}
