package guest

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
)

func TestParseMarker(t *testing.T) {
	for _, tt := range []struct {
		line string
		want Marker
		ok   bool
	}{
		{"ZG dhcp 3.21 10.1.1.5/24 router=10.1.1.1 mtu=1420 dns=", Marker{MarkDHCP, 3.21, "10.1.1.5/24 router=10.1.1.1 mtu=1420 dns="}, true},
		{"\r[    3.1] junk ZG ping 4.50 10.1.2.3\r", Marker{MarkPing, 4.5, "10.1.2.3"}, true},
		{"ZG done 5.00 ", Marker{MarkDone, 5, ""}, true},
		{"ZG init notanumber x", Marker{}, false},
		{"ZG", Marker{}, false},
		{"[    0.000000] Linux version 6.1.0", Marker{}, false},
	} {
		got, ok := ParseMarker(tt.line)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseMarker(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

func TestQemuArgs(t *testing.T) {
	a := QemuArgs(Files{Kernel: "/k", Initramfs: "/i"}, "t-0123456789", "02:00:00:00:00:01", netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("fd00::3"))
	s := strings.Join(a, " ")
	for _, want := range []string{"-accel tcg", "-no-reboot", "ifname=t-0123456789,script=no", "mac=02:00:00:00:00:01", "-kernel /k -initrd /i", "zg.ping=10.1.2.3,fd00::3"} {
		if !strings.Contains(s, want) {
			t.Errorf("qemu args %q lack %q", s, want)
		}
	}
}

// TestBuild: the initramfs holds busybox, the init, the DHCP hook and the virtio
// modules, loaded dependencies first (needs the kernel package install-deps fetches).
func TestBuild(t *testing.T) {
	f, err := Build(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(f.Kernel); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f.Initramfs)
	if err != nil {
		t.Fatal(err)
	}
	r := cpio.Newc.Reader(bytes.NewReader(b))
	files := map[string]string{}
	for {
		rec, err := r.ReadRecord()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(io.NewSectionReader(rec.ReaderAt, 0, int64(rec.FileSize)))
		files["/"+rec.Name] = string(data)
	}
	for _, p := range []string{"/bin/busybox", "/init", "/udhcpc.sh", "/lib/modules/virtio_net.ko", "/lib/modules/virtio_pci.ko", "/lib/modules/net_failover.ko"} {
		if _, ok := files[p]; !ok {
			t.Errorf("initramfs lacks %s", p)
		}
	}
	var order []string
	for _, l := range strings.Split(files["/init"], "\n") {
		if strings.HasPrefix(l, "insmod ") {
			order = append(order, filepath.Base(strings.Fields(l)[1]))
		}
	}
	before := func(a, b string) bool {
		return slices.Index(order, a) >= 0 && slices.Index(order, a) < slices.Index(order, b)
	}
	if !before("failover.ko", "net_failover.ko") || !before("net_failover.ko", "virtio_net.ko") || !before("virtio_pci.ko", "virtio_net.ko") {
		t.Errorf("insmod order %v: dependencies must come first", order)
	}
}
