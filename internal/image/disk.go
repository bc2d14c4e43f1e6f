package image

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"strings"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/gpt"
)

// BootloaderPath is systemd-boot's EFI binary in the systemd-boot-efi package.
const BootloaderPath = "usr/lib/systemd/boot/efi/systemd-bootx64.efi"

// ReadBootloader takes systemd-boot's EFI binary out of the systemd-boot-efi .deb.
func ReadBootloader(deb string) ([]byte, error) {
	var out []byte
	err := WalkDeb(deb, func(h *tar.Header, r io.Reader) error {
		if h.Name != BootloaderPath {
			return nil
		}
		var err error
		out, err = io.ReadAll(r)
		if err != nil {
			return err
		}
		return ErrStop
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, fmt.Errorf("bootloader package %s: no %s", deb, BootloaderPath)
	}
	return out, nil
}

// DiskFiles is what goes on the image's EFI system partition.
type DiskFiles struct {
	Bootloader []byte // systemd-bootx64.efi
	Kernel     string // path of vmlinuz
	Initramfs  string // path of the initramfs
	Cmdline    string // kernel command line of the boot entry
}

// LoaderEntry renders systemd-boot's entry for the node.
func LoaderEntry(cmdline string) string {
	return fmt.Sprintf("title zosnet node\nlinux /zosnet/vmlinuz\ninitrd /zosnet/initrd.img\noptions %s\n", strings.TrimSpace(cmdline))
}

// loaderConf boots the one entry at once.
const loaderConf = "default zosnet.conf\ntimeout 0\neditor no\nconsole-mode keep\n"

const sector = 512

// WriteDisk writes a bootable raw disk image (for a USB stick or a VM disk) to path: a
// GPT with one EFI system partition (FAT32) holding systemd-boot as the removable-media
// loader (EFI/BOOT/BOOTX64.EFI), its loader entry with the command line, the kernel
// and the initramfs. It returns the image's size.
func WriteDisk(path string, f DiskFiles) (int64, error) {
	kst, err := os.Stat(f.Kernel)
	if err != nil {
		return 0, fmt.Errorf("disk image: %w", err)
	}
	ist, err := os.Stat(f.Initramfs)
	if err != nil {
		return 0, fmt.Errorf("disk image: %w", err)
	}
	// FAT32 needs at least 65525 clusters; 40 MiB of 512-byte clusters is enough,
	// and a fifth more than the content leaves room for FAT tables and directories.
	content := kst.Size() + ist.Size() + int64(len(f.Bootloader))
	esp := max(content+content/5+8<<20, 40<<20)
	esp = (esp + 1<<20 - 1) &^ (1<<20 - 1)
	const start = 2048 // sectors: 1 MiB alignment
	size := esp + start*sector + 1<<20
	os.Remove(path)
	d, err := diskfs.Create(path, size, diskfs.SectorSizeDefault)
	if err != nil {
		return 0, fmt.Errorf("disk image: %w", err)
	}
	defer d.Close()
	table := &gpt.Table{
		LogicalSectorSize:  sector,
		PhysicalSectorSize: sector,
		ProtectiveMBR:      true,
		Partitions: []*gpt.Partition{{
			Index: 1, Start: start, End: uint64(start + esp/sector - 1),
			Type: gpt.EFISystemPartition, Name: "ZOSNET-ESP",
		}},
	}
	if err := d.Partition(table); err != nil {
		return 0, fmt.Errorf("disk image: partition: %w", err)
	}
	fs, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: 1, FSType: filesystem.TypeFat32, VolumeLabel: "ZOSNET"})
	if err != nil {
		return 0, fmt.Errorf("disk image: FAT32: %w", err)
	}
	files := []struct {
		path string
		data func() ([]byte, error)
	}{
		{"/EFI/BOOT/BOOTX64.EFI", func() ([]byte, error) { return f.Bootloader, nil }},
		{"/loader/loader.conf", func() ([]byte, error) { return []byte(loaderConf), nil }},
		{"/loader/entries/zosnet.conf", func() ([]byte, error) { return []byte(LoaderEntry(f.Cmdline)), nil }},
		{"/zosnet/vmlinuz", func() ([]byte, error) { return os.ReadFile(f.Kernel) }},
		{"/zosnet/initrd.img", func() ([]byte, error) { return os.ReadFile(f.Initramfs) }},
	}
	for _, dir := range []string{"/EFI", "/EFI/BOOT", "/loader", "/loader/entries", "/zosnet"} {
		if err := fs.Mkdir(dir); err != nil {
			return 0, fmt.Errorf("disk image: mkdir %s: %w", dir, err)
		}
	}
	for _, fl := range files {
		b, err := fl.data()
		if err != nil {
			return 0, fmt.Errorf("disk image: %s: %w", fl.path, err)
		}
		w, err := fs.OpenFile(fl.path, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return 0, fmt.Errorf("disk image: %s: %w", fl.path, err)
		}
		if _, err := w.Write(b); err != nil {
			return 0, fmt.Errorf("disk image: write %s: %w", fl.path, err)
		}
		if err := w.Close(); err != nil {
			return 0, fmt.Errorf("disk image: write %s: %w", fl.path, err)
		}
	}
	return size, nil
}
