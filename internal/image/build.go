// Package image builds the zosnet node image (issue 16): a Debian kernel taken out of
// its .deb (never installed), an initramfs holding our init (cmd/zosinit), the node
// daemons, the kernel modules the stack needs with an index for the init's modprobe,
// and optional tools of the build machine with their libraries; and a bootable raw
// disk (GPT, EFI system partition with systemd-boot) for a USB stick or a VM.
//
// Outputs, in Config.OutDir: vmlinuz and initrd.img (for PXE or qemu -kernel),
// zosnet.img (the disk) and image.json (what went in, sizes). Building is a build step:
// it reads packages with Go (ar, xz, tar) and writes cpio (newc, zstd) and FAT32 with
// Go; it runs no external tool.
package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// BootloaderFile is systemd-boot's EFI binary in the output directory, kept so that a
// disk with another command line can be written without the package (WriteDisk).
const BootloaderFile = "bootx64.efi"

// DefaultCacheDir is where packages and extracted kernels are looked for and kept.
const DefaultCacheDir = "/var/cache/zosnet"

// Services are the node daemons the image carries, in start order; their binaries come
// from Config.BinDir and land in /bin.
var Services = []string{"netinit", "networkd", "provisiond"}

// Binaries are every program of ours the image carries (in /bin), besides the init.
var Binaries = append(append([]string{}, Services...), "zosnet")

// DefaultTools are the build machine's programs a lab image carries for `zoslab exec`
// and benchmarks: busybox (a shell and the usual commands), iproute2, ping, nft, iperf3.
var DefaultTools = []string{"busybox", "ip", "ping", "nft", "iperf3"}

// busyboxApplets are linked to busybox in /bin when no tool of that name is there.
var busyboxApplets = []string{"sh", "ash", "cat", "chmod", "cp", "date", "dd", "df", "dmesg", "du", "echo",
	"env", "free", "grep", "head", "hostname", "kill", "ln", "ls", "lsmod", "mkdir", "mount", "mv", "nc",
	"nsenter", "ps", "readlink", "rm", "sed", "sleep", "sort", "stat", "sync", "tail", "tee", "test", "top",
	"touch", "tr", "umount", "uname", "uptime", "vi", "wc", "wget", "xargs", "awk", "find", "less", "printf", "true", "false"}

// Config says what to build.
type Config struct {
	// KernelDeb is the linux-image .deb (default: the newest linux-image-*.deb in CacheDir).
	KernelDeb string
	// BootDeb is the systemd-boot-efi .deb for the disk image (default: in CacheDir);
	// "-" builds no disk image.
	BootDeb string
	// CacheDir keeps extracted kernels (default DefaultCacheDir).
	CacheDir string
	// BinDir holds zosinit and the Binaries, built for linux/amd64 without cgo.
	BinDir string
	// Tools are build-machine programs copied with their libraries (nil: none).
	Tools []string
	// Cmdline is the disk image's kernel command line (console and the node's settings).
	Cmdline string
	// Modules selects the kernel modules (zero value: DefaultModules).
	Modules Selection
	// OutDir receives the outputs.
	OutDir string
	Log    *slog.Logger
}

// Result describes a built image (also written as image.json).
type Result struct {
	Release        string   `json:"release"`
	KernelPackage  string   `json:"kernel_package"`
	Kernel         string   `json:"kernel"`
	Initramfs      string   `json:"initramfs"`
	Disk           string   `json:"disk,omitempty"`
	KernelSize     int64    `json:"kernel_size"`
	InitramfsSize  int64    `json:"initramfs_size"`
	InitramfsFiles int      `json:"initramfs_files"`
	DiskSize       int64    `json:"disk_size,omitempty"`
	Modules        int      `json:"modules"`
	Tools          []string `json:"tools,omitempty"`
	Cmdline        string   `json:"cmdline,omitempty"`
	Took           string   `json:"took"`
}

// DefaultCmdline is the disk image's command line when none is given: the serial and
// VGA consoles; the farm's settings (farmer_id=, zosnet.registry=) must be added.
const DefaultCmdline = "console=tty0 console=ttyS0,115200"

// Build builds the image. Nothing is left half-written in OutDir on failure: outputs are
// written under temporary names and renamed at the end.
func Build(c Config) (*Result, error) {
	start := time.Now()
	if err := c.defaults(); err != nil {
		return nil, err
	}
	k, err := ExtractKernel(c.KernelDeb, c.CacheDir, c.Modules, c.Log)
	if err != nil {
		return nil, err
	}
	t, err := c.tree(k)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	r := &Result{Release: k.Release, KernelPackage: k.Package, Modules: len(k.Index.Modules), Tools: c.Tools,
		Kernel: filepath.Join(c.OutDir, "vmlinuz"), Initramfs: filepath.Join(c.OutDir, "initrd.img"),
		InitramfsFiles: len(t.Paths()), Cmdline: c.Cmdline}
	if err := WriteFileAtomic(r.Initramfs, t.WriteInitramfs); err != nil {
		return nil, fmt.Errorf("image: initramfs: %w", err)
	}
	if err := copyFile(k.Vmlinuz(), r.Kernel); err != nil {
		return nil, fmt.Errorf("image: kernel: %w", err)
	}
	if c.BootDeb != "-" {
		if err := c.disk(r); err != nil {
			return nil, err
		}
	}
	r.KernelSize, r.InitramfsSize = fileSize(r.Kernel), fileSize(r.Initramfs)
	r.Took = time.Since(start).Round(time.Millisecond).String()
	if err := writeJSON(filepath.Join(c.OutDir, "image.json"), r); err != nil {
		return nil, err
	}
	return r, nil
}

func (c *Config) disk(r *Result) error {
	boot, err := ReadBootloader(c.BootDeb)
	if err != nil {
		return fmt.Errorf("image: %w", err)
	}
	r.Disk = filepath.Join(c.OutDir, "zosnet.img")
	tmp := r.Disk + ".tmp"
	size, err := WriteDisk(tmp, DiskFiles{Bootloader: boot, Kernel: r.Kernel, Initramfs: r.Initramfs, Cmdline: c.Cmdline})
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("image: %w", err)
	}
	r.DiskSize = size
	if err := os.WriteFile(filepath.Join(c.OutDir, BootloaderFile), boot, 0o644); err != nil {
		return fmt.Errorf("image: %w", err)
	}
	return os.Rename(tmp, r.Disk)
}

func (c *Config) defaults() error {
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.CacheDir == "" {
		c.CacheDir = DefaultCacheDir
	}
	if c.Modules.Include == nil {
		c.Modules = DefaultModules
	}
	if c.Cmdline == "" {
		c.Cmdline = DefaultCmdline
	}
	if c.OutDir == "" || c.BinDir == "" {
		return errors.New("image: OutDir and BinDir are required")
	}
	var err error
	if c.KernelDeb == "" {
		if c.KernelDeb, err = newest(c.CacheDir, "linux-image-*.deb"); err != nil {
			return err
		}
	}
	if c.BootDeb == "" {
		if c.BootDeb, err = newest(c.CacheDir, "systemd-boot-efi_*.deb"); err != nil {
			return err
		}
	}
	return nil
}

// newest finds the last (by name) file matching glob in dir.
func newest(dir, glob string) (string, error) {
	m, _ := filepath.Glob(filepath.Join(dir, glob))
	if len(m) == 0 {
		return "", fmt.Errorf("image: no %s in %s: run scripts/install-deps.sh (it fetches the packages) or pass the path", glob, dir)
	}
	sort.Strings(m)
	return m[len(m)-1], nil
}

// tree assembles the initramfs content.
func (c *Config) tree(k *Kernel) (*Tree, error) {
	t := NewTree()
	for _, d := range []string{"/dev", "/proc", "/sys", "/run", "/tmp", "/var/lib/zosnet", "/root", "/mnt", "/etc/zosnet"} {
		t.Dir(d, 0o755)
	}
	t.Dir("/tmp", 0o1777)
	t.CharDev("/dev/console", 0o600, 5, 1)
	t.CharDev("/dev/null", 0o666, 1, 3)
	if err := need(filepath.Join(c.BinDir, "zosinit")); err != nil {
		return nil, err
	}
	t.HostFile("/init", filepath.Join(c.BinDir, "zosinit"), 0o755)
	t.Symlink("/sbin/modprobe", "/init")
	for _, b := range Binaries {
		src := filepath.Join(c.BinDir, b)
		if err := need(src); err != nil {
			return nil, err
		}
		t.HostFile("/bin/"+b, src, 0o755)
	}
	t.File("/etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	t.File("/etc/group", []byte("root:x:0:\n"), 0o644)
	t.File("/etc/nsswitch.conf", []byte("hosts: files dns\n"), 0o644)
	t.File("/etc/hosts", []byte("127.0.0.1 localhost\n::1 localhost\n"), 0o644)
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		t.HostFile("/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt", 0o644)
	}
	if err := addModules(t, k); err != nil {
		return nil, err
	}
	if err := c.addTools(t); err != nil {
		return nil, err
	}
	info, _ := json.MarshalIndent(map[string]any{"release": k.Release, "kernel_package": k.Package, "tools": c.Tools}, "", " ")
	t.File("/etc/zosnet/image.json", info, 0o644)
	return t, nil
}

// ModulesIndexName is the index the init's modprobe reads, in lib/modules/<release>/.
const ModulesIndexName = "modules.zosnet.json"

func addModules(t *Tree, k *Kernel) error {
	base := "/lib/modules/" + k.Release
	for _, m := range k.Index.Modules {
		t.HostFile(base+"/"+m.Path, filepath.Join(k.ModDir(), m.Path), 0o644)
	}
	b, err := json.Marshal(k.Index)
	if err != nil {
		return err
	}
	t.File(base+"/"+ModulesIndexName, b, 0o644)
	return nil
}

func (c *Config) addTools(t *Tree) error {
	for _, tool := range c.Tools {
		p, err := AddHostTool(t, tool)
		if err != nil {
			return fmt.Errorf("image: %w", err)
		}
		if tool == "busybox" {
			for _, a := range busyboxApplets {
				if !t.Has("/bin/"+a) && !t.Has("/usr/bin/"+a) && !t.Has("/sbin/"+a) && !t.Has("/usr/sbin/"+a) {
					t.Symlink("/bin/"+a, p)
				}
			}
		}
	}
	// Programs usually found in /usr/bin or /usr/sbin are reachable from /bin too.
	for _, p := range t.Paths() {
		for _, d := range []string{"/usr/bin/", "/usr/sbin/", "/sbin/"} {
			if strings.HasPrefix(p, d) && !strings.Contains(p[len(d):], "/") && !t.Has("/bin/"+p[len(d):]) {
				t.Symlink("/bin/"+p[len(d):], p)
			}
		}
	}
	return nil
}

func need(p string) error {
	if _, err := os.Stat(p); err != nil {
		return fmt.Errorf("image: %s missing: build it first (make image builds everything)", p)
	}
	return nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}
