package zinit

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unsafe"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/ext4"
	"golang.org/x/sys/unix"
)

// StateLabel is the ext4 label of the state disk.
const StateLabel = "zosnet-state"

// blankProbe is how much of a disk must be zeros for it to count as blank.
const blankProbe = 1 << 20

// MountState mounts the node's state directory on dir as c.State says and returns a
// description for the log. It formats only a disk that is entirely zeros in its first
// MiB (never one holding anything); with no usable disk it falls back to tmpfs and says
// that the state will not survive a reboot.
func MountState(c Config, dir string, log *slog.Logger) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if c.State == "ram" {
		return "tmpfs (zosnet.state=ram: lost at reboot)", mountTmpfs(dir)
	}
	dev, fresh, err := pickStateDisk(c.State, log)
	if err != nil || dev == "" {
		if err == nil {
			err = fmt.Errorf("no disk labelled %s and no blank disk", StateLabel)
		}
		log.Warn("no state disk: the state directory is in RAM and is lost at reboot; give the node a blank disk", "reason", err)
		return "tmpfs (no state disk)", mountTmpfs(dir)
	}
	if fresh {
		log.Info("formatting blank disk as the state disk", "device", dev, "label", StateLabel)
		if err := formatState("/dev/" + dev); err != nil {
			return "", fmt.Errorf("format %s: %w", dev, err)
		}
	}
	if err := unix.Mount("/dev/"+dev, dir, "ext4", unix.MS_NOATIME, ""); err != nil {
		return "", fmt.Errorf("mount state disk %s: %w", dev, err)
	}
	what := "existing"
	if fresh {
		what = "formatted now"
	}
	return fmt.Sprintf("/dev/%s (ext4 %s, %s)", dev, StateLabel, what), nil
}

func mountTmpfs(dir string) error { return unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=0755") }

// pickStateDisk returns the device to use and whether it must be formatted.
func pickStateDisk(want string, log *slog.Logger) (string, bool, error) {
	if want != "auto" {
		label, blank, err := probe("/dev/" + want)
		switch {
		case err != nil:
			return "", false, err
		case label == StateLabel:
			return want, false, nil
		case blank:
			return want, true, nil
		}
		return "", false, fmt.Errorf("%s holds data that is not a %s file system: refusing to format it", want, StateLabel)
	}
	disks, _ := filepath.Glob("/sys/block/*")
	sort.Strings(disks)
	var blank []string
	for _, d := range disks {
		name := filepath.Base(d)
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "sr") || strings.HasPrefix(name, "zram") {
			continue
		}
		devs := []string{name}
		parts, _ := filepath.Glob(filepath.Join(d, name+"*"))
		for _, p := range parts {
			devs = append(devs, filepath.Base(p))
		}
		for _, dev := range devs {
			label, isBlank, err := probe("/dev/" + dev)
			if err != nil {
				log.Debug("state disk probe", "device", dev, "err", err)
				continue
			}
			if label == StateLabel {
				return dev, false, nil
			}
			if isBlank && dev == name {
				blank = append(blank, dev)
			}
		}
	}
	if len(blank) > 0 {
		return blank[0], true, nil
	}
	return "", false, nil
}

// probe reads a device's ext4 label (if it holds ext2/3/4) and whether its first MiB is
// all zeros.
func probe(dev string) (label string, blank bool, err error) {
	f, err := os.Open(dev)
	if err != nil {
		return "", false, err
	}
	defer f.Close()
	buf := make([]byte, blankProbe)
	n, err := f.ReadAt(buf, 0)
	if n < 2048 {
		return "", false, fmt.Errorf("%s: read: %v", dev, err)
	}
	buf = buf[:n]
	return ext4Label(buf), n == blankProbe && bytes.Count(buf, []byte{0}) == n, nil
}

// ext4Label returns the volume label of an ext2/3/4 superblock at offset 1024 of b, ""
// when b holds none.
func ext4Label(b []byte) string {
	if len(b) < 1024+136 {
		return ""
	}
	sb := b[1024:]
	if binary.LittleEndian.Uint16(sb[56:58]) != 0xEF53 {
		return ""
	}
	return strings.TrimRight(string(sb[120:136]), "\x00")
}

// deviceSize is a block device's size (or a regular file's, for tests).
func deviceSize(f *os.File) (uint64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if st.Mode().IsRegular() {
		return uint64(st.Size()), nil
	}
	var size uint64
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&size))); e != 0 {
		return 0, e
	}
	return size, nil
}

// formatState makes an ext4 file system labelled StateLabel on the whole device.
func formatState(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := deviceSize(f)
	if err != nil {
		return fmt.Errorf("size of %s: %w", dev, err)
	}
	_, err = ext4.Create(file.New(f, false), int64(size), 0, 512, &ext4.Params{
		VolumeName: StateLabel,
		Features:   []ext4.FeatureOpt{ext4.WithFeatureReservedGDTBlocksForExpansion(false)},
	})
	if err != nil {
		return err
	}
	return f.Sync()
}
