// Package guest builds and describes the lab's workload VM: a real Linux guest for a
// tap workload (issue 11) that takes its network by itself. It is Debian's kernel
// (taken out of its .deb by package image, never installed) with an initramfs of
// busybox-static, the virtio NIC modules (package kmod's load order) and a shell
// init: udhcpc for DHCPv4, the kernel's SLAAC for IPv6, then it pings the addresses
// on its command line and powers off. It prints one marker line per step on the
// serial console (Markers parses them), so a test or a benchmark reads what the
// guest got and when. Lab and test code only: the node image is package image's.
package guest

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/zosnet/zosnet/internal/image"
)

// modules are what the guest loads (with their dependencies): the virtio PCI
// transport and NIC. IPv6 and packet sockets are built into Debian's kernel.
var modules = []string{"virtio_pci", "virtio_net"}

// selection is what is taken out of the kernel package for the guest.
var selection = image.Selection{Include: []string{"drivers/virtio/", "drivers/net/virtio_net.ko", "drivers/net/net_failover.ko", "net/core/failover.ko"}}

// Files are a built guest.
type Files struct {
	Kernel    string // vmlinuz
	Initramfs string // busybox + modules + init (uncompressed newc cpio)
	Release   string // the kernel release
}

// Build writes the guest's kernel and initramfs into dir. The kernel package is the
// newest linux-image-*.deb in image.DefaultCacheDir (scripts/install-deps.sh fetches
// it); its extraction is cached in a guest/ directory of its own there. log may be
// nil.
func Build(dir string, log *slog.Logger) (Files, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	debs, _ := filepath.Glob(filepath.Join(image.DefaultCacheDir, "linux-image-*.deb"))
	if len(debs) == 0 {
		return Files{}, fmt.Errorf("guest: no linux-image-*.deb in %s: run scripts/install-deps.sh", image.DefaultCacheDir)
	}
	sort.Strings(debs)
	k, err := image.ExtractKernel(debs[len(debs)-1], filepath.Join(image.DefaultCacheDir, "guest"), selection, log)
	if err != nil {
		return Files{}, fmt.Errorf("guest: %w", err)
	}
	order, err := k.Index.Closure(modules...)
	if err != nil {
		return Files{}, fmt.Errorf("guest: modules: %w", err)
	}
	t := image.NewTree()
	for _, d := range []string{"/dev", "/proc", "/sys", "/tmp", "/bin", "/sbin", "/usr/bin", "/usr/sbin", "/lib/modules"} {
		t.Dir(d, 0o755)
	}
	if _, err := os.Stat(busybox); err != nil {
		return Files{}, fmt.Errorf("guest: %s: %w (scripts/install-deps.sh installs busybox-static; run it before any lab is up: a lab makes the package registries unreachable)", busybox, err)
	}
	t.HostFile("/bin/busybox", busybox, 0o755)
	t.Symlink("/bin/sh", "busybox")
	var insmod []string
	for _, n := range order {
		m := k.Index.Modules[n]
		dst := "/lib/modules/" + filepath.Base(m.Path)
		t.HostFile(dst, filepath.Join(k.ModDir(), m.Path), 0o644)
		insmod = append(insmod, dst)
	}
	t.File("/init", []byte(initScript(insmod)), 0o755)
	t.File("/udhcpc.sh", []byte(dhcpScript), 0o755)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Files{}, fmt.Errorf("guest: %w", err)
	}
	f := Files{Kernel: k.Vmlinuz(), Initramfs: filepath.Join(dir, "guest.cpio"), Release: k.Release}
	if err := image.WriteFileAtomic(f.Initramfs, t.WriteCPIO); err != nil {
		return Files{}, fmt.Errorf("guest: initramfs: %w", err)
	}
	return f, nil
}

// busybox is Debian's busybox-static (a static binary: no libraries to copy).
const busybox = "/bin/busybox"

// Marker lines the guest prints on its console: "ZG <name> <uptime> <value>".
const (
	MarkInit  = "init" // init started (value: kernel release)
	MarkDHCP  = "dhcp" // lease bound (value: address/bits router=… mtu=…)
	MarkIPv6  = "ipv6" // SLAAC address usable (value: address/bits)
	MarkPing  = "ping" // first reply (value: the address); "pingfail" when none
	MarkDone  = "done" // about to power off
	markStart = "ZG "
)

func initScript(insmod []string) string {
	var b strings.Builder
	b.WriteString(`#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mark() { echo "ZG $1 $(cut -d' ' -f1 /proc/uptime) $2"; }
mark init "$(uname -r)"
`)
	for _, m := range insmod {
		fmt.Fprintf(&b, "insmod %s || echo \"ZG error 0 insmod %s\"\n", m, m)
	}
	b.WriteString(`for i in $(seq 50); do [ -e /sys/class/net/eth0 ] && break; sleep 0.1; done
echo 0 > /proc/sys/net/ipv6/conf/eth0/accept_dad
echo 1 > /proc/sys/net/ipv6/conf/eth0/accept_ra
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -s /udhcpc.sh -q -n -t 10 -T 1 -f >/dev/null 2>&1 || mark dhcpfail ""
a=""
for i in $(seq 100); do
	a=$(ip -6 addr show dev eth0 scope global | awk '/inet6/ && !/tentative/ {print $2; exit}')
	[ -n "$a" ] && ip -6 route | grep -q '^default via' && { mark ipv6 "$a"; break; }
	a=""
	sleep 0.1
done
[ -n "$a" ] || mark ipv6fail "$(ip -6 addr show dev eth0 | tr '\n' ' ') / $(ip -6 route | tr '\n' ' ')"
for t in $(sed -n 's/.*zg.ping=\([^ ]*\).*/\1/p' /proc/cmdline | tr , ' '); do
	ok=""
	for i in $(seq 60); do
		if ping -c 1 -W 1 "$t" >/dev/null 2>&1; then ok=1; mark ping "$t"; break; fi
	done
	[ -n "$ok" ] || mark pingfail "$t $(ping -c 1 -W 1 "$t" 2>&1 | tr '\n' ' ')"
done
mark done ""
poweroff -f
`)
	return b.String()
}

// dhcpScript is udhcpc's hook: it applies the lease (address, router, MTU).
const dhcpScript = `#!/bin/sh
case "$1" in
bound|renew)
	[ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
	ip addr add "$ip/$mask" dev "$interface"
	for r in $router; do ip route add default via "$r" dev "$interface"; break; done
	echo "ZG dhcp $(cut -d' ' -f1 /proc/uptime) $ip/$mask router=$router mtu=$mtu dns=$dns" >/dev/console
	;;
esac
`

// Cmdline is the guest's kernel command line: the serial console, and the addresses
// it pings once its network is up.
func Cmdline(ping ...netip.Addr) string {
	s := make([]string, len(ping))
	for i, a := range ping {
		s[i] = a.String()
	}
	return "console=ttyS0 quiet panic=-1 zg.ping=" + strings.Join(s, ",")
}

// QemuArgs boots f under qemu (TCG, one CPU, 256 MiB, no display, serial on stdout,
// no reboot) on tap with the NIC's mac.
func QemuArgs(f Files, tap, mac string, ping ...netip.Addr) []string {
	return []string{"-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", "256",
		"-nodefaults", "-no-user-config", "-display", "none", "-vga", "none", "-no-reboot",
		"-serial", "stdio",
		"-netdev", "tap,id=n0,ifname=" + tap + ",script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=n0,romfile=,mac=" + mac,
		"-kernel", f.Kernel, "-initrd", f.Initramfs, "-append", Cmdline(ping...)}
}

// Marker is one step the guest reported: its name, the guest's uptime in seconds
// and the value.
type Marker struct {
	Name   string
	Uptime float64
	Value  string
}

// ParseMarker parses a console line; ok is false for other lines.
func ParseMarker(line string) (Marker, bool) {
	i := strings.Index(line, markStart)
	if i < 0 {
		return Marker{}, false
	}
	f := strings.SplitN(strings.TrimSpace(line[i+len(markStart):]), " ", 3)
	if len(f) < 2 {
		return Marker{}, false
	}
	up, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		return Marker{}, false
	}
	m := Marker{Name: f[0], Uptime: up}
	if len(f) == 3 {
		m.Value = f[2]
	}
	return m, true
}
