package image

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/u-root/pkg/cpio"
)

// Tree is the content of an initramfs being assembled: paths (absolute, cleaned) to
// entries. Parent directories are added when the archive is written. Later additions
// replace earlier ones.
type Tree struct {
	entries map[string]entry
}

type entry struct {
	kind   byte // 'f' file, 'd' dir, 'l' symlink, 'c' char device
	mode   uint64
	data   []byte // file content (inline) ...
	src    string // ... or a host file read when writing
	target string // symlink target
	major  uint64
	minor  uint64
}

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{entries: map[string]entry{}} }

func clean(p string) string { return path.Clean("/" + p) }

// File adds a file with inline content.
func (t *Tree) File(p string, data []byte, perm uint64) {
	t.entries[clean(p)] = entry{kind: 'f', mode: perm, data: data}
}

// HostFile adds a file whose content is read from src on the build machine.
func (t *Tree) HostFile(p, src string, perm uint64) {
	t.entries[clean(p)] = entry{kind: 'f', mode: perm, src: src}
}

// Dir adds a directory.
func (t *Tree) Dir(p string, perm uint64) { t.entries[clean(p)] = entry{kind: 'd', mode: perm} }

// Symlink adds a symbolic link p -> target.
func (t *Tree) Symlink(p, target string) {
	t.entries[clean(p)] = entry{kind: 'l', mode: 0o777, target: target}
}

// CharDev adds a character device node.
func (t *Tree) CharDev(p string, perm, major, minor uint64) {
	t.entries[clean(p)] = entry{kind: 'c', mode: perm, major: major, minor: minor}
}

// Has reports whether p is in the tree.
func (t *Tree) Has(p string) bool { _, ok := t.entries[clean(p)]; return ok }

// Paths returns the tree's paths, sorted.
func (t *Tree) Paths() []string {
	out := make([]string, 0, len(t.entries))
	for p := range t.entries {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// records returns the cpio records in a stable order, parents before children, with
// every missing parent directory added (0755) and timestamps zeroed (reproducible).
func (t *Tree) records() ([]cpio.Record, error) {
	all := map[string]entry{}
	for p, e := range t.entries {
		all[p] = e
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := all[d]; !ok {
				if _, ok := t.entries[d]; !ok {
					all[d] = entry{kind: 'd', mode: 0o755}
				}
			}
		}
	}
	paths := make([]string, 0, len(all))
	for p := range all {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	recs := make([]cpio.Record, 0, len(paths))
	for _, p := range paths {
		e := all[p]
		name := strings.TrimPrefix(p, "/")
		var r cpio.Record
		switch e.kind {
		case 'd':
			r = cpio.Directory(name, e.mode)
		case 'l':
			r = cpio.Symlink(name, e.target)
		case 'c':
			r = cpio.CharDev(name, e.mode, e.major, e.minor)
		case 'f':
			data := e.data
			if e.src != "" {
				b, err := os.ReadFile(e.src)
				if err != nil {
					return nil, fmt.Errorf("initramfs %s: %w", p, err)
				}
				data = b
			}
			r = cpio.StaticFile(name, string(data), e.mode)
		}
		r = cpio.MakeReproducible(r)
		r.Ino, r.NLink = uint64(len(recs)+1), 1
		recs = append(recs, r)
	}
	return recs, nil
}

// WriteCPIO writes the tree as a newc cpio archive (what the kernel unpacks as its
// initramfs), uncompressed.
func (t *Tree) WriteCPIO(w io.Writer) error {
	recs, err := t.records()
	if err != nil {
		return err
	}
	cw := cpio.Newc.Writer(w)
	if err := cpio.WriteRecords(cw, recs); err != nil {
		return fmt.Errorf("write cpio: %w", err)
	}
	return cpio.WriteTrailer(cw)
}

// WriteInitramfs writes the tree as a zstd-compressed newc archive.
func (t *Tree) WriteInitramfs(w io.Writer) error {
	var buf bytes.Buffer
	if err := t.WriteCPIO(&buf); err != nil {
		return err
	}
	// The kernel's decompressor wants a bounded window; 8 MiB is what zstd -19 uses.
	z, err := zstd.NewWriter(w, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithWindowSize(8<<20))
	if err != nil {
		return err
	}
	if _, err := z.Write(buf.Bytes()); err != nil {
		z.Close()
		return fmt.Errorf("compress initramfs: %w", err)
	}
	return z.Close()
}

// WriteFileAtomic writes path through fn into a temporary file next to it, renamed over
// path only when fn and the close succeed: a reader never sees half a file.
func WriteFileAtomic(path string, fn func(w io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
