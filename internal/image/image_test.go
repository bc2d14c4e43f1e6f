package image

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/u-root/pkg/cpio"
)

func TestSelectionMatches(t *testing.T) {
	s := Selection{Include: []string{"net/netfilter/", "drivers/net/*.ko", "fs/ext4/ext4.ko"}}
	for p, want := range map[string]bool{
		"net/netfilter/nft_masq.ko":           true,
		"net/netfilter/ipvs/ip_vs.ko":         true,
		"drivers/net/veth.ko":                 true,
		"drivers/net/wireguard/wireguard.ko":  false,
		"fs/ext4/ext4.ko":                     true,
		"fs/ext4x/ext4.ko":                    false,
		"net/netfilterx/a.ko":                 false,
		"drivers/net/ethernet/intel/e1000.ko": false,
	} {
		if got := s.Matches(p); got != want {
			t.Errorf("%s: %v, want %v", p, got, want)
		}
	}
}

func readCPIO(t *testing.T, b []byte) map[string]cpio.Record {
	t.Helper()
	rr := cpio.Newc.Reader(bytes.NewReader(b))
	recs, err := cpio.ReadAllRecords(rr)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]cpio.Record{}
	for i, r := range recs {
		if i > 0 && !strings.HasPrefix(r.Name, "TRAILER") && r.Name < recs[i-1].Name {
			t.Errorf("records out of order: %s after %s", r.Name, recs[i-1].Name)
		}
		out[r.Name] = r
	}
	return out
}

func content(t *testing.T, r cpio.Record) string {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTree: the initramfs archive has parents before children (missing ones made),
// device nodes with their numbers, symlinks, files from memory and from the host, and
// unique inode numbers (the kernel links equal ones); compressed, it is the same.
func TestTree(t *testing.T) {
	host := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(host, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tr := NewTree()
	tr.File("/etc/zosnet/x.json", []byte("{}"), 0o644)
	tr.HostFile("/bin/prog", host, 0o755)
	tr.Symlink("/sbin/modprobe", "/init")
	tr.CharDev("/dev/console", 0o600, 5, 1)
	tr.Dir("/tmp", 0o1777)
	var raw bytes.Buffer
	if err := tr.WriteCPIO(&raw); err != nil {
		t.Fatal(err)
	}
	recs := readCPIO(t, raw.Bytes())
	for _, d := range []string{"bin", "etc", "etc/zosnet", "sbin", "dev", "tmp"} {
		if r, ok := recs[d]; !ok || r.Mode&cpio.S_IFMT != cpio.S_IFDIR {
			t.Errorf("%s: missing or not a directory: %+v", d, r.Info)
		}
	}
	if r := recs["dev/console"]; r.Mode&cpio.S_IFMT != cpio.S_IFCHR || r.Rmajor != 5 || r.Rminor != 1 || r.Mode&0o777 != 0o600 {
		t.Errorf("dev/console: %+v", r.Info)
	}
	if r := recs["tmp"]; r.Mode&0o7777 != 0o1777 {
		t.Errorf("tmp mode %o", r.Mode)
	}
	if got := content(t, recs["sbin/modprobe"]); got != "/init" || recs["sbin/modprobe"].Mode&cpio.S_IFMT != cpio.S_IFLNK {
		t.Errorf("symlink %q", got)
	}
	if got := content(t, recs["bin/prog"]); got != "#!/bin/sh\n" || recs["bin/prog"].Mode&0o777 != 0o755 {
		t.Errorf("host file %q mode %o", got, recs["bin/prog"].Mode)
	}
	inos := map[uint64]string{}
	for n, r := range recs {
		if prev, dup := inos[r.Ino]; dup && r.Ino != 0 {
			t.Errorf("inode %d shared by %s and %s", r.Ino, prev, n)
		}
		inos[r.Ino] = n
	}
	var z bytes.Buffer
	if err := tr.WriteInitramfs(&z); err != nil {
		t.Fatal(err)
	}
	d, err := zstd.NewReader(&z)
	if err != nil {
		t.Fatal(err)
	}
	un, err := io.ReadAll(d)
	if err != nil || !bytes.Equal(un, raw.Bytes()) {
		t.Errorf("compressed initramfs differs from the archive (err %v)", err)
	}
}

func TestTreeMissingHostFile(t *testing.T) {
	tr := NewTree()
	tr.HostFile("/bin/x", "/nonexistent/x", 0o755)
	err := tr.WriteCPIO(io.Discard)
	if err == nil || !strings.Contains(err.Error(), "initramfs /bin/x") {
		t.Fatalf("err %v", err)
	}
}

func TestLoaderEntry(t *testing.T) {
	want := "title zosnet node\nlinux /zosnet/vmlinuz\ninitrd /zosnet/initrd.img\noptions console=ttyS0 farmer_id=1\n"
	if got := LoaderEntry(" console=ttyS0 farmer_id=1 \n"); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// TestAddHostTool: a static program comes alone; a dynamic one brings its ELF
// interpreter and libraries.
func TestAddHostTool(t *testing.T) {
	tr := NewTree()
	p, err := AddHostTool(tr, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if paths := tr.Paths(); len(paths) != 1 || paths[0] != p {
		t.Errorf("busybox (static) brought %v", paths)
	}
	tr = NewTree()
	if _, err := AddHostTool(tr, "ip"); err != nil {
		t.Fatal(err)
	}
	var libc, interp bool
	for _, p := range tr.Paths() {
		libc = libc || strings.HasSuffix(p, "/libc.so.6")
		interp = interp || p == "/lib64/ld-linux-x86-64.so.2"
	}
	if !libc || !interp {
		t.Errorf("ip brought %v: want libc.so.6 and the interpreter", tr.Paths())
	}
	if _, err := AddHostTool(NewTree(), "no-such-tool-zz"); err == nil || !strings.Contains(err.Error(), "not found on this machine") {
		t.Errorf("missing tool: %v", err)
	}
}
