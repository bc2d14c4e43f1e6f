package image

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
)

// TestOverlay: the overlay's initramfs is the base's bytes, zeros to a 4-byte boundary,
// then an uncompressed archive of the extra files; the kernel is the base's; a file
// below a directory the init mounts over is refused, naming it.
func TestOverlay(t *testing.T) {
	base, out := t.TempDir(), t.TempDir()
	bt := NewTree()
	bt.File("/init", []byte("base init"), 0o755)
	var initrd bytes.Buffer
	if err := bt.WriteInitramfs(&initrd); err != nil {
		t.Fatal(err)
	}
	for initrd.Len()%4 != 1 { // trailing bytes, so that 3 bytes of padding are needed
		initrd.WriteByte('x')
	}
	if err := os.WriteFile(filepath.Join(base, "initrd.img"), initrd.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "vmlinuz"), []byte("kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "x.test")
	if err := os.WriteFile(src, []byte("test binary"), 0o600); err != nil {
		t.Fatal(err)
	}
	extra := NewTree()
	extra.HostFile("/opt/tests/x.test", src, 0o755)
	if err := Overlay(base, out, extra); err != nil {
		t.Fatal(err)
	}
	if k, err := os.ReadFile(filepath.Join(out, "vmlinuz")); err != nil || string(k) != "kernel" {
		t.Fatalf("kernel %q %v", k, err)
	}
	got, err := os.ReadFile(filepath.Join(out, "initrd.img"))
	if err != nil {
		t.Fatal(err)
	}
	n := initrd.Len()
	if !bytes.Equal(got[:n], initrd.Bytes()) {
		t.Fatal("the overlay's initramfs does not start with the base's")
	}
	if !bytes.Equal(got[n:n+3], []byte{0, 0, 0}) || (n+3)%4 != 0 {
		t.Fatalf("padding after %d base bytes: % x", n, got[n:n+4])
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(got[n+3:])))
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, r := range recs {
		if r.Name == "opt/tests/x.test" {
			found = r.Mode&0o777 == 0o755 && r.FileSize == uint64(len("test binary"))
		}
	}
	if !found {
		t.Fatalf("extra archive %v lacks opt/tests/x.test (0755, 11 bytes)", recs)
	}
	for _, p := range []string{"/tmp/x.test", "/run/a/x", "/sys"} {
		bad := NewTree()
		bad.File(p, nil, 0o755)
		if err := Overlay(base, t.TempDir(), bad); err == nil || !strings.Contains(err.Error(), p+" is below") {
			t.Errorf("overlay of %s: %v, want it refused", p, err)
		}
	}
}
