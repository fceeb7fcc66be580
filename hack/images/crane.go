package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
)

// registry is a `crane registry serve` on loopback: crane mutate only reads and writes images
// in a registry, so each build pushes through this one and pulls the result back out. It holds
// nothing worth keeping and lives only for one run.
type registry struct {
	crane string
	host  string // 127.0.0.1:port
	cmd   *exec.Cmd
}

func startRegistry(crane string) (*registry, error) {
	var last error
	for range 5 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		r := &registry{crane: crane, host: "127.0.0.1:" + strconv.Itoa(port)}
		r.cmd = exec.Command(crane, "registry", "serve", "--address", r.host)
		if err := r.cmd.Start(); err != nil {
			return nil, err
		}
		if last = r.waitReady(10 * time.Second); last == nil {
			return r, nil
		}
		r.stop() // the port was taken between freePort and serve, most likely: try another
	}
	return nil, fmt.Errorf("crane registry serve did not come up: %w", last)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (r *registry) waitReady(timeout time.Duration) error {
	exited := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get("http://" + r.host + "/v2/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("registry exited: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

func (r *registry) stop() {
	if r == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
}

// config is what `crane mutate` sets on top of the appended layer.
type config struct {
	entrypoint []string
	cmd        []string
	user       string
	workdir    string
	env        []string // KEY=VALUE
	labels     map[string]string
	ports      []string // 6379/tcp
}

// describe is the config's part of the cache key.
func (c config) describe() string {
	b, _ := json.Marshal(map[string]any{
		"entrypoint": c.entrypoint, "cmd": c.cmd, "user": c.user, "workdir": c.workdir,
		"env": c.env, "labels": c.labels, "ports": c.ports,
	})
	return string(b)
}

// assemble makes an image of one layer on an empty OCI base with the given config, and
// writes it as an OCI image-layout tarball to out.
func (r *registry) assemble(ctx context.Context, name, ref, layerTar string, c config, work, out string) error {
	base := r.host + "/build/" + name + ":layer"
	final := r.host + "/build/" + name + ":final"
	if err := run(name+": crane append", exec.CommandContext(ctx, r.crane, "append", "--oci-empty-base",
		"-f", layerTar, "-t", base)); err != nil {
		return err
	}
	args := []string{"mutate", base, "-t", final, "--set-platform", "linux/" + runtime.GOARCH}
	if len(c.entrypoint) > 0 {
		args = append(args, "--entrypoint", strings.Join(c.entrypoint, ","))
	}
	if len(c.cmd) > 0 {
		args = append(args, "--cmd", strings.Join(c.cmd, ","))
	}
	if c.user != "" {
		args = append(args, "--user", c.user)
	}
	if c.workdir != "" {
		args = append(args, "--workdir", c.workdir)
	}
	for _, e := range c.env {
		args = append(args, "--env", e)
	}
	keys := make([]string, 0, len(c.labels))
	for k := range c.labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--label", k+"="+c.labels[k])
	}
	if len(c.ports) > 0 {
		args = append(args, "--exposed-ports", strings.Join(c.ports, ","))
	}
	if err := run(name+": crane mutate", exec.CommandContext(ctx, r.crane, args...)); err != nil {
		return err
	}
	layout := filepath.Join(work, name+"-layout")
	if err := run(name+": crane pull", exec.CommandContext(ctx, r.crane, "pull", "--format=oci", final, layout)); err != nil {
		return err
	}
	if err := nameLayout(layout, ref); err != nil {
		return err
	}
	return tarDir(layout, out)
}

// nameLayout names the image in the layout the way importers look for it: containerd's
// `ctr images import` reads io.containerd.image.name (a full reference), other OCI tools
// org.opencontainers.image.ref.name, and docker load and older importers a manifest.json of
// the legacy format, which points at the same blobs. One tarball then serves all of them.
func nameLayout(dir, ref string) error {
	var idx struct {
		SchemaVersion int              `json:"schemaVersion"`
		MediaType     string           `json:"mediaType,omitempty"`
		Manifests     []map[string]any `json:"manifests"`
	}
	if err := readJSON(filepath.Join(dir, "index.json"), &idx); err != nil {
		return err
	}
	if len(idx.Manifests) != 1 {
		return fmt.Errorf("%s: index.json has %d manifests, want 1", dir, len(idx.Manifests))
	}
	m := idx.Manifests[0]
	tag := ref[strings.LastIndex(ref, ":")+1:]
	m["annotations"] = map[string]string{
		"io.containerd.image.name":          fullReference(ref),
		"org.opencontainers.image.ref.name": tag,
	}
	digest, _ := m["digest"].(string)
	var manifest struct {
		Config struct{ Digest string }   `json:"config"`
		Layers []struct{ Digest string } `json:"layers"`
	}
	if err := readJSON(filepath.Join(dir, blobPath(digest)), &manifest); err != nil {
		return err
	}
	legacy := []map[string]any{{
		"Config":   blobPath(manifest.Config.Digest),
		"RepoTags": []string{ref},
		"Layers":   []string{},
	}}
	for _, l := range manifest.Layers {
		legacy[0]["Layers"] = append(legacy[0]["Layers"].([]string), blobPath(l.Digest))
	}
	if err := writeJSON(filepath.Join(dir, "index.json"), idx); err != nil {
		return err
	}
	return writeJSON(filepath.Join(dir, "manifest.json"), legacy)
}

// fullReference spells a reference the way containerd (and so the kubelet, through CRI) names
// images: normalized by the same reference library containerd uses, so a name without a
// registry gets the default one and a one-part name its library/ path.
func fullReference(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		// The references are the repository's own constants; the image tests parse each.
		panic(fmt.Sprintf("images: bad reference %q: %v", ref, err))
	}
	return named.String()
}

func blobPath(digest string) string {
	return "blobs/" + strings.Replace(digest, ":", "/", 1)
}

func readJSON(file string, v any) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

func writeJSON(file string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o644)
}

// tarDir writes a directory as a tarball with sorted entries, root ownership and a fixed mtime,
// so the same image gives the same bytes.
func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		hdr := &tar.Header{Name: filepath.ToSlash(rel), ModTime: epoch, Mode: 0o644}
		if d.IsDir() {
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, hdr.Name+"/", 0o755
			return tw.WriteHeader(hdr)
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		st, err := src.Stat()
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size()
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err = io.Copy(tw, src)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
