package image_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/u-root/pkg/cpio"

	"github.com/zosnet/zosnet/internal/image"
	"github.com/zosnet/zosnet/internal/image/imagetest"
	"github.com/zosnet/zosnet/internal/kmod"
)

func TestMain(m *testing.M) {
	code := m.Run()
	imagetest.Cleanup()
	os.Exit(code)
}

// TestBuild builds the real image from the Debian packages and checks what a node needs
// is in the initramfs: our init at /init (and as /sbin/modprobe), the daemons, /dev/console,
// the module index with WireGuard, bridge, veth, nftables (and their dependencies, soft
// ones included: ext4 wants crc32c), the lab tools with their libraries, and a disk.
func TestBuild(t *testing.T) {
	dir, r := imagetest.Build(t)
	t.Logf("image %s: kernel %d B, initramfs %d B (%d files, %d modules), disk %d B, took %s",
		dir, r.KernelSize, r.InitramfsSize, r.InitramfsFiles, r.Modules, r.DiskSize, r.Took)
	f, err := os.Open(r.Initramfs)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := zstd.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]cpio.Record{}
	for _, rec := range recs {
		have[rec.Name] = rec
	}
	for _, p := range []string{"init", "bin/netinit", "bin/networkd", "bin/provisiond", "bin/zosnet", "bin/busybox",
		"bin/sh", "usr/bin/iperf3", "lib64/ld-linux-x86-64.so.2", "etc/zosnet/image.json"} {
		if _, ok := have[p]; !ok {
			t.Errorf("initramfs lacks %s", p)
		}
	}
	if c := have["dev/console"]; c.Rmajor != 5 || c.Rminor != 1 {
		t.Errorf("dev/console %+v", c.Info)
	}
	idxRec, ok := have["lib/modules/"+r.Release+"/"+image.ModulesIndexName]
	if !ok {
		t.Fatalf("no module index")
	}
	var ix kmod.Index
	if err := json.NewDecoder(io.NewSectionReader(idxRec.ReaderAt, 0, int64(idxRec.FileSize))).Decode(&ix); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"wireguard", "bridge", "veth", "tun", "nf_tables", "nft_masq", "virtio_net", "e1000e", "ext4", "qemu_fw_cfg", "virtio_console"} {
		order, err := ix.Closure(m)
		if err != nil {
			t.Errorf("%s: %v", m, err)
			continue
		}
		for _, n := range order {
			if _, ok := have["lib/modules/"+r.Release+"/"+ix.Modules[n].Path]; !ok {
				t.Errorf("%s needs %s, whose file is not in the initramfs", m, n)
			}
		}
	}
	if names, err := ix.Lookup("crypto-crc32c"); err != nil || len(names) == 0 {
		t.Errorf("crc32c (ext4's soft dependency) not shipped: %v", err)
	}
	if names, err := ix.Lookup("nft-expr-masq"); err != nil || strings.Join(names, ",") != "nft_masq" {
		t.Errorf("alias nft-expr-masq: %v %v", names, err)
	}
	if r.DiskSize == 0 {
		t.Errorf("no disk image")
	}
}
