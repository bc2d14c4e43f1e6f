package boot

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// VLANLink is the netlink request netinit sends for vlan:priv=ID: an 802.1Q link on the
// NIC, named <nic>.<id> (or zv<ifindex>.<id> when that is longer than 15 bytes), that
// then takes the NIC's place (probe, bridge port). It is pure data.
func VLANLink(nic netlink.Link, id uint16) *netlink.Vlan {
	a := nic.Attrs()
	name := fmt.Sprintf("%s.%d", a.Name, id)
	if len(name) > 15 {
		name = fmt.Sprintf("zv%d.%d", a.Index, id)
	}
	return &netlink.Vlan{
		LinkAttrs:    netlink.LinkAttrs{Name: name, ParentIndex: a.Index, HardwareAddr: a.HardwareAddr},
		VlanId:       int(id),
		VlanProtocol: netlink.VLAN_PROTOCOL_8021Q,
	}
}

// ErrNoVLAN is returned (wrapped) when the kernel cannot create 802.1Q links.
var ErrNoVLAN = errors.New("kernel has no 802.1Q VLAN support")

// ensureVLAN creates (or reuses) the VLAN link for nic and brings it up.
func ensureVLAN(h *netlink.Handle, nic netlink.Link, id uint16) (netlink.Link, error) {
	req := VLANLink(nic, id)
	if l, err := h.LinkByName(req.Name); err == nil {
		if v, ok := l.(*netlink.Vlan); ok && v.VlanId == int(id) && v.ParentIndex == nic.Attrs().Index {
			return l, h.LinkSetUp(l)
		}
		return nil, fmt.Errorf("vlan:priv=%d: link %s exists and is not VLAN %d on %s", id, req.Name, id, nic.Attrs().Name)
	}
	if err := h.LinkAdd(req); err != nil {
		if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP) {
			err = fmt.Errorf("%w: %v", ErrNoVLAN, err)
		}
		return nil, fmt.Errorf("vlan:priv=%d: create %s on %s: %w", id, req.Name, nic.Attrs().Name, err)
	}
	l, err := h.LinkByName(req.Name)
	if err != nil {
		return nil, fmt.Errorf("vlan:priv=%d: %w", id, err)
	}
	return l, h.LinkSetUp(l)
}
