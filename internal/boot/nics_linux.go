package boot

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Bridge is the name of the bridge netinit builds around the uplink NIC.
const Bridge = "zos"

// zosnetPrefixes are the name prefixes of links zosnet creates; such links are never
// taken for NICs.
var zosnetPrefixes = []string{"zos", "br-", "b-", "w-", "n-", "ndmz", "pub", "to-"}

// NIC is a link considered as an uplink, with the reason it was left out ("" if kept).
type NIC struct {
	Name   string
	Index  int
	Reason string
}

// classify says why a link is not a candidate NIC ("" when it is one). Physical links
// are netlink type "device"; veth counts too, since lab nodes get their NICs as veths.
func classify(l netlink.Link, bridgeIndex int) string {
	a := l.Attrs()
	switch {
	case a.Flags&unix.IFF_LOOPBACK != 0 || a.Name == "lo":
		return "loopback"
	case l.Type() == "bridge":
		return "a bridge"
	case hasZosnetPrefix(a.Name):
		return "created by zosnet"
	case l.Type() != "device" && l.Type() != "veth":
		return "not a physical NIC (" + l.Type() + ")"
	case a.MasterIndex != 0 && a.MasterIndex != bridgeIndex:
		return fmt.Sprintf("already enslaved to link %d", a.MasterIndex)
	case a.EncapType != "" && a.EncapType != "ether":
		return "not Ethernet (" + a.EncapType + ")"
	case len(a.HardwareAddr) != 6:
		return "no Ethernet address"
	}
	return ""
}

func hasZosnetPrefix(n string) bool {
	return slices.ContainsFunc(zosnetPrefixes, func(p string) bool { return strings.HasPrefix(n, p) })
}

// listNICs returns every link with its classification, sorted by name.
func listNICs(h *netlink.Handle) ([]NIC, error) {
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	bridgeIndex := -1
	for _, l := range links {
		if l.Attrs().Name == Bridge {
			bridgeIndex = l.Attrs().Index
		}
	}
	out := make([]NIC, 0, len(links))
	for _, l := range links {
		out = append(out, NIC{Name: l.Attrs().Name, Index: l.Attrs().Index, Reason: classify(l, bridgeIndex)})
	}
	slices.SortFunc(out, func(a, b NIC) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func hasCarrier(h *netlink.Handle, name string) bool {
	l, err := h.LinkByName(name)
	return err == nil && l.Attrs().RawFlags&unix.IFF_LOWER_UP != 0
}
