// Command images builds the images the node runs as OCI image-layout tarballs, without a
// container engine: latch (the operator and auth servers), pause (the pod sandbox), redis (the
// managed Redis) and coredns. See docs/images.md.
//
//	go run ./hack/images [-out bin/images] [-list] [name...]
//
// Each image is one layer, written with archive/tar (owners, modes and mtime are the image's,
// not this machine's), appended onto an empty OCI base by crane, given its config by crane
// mutate through a registry on loopback, and pulled back out as an OCI layout. Tarballs are
// cached under $LATCH_IMAGES (default ~/.cache/latch/images), keyed by the content of the layer
// and config, so a warm run builds nothing and only copies.
//
// It is a Go program rather than a script because the layers need exact tar headers, the keys
// need content hashes and the result needs JSON edits, all of which Go's library does directly.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	out := flag.String("out", "bin/images", "directory the tarballs are copied to, as NAME.tar")
	list := flag.Bool("list", false, "print NAME REFERENCE TARBALL for each image built")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: go run ./hack/images [-out DIR] [-list] [%s]...\n", strings.Join(names(), "|"))
		flag.PrintDefaults()
	}
	flag.Parse()
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	repo, err := os.Getwd()
	if err == nil {
		_, err = os.Stat(filepath.Join(repo, "hack", "IMAGE"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "images: run from the repository root:", err)
		os.Exit(2)
	}
	built, err := build(ctx, repo, *out, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
	if *list {
		for _, im := range built {
			fmt.Printf("%s %s %s\n", im.name, im.ref, im.tarball)
		}
	}
}

func names() []string {
	var n []string
	for _, r := range recipes {
		n = append(n, r.name)
	}
	return n
}

// image is one built image: its reference and the tarball in the output directory.
type image struct {
	name, ref, tarball string
}

type builder struct {
	repo, cache string
	env         map[string]string // hack/tools.sh --print-env
	reg         *registry         // started on the first cache miss
}

// cacheDir is where tarballs and the binaries they hold are kept between runs.
func cacheDir() string {
	if d := os.Getenv("LATCH_IMAGES"); d != "" {
		return d
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "latch", "images")
}

// build builds the named images (all when none are named) and copies each tarball to out.
func build(ctx context.Context, repo, out string, want []string) ([]image, error) {
	for _, w := range want {
		if !slices.Contains(names(), w) {
			return nil, fmt.Errorf("unknown image %q (known: %s)", w, strings.Join(names(), " "))
		}
	}
	if len(want) == 0 {
		want = names()
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(repo, out)
	}
	env, err := toolEnv(repo)
	if err != nil {
		return nil, err
	}
	b := &builder{repo: repo, cache: cacheDir(), env: env}
	for _, d := range []string{b.cache, filepath.Join(b.cache, "build"), out} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	// A closure: b.reg is set on the first cache miss, after this line.
	defer func() { b.reg.stop() }()
	var built []image
	for _, r := range recipes {
		if !slices.Contains(want, r.name) {
			continue
		}
		start := time.Now()
		im, cached, err := b.one(ctx, r, out)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.name, err)
		}
		how := "built"
		if cached {
			how = "cached"
		}
		say("%s: %s %s -> %s (%s)", r.name, how, im.ref, relTo(repo, im.tarball), time.Since(start).Round(time.Millisecond))
		built = append(built, im)
	}
	return built, nil
}

// one builds an image unless the cache holds one of the same key, then copies it to out.
func (b *builder) one(ctx context.Context, r recipe, out string) (image, bool, error) {
	ref, l, c, err := r.prepare(ctx, b)
	if err != nil {
		return image{}, false, err
	}
	sum, err := l.digest()
	if err != nil {
		return image{}, false, err
	}
	// The key covers everything the tarball is made of: the reference, each layer entry (its
	// header and a hash of its contents), the config, and crane's version and the layout format
	// of this program (formatVersion), which decide how those are put together.
	key := sha(ref, sum, c.describe(), b.env["CRANE"], formatVersion)[:16]
	cached := filepath.Join(b.cache, r.name+"-"+key+".tar")
	hit := true
	if _, err := os.Stat(cached); err != nil {
		hit = false
		if err := b.assemble(ctx, r.name, ref, l, c, cached); err != nil {
			return image{}, false, err
		}
		prune(b.cache, r.name, cached)
	}
	dst := filepath.Join(out, r.name+".tar")
	if err := place(cached, dst); err != nil {
		return image{}, false, err
	}
	return image{name: r.name, ref: ref, tarball: dst}, hit, nil
}

// formatVersion changes when this program changes how a tarball is laid out, so old cache
// entries are not reused.
const formatVersion = "1"

func (b *builder) assemble(ctx context.Context, name, ref string, l *layer, c config, dst string) error {
	if b.reg == nil {
		say("starting crane registry serve on loopback")
		reg, err := startRegistry(b.env["CRANE"])
		if err != nil {
			return err
		}
		b.reg = reg
	}
	work, err := os.MkdirTemp(b.cache, "work-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	layerTar := filepath.Join(work, name+"-layer.tar")
	if err := l.write(layerTar); err != nil {
		return err
	}
	tmp := filepath.Join(work, name+".tar")
	if err := b.reg.assemble(ctx, name, ref, layerTar, c, work, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, dst) // atomic: a concurrent or interrupted run never sees half a tarball
}

// prune removes the other cached tarballs of an image, so the cache holds one per image.
func prune(cache, name, keep string) {
	old, _ := filepath.Glob(filepath.Join(cache, name+"-*.tar"))
	for _, f := range old {
		if f != keep && len(filepath.Base(f)) == len(filepath.Base(keep)) {
			os.Remove(f)
		}
	}
}

// place puts the cached tarball at dst: a hard link when both are on one file system, else a
// copy; through a temporary name, so dst is never half written.
func place(src, dst string) error {
	if a, err := os.Stat(src); err == nil {
		if b, err := os.Stat(dst); err == nil && os.SameFile(a, b) {
			return nil // already linked; renaming a link over itself would do nothing
		}
	}
	tmp := dst + ".tmp"
	os.Remove(tmp)
	if err := os.Link(src, tmp); err != nil {
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := os.WriteFile(tmp, data, 0o644); err != nil {
			return err
		}
	}
	err := os.Rename(tmp, dst)
	os.Remove(tmp)
	return err
}

func relTo(base, p string) string {
	if r, err := filepath.Rel(base, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}
