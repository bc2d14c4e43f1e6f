// Command mkimage builds the zosnet node image (`make image`): kernel + initramfs for
// PXE or qemu -kernel, and a bootable raw disk (EFI, systemd-boot) for a USB stick or a
// VM. See internal/image.
//
//	mkimage --out bin/image [--build] [--bin-dir DIR] [--tools busybox,ip,ping,nft,iperf3|none]
//	        [--cmdline "console=ttyS0 farmer_id=1 zosnet.registry=https://..."]
//	        [--kernel-deb FILE] [--boot-deb FILE|-] [--cache-dir /var/cache/zosnet] [--json]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/zosnet/zosnet/internal/image"
)

func main() {
	var c image.Config
	var tools string
	var build, asJSON bool
	flag.StringVar(&c.OutDir, "out", "bin/image", "output directory")
	flag.StringVar(&c.BinDir, "bin-dir", "", "directory with zosinit, netinit, networkd, provisiond, zosnet (linux/amd64, static; default OUT/bin)")
	flag.BoolVar(&build, "build", false, "build those binaries first (go build, CGO_ENABLED=0) into --bin-dir")
	flag.StringVar(&c.KernelDeb, "kernel-deb", "", "linux-image .deb (default: the newest in --cache-dir)")
	flag.StringVar(&c.BootDeb, "boot-deb", "", "systemd-boot-efi .deb for the disk image (default: in --cache-dir; - = no disk image)")
	flag.StringVar(&c.CacheDir, "cache-dir", image.DefaultCacheDir, "where packages are found and extracted kernels kept")
	flag.StringVar(&tools, "tools", strings.Join(image.DefaultTools, ","), "programs of this machine to copy in with their libraries (comma-separated, or none)")
	flag.StringVar(&c.Cmdline, "cmdline", image.DefaultCmdline, "kernel command line of the disk image's boot entry")
	flag.BoolVar(&asJSON, "json", false, "print the result as JSON")
	flag.Parse()
	c.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	if c.BinDir == "" {
		c.BinDir = filepath.Join(c.OutDir, "bin")
	}
	if tools != "none" && tools != "" {
		c.Tools = strings.Split(tools, ",")
	}
	if build {
		if err := image.BuildBinaries(context.Background(), c.BinDir); err != nil {
			fail(err)
		}
	}
	r, err := image.Build(c)
	if err != nil {
		fail(err)
	}
	if asJSON {
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	fmt.Printf("kernel     %s (%s, %.1f MB)\ninitramfs  %s (%d files, %d modules, %.1f MB)\n", r.Kernel, r.Release,
		mb(r.KernelSize), r.Initramfs, r.InitramfsFiles, r.Modules, mb(r.InitramfsSize))
	if r.Disk != "" {
		fmt.Printf("disk       %s (%.1f MB, EFI)\n", r.Disk, mb(r.DiskSize))
	}
	fmt.Printf("took       %s\n", r.Took)
}

func mb(n int64) float64 { return float64(n) / 1e6 }

func fail(err error) {
	fmt.Fprintln(os.Stderr, "mkimage:", err)
	os.Exit(1)
}
