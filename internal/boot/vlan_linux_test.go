package boot

import (
	"net"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestVLANLinkRequest(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 9}
	nic := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "eth0", Index: 7, HardwareAddr: mac}}
	v := VLANLink(nic, 100)
	if v.Name != "eth0.100" || v.ParentIndex != 7 || v.VlanId != 100 || v.VlanProtocol != netlink.VLAN_PROTOCOL_8021Q ||
		v.HardwareAddr.String() != mac.String() || v.Type() != "vlan" {
		t.Fatalf("VLANLink = %+v", v)
	}
	long := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "enp129s0f1np1", Index: 12}}
	if v := VLANLink(long, 4094); v.Name != "zv12.4094" || len(v.Name) > 15 {
		t.Fatalf("long NIC name: VLAN link named %q", v.Name)
	}
	if r := classify(v, -1); r == "" {
		t.Fatal("a VLAN link is taken for a physical NIC")
	}
}
