package wgquick

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// MaxIfaceName is the longest interface name Linux accepts (IFNAMSIZ - 1), and so the
// longest name wg-quick accepts before ".conf".
const MaxIfaceName = 15

// ErrFileName is wrapped by CheckFileName's errors.
var ErrFileName = errors.New("not a wg-quick file name")

// CheckFileName checks that wg-quick(8) accepts path: its base name must be an interface
// name (1 to 15 characters of [a-zA-Z0-9_=+.-]) followed by ".conf", since wg-quick
// names the interface after the file. The error says why and wraps ErrFileName.
func CheckFileName(path string) error {
	base := filepath.Base(path)
	iface, ok := strings.CutSuffix(base, ".conf")
	switch {
	case !ok:
		return fmt.Errorf("%w: %q must end in .conf", ErrFileName, base)
	case iface == "":
		return fmt.Errorf("%w: %q has no interface name before .conf", ErrFileName, base)
	case len(iface) > MaxIfaceName:
		return fmt.Errorf("%w: %q: wg-quick names the interface %q after the file, and interface names are at most %d characters (this one has %d)",
			ErrFileName, base, iface, MaxIfaceName, len(iface))
	}
	for _, c := range iface {
		if !ifaceChar(c) {
			return fmt.Errorf("%w: %q: the interface name %q holds %q; wg-quick allows letters, digits and _ = + . -", ErrFileName, base, iface, c)
		}
	}
	return nil
}

func ifaceChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_=+.-", c)
}

// DefaultFileName is the default file name of device's wg-quick file in network
// netName: "NETWORK-DEVICE.conf" when that is a valid wg-quick name, else both parts
// shortened (the device keeps up to 9 characters, the network the rest) so that the
// interface name fits in 15 characters. Characters wg-quick refuses become '-'.
func DefaultFileName(netName, device string) string {
	clean := func(s string) string {
		return strings.Map(func(c rune) rune {
			if ifaceChar(c) {
				return c
			}
			return '-'
		}, s)
	}
	n, d := clean(netName), clean(device)
	if len(n)+1+len(d) > MaxIfaceName {
		d = d[:min(len(d), 9)]
		n = n[:min(len(n), MaxIfaceName-1-len(d))]
	}
	return n + "-" + d + ".conf"
}
