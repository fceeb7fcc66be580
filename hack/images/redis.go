package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// prepareRedis packs Debian's redis-server and redis-cli (the operator's probes run
// redis-cli) with exactly the shared libraries they link and the dynamic loader, found with
// ldd, plus the passwd and group entries of the user the operator runs Redis as and its /data.
// Debian's build is used rather than a static one: it is the Redis the tests already run, it
// comes from a registry this project may use, and Redis does not build static without patches.
// There is no shell: the StatefulSet's args start with redis-server, found on PATH.
func prepareRedis(ctx context.Context, b *builder) (string, *layer, config, error) {
	ref, err := readRef(b.repo, "hack/REDIS_IMAGE")
	if err != nil {
		return "", nil, config{}, err
	}
	server, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, config{}, err
	}
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return "", nil, config{}, err
	}
	out, err := output(server, "--version")
	if err != nil {
		return "", nil, config{}, err
	}
	m := regexp.MustCompile(`v=(\d+\.\d+\.\d+)`).FindStringSubmatch(out)
	if m == nil {
		return "", nil, config{}, fmt.Errorf("redis-server --version printed %q, no version", out)
	}
	// The tag is the CRD's default image: it must say which Redis is inside.
	if tagOf(ref) != m[1] {
		return "", nil, config{}, fmt.Errorf("hack/REDIS_IMAGE is %s but this machine's redis-server is %s: "+
			"set hack/REDIS_IMAGE, the AuthRealm default (api/v1alpha1) and controllers' defaultRedisImg to :%s, then make manifests", ref, m[1], m[1])
	}
	pkg, _ := output("dpkg-query", "-W", "-f=${Version}", "redis-server")

	l := newLayer()
	for _, bin := range []string{server, cli} {
		// redis-server is a symlink to redis-check-rdb in Debian; Redis picks its mode from
		// argv[0], so the file goes in under the name it is run by.
		real, err := filepath.EvalSymlinks(bin)
		if err != nil {
			return "", nil, config{}, err
		}
		l.file("usr/bin/"+filepath.Base(bin), real, 0o755, 0, 0)
		libs, err := sharedLibraries(ctx, bin)
		if err != nil {
			return "", nil, config{}, err
		}
		for _, lib := range libs {
			real, err := filepath.EvalSymlinks(lib)
			if err != nil {
				return "", nil, config{}, err
			}
			l.file(lib, real, 0o755, 0, 0)
		}
	}
	l.bytes("etc/passwd", fmt.Appendf(nil, "redis:x:%d:%d:Redis:/data:/usr/sbin/nologin\n", redisUID, redisUID), 0o644)
	l.bytes("etc/group", fmt.Appendf(nil, "redis:x:%d:\n", redisUID), 0o644)
	// /data is where the operator mounts the AOF volume; owned by Redis's user so the image
	// also works with an emptyDir or no volume at all.
	l.dir("data", 0o750, redisUID, redisUID)
	labels := map[string]string{"org.opencontainers.image.title": "redis", "org.opencontainers.image.version": m[1]}
	if pkg != "" {
		labels["dev.latch.debian-package"] = "redis-server=" + pkg
	}
	return ref, l, config{
		cmd:     []string{"redis-server"},
		user:    fmt.Sprintf("%d:%d", redisUID, redisUID),
		workdir: "/data",
		env:     []string{"PATH=/usr/bin"},
		ports:   []string{"6379/tcp"},
		labels:  labels,
	}, nil
}

// sharedLibraries lists the absolute paths ldd resolves for a binary, the loader included.
func sharedLibraries(ctx context.Context, bin string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	var libs []string
	for line := range strings.SplitSeq(string(out), "\n") {
		line = strings.TrimSpace(line)
		if _, after, ok := strings.Cut(line, "=> "); ok {
			line = after
		}
		path, _, _ := strings.Cut(line, " ")
		if strings.Contains(line, "not found") {
			return nil, fmt.Errorf("ldd %s: %s", bin, line)
		}
		if strings.HasPrefix(path, "/") {
			libs = append(libs, path)
		}
	}
	if len(libs) == 0 {
		return nil, fmt.Errorf("ldd %s found no libraries:\n%s", bin, out)
	}
	return libs, nil
}
