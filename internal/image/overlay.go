package image

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// hiddenDirs are mounted over by the node's init (zinit.MountBasics): files put there in
// the initramfs are not visible on the running node.
var hiddenDirs = []string{"/tmp", "/run", "/dev", "/proc", "/sys"}

// Overlay writes to outDir an image that boots like the one in baseDir with extra's
// files added: vmlinuz (hard-linked, or copied) and initrd.img = the base's initramfs,
// zero padding to a multiple of 4 bytes, then extra as an uncompressed newc archive.
// The kernel unpacks concatenated archives in order, so extra's files are there at boot
// (replacing the base's of the same path). Nothing is compressed again: adding a large
// file (a test binary a VM test runs) costs a copy, not an image build. A path of extra
// below a directory the init mounts over (/tmp, /run, /dev, /proc, /sys) is refused.
func Overlay(baseDir, outDir string, extra *Tree) error {
	for _, p := range extra.Paths() {
		for _, h := range hiddenDirs {
			if p == h || strings.HasPrefix(p, h+"/") {
				return fmt.Errorf("image overlay: %s is below %s, which the node's init mounts over: pick another directory (/opt, /usr/local)", p, h)
			}
		}
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("image overlay: %w", err)
	}
	kernel := filepath.Join(outDir, "vmlinuz")
	os.Remove(kernel)
	if err := os.Link(filepath.Join(baseDir, "vmlinuz"), kernel); err != nil {
		if err := copyFile(filepath.Join(baseDir, "vmlinuz"), kernel); err != nil {
			return fmt.Errorf("image overlay: kernel: %w", err)
		}
	}
	base, err := os.Open(filepath.Join(baseDir, "initrd.img"))
	if err != nil {
		return fmt.Errorf("image overlay: %w", err)
	}
	defer base.Close()
	err = WriteFileAtomic(filepath.Join(outDir, "initrd.img"), func(w io.Writer) error {
		n, err := io.Copy(w, base)
		if err != nil {
			return err
		}
		if pad := (4 - n%4) % 4; pad > 0 {
			if _, err := w.Write(make([]byte, pad)); err != nil {
				return err
			}
		}
		return extra.WriteCPIO(w)
	})
	if err != nil {
		return fmt.Errorf("image overlay: initramfs: %w", err)
	}
	return nil
}
