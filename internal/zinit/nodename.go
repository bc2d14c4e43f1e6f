package zinit

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// NameFile is where the init keeps the node's name in the state directory when the kernel
// command line does not give one: a node keeps its name across reboots and NIC changes.
const NameFile = "node-name"

// DefaultName is the name of a node whose command line has no zosnet.name: "zos-" and the
// MAC address (12 hex digits) of its first physical NIC in name order, so two machines
// booted from the same image never register under the same name. Without a physical NIC
// it is "zos".
func DefaultName(nics map[string]net.HardwareAddr) string {
	names := make([]string, 0, len(nics))
	for n, mac := range nics {
		if len(mac) == 6 && !bytes.Equal(mac, make([]byte, 6)) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "zos"
	}
	sort.Strings(names)
	return "zos-" + strings.ReplaceAll(nics[names[0]].String(), ":", "")
}

// PhysicalNICs lists the interfaces under sysClassNet (normally /sys/class/net) that are
// backed by a device (a "device" link: PCI, virtio, USB), with their permanent MAC.
func PhysicalNICs(sysClassNet string) (map[string]net.HardwareAddr, error) {
	ents, err := os.ReadDir(sysClassNet)
	if err != nil {
		return nil, err
	}
	out := map[string]net.HardwareAddr{}
	for _, e := range ents {
		dir := filepath.Join(sysClassNet, e.Name())
		if _, err := os.Stat(filepath.Join(dir, "device")); err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(dir, "address"))
		if err != nil {
			continue
		}
		if mac, err := net.ParseMAC(strings.TrimSpace(string(raw))); err == nil {
			out[e.Name()] = mac
		}
	}
	return out, nil
}

// ResolveName returns the node's name: the one the command line gave (cfgName, when not
// empty), else the one kept in stateDir, else DefaultName of the physical NICs, which is
// then kept in stateDir. A kept name that is not a valid host name is replaced, and the
// error says so.
func ResolveName(cfgName, stateDir, sysClassNet string) (string, error) {
	if cfgName != "" {
		return cfgName, nil
	}
	path := filepath.Join(stateDir, NameFile)
	var errs []error
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		kept := strings.TrimSpace(string(raw))
		if verr := validName(kept); verr == nil {
			return kept, nil
		} else {
			errs = append(errs, fmt.Errorf("%s: %q: %w; choosing a new name", path, kept, verr))
		}
	case !errors.Is(err, fs.ErrNotExist):
		errs = append(errs, fmt.Errorf("%s: %w", path, err))
	}
	nics, err := PhysicalNICs(sysClassNet)
	if err != nil {
		errs = append(errs, fmt.Errorf("listing NICs: %w", err))
	}
	name := DefaultName(nics)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(name+"\n"), 0o644); err != nil {
		errs = append(errs, fmt.Errorf("keeping the node name: %w", err))
	} else if err := os.Rename(tmp, path); err != nil {
		errs = append(errs, fmt.Errorf("keeping the node name: %w", err))
	}
	return name, errors.Join(errs...)
}
