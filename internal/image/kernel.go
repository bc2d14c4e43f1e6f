package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/zosnet/zosnet/internal/kmod"
)

// Kernel is a kernel taken out of a Debian linux-image package (extracted, never
// installed) with the modules an image ships.
type Kernel struct {
	// Release is the kernel release, e.g. 6.1.0-57-amd64.
	Release string `json:"release"`
	// Package is the .deb the kernel came from (base name).
	Package string `json:"package"`
	// Dir holds vmlinuz and lib/modules/<Release>/ with the selected modules.
	Dir string `json:"-"`
	// Index lists the selected modules (paths relative to lib/modules/<Release>).
	Index *kmod.Index `json:"index"`
}

// Vmlinuz is the kernel image's path.
func (k *Kernel) Vmlinuz() string { return filepath.Join(k.Dir, "vmlinuz") }

// ModDir is the modules directory's path.
func (k *Kernel) ModDir() string { return filepath.Join(k.Dir, "lib", "modules", k.Release) }

// Selection says which modules an image ships: those whose path below kernel/ matches
// one of Include (a path.Match glob, or a directory prefix ending in "/"), then
// everything they depend on (depends=), wherever it lives.
type Selection struct {
	Include []string `json:"include"`
}

// DefaultModules is what a node needs: NIC drivers (virtio, Intel, Realtek, Broadcom),
// virtio/SATA/NVMe/USB storage and ext4 for the state disk, the bridge, veth, tun,
// WireGuard, nftables and the rest of IPv4/IPv6 networking, fw_cfg and virtio-serial
// for VMs. Aliases (nft-expr-*, rtnl-link-*, ...) are resolved at run time by the
// init's modprobe, so everything the kernel may request must be in here.
var DefaultModules = Selection{Include: []string{
	"net/ipv4/", "net/ipv6/", "net/netfilter/", "net/bridge/", "net/sched/", "net/packet/",
	"net/8021q/", "net/802/", "net/llc/", "net/core/", "net/key/", "net/xfrm/", "net/vmw_vsock/",
	"drivers/net/*.ko", "drivers/net/wireguard/", "drivers/net/ethernet/intel/",
	"drivers/net/ethernet/realtek/", "drivers/net/ethernet/broadcom/", "drivers/net/vmxnet3/",
	"drivers/virtio/", "drivers/block/virtio_blk.ko", "drivers/char/virtio_console.ko",
	"drivers/char/hw_random/virtio-rng.ko", "drivers/firmware/qemu_fw_cfg.ko",
	"fs/ext4/", "drivers/ata/ahci.ko", "drivers/ata/ata_piix.ko", "drivers/scsi/sd_mod.ko",
	"drivers/scsi/virtio_scsi.ko", "drivers/nvme/host/nvme.ko", "drivers/usb/host/xhci-pci.ko",
	"drivers/usb/host/ehci-pci.ko", "drivers/usb/storage/usb-storage.ko", "drivers/usb/storage/uas.ko",
}}

// Matches reports whether a module path below kernel/ is included.
func (s Selection) Matches(p string) bool {
	for _, inc := range s.Include {
		if strings.HasSuffix(inc, "/") {
			if strings.HasPrefix(p, inc) {
				return true
			}
			continue
		}
		if ok, _ := path.Match(inc, p); ok {
			return true
		}
	}
	return false
}

// extractVersion changes when what extraction produces changes (it is part of the
// cache key).
const extractVersion = 2

func (s Selection) key() string {
	b, _ := json.Marshal(struct {
		V int
		S Selection
	}{extractVersion, s})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:4])
}

// ExtractKernel takes the kernel and the selected modules out of the linux-image .deb.
// The result is cached in cacheDir/kernel-<package>-<selection hash>/ and reused while
// the package and selection stay the same. A cache entry appears atomically (a
// half-extracted one is never used).
func ExtractKernel(deb, cacheDir string, sel Selection, log *slog.Logger) (*Kernel, error) {
	st, err := os.Stat(deb)
	if err != nil {
		return nil, fmt.Errorf("kernel package: %w", err)
	}
	base := filepath.Base(deb)
	dir := filepath.Join(cacheDir, fmt.Sprintf("kernel-%s-%d-%s", strings.TrimSuffix(base, ".deb"), st.Size(), sel.key()))
	if k, err := loadKernel(dir); err == nil {
		return k, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("kernel cache: %w", err)
	}
	tmp, err := os.MkdirTemp(cacheDir, ".extract-")
	if err != nil {
		return nil, fmt.Errorf("kernel cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	log.Info("image: extracting the kernel package (once per package)", "package", base)
	k, err := extract(deb, tmp, sel)
	if err != nil {
		return nil, err
	}
	k.Package = base
	if err := writeJSON(filepath.Join(tmp, "kernel.json"), k); err != nil {
		return nil, err
	}
	// Entries of the same package with another selection or format are stale.
	old, _ := filepath.Glob(filepath.Join(cacheDir, fmt.Sprintf("kernel-%s-*", strings.TrimSuffix(base, ".deb"))))
	for _, o := range old {
		os.RemoveAll(o)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("kernel cache: %w", err)
	}
	k.Dir = dir
	return k, nil
}

func loadKernel(dir string) (*Kernel, error) {
	b, err := os.ReadFile(filepath.Join(dir, "kernel.json"))
	if err != nil {
		return nil, err
	}
	var k Kernel
	if err := json.Unmarshal(b, &k); err != nil || k.Index == nil || k.Release == "" {
		return nil, fmt.Errorf("kernel cache %s: bad kernel.json", dir)
	}
	k.Dir = dir
	return &k, nil
}

// extract writes vmlinuz and every module to dir, indexes them, then removes the
// modules the selection does not need.
func extract(deb, dir string, sel Selection) (*Kernel, error) {
	all := map[string]*kmod.Index{}
	var release string
	var builtin []byte
	err := WalkDeb(deb, func(h *tar.Header, r io.Reader) error {
		if h.Typeflag != tar.TypeReg {
			return nil
		}
		switch {
		case strings.HasPrefix(h.Name, "boot/vmlinuz-"):
			release = strings.TrimPrefix(h.Name, "boot/vmlinuz-")
			return copyTo(filepath.Join(dir, "vmlinuz"), r, 0o644)
		case strings.HasPrefix(h.Name, "lib/modules/") && strings.HasSuffix(h.Name, "/modules.builtin"):
			var err error
			builtin, err = io.ReadAll(r)
			return err
		case strings.HasPrefix(h.Name, "lib/modules/") && strings.HasSuffix(h.Name, ".ko"):
			return extractModule(dir, h.Name, r, all)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if release == "" {
		return nil, fmt.Errorf("kernel package %s: no boot/vmlinuz-*", deb)
	}
	full := all[release]
	if full == nil {
		return nil, fmt.Errorf("kernel package %s: no modules for release %s", deb, release)
	}
	full.SetBuiltin(builtin)
	idx, err := selectModules(full, sel)
	if err != nil {
		return nil, fmt.Errorf("kernel package %s: %w", filepath.Base(deb), err)
	}
	if err := prune(filepath.Join(dir, "lib", "modules", release), idx); err != nil {
		return nil, err
	}
	return &Kernel{Release: release, Index: idx}, nil
}

func extractModule(dir, name string, r io.Reader, all map[string]*kmod.Index) error {
	parts := strings.SplitN(name, "/", 4) // lib modules <release> <rel path>
	if len(parts) < 4 {
		return nil
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := kmod.ParseModinfo(bytes.NewReader(b), parts[3])
	if err != nil {
		return err
	}
	if all[parts[2]] == nil {
		all[parts[2]] = kmod.NewIndex(parts[2])
	}
	all[parts[2]].Add(m)
	return copyTo(filepath.Join(dir, name), bytes.NewReader(b), 0o644)
}

// selectModules returns the index of the selected modules and their dependencies.
func selectModules(full *kmod.Index, sel Selection) (*kmod.Index, error) {
	var roots []string
	for n, m := range full.Modules {
		if sel.Matches(strings.TrimPrefix(m.Path, "kernel/")) {
			roots = append(roots, n)
		}
	}
	if len(roots) == 0 {
		return nil, errors.New("the module selection matches no module")
	}
	sort.Strings(roots)
	names, err := full.Closure(roots...)
	if err != nil {
		return nil, err
	}
	idx := kmod.NewIndex(full.Release)
	idx.Builtin = full.Builtin
	for _, n := range names {
		idx.Add(*full.Modules[n])
	}
	return idx, nil
}

// prune removes the module files idx does not list.
func prune(modDir string, idx *kmod.Index) error {
	keep := map[string]bool{}
	for _, m := range idx.Modules {
		keep[m.Path] = true
	}
	return filepath.WalkDir(modDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(modDir, p)
		if !keep[filepath.ToSlash(rel)] {
			return os.Remove(p)
		}
		return nil
	})
}

func copyTo(dst string, r io.Reader, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeJSON(p string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}
