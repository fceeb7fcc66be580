package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ociImage is an image tarball read back the way an importer reads it: through index.json,
// every blob checked against its digest.
type ociImage struct {
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
	layers []*tar.Reader // each layer's entries, decompressed
	files  map[string][]byte
}

func readImage(t *testing.T, tarball string) *ociImage {
	t.Helper()
	f, err := os.Open(tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", tarball, err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = b
		}
	}
	im := &ociImage{files: files}
	var layout struct{ ImageLayoutVersion string }
	mustJSON(t, files, "oci-layout", &layout)
	if layout.ImageLayoutVersion != "1.0.0" {
		t.Errorf("oci-layout = %+v, want imageLayoutVersion 1.0.0", layout)
	}
	for name, b := range files {
		if d, ok := strings.CutPrefix(name, "blobs/sha256/"); ok {
			if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != d {
				t.Errorf("blob %s has digest %x", name, sum)
			}
		}
	}
	mustJSON(t, files, "index.json", &im.index)
	ms, _ := im.index["manifests"].([]any)
	if len(ms) != 1 {
		t.Fatalf("index.json has %d manifests, want 1", len(ms))
	}
	desc := ms[0].(map[string]any)
	mustJSON(t, files, blobPath(desc["digest"].(string)), &im.manifest)
	if im.manifest.MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("manifest media type %q, want the OCI one", im.manifest.MediaType)
	}
	mustJSON(t, files, blobPath(im.manifest.Config.Digest), &im.config)
	mustJSON(t, files, "manifest.json", &im.legacy)
	if len(im.manifest.Layers) != len(im.config.RootFS.DiffIDs) {
		t.Fatalf("%d layers but %d diff_ids", len(im.manifest.Layers), len(im.config.RootFS.DiffIDs))
	}
	for i, l := range im.manifest.Layers {
		raw := files[blobPath(l.Digest)]
		if strings.HasSuffix(l.MediaType, "+gzip") {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			if raw, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if sum := sha256.Sum256(raw); "sha256:"+hex.EncodeToString(sum[:]) != im.config.RootFS.DiffIDs[i] {
			t.Errorf("layer %d's diff_id is %s, its content sha256:%x", i, im.config.RootFS.DiffIDs[i], sum)
		}
		im.layers = append(im.layers, tar.NewReader(bytes.NewReader(raw)))
	}
	return im
}

func mustJSON(t *testing.T, files map[string][]byte, name string, v any) {
	t.Helper()
	b, ok := files[name]
	if !ok {
		t.Fatalf("no %s in the tarball", name)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// extract writes the layers into dir with the owners and modes of their headers, and returns
// the headers by path.
func (im *ociImage) extract(t *testing.T, dir string) map[string]*tar.Header {
	t.Helper()
	headers := map[string]*tar.Header{}
	for _, tr := range im.layers {
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			name := strings.TrimSuffix(h.Name, "/")
			headers[name] = h
			p := filepath.Join(dir, filepath.FromSlash(name))
			switch h.Typeflag {
			case tar.TypeDir:
				err = os.MkdirAll(p, os.FileMode(h.Mode)&os.ModePerm)
			case tar.TypeSymlink:
				err = os.Symlink(h.Linkname, p)
			case tar.TypeReg:
				var b []byte
				if b, err = io.ReadAll(tr); err == nil {
					err = os.WriteFile(p, b, os.FileMode(h.Mode)&os.ModePerm)
				}
			default:
				err = fmt.Errorf("unexpected entry type %c", h.Typeflag)
			}
			if err == nil && os.Geteuid() == 0 {
				err = os.Lchown(p, h.Uid, h.Gid)
			}
			if err == nil && h.Typeflag != tar.TypeSymlink {
				err = os.Chmod(p, os.FileMode(h.Mode)&os.ModePerm)
			}
			if err != nil {
				t.Fatalf("extract %s: %v", h.Name, err)
			}
		}
	}
	return headers
}
