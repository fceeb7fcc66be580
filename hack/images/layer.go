package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"
)

// entry is one file, directory or symlink of a layer. Ownership and mode are the image's, never
// the build machine's: the layer is written with archive/tar from these fields alone, with one
// fixed mtime, so the same inputs always give the same bytes.
type entry struct {
	path     string // inside the image, without a leading slash
	mode     int64  // permission bits
	uid, gid int
	dir      bool
	link     string // symlink target
	src      string // host file whose contents the file gets
	data     []byte // contents, when there is no src
}

// epoch is every entry's mtime: a fixed time keeps layers reproducible.
var epoch = time.Unix(0, 0).UTC()

type layer struct {
	entries map[string]entry
}

func newLayer() *layer { return &layer{entries: map[string]entry{}} }

// add records an entry and the directories above it (root-owned, 0755) unless already given.
func (l *layer) add(e entry) {
	e.path = strings.TrimPrefix(path.Clean("/"+e.path), "/")
	l.entries[e.path] = e
	for d := path.Dir(e.path); d != "." && d != "/"; d = path.Dir(d) {
		if _, ok := l.entries[d]; !ok {
			l.entries[d] = entry{path: d, mode: 0o755, dir: true}
		}
	}
}

func (l *layer) file(p, src string, mode int64, uid, gid int) {
	l.add(entry{path: p, src: src, mode: mode, uid: uid, gid: gid})
}

func (l *layer) bytes(p string, data []byte, mode int64) {
	l.add(entry{path: p, data: data, mode: mode})
}

func (l *layer) dir(p string, mode int64, uid, gid int) {
	l.add(entry{path: p, dir: true, mode: mode, uid: uid, gid: gid})
}

func (l *layer) symlink(p, target string) {
	l.add(entry{path: p, link: target, mode: 0o777})
}

func (l *layer) sorted() []entry {
	out := make([]entry, 0, len(l.entries))
	for _, e := range l.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// digest describes the layer for the cache key: every entry's header fields and a hash of its
// contents, so a changed binary, library, mode or owner makes a new key.
func (l *layer) digest() (string, error) {
	h := sha256.New()
	for _, e := range l.sorted() {
		sum := ""
		if !e.dir && e.link == "" {
			c, err := contentHash(e)
			if err != nil {
				return "", err
			}
			sum = c
		}
		fmt.Fprintf(h, "%s|%o|%d|%d|%t|%s|%s\n", e.path, e.mode, e.uid, e.gid, e.dir, e.link, sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func contentHash(e entry) (string, error) {
	h := sha256.New()
	if e.src == "" {
		h.Write(e.data)
		return hex.EncodeToString(h.Sum(nil)), nil
	}
	f, err := os.Open(e.src)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// write writes the layer as an uncompressed tar (crane compresses it when appending).
func (l *layer) write(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, e := range l.sorted() {
		if err := writeEntry(tw, e); err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", e.path, err)
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeEntry(tw *tar.Writer, e entry) error {
	hdr := &tar.Header{Name: e.path, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: epoch}
	switch {
	case e.dir:
		hdr.Typeflag, hdr.Name = tar.TypeDir, e.path+"/"
		return tw.WriteHeader(hdr)
	case e.link != "":
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.link
		return tw.WriteHeader(hdr)
	}
	hdr.Typeflag = tar.TypeReg
	if e.src == "" {
		hdr.Size = int64(len(e.data))
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(e.data)
		return err
	}
	f, err := os.Open(e.src)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	hdr.Size = st.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// sha hashes strings, each ended by a newline so no two lists hash alike.
func sha(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		io.WriteString(h, p+"\n")
	}
	return hex.EncodeToString(h.Sum(nil))
}
