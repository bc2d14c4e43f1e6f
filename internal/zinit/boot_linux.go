package zinit

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/zosnet/zosnet/internal/kmod"
)

// mounts are the basics PID 1 mounts, in order; one that is already there is skipped.
var mounts = []struct{ src, dst, fstype, data string }{
	{"proc", "/proc", "proc", ""},
	{"sysfs", "/sys", "sysfs", ""},
	{"devtmpfs", "/dev", "devtmpfs", "mode=0755"},
	{"devpts", "/dev/pts", "devpts", "gid=5,mode=620,ptmxmode=666"},
	{"tmpfs", "/dev/shm", "tmpfs", "mode=1777"},
	{"tmpfs", "/run", "tmpfs", "mode=0755"},
	{"tmpfs", "/tmp", "tmpfs", "mode=1777"},
	{"cgroup2", "/sys/fs/cgroup", "cgroup2", ""},
}

// MountBasics mounts /proc, /sys, /dev, /run, /tmp and friends.
func MountBasics() error {
	var errs []error
	for _, m := range mounts {
		if err := os.MkdirAll(m.dst, 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		err := unix.Mount(m.src, m.dst, m.fstype, unix.MS_NOSUID, m.data)
		if err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.dst, err))
		}
	}
	return errors.Join(errs...)
}

// BaseModules are loaded at boot whatever the hardware: what the stack needs (NIC
// drivers come from coldplug; everything else the kernel requests through modprobe).
var BaseModules = []string{"virtio_net", "e1000", "e1000e", "virtio_blk", "virtio_console", "virtio_rng",
	"qemu_fw_cfg", "ext4", "bridge", "veth", "tun", "wireguard", "nf_tables", "nf_conntrack", "nf_nat",
	"8021q"}

// LoadIndex reads the module index the image ships for the running kernel.
func LoadIndex() (*kmod.Index, string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return nil, "", err
	}
	rel := unix.ByteSliceToString(u.Release[:])
	dir := filepath.Join("/lib/modules", rel)
	b, err := os.ReadFile(filepath.Join(dir, "modules.zosnet.json"))
	if err != nil {
		return nil, dir, fmt.Errorf("module index for kernel %s: %w", rel, err)
	}
	var ix kmod.Index
	if err := json.Unmarshal(b, &ix); err != nil {
		return nil, dir, fmt.Errorf("module index for kernel %s: %w", rel, err)
	}
	return &ix, dir, nil
}

// LoadModules coldplugs the hardware's drivers and loads BaseModules (those the image
// lacks are skipped with a warning).
func LoadModules(log *slog.Logger) (*kmod.Loader, error) {
	ix, dir, err := LoadIndex()
	if err != nil {
		return nil, err
	}
	l := kmod.NewLoader(dir, ix, log)
	n := l.Coldplug("/sys")
	for _, m := range BaseModules {
		if err := l.Load(m); err != nil {
			log.Warn("module not loaded", "module", m, "err", err)
		}
	}
	n2 := l.Coldplug("/sys") // devices of the modules just loaded (virtio ports, disks)
	log.Info("modules loaded", "coldplug", n+n2, "total", l.Loaded())
	return l, nil
}

// Modprobe is the init binary run as /sbin/modprobe (the kernel's request_module, or a
// user): `modprobe [-q] [-b] [--] NAME...`. It returns the exit code.
func Modprobe(args []string) int {
	quiet := false
	var names []string
	for _, a := range args {
		switch {
		case a == "-q" || a == "--quiet":
			quiet = true
		case strings.HasPrefix(a, "-"):
		default:
			names = append(names, a)
		}
	}
	ix, dir, err := LoadIndex()
	if err != nil {
		fmt.Fprintln(os.Stderr, "modprobe:", err)
		return 1
	}
	l := kmod.NewLoader(dir, ix, nil)
	code := 0
	for _, n := range names {
		if err := l.Modprobe(n); err != nil {
			if !quiet {
				fmt.Fprintln(os.Stderr, "modprobe:", err)
			}
			code = 1
		}
	}
	return code
}

// Sysctls are written at boot: a node reboots 10 s after a panic, and WireGuard's UDP
// sockets get room for bursts. The daemons write the ones they rely on themselves.
var Sysctls = [][2]string{
	{"kernel.panic", "10"},
	{"kernel.panic_on_oops", "1"},
	{"kernel.printk", "4 4 1 7"},
	{"net.core.rmem_max", "4194304"},
	{"net.core.wmem_max", "4194304"},
	{"net.core.netdev_max_backlog", "5000"},
	{"net.ipv4.tcp_congestion_control", "cubic"},
	{"net.ipv6.conf.default.accept_dad", "1"},
	{"fs.inotify.max_user_instances", "1024"},
	{"vm.panic_on_oom", "0"},
}

// WriteSysctls writes Sysctls; it returns the ones that failed.
func WriteSysctls() error {
	var errs []error
	for _, kv := range Sysctls {
		p := "/proc/sys/" + strings.ReplaceAll(kv[0], ".", "/")
		if err := os.WriteFile(p, []byte(kv[1]), 0o644); err != nil {
			errs = append(errs, fmt.Errorf("sysctl %s=%s: %w", kv[0], kv[1], err))
		}
	}
	return errors.Join(errs...)
}

// FwCfgStateDir is where qemu's -fw_cfg name=opt/zosnet/state/FILE,... items appear;
// the init copies each into the state directory at boot (the lab hands a VM node its
// registry CA this way; a machine without fw_cfg has none).
const FwCfgStateDir = "/sys/firmware/qemu_fw_cfg/by_name/opt/zosnet/state"

// ImportFwCfg copies the fw_cfg state files under src (FwCfgStateDir) into stateDir,
// each only when it changed; it returns the names it wrote.
func ImportFwCfg(src, stateDir string) ([]string, error) {
	ents, err := os.ReadDir(src)
	if err != nil {
		return nil, nil
	}
	var names []string
	for _, e := range ents {
		name := e.Name()
		if name == "" || strings.HasPrefix(name, ".") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, name, "raw"))
		if err != nil {
			return names, fmt.Errorf("fw_cfg %s: %w", name, err)
		}
		dst := filepath.Join(stateDir, name)
		if old, err := os.ReadFile(dst); err == nil && string(old) == string(b) {
			continue
		}
		if err := os.WriteFile(dst+".tmp", b, 0o644); err != nil {
			return names, err
		}
		if err := os.Rename(dst+".tmp", dst); err != nil {
			return names, err
		}
		names = append(names, name)
	}
	return names, nil
}
