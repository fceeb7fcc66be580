package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
)

// recipe is one image: its reference and what goes in it. prepare builds or finds the inputs
// (binaries, libraries) and returns the layer and config; their content makes the cache key.
type recipe struct {
	name    string
	prepare func(ctx context.Context, b *builder) (ref string, l *layer, c config, err error)
}

var recipes = []recipe{
	{"latch", prepareLatch},
	{"pause", preparePause},
	{"redis", prepareRedis},
	{"coredns", prepareCoreDNS},
}

const (
	// latchUID is the chart's runAsUser and the Dockerfile's USER ("nonroot" in distroless).
	latchUID = 65532
	// pauseUID is the user the upstream pause image runs as.
	pauseUID = 65535
	// redisUID is the user the operator runs the managed Redis as (controllers' redisUID).
	redisUID = 999
	// pauseRef names the pause image; bump its tag when hack/images/pause changes behavior.
	pauseRef = "latchauth/pause:1.0"
)

// goBuildStatic builds a main package static (no cgo) and stripped, as the Dockerfile does,
// into the cache. go build leaves an up-to-date target alone, so a warm build only hashes.
func (b *builder) goBuildStatic(ctx context.Context, name, pkg string) (string, error) {
	out := filepath.Join(b.cache, "build", name)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = b.repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if err := run(name+": go build "+pkg, cmd); err != nil {
		return "", err
	}
	return out, nil
}

func prepareLatch(ctx context.Context, b *builder) (string, *layer, config, error) {
	ref, err := readRef(b.repo, "hack/IMAGE")
	if err != nil {
		return "", nil, config{}, err
	}
	bin, err := b.goBuildStatic(ctx, "latch", ".")
	if err != nil {
		return "", nil, config{}, err
	}
	l := newLayer()
	l.file("latch", bin, 0o755, 0, 0)
	// The CA bundle, for Redis over TLS and SMTP: the same file the Dockerfile copies.
	l.file("etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt", 0o644, 0, 0)
	labels := map[string]string{
		"org.opencontainers.image.title":   "latch",
		"org.opencontainers.image.version": tagOf(ref),
	}
	// The commit is read from git, not stamped into the binary (-buildvcs): a stamp would
	// relink the binary on every edit anywhere in the work tree; this only re-labels it.
	if rev, err := output("git", "-C", b.repo, "rev-parse", "HEAD"); err == nil {
		if exec.Command("git", "-C", b.repo, "diff", "--quiet", "HEAD", "--").Run() != nil {
			rev += "-modified"
		}
		labels["org.opencontainers.image.revision"] = rev
	}
	return ref, l, config{
		entrypoint: []string{"/latch"},
		user:       fmt.Sprintf("%d:%d", latchUID, latchUID),
		labels:     labels,
	}, nil
}

func preparePause(ctx context.Context, b *builder) (string, *layer, config, error) {
	bin, err := b.goBuildStatic(ctx, "pause", "./hack/images/pause")
	if err != nil {
		return "", nil, config{}, err
	}
	l := newLayer()
	l.file("pause", bin, 0o755, 0, 0)
	return pauseRef, l, config{
		entrypoint: []string{"/pause"},
		user:       fmt.Sprintf("%d:%d", pauseUID, pauseUID),
		labels:     map[string]string{"org.opencontainers.image.title": "pause", "org.opencontainers.image.version": tagOf(pauseRef)},
	}, nil
}

// prepareCoreDNS packs the static CoreDNS that hack/tools.sh builds from Go modules.
func prepareCoreDNS(ctx context.Context, b *builder) (string, *layer, config, error) {
	bin := b.env["COREDNS"]
	out, err := output(bin, "-version")
	if err != nil {
		return "", nil, config{}, err
	}
	m := regexp.MustCompile(`CoreDNS-(\d+\.\d+\.\d+)`).FindStringSubmatch(out)
	if m == nil {
		return "", nil, config{}, fmt.Errorf("coredns -version printed %q, no version", out)
	}
	ref := "latchauth/coredns:" + m[1]
	l := newLayer()
	l.file("coredns", bin, 0o755, 0, 0)
	return ref, l, config{
		entrypoint: []string{"/coredns"},
		user:       fmt.Sprintf("%d:%d", latchUID, latchUID),
		ports:      []string{"53/udp", "53/tcp", "9153/tcp"},
		labels:     map[string]string{"org.opencontainers.image.title": "coredns", "org.opencontainers.image.version": m[1]},
	}, nil
}

func readRef(repo, file string) (string, error) {
	b, err := os.ReadFile(filepath.Join(repo, file))
	if err != nil {
		return "", err
	}
	ref := strings.TrimSpace(string(b))
	if !strings.Contains(ref, ":") {
		return "", fmt.Errorf("%s: %q has no tag", file, ref)
	}
	return ref, nil
}

func tagOf(ref string) string { return ref[strings.LastIndex(ref, ":")+1:] }
