package image

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/partition/gpt"
)

// TestWriteDisk: the raw disk has a GPT with one EFI system partition whose FAT32 holds
// the removable-media loader, systemd-boot's config and entry, kernel and initramfs.
func TestWriteDisk(t *testing.T) {
	dir := t.TempDir()
	kernel, initrd := filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initrd.img")
	kb, ib := bytes.Repeat([]byte("K"), 3<<20), bytes.Repeat([]byte("I"), 5<<20+7)
	os.WriteFile(kernel, kb, 0o644)
	os.WriteFile(initrd, ib, 0o644)
	img := filepath.Join(dir, "disk.img")
	size, err := WriteDisk(img, DiskFiles{Bootloader: []byte("MZ-loader"), Kernel: kernel, Initramfs: initrd, Cmdline: "console=ttyS0 farmer_id=7"})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(img); st.Size() != size {
		t.Errorf("size %d, file %d", size, st.Size())
	}
	d, err := diskfs.Open(img, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	pt, err := d.GetPartitionTable()
	if err != nil {
		t.Fatal(err)
	}
	g, ok := pt.(*gpt.Table)
	if !ok || len(g.Partitions) != 1 || g.Partitions[0].Type != gpt.EFISystemPartition {
		t.Fatalf("partition table %+v", pt)
	}
	fs, err := d.GetFilesystem(1)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]byte{
		"/EFI/BOOT/BOOTX64.EFI":       []byte("MZ-loader"),
		"/loader/loader.conf":         []byte(loaderConf),
		"/loader/entries/zosnet.conf": []byte(LoaderEntry("console=ttyS0 farmer_id=7")),
		"/zosnet/vmlinuz":             kb,
		"/zosnet/initrd.img":          ib,
	} {
		f, err := fs.OpenFile(path, os.O_RDONLY)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		got, err := io.ReadAll(f)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes (err %v), want %d", path, len(got), err, len(want))
		}
	}
}
