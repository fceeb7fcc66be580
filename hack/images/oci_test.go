package main

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ociImage is an image tarball read back the way an importer reads it: through index.json,
// every blob checked against its digest. The bytes are moved by tar, gzip and sha256sum, not
// by this process: under make test's -race, every byte Go copies is checked, and pushing
// CoreDNS's 70 MB layer through Go took over 10 s.
type ociImage struct {
	dir      string // the tarball, unpacked
	index    map[string]any
	manifest struct {
		MediaType string `json:"mediaType"`
		Config    struct{ Digest, MediaType string }
		Layers    []struct{ Digest, MediaType string }
	}
	config struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Config       struct {
			User         string
			Entrypoint   []string
			Cmd          []string
			Env          []string
			WorkingDir   string
			Labels       map[string]string
			ExposedPorts map[string]any
		} `json:"config"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	legacy []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	layers []string // each layer as an uncompressed tar file
}

func readImage(t *testing.T, tarball string) *ociImage {
	t.Helper()
	im := &ociImage{dir: t.TempDir()}
	command(t, "tar", "-xf", tarball, "-C", im.dir)
	var layout struct{ ImageLayoutVersion string }
	im.json(t, "oci-layout", &layout)
	if layout.ImageLayoutVersion != "1.0.0" {
		t.Errorf("oci-layout = %+v, want imageLayoutVersion 1.0.0", layout)
	}
	blobs, err := filepath.Glob(filepath.Join(im.dir, "blobs", "sha256", "*"))
	if err != nil || len(blobs) == 0 {
		t.Fatalf("no blobs in %s: %v", tarball, err)
	}
	for file, sum := range sha256sums(t, blobs...) {
		if filepath.Base(file) != sum {
			t.Errorf("blob %s has digest %s", filepath.Base(file), sum)
		}
	}
	im.json(t, "index.json", &im.index)
	ms, _ := im.index["manifests"].([]any)
	if len(ms) != 1 {
		t.Fatalf("index.json has %d manifests, want 1", len(ms))
	}
	desc := ms[0].(map[string]any)
	im.json(t, blobPath(desc["digest"].(string)), &im.manifest)
	if im.manifest.MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("manifest media type %q, want the OCI one", im.manifest.MediaType)
	}
	im.json(t, blobPath(im.manifest.Config.Digest), &im.config)
	im.json(t, "manifest.json", &im.legacy)
	if len(im.manifest.Layers) != len(im.config.RootFS.DiffIDs) {
		t.Fatalf("%d layers but %d diff_ids", len(im.manifest.Layers), len(im.config.RootFS.DiffIDs))
	}
	for i, l := range im.manifest.Layers {
		blob := filepath.Join(im.dir, blobPath(l.Digest))
		layer := blob
		if strings.HasSuffix(l.MediaType, "+gzip") {
			layer = filepath.Join(t.TempDir(), "layer.tar")
			out, err := os.Create(layer)
			if err != nil {
				t.Fatal(err)
			}
			unzip := exec.Command("gzip", "-dc", blob)
			unzip.Stdout = out // a file: gzip writes it directly
			var stderr strings.Builder
			unzip.Stderr = &stderr
			if err := unzip.Run(); err != nil {
				t.Fatalf("gunzip layer %d: %v %s", i, err, stderr.String())
			}
			out.Close()
		}
		if sum := sha256sums(t, layer)[layer]; "sha256:"+sum != im.config.RootFS.DiffIDs[i] {
			t.Errorf("layer %d's diff_id is %s, its content sha256:%s", i, im.config.RootFS.DiffIDs[i], sum)
		}
		im.layers = append(im.layers, layer)
	}
	return im
}

func (im *ociImage) json(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(im.dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatalf("%s in the tarball: %v", name, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// sha256sums hashes files with sha256sum(1), by file name.
func sha256sums(t *testing.T, files ...string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	for line := range strings.SplitSeq(command(t, "sha256sum", files...), "\n") {
		if sum, file, ok := strings.Cut(line, "  "); ok {
			sums[file] = sum
		}
	}
	return sums
}

func command(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

// extract unpacks the layers into dir with the owners and modes of their headers (tar keeps
// them when run as root), and returns the headers by path, read with archive/tar, which
// seeks past the contents.
func (im *ociImage) extract(t *testing.T, dir string) map[string]*tar.Header {
	t.Helper()
	headers := map[string]*tar.Header{}
	for _, layer := range im.layers {
		f, err := os.Open(layer)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(f)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			switch h.Typeflag {
			case tar.TypeDir, tar.TypeSymlink, tar.TypeReg:
			default:
				t.Errorf("%s: unexpected entry type %c", h.Name, h.Typeflag)
			}
			headers[strings.TrimSuffix(h.Name, "/")] = h
		}
		f.Close()
		command(t, "tar", "--numeric-owner", "-xpf", layer, "-C", dir)
	}
	return headers
}
